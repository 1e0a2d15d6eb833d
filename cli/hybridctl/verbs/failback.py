"""`hybridctl failback`: the recovered provider's share back up in gated steps."""

from __future__ import annotations

import argparse

from cli.hybridctl import rollouts as rollout
from cli.hybridctl.arguments import Verbs
from cli.hybridctl.client import CHECK_FAILED
from cli.hybridctl.context import Ctx


def register(verbs: Verbs) -> None:
    p = verbs.add("failback", "failback: the recovered provider's share 10, 25, 50, 75, 100 percent, gated", failback)
    p.add_argument("--original-provider", required=True, metavar="PROVIDER")
    p.add_argument("--current-provider", required=True, metavar="PROVIDER")
    p.add_argument("--auto-trigger", action="store_true", help="start only if the original provider is healthy now")
    p.add_argument("--health-threshold", type=rollout.percent, metavar="PCT", help="gate success rate (default 98%%)")
    rollout.rollout_options(p)


def failback(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.auto_trigger:
        component = ctx.api.get(
            f"/health/component/direct-{args.original_provider}", auth=False, accept=(200, 503, 404)
        )
        if component.get("status") != "healthy":
            message = (
                f"{args.original_provider} is {component.get('status', 'unknown')}: failback not started. "
                "The alarm automation starts it once the provider has stayed healthy long enough."
            )
            ctx.emit({"started": False, "reason": message, "health": component}, message)
            return CHECK_FAILED
    body = {"kind": "failback", "source": args.current_provider, "target": args.original_provider}
    if args.health_threshold is not None:
        body["gate"] = {"successPercent": args.health_threshold}
    return rollout.start(ctx, args, body, wait_default=False)
