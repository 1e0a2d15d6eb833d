"""`hybridctl route force-mcp|override|bedrock-percentage`: the routing controls."""

from __future__ import annotations

import argparse

from cli.hybridctl.arguments import Verbs, non_negative
from cli.hybridctl.client import OK, USAGE, CliError
from cli.hybridctl.context import Ctx, change, when, with_version
from cli.hybridctl.views import weights_text


def register(verbs: Verbs) -> None:
    p = verbs.add("route", "routing controls", route)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = verbs.add_to(actions, "force-mcp", "every operation onto MCP for a while", route, [verbs.change])
    s.add_argument("--duration", type=non_negative, required=True, help="seconds (60 .. 604800)")
    s = verbs.add_to(actions, "override", "routing mode override", route, [verbs.change])
    s.add_argument("mode", choices=("hybrid", "mcp_only", "direct_only"))
    s.add_argument("--duration", type=non_negative, help="seconds (60 .. 604800); none: until changed")
    s = verbs.add_to(actions, "bedrock-percentage", "Bedrock's share of Direct traffic", route, [verbs.change])
    s.add_argument("percentage", type=non_negative, help="0 .. 100")


def route(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.action == "force-mcp":
        if not args.reason:
            raise CliError(USAGE, "route force-mcp needs --reason (it is recorded with the override)")
        result = ctx.api.post("/admin/routing/force-mcp", change(args, duration=args.duration))
        text = f"every operation forced onto MCP for {args.duration} s (expires at {when(result.get('expires_at'))})"
    elif args.action == "override":
        result = ctx.api.post(
            "/admin/config/routing-override", change(args, routing_mode=args.mode, duration=args.duration)
        )
        text = f"routing mode {args.mode}" + (f" until {when(result.get('expires_at'))}" if args.duration else "")
    else:
        result = ctx.api.post("/admin/routing/bedrock-percentage", change(args, percentage=args.percentage))
        text = "traffic distribution: " + weights_text(result.get("weights", {}))
    ctx.emit(result, with_version(text, result))
    return OK
