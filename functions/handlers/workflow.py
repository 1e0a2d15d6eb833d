"""Workflow Lambda: every Task state of the rollout state machines, dispatched on `event["action"]`.

acquire -> set_step -> evaluate_gate [-> await_approval] -> ... -> release, with rollback on a failed
gate or an abort, and cleanup from the EventBridge rule on execution status (failed, timed out,
aborted). `await_approval` runs as `lambda:invoke.waitForTaskToken`: it keeps the task token on the
route's lock and returns; the execution waits until an operator's answer (functions.adapters.dynamodb.rollouts).
Inputs are
validated by pydantic; answers are JSON for the next state. Typed errors escape on purpose: their
class names are the ASL's ErrorEquals (see functions.domain.rollout.errors).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from functions.adapters.cloudwatch import MetricsSource, get_metrics_source
from functions.adapters.dynamodb.audit import AuditLog
from functions.adapters.dynamodb.config import ConfigStore
from functions.adapters.dynamodb.rollouts import RolloutStore, alarm_states
from functions.app.workflow.settings import WorkflowSettings, get_settings
from functions.domain.errors import InvalidRequest
from functions.domain.rollout.errors import TASK_TIMEOUT
from functions.domain.rollout.gates import (
    GateDecision,
    GateFailed,
    GateInconclusive,
    GateLimits,
    GateTally,
    GateThresholds,
    TargetMetrics,
    decide,
    evaluate,
)
from functions.domain.rollout.plan import (
    Phase,
    RolloutAborted,
    RolloutKind,
    RouteState,
    plan_for,
    require_owner,
    weights_at,
)
from functions.domain.thresholds import (
    APPROVAL_TIMEOUT_MAX_SECONDS,
    APPROVAL_TIMEOUT_SECONDS,
    GATE_CONSECUTIVE_FAILURES,
    GATE_FAILURE_LIMIT,
    GATE_MAX_INCONCLUSIVE,
    GATE_MIN_REQUESTS,
    GATE_P95_LATENCY_MS,
    GATE_SUCCESS_PERCENT,
)
from functions.shared.event_patterns import EXECUTION_STATUS_CHANGE
from functions.shared.observability import logger


@dataclass
class WorkflowDependencies:
    settings: WorkflowSettings
    rollouts: RolloutStore
    metrics: Callable[[], MetricsSource]
    alarms: Callable[[Sequence[str], str], dict[str, str]]  # (alarm names, target) -> {name: state}
    clock: Callable[[], float] = time.time


@lru_cache(maxsize=1)
def get_dependencies() -> WorkflowDependencies:
    settings = get_settings()
    config = ConfigStore(settings.flags_table, AuditLog(settings.audit_table))
    return WorkflowDependencies(
        settings=settings,
        rollouts=RolloutStore(config),
        metrics=get_metrics_source,
        alarms=lambda names, target: alarm_states(names, settings.alarm_prefix, target),
    )


# --- inputs --------------------------------------------------------------------------------------
class _Input(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    owner: str = Field(min_length=1, max_length=2048)  # the execution ARN ($$.Execution.Id)
    reason: str = Field(default="", max_length=500)


class ApprovalInput(BaseModel):
    """Manual approval between steps (after each passed gate but the last); off unless `required`."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    required: bool = False
    timeout_seconds: int = Field(default=APPROVAL_TIMEOUT_SECONDS, ge=1, le=APPROVAL_TIMEOUT_MAX_SECONDS)


class AcquireInput(_Input):
    action: Literal["acquire"]
    kind: RolloutKind
    source: list[str] = Field(min_length=1, max_length=8)
    target: str = Field(min_length=1, max_length=64)
    steps: list[int] | None = Field(default=None, max_length=20)
    bake_seconds: int | None = Field(default=None, ge=0, le=86_400)
    dry_run: bool = False
    approval: ApprovalInput = Field(default_factory=ApprovalInput)

    @field_validator("source", mode="before")
    @classmethod
    def _one_source(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("approval", mode="before")
    @classmethod
    def _approval_off_when_null(cls, value: Any) -> Any:
        return {} if value is None else value


class SetStepInput(_Input):
    action: Literal["set_step"]
    step: int = Field(ge=0)
    steps: list[int] = Field(min_length=1, max_length=20)
    dry_run: bool = False


class TallyInput(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    failures: int = Field(default=0, ge=0)
    consecutive_failures: int = Field(default=0, ge=0)
    consecutive_inconclusive: int = Field(default=0, ge=0)


class EvaluateGateInput(_Input):
    action: Literal["evaluate_gate"]
    target: str = Field(min_length=1, max_length=64)
    window_seconds: int | None = Field(default=None, ge=1, le=86_400)
    success_percent: float = Field(default=GATE_SUCCESS_PERCENT, ge=0, le=100)
    p95_latency_ms: float = Field(default=GATE_P95_LATENCY_MS, gt=0)
    min_requests: int = Field(default=GATE_MIN_REQUESTS, ge=1)
    failure_limit: int = Field(default=GATE_FAILURE_LIMIT, ge=1)
    consecutive_failures: int = Field(default=GATE_CONSECUTIVE_FAILURES, ge=1)
    max_inconclusive: int = Field(default=GATE_MAX_INCONCLUSIVE, ge=0)
    alarm_names: list[str] = Field(default_factory=list, max_length=100)
    tally: TallyInput = Field(default_factory=TallyInput)


class AwaitApprovalInput(_Input):
    action: Literal["await_approval"]
    token: str = Field(min_length=1, max_length=4096)  # $$.Task.Token
    step: int = Field(ge=0)


class ReleaseInput(_Input):
    action: Literal["release"]
    error: str = Field(default="", max_length=200)  # why it ends early (the caught error's name), if it does


class RollbackInput(_Input):
    action: Literal["rollback"]
    error: str = Field(default="", max_length=200)


class CleanupInput(_Input):
    action: Literal["cleanup"]
    status: str = ""


Command = Annotated[
    AcquireInput | SetStepInput | EvaluateGateInput | AwaitApprovalInput | ReleaseInput | RollbackInput | CleanupInput,
    Field(discriminator="action"),
]
_COMMAND: TypeAdapter[Any] = TypeAdapter(Command)


def parse(event: dict[str, Any]) -> Any:
    """The command in `event`; an EventBridge execution-status event is a cleanup of its execution."""
    if "action" not in event and event.get("detail-type") == EXECUTION_STATUS_CHANGE:
        detail = event.get("detail") or {}
        event = {
            "action": "cleanup",
            "owner": detail.get("executionArn", ""),
            "status": detail.get("status", ""),
            "reason": f"execution {str(detail.get('status', '')).lower()}",
        }
    try:
        return _COMMAND.validate_python(event)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise InvalidRequest(f"invalid workflow input: {problems}") from exc


# --- actions -------------------------------------------------------------------------------------
def acquire(cmd: AcquireInput, deps: WorkflowDependencies) -> dict[str, Any]:
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
        **_route(acquired.state),
    }


def set_step(cmd: SetStepInput, deps: WorkflowDependencies) -> dict[str, Any]:
    if cmd.step >= len(cmd.steps):
        raise InvalidRequest(f"step {cmd.step} is past the plan's {len(cmd.steps)} steps")
    lock = require_owner(deps.rollouts.get().lock, cmd.owner)
    if lock.abort_requested:
        raise RolloutAborted(f"an operator aborted {cmd.owner}")
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
        **_route(state),
    }


def evaluate_gate(cmd: EvaluateGateInput, deps: WorkflowDependencies) -> dict[str, Any]:
    lock = require_owner(deps.rollouts.get().lock, cmd.owner)
    if lock.abort_requested:
        raise RolloutAborted(f"an operator aborted {cmd.owner}")
    window = step_window(cmd.window_seconds or deps.settings.gate_window_s, lock.step_started_at, deps.clock())
    metrics = TargetMetrics.from_snapshot(deps.metrics().query(window), cmd.target)
    thresholds = GateThresholds(cmd.success_percent, cmd.p95_latency_ms, cmd.min_requests)
    verdict = evaluate(metrics, thresholds, deps.alarms(cmd.alarm_names, cmd.target))
    tally = GateTally(**cmd.tally.model_dump()).record(verdict.verdict)
    limits = GateLimits(cmd.failure_limit, cmd.consecutive_failures, cmd.max_inconclusive)
    decision = decide(tally, verdict.verdict, limits)
    answer = {"decision": decision.value, "tally": _camel(tally.as_dict()), **verdict.as_dict()}
    deps.rollouts.record(cmd.owner, f"rollout.gate.{decision.value}", "; ".join(verdict.reasons), answer)
    if decision is GateDecision.FAIL:
        raise GateFailed(f"gate failed for {cmd.target}: {'; '.join(verdict.reasons)} (tally {tally.as_dict()})")
    if decision is GateDecision.GIVE_UP:
        raise GateInconclusive(f"gate for {cmd.target} still inconclusive: {'; '.join(verdict.reasons)}")
    return answer


def step_window(configured_s: int, step_started_at: float | None, now: float) -> float:
    """The seconds of metrics a gate reads: the configured window, cut to the time since the step's
    weights were set (to a tenth of a second below, at least 1 s), so that traffic before the step -
    under the old weights, or a fault since fixed - never decides the step's gate. Too few requests so
    far stays INCONCLUSIVE: the gate is held and re-checked. A lock written before steps were timed
    keeps the configured window."""
    if step_started_at is None:
        return configured_s
    return max(1.0, min(float(configured_s), math.floor((now - step_started_at) * 10) / 10))


def await_approval(cmd: AwaitApprovalInput, deps: WorkflowDependencies) -> dict[str, Any]:
    """Keep the task token on the lock; the execution then waits for the operator's answer."""
    state = deps.rollouts.await_approval(cmd.owner, cmd.token, cmd.step, cmd.reason)
    return {"awaitingApproval": True, "step": cmd.step, **_route(state)}


def release(cmd: ReleaseInput, deps: WorkflowDependencies) -> dict[str, Any]:
    """Keep the weights reached, lock released: at the end, or a stop before the end (`error` says why)."""
    _record_expired_approval(cmd.owner, cmd.error, deps)
    return _route(deps.rollouts.release(cmd.owner, None, cmd.reason or "rollout complete"))


def rollback(cmd: RollbackInput, deps: WorkflowDependencies) -> dict[str, Any]:
    """Back to the exact starting weights, lock released. Nothing to do if this execution released
    it already (a retried task); NotLockOwner if it lost the lock meanwhile (pre-empted)."""
    lock = deps.rollouts.get().lock
    if lock is not None:
        require_owner(lock, cmd.owner)
        _record_expired_approval(cmd.owner, cmd.error, deps)
    restore = None if lock is None else lock.starting_weights
    return _route(deps.rollouts.release(cmd.owner, restore, cmd.reason or "rollback"))


def _record_expired_approval(owner: str, error: str, deps: WorkflowDependencies) -> None:
    """An approval nobody answered in time is a transition of its own in the audit trail."""
    if error != TASK_TIMEOUT:
        return
    lock = deps.rollouts.get().lock
    if lock is not None and lock.owner == owner and lock.phase is Phase.AWAITING_APPROVAL:
        details = {"step": lock.step, "approvalPending": lock.approval_token is not None}
        reason = f"no answer to the approval after step {lock.step}"
        deps.rollouts.record(owner, "rollout.approval.timeout", reason, details)


def cleanup(cmd: CleanupInput, deps: WorkflowDependencies) -> dict[str, Any]:
    state = deps.rollouts.force_release_if_owner(cmd.owner, cmd.reason or f"execution {cmd.status.lower()}")
    return {"released": state is not None, **_route(state or deps.rollouts.get())}


ACTIONS: dict[type[BaseModel], Callable[[Any, WorkflowDependencies], dict[str, Any]]] = {
    AcquireInput: acquire,
    SetStepInput: set_step,
    EvaluateGateInput: evaluate_gate,
    AwaitApprovalInput: await_approval,
    ReleaseInput: release,
    RollbackInput: rollback,
    CleanupInput: cleanup,
}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, get_dependencies())


def handle(event: dict[str, Any], deps: WorkflowDependencies) -> dict[str, Any]:
    cmd = parse(event)
    # Per thread: on the local stack the workflow Lambda runs in the process that serves the router,
    # and keys appended for every thread would label the router's log lines with this task's action.
    logger.thread_safe_append_keys(action=cmd.action, owner=cmd.owner)
    try:
        answer = ACTIONS[type(cmd)](cmd, deps)
        logger.info("workflow-task", extra={"answer": answer})
        return answer
    finally:
        logger.thread_safe_remove_keys(["action", "owner"])


def _route(state: RouteState) -> dict[str, Any]:
    data = state.as_dict()
    return {"weights": data["weights"], "version": data["version"], "lock": data["lock"]}


def _camel(values: dict[str, Any]) -> dict[str, Any]:
    return {to_camel(k): v for k, v in values.items()}
