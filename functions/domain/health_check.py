"""Provider health from scheduled probes: `apply_probe` folds one outcome into a target's record and reports the
healthy <-> unhealthy transition it caused; the ports the health check stores records and publishes through."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from functions.domain.thresholds import HEALTH_FAILURE_THRESHOLD, HEALTH_RECOVERY_SUCCESSES

HealthStatus = Literal["healthy", "unhealthy"]


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    target: str
    ok: bool
    latency_ms: int
    checked_at: int  # epoch seconds
    error_code: str | None = None  # an error code, never provider text


@dataclass(frozen=True, slots=True)
class HealthRecord:
    target: str
    status: HealthStatus = "healthy"
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    checked_at: int = 0
    last_error: str | None = None
    last_latency_ms: int | None = None
    version: int = 0  # 0: never stored


@dataclass(frozen=True, slots=True)
class Transition:
    target: str
    previous: HealthStatus
    current: HealthStatus
    consecutive_failures: int
    checked_at: int
    reason: str


def apply_probe(
    previous: HealthRecord | None,
    outcome: ProbeOutcome,
    failure_threshold: int = HEALTH_FAILURE_THRESHOLD,
    recovery_successes: int = HEALTH_RECOVERY_SUCCESSES,
) -> tuple[HealthRecord, Transition | None]:
    """The record after `outcome`, and the transition it caused, if any.

    A target never checked before starts healthy (the router treats a missing record so too).
    The returned record keeps the previous `version`: the store bumps it when it writes.
    """
    record = previous or HealthRecord(outcome.target)
    if outcome.ok:
        successes = record.consecutive_successes + 1
        status: HealthStatus = (
            "healthy" if record.status == "healthy" or successes >= recovery_successes else "unhealthy"
        )
        updated = replace(record, consecutive_failures=0, consecutive_successes=successes, status=status)
        reason = f"{successes} consecutive successful probes"
    else:
        failures = record.consecutive_failures + 1
        status = "unhealthy" if failures >= failure_threshold else record.status
        updated = replace(
            record, consecutive_failures=failures, consecutive_successes=0, status=status, last_error=outcome.error_code
        )
        reason = f"{failures} consecutive failed probes (last error: {outcome.error_code})"
    updated = replace(updated, checked_at=outcome.checked_at, last_latency_ms=outcome.latency_ms)
    if updated.status == record.status:
        return updated, None
    transition = Transition(
        outcome.target, record.status, updated.status, updated.consecutive_failures, outcome.checked_at, reason
    )
    return updated, transition


# The rule a store applies to the record it holds: `apply_probe`.
ApplyProbe = Callable[[HealthRecord | None, ProbeOutcome], tuple[HealthRecord, Transition | None]]


class HealthRecords(Protocol):
    """The stored record of each target. `save` applies `step` to the record as stored and writes the result
    only if nobody wrote in between, so concurrent checkers build on each other's outcomes."""

    def read_all(self, targets: tuple[str, ...]) -> dict[str, HealthRecord]: ...

    def save(
        self,
        previous: HealthRecord | None,
        outcome: ProbeOutcome,
        step: ApplyProbe,
    ) -> tuple[HealthRecord, Transition | None]: ...


class TransitionPublisher(Protocol):
    """Announces a transition once its record is stored."""

    def publish(self, transition: Transition) -> None: ...
