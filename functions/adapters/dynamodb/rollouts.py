"""The route's rollout lock and weights, on the item the router already reads (`traffic-weights#direct`):
every change is a versioned, audited write decided by functions.domain.rollout.plan.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from functions.adapters.dynamodb.config import ConfigStore, Decision, Versioned
from functions.adapters.dynamodb.schema import TRAFFIC_WEIGHTS_KEY
from functions.domain.audit import AuditEntry
from functions.domain.errors import NotFound
from functions.domain.names import DEFAULT_WEIGHTS
from functions.domain.rollout.plan import (
    Admission,
    Phase,
    RolloutKind,
    RolloutLock,
    RouteState,
    admit,
    require_owner,
    require_running,
    validate_weights,
)

ROLE = "workflow"
LOCK_ATTRIBUTES = (
    "lock_owner",
    "lock_kind",
    "lock_sources",
    "lock_target",
    "phase",
    "step",
    "starting_weights",
    "abort_requested",
    "approval_token",
    "step_started_at",
)


@dataclass(frozen=True, slots=True)
class Acquired:
    state: RouteState
    admission: Admission
    preempted: str | None = None  # the execution whose lock was taken over


# A mutation: from the current state, the new item value and its audit entry, or None for "nothing to do".
Mutation = Callable[[RouteState], tuple[dict[str, Any], AuditEntry] | None]


class RolloutStore:
    def __init__(
        self,
        config: ConfigStore,
        key: str = TRAFFIC_WEIGHTS_KEY,
        clock: Callable[[], float] = time.time,
    ):
        self.config, self.key, self.clock = config, key, clock

    def get(self) -> RouteState:
        stored = self.config.get(self.key)
        return parse_state(stored.value, stored.version)

    def acquire(self, owner: str, kind: RolloutKind, sources: Sequence[str], target: str, reason: str = "") -> Acquired:
        """Take the route's lock (RolloutLocked if a rollout that may not be pre-empted holds it).
        The weights stay as they are; they become the starting weights a rollback restores."""
        outcome: dict[str, Any] = {}

        def mutate(state: RouteState) -> tuple[dict[str, Any], AuditEntry] | None:
            admission = admit(state.lock, owner, kind)
            outcome.update(admission=admission, preempted=state.lock.owner if state.lock else None)
            if admission is Admission.REENTER:
                return None
            lock = RolloutLock(owner, kind, tuple(sources), target, Phase.RUNNING, -1, dict(state.weights))
            action = "rollout.preempt" if admission is Admission.PREEMPT else "rollout.acquire"
            return _value(state.weights, lock), self._entry(owner, action, reason, state)

        state = self._write(mutate)
        preempted = outcome["preempted"] if outcome["admission"] is Admission.PREEMPT else None
        return Acquired(state, outcome["admission"], preempted)

    def set_step(
        self, owner: str, step: int, weights: Mapping[str, int] | None, phase: Phase = Phase.RUNNING, reason: str = ""
    ) -> RouteState:
        """Record step `step` and set its weights (None: a dry run, the weights stay); owner only. The
        step's start time goes on the lock: the step's gate reads only the metrics since then."""
        new_weights = None if weights is None else validate_weights(weights)

        def mutate(state: RouteState) -> tuple[dict[str, Any], AuditEntry] | None:
            lock = require_owner(state.lock, owner)
            started = round(self.clock(), 3)
            moved = replace(lock, phase=phase, step=step, approval_token=None, step_started_at=started)
            value = _value(state.weights if new_weights is None else new_weights, moved)
            return value, self._entry(owner, "rollout.step", reason or f"step {step}", state)

        return self._write(mutate)

    def release(self, owner: str, restore_weights: Mapping[str, int] | None = None, reason: str = "") -> RouteState:
        """Drop the lock, setting `restore_weights` if given. Nothing to do if `owner` released it
        already (a retried release); NotLockOwner if another rollout holds it or took it meanwhile
        (pre-empted, even if the pre-empting rollout is done)."""
        restore = None if restore_weights is None else validate_weights(restore_weights)

        def mutate(state: RouteState) -> tuple[dict[str, Any], AuditEntry] | None:
            if state.lock is None and state.released_by == owner:
                return None
            require_owner(state.lock, owner)
            action = "rollout.rollback" if restore is not None else "rollout.release"
            value = _value(state.weights if restore is None else restore, None, released_by=owner)
            return value, self._entry(owner, action, reason, state)

        return self._write(mutate)

    def force_release_if_owner(self, owner: str, reason: str = "") -> RouteState | None:
        """Cleanup after an execution that failed, timed out or was stopped: if it still holds the lock,
        release it; a canary or failback also restores its starting weights (no step left half-way
        unsupervised), a failover keeps its weights (never route back to a failing provider).
        None when `owner` holds nothing."""
        released: dict[str, bool] = {}

        def mutate(state: RouteState) -> tuple[dict[str, Any], AuditEntry] | None:
            lock = state.lock
            if lock is None or lock.owner != owner:
                return None
            released["yes"] = True
            weights = state.weights if lock.kind.is_safety else lock.starting_weights
            return _value(weights, None, released_by=owner), self._entry(owner, "rollout.cleanup", reason, state)

        state = self._write(mutate)
        return state if released else None

    def request_abort(self, actor: str, reason: str, role: str = "") -> tuple[str | None, RouteState]:
        """Flag the running rollout to stop at its next step or gate; any operator may (NotFound if
        none runs). Answers `(approval_token, state)`: when the rollout was waiting for an approval,
        the token is taken off the lock and returned, and the caller must end the wait with
        `SendTaskFailure(taskToken=token, error="RolloutAborted")` (the workflow then rolls back);
        None otherwise (the flag is read at the next step or gate). Asking twice changes nothing."""
        taken: dict[str, str] = {}

        def mutate(state: RouteState) -> tuple[dict[str, Any], AuditEntry] | None:
            taken.clear()
            lock = state.lock
            if lock is None:
                raise NotFound("no rollout is running on this route")
            if lock.abort_requested and lock.approval_token is None:
                return None
            if lock.approval_token is not None:
                taken["token"] = lock.approval_token
            flagged = replace(lock, abort_requested=True, approval_token=None)
            entry = AuditEntry(actor, "rollout.abort", self.key, reason, state.as_dict(), role=role)
            return _value(state.weights, flagged), entry

        state = self._write(mutate)
        return taken.get("token"), state

    def await_approval(self, owner: str, token: str, step: int, reason: str = "") -> RouteState:
        """The owner's step `step` passed its gate: keep the Step Functions task token on the lock until
        an operator approves or rejects (take_approval) or aborts (request_abort). RolloutAborted if
        an abort is already flagged (nothing is kept); NotLockOwner if the lock is someone else's."""

        def mutate(state: RouteState) -> tuple[dict[str, Any], AuditEntry] | None:
            lock = require_running(state.lock, owner)
            if lock.approval_token == token:
                return None  # a retried task
            waiting = replace(lock, phase=Phase.AWAITING_APPROVAL, step=step, approval_token=token)
            entry = self._entry(owner, "rollout.approval.wait", reason or f"step {step} waits for approval", state)
            return _value(state.weights, waiting), entry

        return self._write(mutate)

    def take_approval(self, actor: str, role: str, reason: str, *, approved: bool = True) -> tuple[str, RouteState]:
        """An operator's answer to the pending approval: takes the task token off the lock (so it is
        answered once) and returns `(token, state)`, audited as rollout.approval.grant or
        rollout.approval.reject. The caller then sends SendTaskSuccess (approved) or
        SendTaskFailure(error="ApprovalRejected"). NotFound if no rollout waits for approval."""
        taken: dict[str, str] = {}

        def mutate(state: RouteState) -> tuple[dict[str, Any], AuditEntry] | None:
            lock = state.lock
            if lock is None or lock.approval_token is None:
                raise NotFound("no rollout on this route is waiting for approval")
            taken["token"] = lock.approval_token
            answered = replace(lock, phase=Phase.RUNNING, approval_token=None)
            action = "rollout.approval.grant" if approved else "rollout.approval.reject"
            entry = AuditEntry(actor, action, self.key, reason, state.as_dict(), role=role)
            return _value(state.weights, answered), entry

        state = self._write(mutate)
        return taken["token"], state

    def record(self, owner: str, action: str, reason: str, details: Any) -> None:
        """An audit record for a transition that changes no weight (a gate verdict, a hold)."""
        self.config.record(AuditEntry(owner, action, self.key, reason, after=details, role=ROLE))

    # --- internals ---------------------------------------------------------------------------
    def _write(self, mutate: Mutation) -> RouteState:
        """A compare-and-set on the route's item: `mutate` decides from one read, the write is conditional on
        that read's version with its audit record in the same transaction, decided again after a lost race."""

        def decide(current: Versioned) -> Decision:
            change = mutate(parse_state(current.value, current.version))
            if change is None:
                return None
            value, entry = change
            return value, replace(entry, after={k: v for k, v in value.items() if k != "approval_token"})

        saved = self.config.change(self.key, decide)
        return parse_state(saved.value, saved.version)

    def _entry(self, owner: str, action: str, reason: str, before: RouteState) -> AuditEntry:
        return AuditEntry(owner, action, self.key, reason, before.as_dict(), role=ROLE)


def _value(weights: Mapping[str, int], lock: RolloutLock | None, released_by: str | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {"weights": dict(weights)}
    if released_by is not None:
        value["released_by"] = released_by
    if lock is not None:
        value |= {
            "lock_owner": lock.owner,
            "lock_kind": lock.kind.value,
            "lock_sources": list(lock.sources),
            "lock_target": lock.target,
            "phase": lock.phase.value,
            "step": lock.step,
            "starting_weights": dict(lock.starting_weights),
            "abort_requested": lock.abort_requested,
        }
        if lock.approval_token is not None:
            value["approval_token"] = lock.approval_token
        if lock.step_started_at is not None:
            value["step_started_at"] = lock.step_started_at
    return value


def parse_state(value: Mapping[str, Any], version: int) -> RouteState:
    weights = {str(p): int(w) for p, w in (value.get("weights") or DEFAULT_WEIGHTS).items()}
    owner = value.get("lock_owner")
    if not owner:
        released_by = value.get("released_by")
        return RouteState(weights, version, released_by=str(released_by) if released_by else None)
    lock = RolloutLock(
        owner=str(owner),
        kind=RolloutKind(value["lock_kind"]),
        sources=tuple(str(s) for s in value.get("lock_sources") or ()),
        target=str(value.get("lock_target", "")),
        phase=Phase(value.get("phase", Phase.RUNNING.value)),
        step=int(value.get("step", -1)),
        starting_weights={str(p): int(w) for p, w in (value.get("starting_weights") or {}).items()},
        abort_requested=bool(value.get("abort_requested", False)),
        approval_token=str(value["approval_token"]) if value.get("approval_token") else None,
        step_started_at=float(value["step_started_at"]) if value.get("step_started_at") is not None else None,
    )
    return RouteState(weights, version, lock)
