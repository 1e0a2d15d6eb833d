"""Rollouts (provider-failover.md, "Failover Procedures"): start a canary, failback, gradual or
immediate failover, watch it, abort it, approve or reject its next step.

The state machines do the work; these routes only start them, read them back and set the abort flag
or answer a pending approval. The route's lock is checked before starting (a refused start is a 409
naming the holder), and the workflow enforces it again when it acquires the lock.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from functions.adapters.dynamodb.config import Prepared
from functions.adapters.dynamodb.snapshot import SnapshotStore
from functions.app.admin.access import require_operator
from functions.app.admin.documents import Edit
from functions.app.admin.wiring import AdminDependencies
from functions.domain.errors import HybridRoutingError, InvalidRequest, VersionConflict, clip, quoted
from functions.domain.rollout.executions import name_of
from functions.domain.rollout.gate_options import GateOptions
from functions.domain.rollout.plan import ApprovalRejected, RolloutAborted, RolloutKind, RouteState, admit, plan_for
from functions.domain.rollout.target import candidates_from, pick_target
from functions.domain.thresholds import APPROVAL_TIMEOUT_MAX_SECONDS
from functions.handlers.admin.routes.common import Deps, Who, admin_router

router = admin_router()

# The error an answered approval ends its wait with: the ASL's ErrorEquals.
ABORTED, REJECTED = RolloutAborted.__name__, ApprovalRejected.__name__
RECENT_EXECUTIONS = 10  # per state machine, in GET /admin/rollouts
# A start answers once the execution holds the route (or has ended), so an abort right after it finds
# the rollout; Acquire is the first Task, well under a second after the start.
START_SETTLE_SECONDS, START_POLL_SECONDS = 3.0, 0.1


class _Camel(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class Approval(_Camel):
    """Manual approval between steps: after each passed gate but the last, the rollout waits for
    POST /admin/rollouts/approve; no answer in `timeoutSeconds` rolls a canary back and stops a failback."""

    required: bool = True
    timeout_seconds: int | None = Field(default=None, ge=1, le=APPROVAL_TIMEOUT_MAX_SECONDS)


class StartRollout(_Camel):
    """A rollout to start. Failovers name the failing provider (`failedProvider`, or `source`) and the
    one taking over (`targetProvider`/`target`, or `autoSelectTarget`: the healthiest other Direct
    provider); canary and failback name `source` and `target`."""

    kind: RolloutKind
    source: str | None = Field(default=None, min_length=1, max_length=64)
    target: str | None = Field(default=None, min_length=1, max_length=64)
    failed_provider: str | None = Field(default=None, min_length=1, max_length=64)
    target_provider: str | None = Field(default=None, min_length=1, max_length=64)
    auto_select_target: bool = False
    steps: list[int] | None = Field(default=None, min_length=1, max_length=20)
    bake_seconds: int | None = Field(default=None, ge=0, le=86_400)
    recheck_seconds: int | None = Field(default=None, ge=0, le=3_600)
    gate: GateOptions | None = None
    approval: Approval | None = None
    dry_run: bool = False
    reason: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _one_way_to_name_each(self) -> StartRollout:
        if self.source and self.failed_provider and self.source != self.failed_provider:
            raise ValueError("give the failing provider once: source or failedProvider")
        if self.target and self.target_provider and self.target != self.target_provider:
            raise ValueError("give the target once: target or targetProvider")
        if self.auto_select_target and (self.target or self.target_provider):
            raise ValueError("autoSelectTarget picks the target: do not name one as well")
        return self


class Abort(_Camel):
    reason: str = Field(min_length=1, max_length=500)
    execution: str | None = Field(default=None, max_length=2048, description="abort only if this one holds the route")
    force: bool = Field(
        default=False,
        description="also stop the execution now (StopExecution) instead of at its next step or gate; the "
        "cleanup then releases the lock (a canary or failback back to its starting weights)",
    )


class Approve(_Camel):
    approve: bool
    reason: str = Field(default="", max_length=500)


# --- routes ----------------------------------------------------------------------------------
@router.post("/", responses={202: {"description": "the rollout execution started"}})
def start_rollout(body: StartRollout, deps: Deps, who: Who) -> Response[dict[str, Any]]:
    require_operator(who)
    kind = body.kind
    source, target = _endpoints(deps, body)
    plan = plan_for(kind, body.steps, body.bake_seconds)
    control = deps.workflows
    name = control.new_name(kind)
    owner = control.execution_arn(kind, name)
    reason = body.reason or f"{kind.value.replace('_', ' ')} {source} -> {target} by {who.principal}"
    execution_input = _input(body, source, target, reason)
    edit = Edit(who, reason)
    state = _record_start(deps, edit, kind, {"executionArn": owner, "input": execution_input})
    try:
        started = control.start(kind, name, execution_input)
    except HybridRoutingError as exc:  # recorded, not started: the trail says so, and why
        failed = {"executionArn": owner, "error": type(exc).__name__, "message": str(exc)}
        deps.config.record(edit.entry("rollout.start-failed", kind.value, None, failed))
        raise
    status, holds = _settle(deps, started["executionArn"])
    answer = {
        **started,
        "status": status,
        "holdsRoute": holds,
        "name": name,
        "kind": kind.value,
        "source": source,
        "target": target,
        "plan": plan.as_dict(),
        "dryRun": body.dry_run,
        "preempts": state.lock.owner if state.lock else None,
        "startingWeights": dict(state.weights),
    }
    return Response(202, "application/json", answer)


@router.get("/")
def list_rollouts(deps: Deps) -> dict[str, Any]:
    return {
        "route": _route(deps.rollouts.get()),
        "executions": deps.workflows.recent(RECENT_EXECUTIONS),
    }


@router.get("/<execution>")
def describe_rollout(execution: Annotated[str, Path(min_length=1, max_length=2048)], deps: Deps) -> dict[str, Any]:
    view = deps.workflows.describe(execution).as_dict()
    state = deps.rollouts.get()
    holds = state.lock is not None and state.lock.owner == view["executionArn"]
    return {**view, "holdsRoute": holds, "route": _route(state) if holds else None}


@router.post("/abort")
def abort_rollout(body: Abort, deps: Deps, who: Who) -> dict[str, Any]:
    """The abort flag the workflow reads at its next step or gate (it then rolls back, inside the
    workflow); a rollout waiting for approval is answered at once with RolloutAborted."""
    require_operator(who)
    holder = deps.rollouts.get().lock
    if body.execution and holder and body.execution not in (holder.owner, name_of(holder.owner)):
        raise VersionConflict(f"{quoted(body.execution)} does not hold the route; {holder.owner} does")
    token, state = deps.rollouts.request_abort(who.principal, body.reason, role=who.role)
    cause = f"aborted by {who.principal}: {body.reason}"
    answered = bool(token) and deps.workflows.send_failure(str(token), ABORTED, cause)
    owner = state.lock.owner if state.lock else None
    if body.force and owner:
        state = _stop(deps, owner, cause)
    return {
        "executionArn": owner,
        "abortRequested": True,
        "approvalAnswered": answered,
        "stopped": body.force and owner is not None,
        "route": _route(state),
    }


@router.post("/approve")
def approve_rollout(body: Annotated[Approve, Body()], deps: Deps, who: Who) -> dict[str, Any]:
    """Approve (SendTaskSuccess) or reject (SendTaskFailure ApprovalRejected) the step waiting for it."""
    require_operator(who)
    reason = body.reason or ("approved" if body.approve else "rejected")
    token, _ = deps.rollouts.take_approval(who.principal, who.role, reason, approved=body.approve)
    control = deps.workflows
    if body.approve:
        answered = control.send_success(token, {"approved": True, "by": who.principal, "reason": reason})
    else:
        answered = control.send_failure(token, REJECTED, f"rejected by {who.principal}: {reason}")
    if not answered:
        raise VersionConflict("the rollout no longer waits for this approval (it timed out or ended)")
    return {"approved": body.approve, "route": _route(deps.rollouts.get())}


# --- helpers ---------------------------------------------------------------------------------
def _record_start(deps: AdminDependencies, edit: Edit, kind: RolloutKind, after: dict[str, Any]) -> RouteState:
    """The start's audit record, before the execution starts, in one transaction with a check that the
    route's item is still as read when the lock was found free (RolloutLocked, 409, names a holder): a
    start that cannot be recorded does not happen."""

    def prepare() -> Prepared:
        state = deps.rollouts.get()
        admit(state.lock, after["executionArn"], kind)
        entry = edit.entry("rollout.start", kind.value, state.as_dict(), after)
        return Prepared((deps.config.unchanged(deps.rollouts.key, state.version),), entry, state)

    done = deps.config.audited(prepare, "the route's rollout lock", versioned=False)
    assert done is not None  # prepare always writes
    state: RouteState = done[0]
    return state


def _settle(deps: AdminDependencies, owner: str) -> tuple[str, bool]:
    """(execution status, whether it holds the route) once it took the lock, ended, or the wait ran out."""
    deadline = time.monotonic() + START_SETTLE_SECONDS
    while True:
        lock = deps.rollouts.get().lock
        if lock is not None and lock.owner == owner:
            return "RUNNING", True
        status = deps.workflows.status(owner)
        if status != "RUNNING" or time.monotonic() >= deadline:
            return status, False
        time.sleep(START_POLL_SECONDS)


def _stop(deps: AdminDependencies, owner: str, cause: str) -> RouteState:
    """Stop the execution now. A running one ends ABORTED and the cleanup rule releases its lock; one
    that already ended without releasing it (its cleanup was lost) is released here, as cleanup would."""
    control = deps.workflows
    if control.status(owner) == "RUNNING":
        control.stop(owner, ABORTED, cause)
        return deps.rollouts.get()
    return deps.rollouts.force_release_if_owner(owner, f"stale lock released: {cause}") or deps.rollouts.get()


def _endpoints(deps: AdminDependencies, body: StartRollout) -> tuple[str, str]:
    """The source and target providers, checked against the deployment's Direct providers."""
    source = body.source or body.failed_provider
    if not source:
        raise InvalidRequest(f"a {body.kind.value} needs the provider traffic moves from (source or failedProvider)")
    known = deps.settings.direct()
    target = body.target or body.target_provider
    if body.auto_select_target:
        if not body.kind.is_safety:
            raise InvalidRequest("autoSelectTarget is for failovers; a canary or failback names its target")
        target = _healthiest_other(deps, source, known)
    if not target:
        raise InvalidRequest(f"a {body.kind.value} needs a target (target, targetProvider or autoSelectTarget)")
    unknown = sorted({source, target} - set(known))
    if unknown:
        raise InvalidRequest(f"unknown Direct provider(s) {clip(', '.join(unknown))}; configured: {', '.join(known)}")
    if source == target:
        raise InvalidRequest(f"the source and the target are both {quoted(source)}")
    return source, target


def _healthiest_other(deps: AdminDependencies, failed: str, direct: tuple[str, ...]) -> str:
    settings = deps.settings
    loaded = SnapshotStore(settings.flags_table, settings.health_table, direct, max_age_s=0).get()
    up = {p: loaded.routing.is_up(p) for p in direct}
    breakers = {p: loaded.breakers[p].status.value for p in direct if p in loaded.breakers}
    return pick_target(failed, candidates_from(direct, up, breakers, loaded.routing.weights))


def _input(body: StartRollout, source: str, target: str, reason: str) -> dict[str, Any]:
    """The execution input the ASL files read (their Defaults fill in what is absent)."""
    execution_input: dict[str, Any] = {"source": source, "target": target, "reason": reason, "dryRun": body.dry_run}
    optional = {
        "steps": body.steps,
        "bakeSeconds": body.bake_seconds,
        "recheckSeconds": body.recheck_seconds,
        "approval": None if body.approval is None else body.approval.model_dump(by_alias=True, exclude_none=True),
        "gate": None if body.gate is None else body.gate.wire(),
    }
    return execution_input | {k: v for k, v in optional.items() if v is not None}


def _route(state: RouteState) -> dict[str, Any]:
    """The route's item as operators see it (the approval token itself is never shown)."""
    return {**state.as_dict(), "awaitingApproval": state.lock is not None and state.lock.approval_token is not None}
