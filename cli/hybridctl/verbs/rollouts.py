"""`hybridctl rollouts status|abort|approve`: the running and recent rollouts, and the operator's actions on them."""

from __future__ import annotations

import argparse
from typing import Any

from cli.hybridctl import rollouts as rollout
from cli.hybridctl.arguments import Verbs
from cli.hybridctl.client import OK
from cli.hybridctl.context import Ctx
from cli.hybridctl.output import pairs, table


def register(verbs: Verbs) -> None:
    p = verbs.add("rollouts", "running and recent rollouts; abort or approve", rollouts)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = verbs.add_to(actions, "status", "the route's rollout, or one execution", rollouts)
    s.add_argument("execution", nargs="?", help="execution name or ARN (default: the route's running one)")
    rollout.wait_options(s, default=False)
    s = verbs.add_to(actions, "abort", "stop the running rollout (a canary rolls back)", rollouts)
    s.add_argument("--reason", default="", help="why (recorded in the audit trail)")
    s.add_argument("--execution", help="abort only if this execution holds the route")
    s.add_argument("--force", action="store_true", help="stop the execution now, not at its next step or gate")
    rollout.wait_options(s, default=False)
    s = verbs.add_to(actions, "approve", "approve (or --reject) the step waiting for approval", rollouts)
    s.add_argument("--reason", default="", help="why (recorded in the audit trail)")
    s.add_argument("--reject", action="store_true")


def rollouts(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.action == "approve":
        reason = getattr(args, "reason", "")
        result = ctx.api.post("/admin/rollouts/approve", {"approve": not args.reject, "reason": reason})
        word = "approved" if result["approved"] else "rejected"
        ctx.emit(result, f"{word} the waiting step of {rollout.holder(result['route'])}")
        return OK
    if args.action == "abort":
        return rollout.abort_kind(ctx, args, None)
    if args.execution:
        return rollout.follow(ctx, args.execution, args) if args.wait else rollout.show(ctx, args.execution)
    listed = ctx.api.get("/admin/rollouts")
    ctx.emit(listed, lambda: _list_text(listed))
    return OK


def _list_text(listed: dict[str, Any]) -> str:
    route = listed["route"]
    lock = route.get("lock")
    head = {"weights": f"{rollout.weights_line(route.get('weights'))} (version {route.get('version')})"}
    if lock:
        head |= {
            "rollout": f"{lock['kind']} {lock['owner'].rsplit(':', 1)[-1]}",
            "phase": f"{lock['phase']}, step {lock['step'] + 1}",
            "abort requested": lock.get("abortRequested"),
            "awaiting approval": route.get("awaitingApproval"),
        }
    else:
        head["rollout"] = "none running"
    rows = [
        (kind, e["name"], e["status"], e.get("startDate"), e.get("stopDate"))
        for kind, executions in listed.get("executions", {}).items()
        for e in executions
    ]
    recent = table(["kind", "name", "status", "started", "stopped"], rows) if rows else "no executions yet"
    return pairs(head) + "\n\n" + recent
