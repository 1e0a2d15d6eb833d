"""`hybridctl emergency disable-routing|isolate|--mode multi-provider-outage`: the emergency switches."""

from __future__ import annotations

import argparse
from typing import Any

from cli.hybridctl.arguments import Verbs, mutation
from cli.hybridctl.client import OK, USAGE, CliError, dumps, not_available
from cli.hybridctl.context import Ctx, change, with_version
from cli.hybridctl.output import table
from cli.hybridctl.views import MCP_COMPONENT, component_of, health
from functions.domain.names import DIRECT_PROVIDERS, MCP

ROUTER_COMPONENT = "hybrid-router"
DEGRADED_SERVICE_ISSUE = 17


def register(verbs: Verbs) -> None:
    p = verbs.add("emergency", "emergency switches", emergency, [mutation(suppress=True)])
    p.add_argument("--mode", choices=("multi-provider-outage",), help="emergency mode to report on / activate")
    p.add_argument(
        "--enable-degraded-service", action="store_true", help="degraded service mode (not available yet: issue 17)"
    )
    actions = p.add_subparsers(dest="action", required=False, metavar="ACTION")
    verbs.add_to(
        actions, "disable-routing", "send every operation to MCP (disable hybrid routing)", emergency, [verbs.change]
    )
    s = verbs.add_to(actions, "isolate", "take a component out of rotation", emergency, [verbs.change])
    components = ", ".join(component_of(name) for name in (*DIRECT_PROVIDERS, MCP))
    s.add_argument("component", help=components)
    s.add_argument("--restore", action="store_true", help="put it back into rotation")


def emergency(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.action == "disable-routing":
        result = ctx.api.post("/admin/emergency/disable-hybrid-routing", change(args))
        version = result.get("flags", {}).get("version")
        text = f"{result.get('status')}: every operation goes to MCP within {result.get('effectiveWithinSeconds')} s"
        ctx.emit(result, f"{text}\nversion: {version}")
        return OK
    if args.action == "isolate":
        action = "restore" if args.restore else "isolate"
        result = ctx.api.post(
            "/admin/emergency/isolate-component", change(args, component=args.component, action=action)
        )
        isolated = ", ".join(result.get("isolated", [])) or "none"
        ctx.emit(result, with_version(f"{args.component}: {action}d\nisolated now: {isolated}", result))
        return OK
    if args.mode is None:
        raise CliError(USAGE, "emergency needs an action (disable-routing, isolate) or --mode multi-provider-outage")
    if args.enable_degraded_service:
        raise not_available("degraded service mode (--enable-degraded-service)", DEGRADED_SERVICE_ISSUE)
    return _multi_provider_outage(ctx, args)


def _multi_provider_outage(ctx: Ctx, args: argparse.Namespace) -> int:
    """What this API offers in a multi-provider outage, read out: the breakers, stale cached answers
    (served automatically when no route can serve, marked `x-hybrid-cache: stale`), the cache settings.
    MCP is not forced: in such an outage it may be down too (`route force-mcp`)."""
    system = health(ctx)
    steps: list[dict[str, Any]] = [{"step": "health", "result": system.get("status")}]
    steps += _breaker_steps(ctx)
    cache = ctx.api.optional("/admin/config/cache-settings")
    steps.append(
        {
            "step": "stale cache",
            "result": "served automatically when no route can serve (x-hybrid-cache: stale, x-hybrid-degraded: true)",
        }
    )
    steps.append(
        {
            "step": "cache settings",
            "result": "route not available on this deployment" if cache is None else dumps(cache).replace("\n", " "),
        }
    )
    steps.append({"step": "MCP", "result": _mcp_step(system)})
    data = {"mode": args.mode, "degradedService": False, "steps": steps}
    ctx.emit(
        data,
        lambda: f"emergency mode: {args.mode}\n" + table(["step", "result"], ((s["step"], s["result"]) for s in steps)),
    )
    return OK


def _breaker_steps(ctx: Ctx) -> list[dict[str, Any]]:
    """The breakers' state: a read-out (degraded service, which would act, is issue 17's)."""
    breakers = ctx.api.get("/admin/health/circuit-breakers")
    return [
        {"step": "circuit breakers", "result": "enabled" if breakers.get("enabled") else "disabled"},
        {"step": "changes", "result": "none: this is a read-out"},
    ]


def _mcp_step(system: dict[str, Any]) -> str:
    up = [
        c["name"]
        for c in system.get("components", [])
        if c.get("status") == "healthy" and c["name"] != ROUTER_COMPONENT
    ]
    if MCP_COMPONENT in up:
        return "not forced; mcp-router is healthy: `hybridctl route force-mcp` sends all traffic there"
    return "not forced; mcp-router is not healthy either"
