"""`hybridctl status`: system and provider status; `--health-only` for scripts, `--dashboard failover` live."""

from __future__ import annotations

import argparse
from typing import Any

from cli.hybridctl import dashboard
from cli.hybridctl.arguments import Verbs, non_negative, positive_float
from cli.hybridctl.client import CHECK_FAILED, NOT_FOUND, OK, USAGE, CliError, dumps
from cli.hybridctl.context import Ctx
from cli.hybridctl.output import pairs, table
from cli.hybridctl.views import (
    MCP_COMPONENT,
    component_of,
    health,
    metrics_text,
    optional_metrics,
    provider_table,
    providers,
    rollout_text,
    routing_text,
)
from functions.domain.names import TARGETS

HEALTHY_STATES = ("healthy", "degraded")


def register(verbs: Verbs) -> None:
    p = verbs.add("status", "system and provider status", status)
    p.add_argument("--provider", help=f"one provider ({', '.join(TARGETS)}) or component ({MCP_COMPONENT})")
    p.add_argument("--provider-health", action="store_true", help="the provider table only")
    p.add_argument("--failover-status", action="store_true", help="routing mode, distribution, breakers, flags")
    p.add_argument("--health-only", action="store_true", help="HEALTHY/DEGRADED/UNHEALTHY; exit 1 when unhealthy")
    p.add_argument("--comprehensive", action="store_true", help="everything, metrics routes included")
    p.add_argument("--compact", action="store_true", help="one line; exit 1 when critical")
    group = p.add_argument_group("live dashboard")
    group.add_argument("--dashboard", choices=("failover",), help="live failover view: weights, rollout, breakers")
    group.add_argument("--refresh", type=positive_float, metavar="SECONDS", help="redraw interval (default 10)")
    group.add_argument("--count", type=non_negative, metavar="N", help="stop after N refreshes (default: Ctrl-C)")


def status(ctx: Ctx, args: argparse.Namespace) -> int:
    """`status`, or with --dashboard the failover view refreshed every --refresh seconds."""
    if args.dashboard is None:
        for option in ("refresh", "count"):
            if getattr(args, option) is not None:
                raise CliError(USAGE, f"--{option} goes with --dashboard failover")
        return _health_only(ctx, args) if args.health_only else _overview(ctx, args)
    if args.count is not None and args.count < 1:
        raise CliError(USAGE, f"--count {args.count}: give at least 1 refresh")
    return dashboard.failover_view(ctx, args)


def _overview(ctx: Ctx, args: argparse.Namespace) -> int:
    rows, raw = providers(ctx)
    if args.provider:
        rows = [r for r in rows if r["provider"] == args.provider]
        if not rows:
            known = ", ".join(raw["system"].get("providers", {}))
            raise CliError(NOT_FOUND, f"unknown provider '{args.provider}'; configured: {known}")
    data: dict[str, Any] = {
        "status": raw["health"].get("status"),
        "systemStatus": raw["system"].get("status"),
        "providers": rows,
        "routingOverride": ctx.api.get("/admin/config/routing-override"),
        "trafficDistribution": raw["trafficDistribution"],
        "circuitBreakersEnabled": raw["circuitBreakers"].get("enabled"),
    }
    if args.failover_status or args.comprehensive:
        data["featureFlags"] = ctx.api.get("/admin/feature-flags/bedrock")
        data["rollouts"] = ctx.api.optional("/admin/rollouts")
    if args.comprehensive:
        data |= _everything(ctx, raw)
    ctx.emit(data, lambda: _text(data, args, ctx.api.endpoint))
    return CHECK_FAILED if args.compact and data["status"] == "critical" else OK


def _everything(ctx: Ctx, raw: dict[str, Any]) -> dict[str, Any]:
    """What --comprehensive adds: components, breaker policy, audit integrity and the metrics routes."""
    return {
        "components": raw["health"].get("components", []),
        "breakerPolicy": raw["circuitBreakers"].get("policy"),
        "auditIntegrity": ctx.api.get("/admin/audit/trail-integrity"),
        "metrics": optional_metrics(ctx),
        "healthMetrics": ctx.api.optional("/health/metrics", auth=False),
        "healthAlerts": ctx.api.optional("/health/alerts", auth=False),
    }


def _text(data: dict[str, Any], args: argparse.Namespace, endpoint: str) -> str:
    rows = data["providers"]
    if args.compact:
        parts = [
            f"{r['provider']}={r['status']}/{r['breaker']}" + (f"/{r['weight']}%" if r["weight"] is not None else "")
            for r in rows
        ]
        return f"{data['status']}  " + "  ".join(parts)
    out = [pairs({"system": data["status"], "admin view": data["systemStatus"], "endpoint": endpoint})]
    out.append(provider_table(rows))
    if args.provider_health:
        return "\n\n".join(out)
    out.append(routing_text(data["routingOverride"], data["trafficDistribution"], data["circuitBreakersEnabled"]))
    if data.get("rollouts") is not None:
        out.append(rollout_text(data["rollouts"]))
    if "featureFlags" in data:
        flags = {k: v for k, v in data["featureFlags"].items() if k != "version"}
        out.append("feature flags:\n" + table(["flag", "enabled"], flags.items()))
    if args.comprehensive:
        out += _everything_text(data)
    return "\n\n".join(out)


def _everything_text(data: dict[str, Any]) -> list[str]:
    components = ([c.get("name"), c.get("status"), c.get("lastCheck"), c.get("detail")] for c in data["components"])
    out = [
        "components:\n" + table(["component", "status", "lastCheck", "detail"], components),
        "breaker policy:\n" + pairs(data["breakerPolicy"] or {}),
        f"audit trail: {data['auditIntegrity'].get('status')}",
        metrics_text(data["metrics"]),
    ]
    for key, label in (("healthMetrics", "/health/metrics"), ("healthAlerts", "/health/alerts")):
        value = data[key]
        out.append(f"{label}: not available on this deployment" if value is None else f"{label}:\n{dumps(value)}")
    return out


def _health_only(ctx: Ctx, args: argparse.Namespace) -> int:
    """HEALTHY / DEGRADED / UNHEALTHY (the runbook's health script greps for UNHEALTHY); exit 1 if unhealthy."""
    if args.provider:
        body = ctx.api.get(f"/health/component/{component_of(args.provider)}", auth=False, accept=(200, 503))
        subject = args.provider
    else:
        body = health(ctx, detailed=False)
        subject = "system"
    state = body.get("status", "unknown")
    unhealthy = state not in HEALTHY_STATES
    word = "UNHEALTHY" if unhealthy else state.upper()
    data = {"subject": subject, "status": state, "healthy": not unhealthy, **body}
    ctx.emit(data, f"{subject}: {word}" + (f" ({state})" if word.lower() != state else ""))
    return CHECK_FAILED if unhealthy else OK
