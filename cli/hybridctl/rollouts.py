"""The runbook's traffic-moving verbs (provider-failover.md): `failover`, `canary`, `failback`, `rollback`
and `rollouts status|abort|approve`, over the admin API's /admin/rollouts routes (issue 5).

Each verb starts a Step Functions rollout and, with --wait, follows it: one progress line per step,
gate verdict and approval wait, then a summary. Waiting is the default on a terminal, and for
`failover --mode immediate` and `rollback` everywhere (they end in seconds and the runbook's next line
checks their result); scripts pass --wait or --no-wait to choose. With --wait the exit code is the
rollout's outcome: 0 succeeded, 1 rolled back, stopped or failed.
"""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

from cli.hybridctl.client import CHECK_FAILED, CONFLICT, NOT_FOUND, OK, USAGE, CliError
from cli.hybridctl.commands import Ctx
from cli.hybridctl.output import pairs, table

# Mirrors functions.domain.thresholds.CANARY_STEPS (the CLI ships without the functions package).
RUNBOOK_CANARY_STEPS = (5, 10, 25, 50, 75, 100)
FINAL = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")
POLL_SECONDS = 2.0


# --- argument types --------------------------------------------------------------------------
def percent(text: str) -> float:
    """A percentage 0 .. 100, with or without the % sign (the runbook writes `--success-threshold 98%`)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%?\s*", text)
    if not match or not 0 <= float(match.group(1)) <= 100:
        raise argparse.ArgumentTypeError(f"'{text}' is not a percentage between 0 and 100 (e.g. 98%)")
    return float(match.group(1))


def steps(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of percentages") from None
    if not values or any(not 0 <= v <= 100 for v in values):
        raise argparse.ArgumentTypeError(f"steps are percentages between 0 and 100, not {text}")
    return values


def add_arguments(command: Any) -> None:
    """The rollout verbs, registered with hybridctl's `command(name, help, handler, parents, into)`."""
    p = command("failover", "move Direct traffic off a failed provider (immediate or gradual)", failover)
    p.add_argument("--failed-provider", "--from", dest="failed_provider", required=True, metavar="PROVIDER")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--target-provider", "--to", dest="target_provider", metavar="PROVIDER")
    target.add_argument("--auto-select-target", action="store_true", help="the healthiest other Direct provider")
    p.add_argument(
        "--mode",
        choices=("immediate", "gradual"),
        help="default immediate (gradual: the failed provider 50, 25, 0 percent)",
    )
    p.add_argument("--emergency-mode", action="store_true", help="immediate, pre-empting a running canary/failback")
    _rollout_options(p)

    p = command(
        "canary", "canary: the target's share 5, 10, 25, 50, 75, 100 percent, a health gate after each step", canary
    )
    p.add_argument("--source-provider", metavar="PROVIDER")
    p.add_argument("--target-provider", metavar="PROVIDER")
    p.add_argument("--traffic-percentage", type=int, metavar="N", help="first step (the runbook's steps from N on)")
    p.add_argument("--duration", type=int, metavar="SECONDS", help="bake time after each step (default 120)")
    p.add_argument("--success-threshold", type=percent, metavar="PCT", help="gate success rate (default 98%%)")
    p.add_argument("--sample-size", type=int, metavar="N", help="requests a gate needs before it can pass")
    p.add_argument("--validation-mode", action="store_true", help="dry run: gates evaluated, weights untouched")
    p.add_argument("--update-traffic", type=int, metavar="N", help="the runbook's manual step: approve the next step")
    p.add_argument("--rollback", action="store_true", help="abort the running canary (it rolls back)")
    _rollout_options(p)

    p = command("failback", "failback: the recovered provider's share 10, 25, 50, 75, 100 percent, gated", failback)
    p.add_argument("--original-provider", required=True, metavar="PROVIDER")
    p.add_argument("--current-provider", required=True, metavar="PROVIDER")
    p.add_argument("--auto-trigger", action="store_true", help="start only if the original provider is healthy now")
    p.add_argument("--health-threshold", type=percent, metavar="PCT", help="gate success rate (default 98%%)")
    _rollout_options(p)

    p = command("rollback", "immediate failover away from a provider", rollback)
    p.add_argument("--provider", required=True, metavar="PROVIDER")
    p.add_argument("--target-provider", metavar="PROVIDER", help="default: the healthiest other Direct provider")
    _rollout_options(p)

    p = command("rollouts", "running and recent rollouts; abort or approve", rollouts)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = command("status", "the route's rollout, or one execution", rollouts, into=actions)
    s.add_argument("execution", nargs="?", help="execution name or ARN (default: the route's running one)")
    _wait_options(s, default=False)
    s = command("abort", "stop the running rollout (a canary rolls back)", rollouts, into=actions)
    s.add_argument("--reason", default="", help="why (recorded in the audit trail)")
    s.add_argument("--execution", help="abort only if this execution holds the route")
    s.add_argument("--force", action="store_true", help="stop the execution now, not at its next step or gate")
    _wait_options(s, default=False)
    s = command("approve", "approve (or --reject) the step waiting for approval", rollouts, into=actions)
    s.add_argument("--reason", default="", help="why (recorded in the audit trail)")
    s.add_argument("--reject", action="store_true")


def _rollout_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("rollout")
    group.add_argument("--reason", default="", help="why (recorded in the audit trail)")
    group.add_argument("--steps", type=steps, metavar="P,P,...", help="the plan's percentages (default the runbook's)")
    group.add_argument("--bake-seconds", type=int, metavar="SECONDS", help="wait after each step (drills: 0)")
    group.add_argument("--recheck-seconds", type=int, metavar="SECONDS", help="wait before re-checking a gate")
    group.add_argument("--require-approval", action="store_true", help="wait for `rollouts approve` between steps")
    group.add_argument("--approval-timeout", type=int, metavar="SECONDS")
    group.add_argument("--dry-run", action="store_true", help="gates evaluated, weights untouched")
    _wait_options(p, default=None)


def _wait_options(p: argparse.ArgumentParser, default: bool | None) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--wait", dest="wait", action="store_true", default=default, help="follow it to its end")
    group.add_argument("--no-wait", dest="wait", action="store_false", help="print the execution and return")
    p.add_argument("--poll", type=float, default=POLL_SECONDS, metavar="SECONDS", help=argparse.SUPPRESS)


# --- verbs -----------------------------------------------------------------------------------
def failover(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.emergency_mode and args.mode == "gradual":
        raise CliError(USAGE, "--emergency-mode is an immediate failover; drop --mode gradual")
    kind = "gradual_failover" if args.mode == "gradual" else "immediate_failover"
    body = {"kind": kind, "failedProvider": args.failed_provider}
    body |= {"autoSelectTarget": True} if args.auto_select_target else {"targetProvider": args.target_provider}
    return _start(ctx, args, body, wait_default=kind == "immediate_failover")


def rollback(ctx: Ctx, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"kind": "immediate_failover", "failedProvider": args.provider}
    body |= {"targetProvider": args.target_provider} if args.target_provider else {"autoSelectTarget": True}
    return _start(ctx, args, body, wait_default=True)


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
    return _start(ctx, args, body, wait_default=False)


def canary(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.rollback:
        return _abort_kind(ctx, args, "canary")
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
        body["steps"] = [first, *(s for s in RUNBOOK_CANARY_STEPS if s > first)]
    if args.duration is not None:
        body["bakeSeconds"] = args.duration
    gate = {"successPercent": args.success_threshold, "minRequests": args.sample_size}
    if any(v is not None for v in gate.values()):
        body["gate"] = {k: v for k, v in gate.items() if v is not None}
    if args.validation_mode:
        body["dryRun"] = True
    return _start(ctx, args, body, wait_default=False)


def rollouts(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.action == "approve":
        reason = getattr(args, "reason", "")
        result = ctx.api.post("/admin/rollouts/approve", {"approve": not args.reject, "reason": reason})
        word = "approved" if result["approved"] else "rejected"
        ctx.emit(result, f"{word} the waiting step of {_holder(result['route'])}")
        return OK
    if args.action == "abort":
        return _abort_kind(ctx, args, None)
    if args.execution:
        return _follow(ctx, args.execution, args) if args.wait else _show(ctx, args.execution)
    listed = ctx.api.get("/admin/rollouts")
    ctx.emit(listed, lambda: _list_text(listed))
    return OK


# --- starting and following --------------------------------------------------------------------
def _start(ctx: Ctx, args: argparse.Namespace, body: dict[str, Any], wait_default: bool) -> int:
    options = {
        "steps": args.steps,
        "bakeSeconds": args.bake_seconds,
        "recheckSeconds": args.recheck_seconds,
        "reason": args.reason or None,
    }
    body = {k: v for k, v in options.items() if v is not None} | body
    if args.dry_run:
        body["dryRun"] = True
    if args.require_approval or args.approval_timeout is not None:
        approval: dict[str, Any] = {"required": True}
        if args.approval_timeout is not None:
            approval["timeoutSeconds"] = args.approval_timeout
        body["approval"] = approval
    try:
        started = ctx.api.post("/admin/rollouts", body, accept=(202,))
    except CliError as exc:
        if exc.status == 409:
            raise CliError(
                CONFLICT,
                f"refused: {exc.message.split('(409): ', 1)[-1].split('. Someone changed')[0]}. "
                "Follow it with `hybridctl rollouts status`, or stop it with `hybridctl rollouts abort --reason ...`",
                status=409,
                code=exc.code,
            ) from exc
        raise
    wait = args.wait if args.wait is not None else (wait_default or ctx.out.isatty())
    if not wait:
        ctx.emit(
            started, lambda: _started_text(started) + f"\nfollow: hybridctl rollouts status {started['name']} --wait"
        )
        return OK
    if not ctx.json:
        print(_started_text(started), file=ctx.out, flush=True)
    return _follow(ctx, started["name"], args, len(started.get("plan", {}).get("steps", [])) or None)


def _follow(ctx: Ctx, name: str, args: argparse.Namespace, total: int | None = None) -> int:
    """Poll the execution, print each new step, gate verdict and approval wait, then a summary."""
    seen_steps = seen_gates = 0
    waiting_shown = False
    while True:
        view = ctx.api.get(f"/admin/rollouts/{name}")
        if not ctx.json:
            for line in _progress(view, seen_steps, seen_gates, total):
                print(line, file=ctx.out, flush=True)
            awaiting = bool((view.get("route") or {}).get("awaitingApproval"))
            if awaiting and not waiting_shown:
                print("  waiting for approval: hybridctl rollouts approve [--reject] --reason ...", file=ctx.out)
            waiting_shown = awaiting
        seen_steps, seen_gates = len(view.get("steps", [])), len(view.get("gates", []))
        if view["status"] in FINAL:
            ctx.emit(view, lambda v=view: _summary(v))
            return OK if view["status"] == "SUCCEEDED" else CHECK_FAILED
        time.sleep(max(0.05, args.poll))


def _show(ctx: Ctx, name: str) -> int:
    view = ctx.api.get(f"/admin/rollouts/{name}")
    ctx.emit(view, lambda: "\n".join([*_progress(view, 0, 0), _summary(view)]))
    return OK


def _progress(view: dict[str, Any], seen_steps: int, seen_gates: int, total: int | None = None) -> list[str]:
    lines = []
    total = total or len((view.get("input") or {}).get("steps") or []) or None
    for step in view.get("steps", [])[seen_steps:]:
        of = f"/{total}" if total else ""
        lines.append(
            f"  step {step.get('step', 0) + 1}{of}: {step.get('percent')}%  weights {_weights(step.get('weights'))}"
        )
    for gate in view.get("gates", [])[seen_gates:]:
        if gate.get("error"):
            lines.append(f"  gate: {gate['error']}: {gate.get('cause', '')}")
            continue
        reasons = "; ".join(gate.get("reasons") or [])
        lines.append(f"  gate: {gate.get('verdict')} -> {gate.get('decision')}" + (f" ({reasons})" if reasons else ""))
    return lines


def _summary(view: dict[str, Any]) -> str:
    outcome = {"SUCCEEDED": "completed", "RUNNING": "running"}.get(view["status"], "ended without completing")
    rows = {
        "rollout": f"{view['name']} ({view['kind']})",
        "status": f"{view['status']}: {outcome}",
        "steps done": len(view.get("steps", [])),
        "gates": ", ".join(f"{g.get('verdict') or g.get('error')}" for g in view.get("gates", [])) or "-",
        "last step": _weights(view.get("weights")),
        "weights now": _weights(view.get("finalWeights") or (view.get("route") or {}).get("weights")),
        "started": view.get("startDate"),
        "stopped": view.get("stopDate"),
    }
    if view.get("error"):
        rows["error"] = f"{view['error']}: {view.get('cause') or ''}"
    return pairs(rows)


def _started_text(started: dict[str, Any]) -> str:
    plan = started.get("plan", {})
    dry = " (dry run: weights untouched)" if started.get("dryRun") else ""
    lines = [
        f"started {started['kind']} {started['name']}: {started['source']} -> {started['target']}{dry}",
        f"  plan {','.join(map(str, plan.get('steps', [])))} %, bake {plan.get('bakeSeconds')} s; "
        f"from weights {_weights(started.get('startingWeights'))}",
    ]
    if started.get("preempts"):
        lines.append(f"  pre-empts {started['preempts']}")
    return "\n".join(lines)


# --- operator actions on the running rollout ----------------------------------------------------
def _abort_kind(ctx: Ctx, args: argparse.Namespace, kind: str | None) -> int:
    route = ctx.api.get("/admin/rollouts")["route"]
    lock = route.get("lock")
    if lock is None:
        raise CliError(NOT_FOUND, "no rollout is running on the route")
    if kind and lock["kind"] != kind:
        raise CliError(CONFLICT, f"the running rollout is a {lock['kind']} ({lock['owner']}), not a {kind}")
    reason = getattr(args, "reason", "") or f"{kind or 'rollout'} aborted by the operator"
    body = {"reason": reason} | ({"execution": args.execution} if getattr(args, "execution", None) else {})
    if getattr(args, "force", False):
        body["force"] = True
    result = ctx.api.post("/admin/rollouts/abort", body)
    name = lock["owner"].rsplit(":", 1)[-1]
    if getattr(args, "wait", False):
        if not ctx.json:
            print(f"abort requested for {name}; it rolls back at its next step or gate", file=ctx.out, flush=True)
        code = _follow(ctx, name, args)
        return OK if code == CHECK_FAILED else code  # the abort did what was asked
    when = (
        "stopped now; the cleanup releases the route"
        if result.get("stopped")
        else "it rolls back at its next step or gate"
    )
    ctx.emit(result, f"abort requested for {name}: {when}")
    return OK


def _update_traffic(ctx: Ctx, args: argparse.Namespace) -> int:
    """The runbook's manual loop (`canary --update-traffic N`): the workflow sets each step itself after
    its gate; with --require-approval it waits between steps, and this approves the next one."""
    route = ctx.api.get("/admin/rollouts")["route"]
    lock = route.get("lock")
    if lock is None or lock["kind"] != "canary":
        raise CliError(NOT_FOUND, "no canary is running: start one with `hybridctl canary --source-provider ...`")
    view = ctx.api.get(f"/admin/rollouts/{lock['owner'].rsplit(':', 1)[-1]}")
    plan = (view.get("input") or {}).get("steps") or list(RUNBOOK_CANARY_STEPS)
    step = lock.get("step", -1)
    upcoming = plan[step + 1] if 0 <= step + 1 < len(plan) else None
    if not route.get("awaitingApproval"):
        message = (
            f"the canary sets its steps itself after each passed gate (now step {step + 1}: "
            f"{_weights(route.get('weights'))}); nothing to do. Start it with --require-approval to approve each step."
        )
        ctx.emit({"approved": False, "reason": message, "route": route}, message)
        return OK
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
    weights = distribution.get("weights", {})
    active = max(weights, key=lambda p: weights[p]) if weights else "bedrock"
    others = [p for p in distribution.get("providers") or weights if p != active]
    if not others:
        raise CliError(USAGE, "only one Direct provider is configured: name --source-provider and --target-provider")
    return others[0], active


# --- text ------------------------------------------------------------------------------------
def _weights(weights: Any) -> str:
    return ",".join(f"{p}:{w}" for p, w in (weights or {}).items()) or "-"


def _holder(route: dict[str, Any]) -> str:
    lock = route.get("lock") or {}
    return lock.get("owner", "the route's rollout").rsplit(":", 1)[-1]


def _list_text(listed: dict[str, Any]) -> str:
    route = listed["route"]
    lock = route.get("lock")
    head = {"weights": f"{_weights(route.get('weights'))} (version {route.get('version')})"}
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
