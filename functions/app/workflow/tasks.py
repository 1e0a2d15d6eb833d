"""The workflow tasks: acquire -> set_step -> evaluate_gate [-> await_approval] -> ... -> release, with
rollback on a failed gate or an abort, and cleanup after an execution that failed, timed out or was
stopped. Typed errors escape on purpose: their class names are the ASL's ErrorEquals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from functions.app.workflow.commands import (
    AcquireInput,
    AwaitApprovalInput,
    CleanupInput,
    EvaluateGateInput,
    ReleaseInput,
    RollbackInput,
    SetStepInput,
)
from functions.app.workflow.wiring import WorkflowDependencies
from functions.domain.errors import InvalidRequest
from functions.domain.rollout.errors import TASK_TIMEOUT
from functions.domain.rollout.gates import (
    GateDecision,
    GateFailed,
    GateInconclusive,
    GateTally,
    TargetMetrics,
    decide,
    evaluate,
    step_window,
)
from functions.domain.rollout.plan import (
    RouteState,
    expired_approval,
    plan_for,
    require_owner,
    require_running,
    weights_at,
)

Answer = dict[str, Any]


def acquire(cmd: AcquireInput, deps: WorkflowDependencies) -> Answer:
    plan = plan_for(cmd.kind, cmd.steps, cmd.bake_seconds)
    if cmd.target in cmd.source:
        raise InvalidRequest(f"the target {cmd.target!r} cannot also be a source")
    acquired = deps.rollouts.acquire(cmd.owner, cmd.kind, cmd.source, cmd.target, cmd.reason)
    return {
        "owner": cmd.owner,
        "kind": cmd.kind.value,
        "source": cmd.source,
        "target": cmd.target,
        "steps": list(plan.steps),
        "bakeSeconds": plan.bake_seconds,
        "dryRun": cmd.dry_run,
        "approval": cmd.approval.model_dump(by_alias=True),
        "step": 0,
        "admission": acquired.admission.value,
        "preempted": acquired.preempted,
        **route(acquired.state),
    }


def set_step(cmd: SetStepInput, deps: WorkflowDependencies) -> Answer:
    if cmd.step >= len(cmd.steps):
        raise InvalidRequest(f"step {cmd.step} is past the plan's {len(cmd.steps)} steps")
    lock = require_running(deps.rollouts.get().lock, cmd.owner)
    percent = cmd.steps[cmd.step]
    weights = weights_at(lock.kind, lock.sources, lock.target, percent, lock.starting_weights)
    state = deps.rollouts.set_step(
        cmd.owner, cmd.step, None if cmd.dry_run else weights, reason=cmd.reason or f"step {cmd.step}: {percent}%"
    )
    is_last = cmd.step == len(cmd.steps) - 1
    return {
        "step": cmd.step,
        "percent": percent,
        "plannedWeights": weights,
        "isLast": is_last,
        "nextStep": None if is_last else cmd.step + 1,
        **route(state),
    }


def evaluate_gate(cmd: EvaluateGateInput, deps: WorkflowDependencies) -> Answer:
    """Judge the target over the metrics since its step started, count the verdict in the tally, audit
    the decision; GateFailed or GateInconclusive when the tally says the rollout ends."""
    lock = require_running(deps.rollouts.get().lock, cmd.owner)
    window = step_window(cmd.window_seconds or deps.settings.gate_window_s, lock.step_started_at, deps.clock())
    # A window cut to the step's age is fractional: both metrics sources read fractional seconds.
    metrics = TargetMetrics.from_snapshot(deps.metrics().query(window), cmd.target)  # type: ignore[arg-type]
    verdict = evaluate(metrics, cmd.thresholds(), deps.alarms(cmd.alarm_names or [], cmd.target))
    tally = GateTally(**cmd.tally.model_dump()).record(verdict.verdict)
    decision = decide(tally, verdict.verdict, cmd.limits())
    answer = {"decision": decision.value, "tally": _camel(tally.as_dict()), **verdict.as_dict()}
    reasons = "; ".join(verdict.reasons)
    deps.rollouts.record(cmd.owner, f"rollout.gate.{decision.value}", reasons, answer)
    if decision is GateDecision.FAIL:
        raise GateFailed(f"gate failed for {cmd.target}: {reasons} (tally {tally.as_dict()})")
    if decision is GateDecision.GIVE_UP:
        raise GateInconclusive(f"gate for {cmd.target} still inconclusive: {reasons}")
    return answer


def await_approval(cmd: AwaitApprovalInput, deps: WorkflowDependencies) -> Answer:
    """Keep the task token on the lock; the execution then waits for the operator's answer."""
    state = deps.rollouts.await_approval(cmd.owner, cmd.token, cmd.step, cmd.reason)
    return {"awaitingApproval": True, "step": cmd.step, **route(state)}


def release(cmd: ReleaseInput, deps: WorkflowDependencies) -> Answer:
    """Keep the weights reached, lock released: at the end, or a stop before the end (`error` says why)."""
    _record_expired_approval(cmd.owner, cmd.error, deps)
    return route(deps.rollouts.release(cmd.owner, None, cmd.reason or "rollout complete"))


def rollback(cmd: RollbackInput, deps: WorkflowDependencies) -> Answer:
    """Back to the exact starting weights, lock released. Nothing to do if this execution released
    it already (a retried task); NotLockOwner if it lost the lock meanwhile (pre-empted)."""
    lock = deps.rollouts.get().lock
    if lock is not None:
        require_owner(lock, cmd.owner)
        _record_expired_approval(cmd.owner, cmd.error, deps)
    restore = None if lock is None else lock.starting_weights
    return route(deps.rollouts.release(cmd.owner, restore, cmd.reason or "rollback"))


def cleanup(cmd: CleanupInput, deps: WorkflowDependencies) -> Answer:
    state = deps.rollouts.force_release_if_owner(cmd.owner, cmd.reason or f"execution {cmd.status.lower()}")
    return {"released": state is not None, **route(state or deps.rollouts.get())}


def _record_expired_approval(owner: str, error: str, deps: WorkflowDependencies) -> None:
    """An approval nobody answered in time is a transition of its own in the audit trail."""
    if error != TASK_TIMEOUT:
        return
    expired = expired_approval(deps.rollouts.get().lock, owner)
    if expired is not None:
        reason, details = expired
        deps.rollouts.record(owner, "rollout.approval.timeout", reason, details)


TASKS: dict[type[BaseModel], Callable[[Any, WorkflowDependencies], Answer]] = {
    AcquireInput: acquire,
    SetStepInput: set_step,
    EvaluateGateInput: evaluate_gate,
    AwaitApprovalInput: await_approval,
    ReleaseInput: release,
    RollbackInput: rollback,
    CleanupInput: cleanup,
}


def run(cmd: BaseModel, deps: WorkflowDependencies) -> Answer:
    """The task `cmd` names."""
    return TASKS[type(cmd)](cmd, deps)


def route(state: RouteState) -> Answer:
    data = state.as_dict()
    return {"weights": data["weights"], "version": data["version"], "lock": data["lock"]}


def _camel(values: dict[str, Any]) -> dict[str, Any]:
    return {to_camel(k): v for k, v in values.items()}
