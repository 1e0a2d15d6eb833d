"""`hybridctl breakers list|reset|enable|disable`: the circuit breakers."""

from __future__ import annotations

import argparse

from cli.hybridctl.arguments import Verbs
from cli.hybridctl.client import OK
from cli.hybridctl.context import Ctx, change, when, with_version
from cli.hybridctl.output import table
from functions.domain.names import ALL, TARGETS


def register(verbs: Verbs) -> None:
    p = verbs.add("breakers", "circuit breakers", breakers)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    verbs.add_to(actions, "list", "state of every breaker", breakers)
    s = verbs.add_to(actions, "reset", "close breakers (all, or one provider)", breakers, [verbs.change])
    s.add_argument("provider", nargs="?", choices=(*TARGETS, ALL))
    verbs.add_to(actions, "enable", "turn circuit breaking on", breakers, [verbs.change])
    verbs.add_to(actions, "disable", "turn circuit breaking off", breakers, [verbs.change])


def breakers(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.action == "list":
        result = ctx.api.get("/admin/health/circuit-breakers")
        rows = [
            (t, b.get("state"), b.get("reason"), when(b.get("openedAt")), b.get("version"))
            for t, b in result.get("breakers", {}).items()
        ]
        ctx.emit(
            result,
            lambda: (
                f"circuit breakers: {'enabled' if result.get('enabled') else 'DISABLED'}\n"
                + table(["provider", "state", "reason", "openedAt", "version"], rows)
            ),
        )
        return OK
    if args.action == "reset":
        result = ctx.api.post("/admin/circuit-breaker/reset", change(args, provider=args.provider or ALL))
        ctx.emit(result, lambda: table(["provider", "state"], result.get("breakers", {}).items()))
        return OK
    result = ctx.api.post(f"/admin/circuit-breaker/{args.action}", change(args))
    ctx.emit(result, with_version(f"circuit breakers {'enabled' if result.get('enabled') else 'disabled'}", result))
    return OK
