"""`hybridctl canary`: the target's share in the runbook's steps, a health gate after each; `--update-traffic N`
approves the next step, `--rollback` aborts the canary."""

from __future__ import annotations

import argparse
from typing import Any

from cli.hybridctl import rollouts as rollout
from cli.hybridctl.arguments import Verbs
from cli.hybridctl.client import NOT_FOUND, OK, USAGE, CliError, not_available
from cli.hybridctl.context import Ctx
from functions.domain.names import default_weights
from functions.domain.thresholds import CANARY_STEPS

UPDATE_TRAFFIC_ISSUE = 15  # Deliver 4: a gated move of the running canary to N %


def register(verbs: Verbs) -> None:
    p = verbs.add(
        "canary", "canary: the target's share 5, 10, 25, 50, 75, 100 percent, a health gate after each step", canary
    )
    p.add_argument("--source-provider", metavar="PROVIDER")
    p.add_argument("--target-provider", metavar="PROVIDER")
    p.add_argument("--traffic-percentage", type=int, metavar="N", help="first step (the runbook's steps from N on)")
    p.add_argument("--duration", type=int, metavar="SECONDS", help="bake time after each step (default 120)")
    p.add_argument("--success-threshold", type=rollout.percent, metavar="PCT", help="gate success rate (default 98%%)")
    p.add_argument("--sample-size", type=int, metavar="N", help="requests a gate needs before it can pass")
    p.add_argument("--validation-mode", action="store_true", help="dry run: gates evaluated, weights untouched")
    p.add_argument("--update-traffic", type=int, metavar="N", help="the runbook's manual step: approve the next step")
    p.add_argument("--rollback", action="store_true", help="abort the running canary (it rolls back)")
    rollout.rollout_options(p)


def canary(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.rollback:
        return rollout.abort_kind(ctx, args, "canary")
    if args.update_traffic is not None:
        return _update_traffic(ctx, args)
    source, target = args.source_provider, args.target_provider
    validation_only = args.validation_mode and not (source or target)
    if validation_only:
        source, target = _active_pair(ctx)
    if not (source and target):
        raise CliError(USAGE, "canary needs --source-provider and --target-provider (or --validation-mode alone)")
    body: dict[str, Any] = {"kind": "canary", "source": source, "target": target}
    if args.steps is None and (args.traffic_percentage is not None or validation_only):
        first = 100 if validation_only and args.traffic_percentage is None else args.traffic_percentage
        body["steps"] = [first, *(s for s in CANARY_STEPS if s > first)]
    if args.duration is not None:
        body["bakeSeconds"] = args.duration
    gate = {"successPercent": args.success_threshold, "minRequests": args.sample_size}
    if any(v is not None for v in gate.values()):
        body["gate"] = {k: v for k, v in gate.items() if v is not None}
    if args.validation_mode:
        body["dryRun"] = True
    return rollout.start(ctx, args, body, wait_default=False)


def _update_traffic(ctx: Ctx, args: argparse.Namespace) -> int:
    """The runbook's manual loop (`canary --update-traffic N`): the workflow sets each step itself after
    its gate; with --require-approval it waits between steps, and this approves the next one."""
    route = ctx.api.get("/admin/rollouts")["route"]
    lock = route.get("lock")
    if lock is None or lock["kind"] != "canary":
        raise CliError(NOT_FOUND, "no canary is running: start one with `hybridctl canary --source-provider ...`")
    view = ctx.api.get(f"/admin/rollouts/{lock['owner'].rsplit(':', 1)[-1]}")
    plan = (view.get("input") or {}).get("steps") or list(CANARY_STEPS)
    step = lock.get("step", -1)
    upcoming = plan[step + 1] if 0 <= step + 1 < len(plan) else None
    if not route.get("awaitingApproval"):
        weights = rollout.weights_line(route.get("weights"))
        raise not_available(
            f"moving a running canary to {args.update_traffic}% (it sets its steps itself after each passed gate; "
            f"now step {step + 1}: {weights}; start it with --require-approval to approve each step)",
            UPDATE_TRAFFIC_ISSUE,
        )
    if upcoming is not None and upcoming != args.update_traffic:
        raise CliError(
            USAGE,
            f"the next planned step is {upcoming}%, not {args.update_traffic}%: "
            f"approve it with --update-traffic {upcoming}",
        )
    reason = args.reason or f"canary to {args.update_traffic}%"
    result = ctx.api.post("/admin/rollouts/approve", {"approve": True, "reason": reason})
    ctx.emit(result, f"approved: the canary moves to {args.update_traffic}% after its gate")
    return OK


def _active_pair(ctx: Ctx) -> tuple[str, str]:
    """For a validation run with no providers named: the provider carrying most traffic, checked
    against the dry run of a canary from another configured provider."""
    distribution = ctx.api.get("/admin/routing/traffic-distribution")
    weights = distribution.get("weights") or default_weights()  # none stored: the default distribution
    active = max(weights, key=lambda p: weights[p])
    others = [p for p in distribution.get("providers") or weights if p != active]
    if not others:
        raise CliError(USAGE, "only one Direct provider is configured: name --source-provider and --target-provider")
    return others[0], active
