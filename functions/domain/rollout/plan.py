"""Rollouts of Direct traffic between providers (provider-failover.md, "Failover Procedures"): their
kinds and default plans, the weights at each step (`weights_at`), and the lock that keeps one rollout
per route.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from itertools import pairwise
from typing import Any

from functions.domain.errors import HybridRoutingError, InvalidRequest, clip, quoted
from functions.domain.thresholds import (
    CANARY_BAKE_SECONDS,
    CANARY_STEPS,
    FAILBACK_BAKE_SECONDS,
    FAILBACK_STEPS,
    GRADUAL_BAKE_SECONDS,
    GRADUAL_STEPS,
    IMMEDIATE_BAKE_SECONDS,
    IMMEDIATE_STEPS,
)

TOTAL = 100


# --- errors (the class names are the state machines' ErrorEquals) ------------------------------
class RolloutLocked(HybridRoutingError):
    """Another rollout holds the route and this one may not pre-empt it."""

    status, error_type, code = 409, "conflict_error", "rollout_locked"


class NotLockOwner(HybridRoutingError):
    """This execution does not (or no longer) hold the route's lock: it was pre-empted or released."""

    status, error_type, code = 409, "conflict_error", "not_lock_owner"


class RolloutAborted(HybridRoutingError):
    """An operator asked the running rollout to stop: the workflow rolls back (canary) or stops."""

    status, error_type, code = 409, "conflict_error", "rollout_aborted"


class ApprovalRejected(HybridRoutingError):
    """An operator refused the next step. Never raised by the workflow Lambda: the admin API sends it
    with Step Functions' SendTaskFailure (error=ApprovalRejected.__name__) to the waiting approval."""

    status, error_type, code = 409, "conflict_error", "approval_rejected"


# --- kinds and plans ---------------------------------------------------------------------------
class RolloutKind(StrEnum):
    IMMEDIATE_FAILOVER = "immediate_failover"
    GRADUAL_FAILOVER = "gradual_failover"
    CANARY = "canary"
    FAILBACK = "failback"

    @property
    def slug(self) -> str:
        """The kind as names spell it: `gradual-failover`."""
        return self.value.replace("_", "-")

    @property
    def is_safety(self) -> bool:
        """A failover moves traffic off a failing provider: it outranks progressive deliveries."""
        return self in (RolloutKind.IMMEDIATE_FAILOVER, RolloutKind.GRADUAL_FAILOVER)

    @property
    def drains_source(self) -> bool:
        """Steps are the source's remaining share (failovers), else the target's share."""
        return self.is_safety


class Phase(StrEnum):
    RUNNING = "running"
    ROLLING_BACK = "rolling_back"
    AWAITING_APPROVAL = "awaiting_approval"  # a gate passed; the next step waits for an operator


@dataclass(frozen=True, slots=True)
class RolloutPlan:
    kind: RolloutKind
    steps: tuple[int, ...]
    bake_seconds: int

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "steps": list(self.steps), "bakeSeconds": self.bake_seconds}


DEFAULT_PLANS: dict[RolloutKind, RolloutPlan] = {
    kind: RolloutPlan(kind, steps, bake)
    for kind, steps, bake in (
        (RolloutKind.IMMEDIATE_FAILOVER, IMMEDIATE_STEPS, IMMEDIATE_BAKE_SECONDS),
        (RolloutKind.GRADUAL_FAILOVER, GRADUAL_STEPS, GRADUAL_BAKE_SECONDS),
        (RolloutKind.CANARY, CANARY_STEPS, CANARY_BAKE_SECONDS),
        (RolloutKind.FAILBACK, FAILBACK_STEPS, FAILBACK_BAKE_SECONDS),
    )
}


def plan_for(kind: RolloutKind, steps: Sequence[int] | None = None, bake_seconds: int | None = None) -> RolloutPlan:
    """The runbook's plan for `kind`, with the caller's steps or bake time if given (drills run in seconds).
    Steps must move one way: up for canary and failback, down for failovers."""
    default = DEFAULT_PLANS[kind]
    chosen = tuple(default.steps if steps is None else steps)
    bake = default.bake_seconds if bake_seconds is None else bake_seconds
    if not chosen:
        raise InvalidRequest("a rollout needs at least one step")
    if any(not 0 <= s <= TOTAL for s in chosen):
        raise InvalidRequest(f"steps are percentages between 0 and {TOTAL}, not {clip(list(chosen))}")
    pairs = list(pairwise(chosen))
    if kind.drains_source and any(b >= a for a, b in pairs):
        raise InvalidRequest(
            f"{kind.value} steps must decrease (the failing provider's share), not {clip(list(chosen))}"
        )
    if not kind.drains_source and any(b <= a for a, b in pairs):
        raise InvalidRequest(f"{kind.value} steps must increase (the target's share), not {clip(list(chosen))}")
    if bake < 0:
        raise InvalidRequest("bake seconds cannot be negative")
    return RolloutPlan(kind, chosen, bake)


# --- weights -----------------------------------------------------------------------------------
def validate_weights(weights: Mapping[str, int]) -> dict[str, int]:
    plain = {str(p): int(w) for p, w in weights.items()}
    if any(w < 0 for w in plain.values()) or sum(plain.values()) != TOTAL:
        raise InvalidRequest(f"weights must be non-negative and sum to {TOTAL}, not {clip(plain)}")
    return plain


def weights_at(
    kind: RolloutKind,
    source: str | Sequence[str],
    target: str,
    percent: int,
    starting_weights: Mapping[str, int],
) -> dict[str, int]:
    """The Direct weights at a step of `percent` (see the module docstring for the exact rule)."""
    sources = (source,) if isinstance(source, str) else tuple(dict.fromkeys(source))
    if not sources:
        raise InvalidRequest("a rollout needs a source provider")
    if target in sources:
        raise InvalidRequest(f"the target {quoted(target)} cannot also be a source")
    if not 0 <= percent <= TOTAL:
        raise InvalidRequest(f"a step is a percentage between 0 and {TOTAL}, not {percent}")
    start = validate_weights(starting_weights)
    base = {p: 0 for p in (*sorted(start), *sources, target)} | start
    return _drain(base, sources, target, percent) if kind.drains_source else _fill(base, sources, target, percent)


def _fill(base: dict[str, int], sources: tuple[str, ...], target: str, percent: int) -> dict[str, int]:
    rest = {p: Fraction(w) for p, w in base.items() if p != target and w > 0}
    if not rest:
        rest = {s: Fraction(1) for s in sources}
    return {p: 0 for p in base} | _apportion(TOTAL - percent, rest) | {target: percent}


def _drain(base: dict[str, int], sources: tuple[str, ...], target: str, percent: int) -> dict[str, int]:
    held = sum(base[s] for s in sources)
    keep = min(percent, held)
    holding = {s: Fraction(base[s]) for s in sources if base[s] > 0}
    kept = _apportion(keep, holding) if holding else {}
    return base | {s: kept.get(s, 0) for s in sources} | {target: base[target] + held - keep}


def _apportion(total: int, shares: Mapping[str, Fraction]) -> dict[str, int]:
    """`total` split in proportion to `shares` as integers summing to it (largest remainder)."""
    whole = sum(shares.values(), Fraction(0))
    exact = {p: total * s / whole for p, s in shares.items()}
    result = {p: math.floor(x) for p, x in exact.items()}
    left = total - sum(result.values())
    for provider in sorted(exact, key=lambda p: (-(exact[p] - result[p]), p))[:left]:
        result[provider] += 1
    return result


# --- the lock ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RolloutLock:
    """Who holds the route: the owner is the Step Functions execution ARN."""

    owner: str
    kind: RolloutKind
    sources: tuple[str, ...]
    target: str
    phase: Phase = Phase.RUNNING
    step: int = -1  # index into the plan's steps; -1 before the first one
    starting_weights: Mapping[str, int] = field(default_factory=dict)
    abort_requested: bool = False
    # The Step Functions task token of the approval waiting for an operator (a capability: never shown)
    approval_token: str | None = None
    # When the current step's weights were set (epoch seconds): its gate reads only metrics since then
    step_started_at: float | None = None


@dataclass(frozen=True, slots=True)
class RouteState:
    """The route's item: the weights the router reads, its version, and the lock if one is held
    (else `released_by`, the rollout that released it last, if one did)."""

    weights: Mapping[str, int]
    version: int
    lock: RolloutLock | None = None
    released_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        lock = self.lock
        return {
            "weights": dict(self.weights),
            "version": self.version,
            "lock": None
            if lock is None
            else {
                "owner": lock.owner,
                "kind": lock.kind.value,
                "sources": list(lock.sources),
                "target": lock.target,
                "phase": lock.phase.value,
                "step": lock.step,
                "startingWeights": dict(lock.starting_weights),
                "abortRequested": lock.abort_requested,
                "approvalPending": lock.approval_token is not None,
            },
        }


class Admission(StrEnum):
    ACQUIRE = "acquire"  # the route is free
    REENTER = "reenter"  # the same execution asks again (a retried Task): nothing to do
    PREEMPT = "preempt"  # a safety failover takes the route from a canary or failback


def admit(current: RolloutLock | None, owner: str, kind: RolloutKind) -> Admission:
    """Whether `owner` may take the route for a `kind` rollout. A safety failover pre-empts a canary
    or failback, never the reverse; two rollouts of the same rank never run at once."""
    if current is None:
        return Admission.ACQUIRE
    if current.owner == owner:
        return Admission.REENTER
    if kind.is_safety and not current.kind.is_safety:
        return Admission.PREEMPT
    raise RolloutLocked(
        f"a {current.kind.value} rollout ({current.owner}) holds the route; a {kind.value} may not pre-empt it"
    )


def require_owner(current: RolloutLock | None, owner: str) -> RolloutLock:
    if current is None or current.owner != owner:
        holder = "nobody" if current is None else current.owner
        raise NotLockOwner(f"{owner} does not hold the route's rollout lock (held by {holder})")
    return current


def require_running(current: RolloutLock | None, owner: str) -> RolloutLock:
    """The lock `owner` holds, unless an operator asked it to stop (RolloutAborted)."""
    lock = require_owner(current, owner)
    if lock.abort_requested:
        raise RolloutAborted(f"an operator aborted {owner}")
    return lock


def expired_approval(current: RolloutLock | None, owner: str) -> tuple[str, dict[str, Any]] | None:
    """The audit reason and details of `owner`'s approval that nobody answered in time, if its lock
    still waits for one (None otherwise)."""
    if current is None or current.owner != owner or current.phase is not Phase.AWAITING_APPROVAL:
        return None
    details = {"step": current.step, "approvalPending": current.approval_token is not None}
    return f"no answer to the approval after step {current.step}", details
