"""Starting a rollout over /admin/rollouts and following it to its end (one line per step, gate verdict and
approval wait, then a summary); the options and argument types the rollout verbs share."""

from __future__ import annotations

import argparse
import re
import time
from functools import partial
from typing import Any

from cli.hybridctl.client import CHECK_FAILED, CONFLICT, NOT_FOUND, OK, CliError
from cli.hybridctl.context import Ctx
from cli.hybridctl.output import pairs

FINAL = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")
POLL_SECONDS = 2.0


# --- argument types and options ----------------------------------------------------------------
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


def rollout_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("rollout")
    group.add_argument("--reason", default="", help="why (recorded in the audit trail)")
    group.add_argument("--steps", type=steps, metavar="P,P,...", help="the plan's percentages (default the runbook's)")
    group.add_argument("--bake-seconds", type=int, metavar="SECONDS", help="wait after each step (drills: 0)")
    group.add_argument("--recheck-seconds", type=int, metavar="SECONDS", help="wait before re-checking a gate")
    group.add_argument("--require-approval", action="store_true", help="wait for `rollouts approve` between steps")
    group.add_argument("--approval-timeout", type=int, metavar="SECONDS")
    group.add_argument("--dry-run", action="store_true", help="gates evaluated, weights untouched")
    wait_options(p, default=None)


def wait_options(p: argparse.ArgumentParser, default: bool | None) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--wait", dest="wait", action="store_true", default=default, help="follow it to its end")
    group.add_argument("--no-wait", dest="wait", action="store_false", help="print the execution and return")
    p.add_argument("--poll", type=float, default=POLL_SECONDS, metavar="SECONDS", help=argparse.SUPPRESS)


# --- starting and following --------------------------------------------------------------------
def start(ctx: Ctx, args: argparse.Namespace, body: dict[str, Any], wait_default: bool) -> int:
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
    return follow(ctx, started["name"], args, len(started.get("plan", {}).get("steps", [])) or None)


def follow(ctx: Ctx, name: str, args: argparse.Namespace, total: int | None = None) -> int:
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
            ctx.emit(view, partial(_summary, view))
            return OK if view["status"] == "SUCCEEDED" else CHECK_FAILED
        time.sleep(max(0.05, args.poll))


def show(ctx: Ctx, name: str) -> int:
    view = ctx.api.get(f"/admin/rollouts/{name}")
    ctx.emit(view, lambda: "\n".join([*_progress(view, 0, 0), _summary(view)]))
    return OK


def _progress(view: dict[str, Any], seen_steps: int, seen_gates: int, total: int | None = None) -> list[str]:
    lines = []
    total = total or len((view.get("input") or {}).get("steps") or []) or None
    for step in view.get("steps", [])[seen_steps:]:
        of = f"/{total}" if total else ""
        lines.append(
            f"  step {step.get('step', 0) + 1}{of}: {step.get('percent')}%  weights {weights_line(step.get('weights'))}"
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
        "last step": weights_line(view.get("weights")),
        "weights now": weights_line(view.get("finalWeights") or (view.get("route") or {}).get("weights")),
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
        f"from weights {weights_line(started.get('startingWeights'))}",
    ]
    if started.get("preempts"):
        lines.append(f"  pre-empts {started['preempts']}")
    return "\n".join(lines)


# --- the running rollout -----------------------------------------------------------------------
def abort_kind(ctx: Ctx, args: argparse.Namespace, kind: str | None) -> int:
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
        code = follow(ctx, name, args)
        return OK if code == CHECK_FAILED else code  # the abort did what was asked
    when = (
        "stopped now; the cleanup releases the route"
        if result.get("stopped")
        else "it rolls back at its next step or gate"
    )
    ctx.emit(result, f"abort requested for {name}: {when}")
    return OK


def weights_line(weights: Any) -> str:
    return ",".join(f"{p}:{w}" for p, w in (weights or {}).items()) or "-"


def holder(route: dict[str, Any]) -> str:
    lock = route.get("lock") or {}
    owner: str = lock.get("owner", "the route's rollout")
    return owner.rsplit(":", 1)[-1]
