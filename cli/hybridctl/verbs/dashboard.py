"""`hybridctl dashboard create --name NAME`: names the deployed dashboard a runbook means, its console URL,
the widgets of the --metrics and the alarms of the --alerts; the stack deploys the dashboards, this creates nothing."""

from __future__ import annotations

import argparse
import os
from typing import Any
from urllib.parse import urlparse

from cli.hybridctl.arguments import Verbs
from cli.hybridctl.client import OK, USAGE, CliError
from cli.hybridctl.context import Ctx
from cli.hybridctl.dashboard import (
    DEFAULT_STACK,
    FAILOVER_ALERTS,
    FAILOVER_METRICS,
    LOCAL_HOSTS,
    alert_alarms,
    console_url,
    dashboard_key,
    region_of,
)


def register(verbs: Verbs) -> None:
    p = verbs.add("dashboard", "the stack's CloudWatch dashboards", create)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = verbs.add_to(actions, "create", "name the deployed dashboard a runbook --name means, with its URL", create)
    s.add_argument("--name", required=True, help='e.g. "AI Provider Failover"')
    s.add_argument("--metrics", help='e.g. "provider_health,failover_events,recovery_time"')
    s.add_argument("--alerts", help='e.g. "failover_failure,extended_outage"')
    s.add_argument("--stack", help=f"stack name (HYBRID_STACK_NAME; default {DEFAULT_STACK})")
    s.add_argument("--region", help="the stack's region (default: the endpoint's, else AWS_REGION)")


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


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def _checked(asked: list[str], known: tuple[str, ...] | dict[str, Any], what: str, key: str) -> list[str]:
    unknown = [n for n in asked if n not in known]
    if unknown:
        offered = ", ".join(known) if known else "none (its widgets are fixed)"
        raise CliError(USAGE, f"unknown {what} {', '.join(unknown)} for the {key} dashboard; it has: {offered}")
    return asked
