"""`hybridctl dashboard create` and `hybridctl status --dashboard failover --refresh N`
(provider-failover.md, "Monitoring Dashboard").

The CloudWatch dashboards are part of the stack (stacks/constructs/dashboards.py): `dashboard create`
creates nothing; it names the deployed dashboard the runbook's --name means, its console URL in the
stack's region, the widgets of the --metrics asked for and the alarms behind the --alerts. The
failover view is the live part of the same dashboard that metrics cannot show: weights, the rollout
holding the route and its step, breakers, health and the active alarms, redrawn every --refresh seconds.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlparse

from cli.hybridctl import commands
from cli.hybridctl.client import OK, USAGE, CliError, dumps
from cli.hybridctl.commands import TARGETS, Ctx, providers, rollout_text
from cli.hybridctl.output import pairs, table

DEFAULT_STACK = "HybridRouting"  # stacks/config.py StackConfig.stack_name
DEFAULT_REFRESH_SECONDS = 10.0  # functions/domain/thresholds.py DASHBOARD_REFRESH_SECONDS ("--refresh 10")

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


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def _checked(asked: list[str], known: tuple[str, ...] | dict[str, Any], what: str, key: str) -> list[str]:
    unknown = [n for n in asked if n not in known]
    if unknown:
        offered = ", ".join(known) if known else "none (its widgets are fixed)"
        raise CliError(USAGE, f"unknown {what} {', '.join(unknown)} for the {key} dashboard; it has: {offered}")
    return asked


def alert_alarms(stack: str, alert: str) -> list[str]:
    """The alarm names behind a runbook alert (functions/domain/alarms/definitions.py)."""
    if alert == "failover_failure":
        return [f"{stack}-critical-failover-failure"]
    return [f"{stack}-critical-extended-outage-{target}" for target in TARGETS]


def create(ctx: Ctx, args: argparse.Namespace) -> int:
    key = dashboard_key(args.name)
    stack = args.stack or os.environ.get("HYBRID_STACK_NAME") or DEFAULT_STACK
    dashboard = f"{stack}-{key}"
    metrics = FAILOVER_METRICS if key == "failover" else {}
    alerts = FAILOVER_ALERTS if key == "failover" else ()
    asked_metrics = _checked(_names(args.metrics), metrics, "metric(s)", key)
    asked_alerts = _checked(_names(args.alerts), alerts, "alert(s)", key)
    region = region_of(ctx.api.endpoint, args.region)
    host = urlparse(ctx.api.endpoint).hostname or ""
    data: dict[str, Any] = {
        "created": False,
        "deployedByStack": True,
        "name": args.name,
        "dashboard": dashboard,
        "region": region,
        "url": console_url(region, dashboard) if region else None,
        "localPage": f"{ctx.api.endpoint}/local/dashboard" if host in LOCAL_HOSTS else None,
        "metrics": {m: list(metrics[m]) for m in asked_metrics},
        "alerts": {a: alert_alarms(stack, a) for a in asked_alerts},
    }

    def human() -> str:
        lines = [
            f"'{args.name}' is the dashboard {dashboard}, deployed with the stack (stacks/constructs/dashboards.py):",
            "nothing to create; `cdk deploy` keeps it up to date.",
            f"  {data['url']}" if data["url"] else "  region unknown: pass --region (or set AWS_REGION) for its URL",
        ]
        if data["localPage"]:
            lines.append(f"  local stack: {data['localPage']} (the main dashboard's widgets)")
        for metric, widgets in data["metrics"].items():
            lines.append(f"metric {metric}, shown by:" + "".join(f"\n  {w}" for w in widgets))
        for alert, alarms in data["alerts"].items():
            lines.append(f"alert {alert}, the alarms:" + "".join(f"\n  {a}" for a in alarms))
        return "\n".join(lines)

    ctx.emit(data, human)
    return OK


# --- status --dashboard failover --------------------------------------------------------------
def status(ctx: Ctx, args: argparse.Namespace) -> int:
    """`status`, or with --dashboard the failover view refreshed every --refresh seconds."""
    if getattr(args, "dashboard", None) is None:
        for option in ("refresh", "count"):
            if getattr(args, option, None) is not None:
                raise CliError(USAGE, f"--{option} goes with --dashboard failover")
        return commands.status(ctx, args)
    if args.count is not None and args.count < 1:
        raise CliError(USAGE, f"--count {args.count}: give at least 1 refresh")
    return failover_view(ctx, args)


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
    weights = ",".join(f"{p}:{w}" for p, w in sample["weights"].items())
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
    refresh = args.refresh if args.refresh is not None else DEFAULT_REFRESH_SECONDS
    redraw = ctx.out.isatty() and not ctx.json
    shown = 0
    try:
        while True:
            sample = failover_sample(ctx)
            shown += 1
            if ctx.json:
                print(dumps(sample).replace("\n", ""), file=ctx.out, flush=True)
            else:
                frame = failover_frame(sample, refresh, ctx.api.endpoint)
                print((CLEAR if redraw else "") + frame + ("" if redraw else "\n"), file=ctx.out, flush=True)
            if args.count is not None and shown >= args.count:
                return OK
            time.sleep(refresh)
    except KeyboardInterrupt:
        if not ctx.json:
            print(f"failover dashboard stopped after {shown} refresh(es)", file=ctx.out, flush=True)
        return OK


# --- arguments ------------------------------------------------------------------------------------
def add_status_arguments(
    status_parser: argparse.ArgumentParser, seconds: Callable[[str], float], whole: Callable[[str], int]
) -> None:
    """`seconds` and `whole`: main's argument types for a positive number and a whole number."""
    group = status_parser.add_argument_group("live dashboard")
    group.add_argument("--dashboard", choices=("failover",), help="live failover view: weights, rollout, breakers")
    group.add_argument("--refresh", type=seconds, metavar="SECONDS", help="redraw interval (default 10)")
    group.add_argument("--count", type=whole, metavar="N", help="stop after N refreshes (default: Ctrl-C)")


def add_arguments(command: Any) -> None:
    """`dashboard create` (the `command` factory of main.build_parser)."""
    p = command("dashboard", "the stack's CloudWatch dashboards", create)
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = command("create", "name the deployed dashboard a runbook --name means, with its URL", create, into=sub)
    s.add_argument("--name", required=True, help='e.g. "AI Provider Failover"')
    s.add_argument("--metrics", help='e.g. "provider_health,failover_events,recovery_time"')
    s.add_argument("--alerts", help='e.g. "failover_failure,extended_outage"')
    s.add_argument("--stack", help=f"stack name (HYBRID_STACK_NAME; default {DEFAULT_STACK})")
    s.add_argument("--region", help="the stack's region (default: the endpoint's, else AWS_REGION)")
