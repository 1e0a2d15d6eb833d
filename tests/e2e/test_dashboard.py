"""The local dashboard page in headless Chromium: after real traffic on the local stack (served over
HTTP on 127.0.0.1), a bedrock outage that opens its breaker, a canary holding the route's lock and
an alarm in ALARM on the local CloudWatch, every widget shows the numbers the data endpoint gives,
and those are the numbers of what was sent. Then more traffic, and the page follows without a reload.
A screenshot of the page is kept under artifacts/."""

from __future__ import annotations

import os
import struct
import uuid
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from functions.adapters.aws import client as aws_client
from functions.adapters.cloudwatch import get_metrics_settings
from functions.adapters.dynamodb.rollouts import RolloutStore
from functions.app.admin.wiring import get_admin_dependencies
from functions.app.chat.wiring import get_dependencies
from functions.domain.rollout.plan import RolloutKind
from functions.domain.routing.breaker import BreakerStatus
from functions.domain.routing.cost import BudgetPolicy
from local import metrics_sink
from local.faults import FaultSpec
from local.gateway import LOCAL_HEADERS as LOCAL
from local.servers import start_uvicorn
from tests.e2e.chromium import CHROMIUM, Chromium
from tests.paths import REPO_ROOT
from tests.support import clear_control_config, put_alarm_in_state, reset_routing_state

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", REPO_ROOT / "artifacts"))
OWNER = "arn:aws:states:local:000000000000:execution:canary:dashboard-test"
WIDTH, HEIGHT = 1400, 1000


@dataclass
class Scenario:
    url: str
    sent: list[httpx.Response]
    alarm: str
    canary_weights: dict[str, int]


def _chat(http: httpx.Client, operation: str, content: str, **extra: Any) -> httpx.Response:
    body = {"model": "default", "messages": [{"role": "user", "content": content}], **extra}
    return http.post("/v1/chat/completions", json=body, headers={"X-Operation-Type": operation})


def _traffic(http: httpx.Client, local_stack) -> list[httpx.Response]:
    """Healthy traffic on both routes, one cached answer, then every Direct provider down: emergency
    requests (no route fallback) fail until the breakers open, and infrastructure goes on elsewhere."""
    sent = [_chat(http, op, "disk usage on db-1?") for op in ("standard", "infrastructure") * 3]
    unique = f"cache me {uuid.uuid4()}"
    sent += [_chat(http, "standard", unique, temperature=0) for _ in range(2)]
    for provider in ("bedrock", "google", "meta"):
        local_stack.faults.set(FaultSpec(provider=provider, status=503))
    sent += [_chat(http, "emergency", "is checkout down?") for _ in range(6)]
    local_stack.faults.clear()
    sent += [_chat(http, "infrastructure", "restart the queue workers?") for _ in range(2)]
    return sent


@pytest.fixture(scope="module")
def scenario(local_stack) -> Iterator[Scenario]:
    clear_control_config()
    breakers = reset_routing_state(local_stack)
    deps = get_dependencies()
    budget, spent = deps.budget, deps.spend.spent_usd() or 0.0
    deps.budget = BudgetPolicy(max(spent, 0.001) * 50)  # a budget this traffic uses a small part of
    cloudwatch = aws_client("cloudwatch")
    alarm = f"{get_metrics_settings().alarm_prefix}-warning-dashboard-test-{uuid.uuid4().hex[:6]}"
    server = start_uvicorn(local_stack.app)
    rollouts = RolloutStore(get_admin_dependencies().config)
    try:
        metrics_sink.install()  # pytest swaps sys.stdout between phases: tap the EMF lines in this one
        metrics_sink.STORE.clear()
        headers = {"Authorization": f"Bearer {local_stack.client_key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
            sent = _traffic(http, local_stack)
        assert breakers.state("bedrock").status is BreakerStatus.OPEN
        rollouts.acquire(OWNER, RolloutKind.CANARY, ("bedrock",), "google", "dashboard test")
        canary = {"bedrock": 90, "google": 10}
        rollouts.set_step(OWNER, 1, canary, reason="dashboard test: step 1")
        put_alarm_in_state(alarm, reason="dashboard test: latency high")
        yield Scenario(server.url, sent, alarm, canary)
    finally:
        cloudwatch.delete_alarms(AlarmNames=[alarm])
        server.stop()
        deps.budget = budget
        clear_control_config()
        reset_routing_state(local_stack)


@pytest.fixture(scope="module")
def page(scenario) -> Iterator[Chromium]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium package")
    with Chromium(WIDTH, HEIGHT) as browser:
        browser.navigate(f"{scenario.url}/local/dashboard?refresh=1&window=5m")
        browser.wait_for("Number(document.body.dataset.refreshes) >= 1")
        yield browser


def data(scenario: Scenario) -> dict[str, Any]:
    response = httpx.get(f"{scenario.url}/local/dashboard/data?window=5m", headers=LOCAL)
    assert response.status_code == 200
    return response.json()


def text(page: Chromium, selector: str) -> str:
    return page.evaluate(f"document.querySelector({selector!r}).textContent.trim()")


def table(page: Chromium, widget: str) -> dict[str, list[str]]:
    """A widget's table rows as key -> cell texts."""
    return page.evaluate(
        f"""Object.fromEntries([...document.querySelectorAll('[data-widget="{widget}"] tbody tr')]
              .map(tr => [tr.dataset.key, [...tr.children].map(td => td.textContent.trim())]))"""
    )


def number(shown: str) -> float | None:
    return None if shown == "-" else float(shown)


# --- what was sent, as the data endpoint counts it -------------------------------------------------
def test_the_data_counts_every_request_sent_and_splits_them_as_the_responses_said(scenario):
    body = data(scenario)
    served = Counter(r.headers["x-hybrid-provider"] for r in scenario.sent if r.status_code == 200)
    failed = [r for r in scenario.sent if r.status_code != 200]
    assert body["traffic"]["totalRequests"] == len(scenario.sent)
    assert body["errors"]["overall"]["errors"] == len(failed) > 0
    by_provider = body["errors"]["byProvider"]
    assert {p: e["requests"] - e["errors"] for p, e in by_provider.items() if e["requests"] > e["errors"]} == served
    assert body["cache"]["hits"] == 1


# --- the page shows the data ---------------------------------------------------------------------
def test_the_traffic_split_widget_shows_each_providers_requests_and_share(page, scenario):
    body = data(scenario)
    assert number(text(page, '[data-field="traffic-total"]')) == body["traffic"]["totalRequests"]
    shown = table(page, "traffic")
    expected = {p: [p, str(s["requests"]), s["percent"]] for p, s in body["traffic"]["byProvider"].items()}
    assert {p: [row[0], row[1], number(row[2])] for p, row in shown.items()} == expected
    assert {"bedrock", "mcp"} <= set(shown)


def test_the_latency_error_and_cache_widgets_show_the_windows_numbers(page, scenario):
    body = data(scenario)
    overall = body["latency"]["overall"]
    assert [number(text(page, f'[data-field="{p}"]')) for p in ("p50", "p95", "p99")] == [
        overall["p50Ms"],
        overall["p95Ms"],
        overall["p99Ms"],
    ]
    assert overall["p50Ms"] <= overall["p95Ms"] <= overall["p99Ms"]
    assert number(text(page, '[data-field="error-rate"]')) == body["errors"]["overall"]["errorRatePercent"] > 0
    assert number(text(page, '[data-field="errors"]')) == body["errors"]["overall"]["errors"]
    assert number(text(page, '[data-field="cache-hit-rate"]')) == body["cache"]["hitRatePercent"] == 50.0


def test_the_breaker_opened_by_the_outage_shows_open_and_the_health_widget_degraded(page, scenario):
    breakers = table(page, "breakers")
    assert breakers["bedrock"][1] == "open" and breakers["mcp"][1] == "closed"
    assert data(scenario)["breakers"]["breakers"]["bedrock"]["state"] == "open"
    body = data(scenario)["health"]
    health = table(page, "health")
    assert {c["name"]: c["status"] for c in body["components"]} == {k: row[1] for k, row in health.items()}
    assert health["direct-bedrock"][1] == "unhealthy" and health["mcp-router"][1] == "healthy"
    assert text(page, '[data-field="overall"]') == body["status"] == "degraded"


def test_the_rollout_widget_shows_the_canary_its_step_and_weights(page, scenario):
    summary = text(page, '[data-field="rollout-summary"]')
    assert summary.startswith("canary bedrock -> google: running, step 2 (index 1)")
    weights = {name: int(row[1]) for name, row in table(page, "rollout").items()}
    assert weights == scenario.canary_weights == data(scenario)["rollout"]["weights"]


def test_the_alarm_widget_lists_the_alarm_in_alarm_state(page, scenario):
    body = data(scenario)
    names = page.evaluate(
        """[...document.querySelectorAll('[data-field="alarm-list"] li')].map(li => li.dataset.key)"""
    )
    assert scenario.alarm in names and len(names) == body["alarms"]["count"]
    assert number(text(page, '[data-field="alarm-count"]')) == body["alarms"]["count"] >= 1


def test_the_budget_widget_shows_the_utilization_the_router_reported(page, scenario):
    budget = data(scenario)["budget"]
    shown = number(text(page, '[data-field="budget-utilization"]'))
    assert shown == budget["utilizationPercent"] > 0
    assert text(page, '[data-field="budget-status"]') == budget["level"] == "ok"


def test_the_page_follows_new_traffic_without_a_reload(page, scenario, local_stack):
    assert text(page, '[data-field="refresh"]') == "1"  # ?refresh=1
    before = number(text(page, '[data-field="traffic-total"]'))
    metrics_sink.install()
    with httpx.Client(base_url=scenario.url, headers={"Authorization": f"Bearer {local_stack.client_key}"}) as http:
        sent = [_chat(http, "background", "summarise the night") for _ in range(3)]
    assert all(r.status_code == 200 for r in sent)
    page.wait_for(f"""document.querySelector('[data-field="traffic-total"]').textContent === "{before + 3:g}" """)
    assert text(page, '[data-field="error"]') == "" or page.evaluate(
        "document.querySelector('[data-field=\"error\"]').hidden"
    )


def test_a_screenshot_of_the_page_is_a_full_png(page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = page.screenshot(ARTIFACTS / "dashboard.png")
    width, height, distinct = _png_facts(path.read_bytes())
    assert (width, height) >= (WIDTH, 600)
    assert distinct > 100  # text, badges and bars, not a blank page


def _png_facts(png: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values of the decoded image data."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat, width, height = 8, b"", 0, 0
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind, chunk = png[offset + 4 : offset + 8], png[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        offset += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


# --- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/local/dashboard?refresh=0", "refresh"),
        ("/local/dashboard?refresh=soon", "refresh"),
        ("/local/dashboard?window=forever", "window"),
        ("/local/dashboard/data?window=30d", "window"),
    ],
)
def test_bad_query_parameters_get_a_400_naming_the_parameter(scenario, path, named):
    response = httpx.get(f"{scenario.url}{path}", headers=LOCAL)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(named)


def test_the_data_carries_no_key_token_or_secret(scenario, local_stack):
    raw = httpx.get(f"{scenario.url}/local/dashboard/data", headers=LOCAL).text
    secrets = [local_stack.client_key, local_stack.admin_token, os.environ["ADMIN_READONLY_TOKEN"]]
    secrets += [os.environ[name] for name in ("GOOGLE_API_KEY", "META_API_KEY")]
    assert not [s for s in secrets if s in raw]


def test_the_page_loads_only_its_own_files(scenario):
    response = httpx.get(f"{scenario.url}/local/dashboard", headers=LOCAL)
    assert response.status_code == 200
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert "://" not in response.text  # no address elsewhere: scripts and styles are the gateway's own
