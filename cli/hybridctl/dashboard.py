"""The stack's dashboards as the runbooks name them (`dashboard create`), and the live failover view of
`status --dashboard failover`: weights, the rollout holding the route, breakers, health, active alarms."""

from __future__ import annotations

import argparse
import os
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlparse

from cli.hybridctl.client import OK, USAGE, CliError, dumps
from cli.hybridctl.context import Ctx
from cli.hybridctl.output import pairs, table
from cli.hybridctl.timing import default_count, scaled
from cli.hybridctl.views import providers, rollout_text, weights_text
from functions.domain import names
from functions.domain.names import TARGETS
from functions.domain.thresholds import DASHBOARD_REFRESH_SECONDS

DEFAULT_STACK = names.DEFAULT_STACK_NAME

# The stack's dashboards (f"{stack}-{key}"), the words that pick each from a runbook --name, and for the
# failover dashboard the runbook's metric and alert names (stacks/constructs/ops_dashboards.py).
# Checked in this order: production-operations.md's "CloudWatch Hybrid Routing Dashboard" is the main one.
DASHBOARDS: dict[str, tuple[str, ...]] = {
    "failover": ("failover",),
    "security": ("security", "compliance"),
    "cost": ("cost", "budget"),
    "performance": ("performance", "latency", "p95"),
    "main": ("main", "hybrid routing"),
    "routing": ("routing",),
}
FAILOVER_METRICS: dict[str, tuple[str, ...]] = {
    "provider_health": (
        "provider_health: failed health probes % (extended_outage)",
        "provider_health: probe latency P95 (ms)",
    ),
    "failover_events": (
        "failover_events: <state machine> executions",
        "failover_events: automation decisions",
        "failover_failure: failover and failback executions failed or timed out",
    ),
    "recovery_time": (
        "recovery_time: immediate failover execution time (ms)",
        "recovery_time: gradual failover and failback execution time (ms)",
    ),
}
FAILOVER_ALERTS = ("failover_failure", "extended_outage")
EXECUTE_API_HOST = re.compile(r"\.execute-api\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com$")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
CLEAR = "\x1b[2J\x1b[H"


def dashboard_key(name: str) -> str:
    """The stack's dashboard a runbook --name means: "AI Provider Failover" -> failover."""
    lowered = name.lower().strip()
    for key in DASHBOARDS:  # the dashboard's own name, with or without the stack prefix
        if lowered == key or lowered.endswith(f"-{key}"):
            return key
    for key, words in DASHBOARDS.items():
        if any(word in lowered for word in words):
            return key
    known = ", ".join(DASHBOARDS)
    raise CliError(USAGE, f"no dashboard of the stack matches '{name}'; the stack deploys: {known}")


def region_of(endpoint: str, given: str | None) -> str | None:
    """--region, else the region of an execute-api endpoint, else AWS_REGION / AWS_DEFAULT_REGION."""
    if given:
        return given
    match = EXECUTE_API_HOST.search(urlparse(endpoint).hostname or "")
    if match:
        return match.group(1)
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def console_url(region: str, dashboard: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#dashboards/dashboard/{quote(dashboard, safe='')}"
    )


def alert_alarms(stack: str, alert: str) -> list[str]:
    """The alarm names behind a runbook alert (functions/domain/alarms/definitions.py)."""
    if alert == "failover_failure":
        return [f"{stack}-critical-failover-failure"]
    return [f"{stack}-critical-extended-outage-{target}" for target in TARGETS]


# --- status --dashboard failover --------------------------------------------------------------
def failover_sample(ctx: Ctx) -> dict[str, Any]:
    rows, raw = providers(ctx)
    alerts = ctx.api.optional("/health/alerts", auth=False) or {}
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": raw["health"].get("status"),
        "providers": rows,
        "weights": raw["trafficDistribution"].get("weights", {}),
        "weightsVersion": raw["trafficDistribution"].get("version"),
        "rollouts": ctx.api.optional("/admin/rollouts"),
        "circuitBreakersEnabled": raw["circuitBreakers"].get("enabled"),
        "alerts": [a.get("name") for a in (alerts.get("data") or {}).get("alerts", [])],
    }


def failover_frame(sample: dict[str, Any], refresh: float, endpoint: str) -> str:
    head = (
        f"hybridctl failover dashboard  {sample['at']}  system: {sample['status']}  (every {refresh:g} s, Ctrl-C stops)"
    )
    weights = weights_text(sample["weights"])
    rollout = rollout_text(sample["rollouts"]) if sample["rollouts"] is not None else "rollout: not available"
    summary = pairs(
        {
            "endpoint": endpoint,
            "weights": f"{weights} (version {sample['weightsVersion']})",
            "circuit breakers": "enabled" if sample["circuitBreakersEnabled"] else "DISABLED",
            "active alarms": ", ".join(sample["alerts"]) or "none",
        }
    )
    headers = ["provider", "status", "checker", "breaker", "weight", "lastCheck"]
    providers_table = table(headers, ([r[h] for h in headers] for r in sample["providers"]))
    return f"{head}\n{summary}\n{rollout}\n{providers_table}"


def failover_view(ctx: Ctx, args: argparse.Namespace) -> int:
    refresh = args.refresh if args.refresh is not None else float(DASHBOARD_REFRESH_SECONDS)
    redraw = ctx.out.isatty() and not ctx.json
    shown, count = 0, default_count(args.count)
    try:
        while True:
            sample = failover_sample(ctx)
            shown += 1
            if ctx.json:
                print(dumps(sample).replace("\n", ""), file=ctx.out, flush=True)
            else:
                frame = failover_frame(sample, refresh, ctx.api.endpoint)
                print((CLEAR if redraw else "") + frame + ("" if redraw else "\n"), file=ctx.out, flush=True)
            if count is not None and shown >= count:
                return OK
            time.sleep(scaled(refresh))
    except KeyboardInterrupt:
        if not ctx.json:
            print(f"failover dashboard stopped after {shown} refresh(es)", file=ctx.out, flush=True)
        return OK
