"""The response cache and the monthly budget, through the router on the local stack."""

from __future__ import annotations

import time
import uuid

import pytest

from functions.adapters.dynamodb.cache import ResponseCache
from functions.adapters.dynamodb.client import dynamodb_client
from functions.adapters.dynamodb.spend import SpendAccumulator, spend_key
from functions.app.chat.wiring import get_dependencies
from functions.domain.routing.cost import BudgetPolicy
from local.faults import FaultSpec
from tests.clock import FakeClock
from tests.support import reset_routing_state


@pytest.fixture(autouse=True)
def _clean(local_stack):
    reset_routing_state(local_stack)
    deps = get_dependencies()
    saved = deps.cache, deps.budget, deps.spend
    yield
    deps.cache, deps.budget, deps.spend = saved
    reset_routing_state(local_stack)


def body(temperature=0, text=None):
    return {
        "model": "m",
        "messages": [{"role": "user", "content": text or f"q-{uuid.uuid4()}"}],
        "temperature": temperature,
    }


def chat(client, payload, operation="emergency", **headers):
    return client.post("/v1/chat/completions", json=payload, headers={"X-Operation-Type": operation, **headers})


def test_a_deterministic_request_is_answered_from_the_cache_the_second_time(client, local_stack):
    payload = body(temperature=0)
    first = chat(client, payload)
    reached = local_stack.faults.requests("bedrock")
    second = chat(client, payload)
    assert (first.headers["x-hybrid-cache"], second.headers["x-hybrid-cache"]) == ("miss", "hit")
    assert second.json()["choices"] == first.json()["choices"]
    assert local_stack.faults.requests("bedrock") == reached


def test_a_non_deterministic_request_is_cached_only_when_the_client_opts_in(client):
    payload = body(temperature=0.9)
    assert [chat(client, payload).headers["x-hybrid-cache"] for _ in range(2)] == ["miss", "miss"]
    opted = body(temperature=0.9)
    hits = [chat(client, opted, **{"X-Hybrid-Cache": "use"}).headers["x-hybrid-cache"] for _ in range(2)]
    assert hits == ["miss", "hit"]


def test_an_invalid_cache_header_is_a_400_naming_the_valid_values(client):
    response = chat(client, body(), **{"X-Hybrid-Cache": "sometimes"})
    assert response.status_code == 400
    assert "use" in response.json()["error"]["message"] and "bypass" in response.json()["error"]["message"]


def test_when_every_route_is_down_a_stale_answer_is_served_marked_as_stale(client, local_stack):
    deps = get_dependencies()
    clock = FakeClock(time.time())
    deps.cache = ResponseCache(deps.settings.cache_table, fresh_ttl_s=0.05, stale_ttl_s=600, clock=clock)
    payload = body(temperature=0)
    assert chat(client, payload, "standard").status_code == 200
    clock.advance(0.1)
    for provider in ("bedrock", "google", "meta", "mcp"):
        local_stack.faults.set(FaultSpec(provider=provider, status=503))
    degraded = chat(client, payload, "standard")
    assert degraded.status_code == 200
    assert (degraded.headers["x-hybrid-cache"], degraded.headers["x-hybrid-degraded"]) == ("stale", "true")
    assert chat(client, body(temperature=0), "standard").status_code == 503  # nothing cached for this one


def _set_cache_settings(http, admin, **settings):
    response = http.put("/admin/config/cache-settings", json={**settings, "reason": "test"}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["appliedByRouter"] is True
    get_dependencies().snapshots.invalidate()  # what the next snapshot refresh does on every instance
    return response.json()


@pytest.mark.usefixtures("clean_control_plane")
def test_a_fresh_ttl_set_through_the_admin_api_ends_a_cache_hit_after_it(http, admin, client):
    answer = _set_cache_settings(http, admin, freshTtlSeconds=1)
    assert answer["freshTtlSeconds"] == 1 and answer["ttlsFromDeployment"] == ["staleTtlSeconds"]
    payload = body(temperature=0)
    seen = [chat(client, payload).headers["x-hybrid-cache"] for _ in range(2)]
    time.sleep(1.1)
    seen.append(chat(client, payload).headers["x-hybrid-cache"])
    assert seen == ["miss", "hit", "miss"]


@pytest.mark.usefixtures("clean_control_plane")
@pytest.mark.parametrize(("stale_ttl", "status", "cache"), [(600, 200, "stale"), (0, 503, None)])
def test_the_stale_ttl_set_through_the_admin_api_bounds_the_degraded_answers(
    http, admin, client, local_stack, stale_ttl, status, cache
):
    _set_cache_settings(http, admin, freshTtlSeconds=0.05, staleTtlSeconds=stale_ttl)
    payload = body(temperature=0)
    assert chat(client, payload, "standard").status_code == 200
    time.sleep(0.1)
    for provider in ("bedrock", "google", "meta", "mcp"):
        local_stack.faults.set(FaultSpec(provider=provider, status=503))
    degraded = chat(client, payload, "standard")
    assert (degraded.status_code, degraded.headers.get("x-hybrid-cache")) == (status, cache)


def _spent(table: str, usd: float) -> None:
    dynamodb_client().put_item(
        TableName=table, Item={"pk": {"S": spend_key(time.time())}, "spent_usd": {"N": str(usd)}}
    )


@pytest.mark.parametrize(
    ("operation", "status"),
    [
        ("background", 429),
        ("standard", 429),
        ("kiro_communication", 429),
        ("emergency", 200),
        ("infrastructure", 200),
        ("meta_monitor", 200),
        ("implementation", 200),
    ],
)
def test_at_95_percent_of_budget_low_and_medium_priority_work_is_refused(client, operation, status):
    deps = get_dependencies()
    table = deps.settings.spend_table
    _spent(table, 96.0)
    deps.budget, deps.spend = BudgetPolicy(100.0), SpendAccumulator(table)
    try:
        response = chat(client, body(temperature=0.5), operation)
        assert response.status_code == status
        if status == 429:
            error = response.json()["error"]
            assert (error["type"], error["code"]) == ("insufficient_quota", "budget_exhausted")
            assert "96" in error["message"] and operation in error["message"]
    finally:
        dynamodb_client().delete_item(TableName=table, Key={"pk": {"S": spend_key(time.time())}})


def test_served_requests_add_their_token_cost_to_the_month(client):
    deps = get_dependencies()
    table = deps.settings.spend_table
    _spent(table, 0)
    deps.spend = SpendAccumulator(table, flush_interval_s=0)
    try:
        for _ in range(3):
            assert chat(client, body(temperature=0.5), "emergency").status_code == 200
        deps.spend.flush()
        item = dynamodb_client().get_item(TableName=table, Key={"pk": {"S": spend_key(time.time())}})["Item"]
        assert float(item["spent_usd"]["N"]) > 0
        assert float(item["spent_usd_bedrock"]["N"]) == float(item["spent_usd"]["N"])
    finally:
        dynamodb_client().delete_item(TableName=table, Key={"pk": {"S": spend_key(time.time())}})
