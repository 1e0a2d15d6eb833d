"""Health gates between rollout steps: PASS, FAIL or INCONCLUSIVE over the target's live metrics and
the alarms that watch it, and the tally that keeps one blip from rolling a rollout back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from functions.domain.errors import HybridRoutingError
from functions.domain.reports.metrics import MetricsSnapshot
from functions.domain.thresholds import (
    GATE_CONSECUTIVE_FAILURES,
    GATE_FAILURE_LIMIT,
    GATE_MAX_INCONCLUSIVE,
    GATE_MIN_REQUESTS,
    GATE_P95_LATENCY_MS,
    GATE_SUCCESS_PERCENT,
    RECOVERY_MIN_REQUESTS,
    RECOVERY_P95_LATENCY_MS,
    RECOVERY_SUCCESS_PERCENT,
)

ALARM = "ALARM"


class GateFailed(HybridRoutingError):
    """The gate failed too often (or too many times in a row): roll back or stop."""

    status, error_type, code = 409, "conflict_error", "gate_failed"


class GateInconclusive(HybridRoutingError):
    """The gate could not tell, re-checked as often as allowed: roll back (canary) or stop (failback)."""

    status, error_type, code = 409, "conflict_error", "gate_inconclusive"


class Verdict(StrEnum):
    PASS = "PASS"  # noqa: S105 - a verdict, not a secret
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"


@dataclass(frozen=True, slots=True)
class GateThresholds:
    """What a gate holds the target to; the defaults are the runbook's (functions/domain/thresholds.py)."""

    success_percent: float = GATE_SUCCESS_PERCENT
    p95_latency_ms: float = GATE_P95_LATENCY_MS
    min_requests: int = GATE_MIN_REQUESTS


# A failback holds the recovered provider to stricter numbers than the failover triggers.
RECOVERY_THRESHOLDS = GateThresholds(RECOVERY_SUCCESS_PERCENT, RECOVERY_P95_LATENCY_MS, RECOVERY_MIN_REQUESTS)


@dataclass(frozen=True, slots=True)
class TargetMetrics:
    """One window of the target provider's traffic. `p95_ms` None: no latency data."""

    provider: str
    requests: float
    errors: float
    p95_ms: float | None
    window_s: float

    @classmethod
    def from_snapshot(cls, snapshot: MetricsSnapshot, provider: str) -> TargetMetrics:
        """The provider's own attempts when the window has them: a request it failed that another provider
        of the failover chain then served is still its failure. Otherwise the requests it served."""
        own = snapshot.attempts.get(provider)
        if own is not None and own.attempts > 0:
            p95 = own.p95_ms if own.p95_ms is not None else snapshot.p95("provider", provider)
            return cls(provider, own.attempts, own.failures, p95, snapshot.window_s)
        counts = snapshot.by_provider().get(provider)
        return cls(
            provider,
            counts.requests if counts else 0.0,
            counts.errors if counts else 0.0,
            snapshot.p95("provider", provider),
            snapshot.window_s,
        )

    @property
    def success_percent(self) -> float | None:
        if self.requests <= 0:
            return None
        return round((self.requests - self.errors) / self.requests * 100.0, 3)


@dataclass(frozen=True, slots=True)
class GateVerdict:
    verdict: Verdict
    reasons: tuple[str, ...]
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict.value, "reasons": list(self.reasons), "evidence": dict(self.evidence)}


def evaluate(metrics: TargetMetrics | None, thresholds: GateThresholds, alarm_states: Mapping[str, str]) -> GateVerdict:
    """FAIL on any alarm in ALARM, a success rate below the threshold or a p95 above the SLO;
    INCONCLUSIVE when there is too little traffic or data to tell; PASS only on enough good data."""
    alarming = sorted(name for name, state in alarm_states.items() if state == ALARM)
    evidence: dict[str, Any] = {
        "thresholds": asdict(thresholds),
        "alarms": dict(sorted(alarm_states.items())),
        "metrics": None if metrics is None else {**asdict(metrics), "successPercent": metrics.success_percent},
    }
    fail: list[str] = [f"alarm {name} is in ALARM" for name in alarming]
    unsure: list[str] = []
    if metrics is None:
        unsure.append("no metrics for the target")
    elif metrics.requests < thresholds.min_requests:
        unsure.append(f"{metrics.requests:g} requests in {metrics.window_s:g} s, fewer than {thresholds.min_requests}")
    else:
        success = metrics.success_percent
        if success is not None and success < thresholds.success_percent:
            fail.append(f"success rate {success:g}% below {thresholds.success_percent:g}%")
        if metrics.p95_ms is None:
            unsure.append("no latency data for the target")
        elif metrics.p95_ms > thresholds.p95_latency_ms:
            fail.append(f"p95 latency {metrics.p95_ms:g} ms above {thresholds.p95_latency_ms:g} ms")
    if fail:
        return GateVerdict(Verdict.FAIL, tuple(fail), evidence)
    if unsure:
        return GateVerdict(Verdict.INCONCLUSIVE, tuple(unsure), evidence)
    return GateVerdict(Verdict.PASS, ("within thresholds",), evidence)


# --- the tally over a rollout --------------------------------------------------------------------
class GateDecision(StrEnum):
    PROCEED = "proceed"  # PASS: go to the next step
    HOLD = "hold"  # a blip or no data yet: wait and re-check the same step
    FAIL = "fail"  # failed too often: roll back (canary) or stop (failback)
    GIVE_UP = "give_up"  # inconclusive too often: roll back (canary) or stop (failback)


@dataclass(frozen=True, slots=True)
class GateLimits:
    failure_limit: int = GATE_FAILURE_LIMIT
    consecutive_failures: int = GATE_CONSECUTIVE_FAILURES
    max_inconclusive: int = GATE_MAX_INCONCLUSIVE


@dataclass(frozen=True, slots=True)
class GateTally:
    """Carried in the execution's state from gate to gate."""

    failures: int = 0  # FAIL verdicts over the whole rollout
    consecutive_failures: int = 0
    consecutive_inconclusive: int = 0

    def record(self, verdict: Verdict) -> GateTally:
        if verdict is Verdict.PASS:
            return GateTally(self.failures, 0, 0)
        if verdict is Verdict.FAIL:
            return GateTally(self.failures + 1, self.consecutive_failures + 1, 0)
        return replace(self, consecutive_inconclusive=self.consecutive_inconclusive + 1)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def decide(tally: GateTally, verdict: Verdict, limits: GateLimits) -> GateDecision:
    """What the workflow does after `verdict`, `tally` already counting it. An INCONCLUSIVE between
    two FAILs neither resets nor adds to the consecutive failures."""
    if tally.failures >= limits.failure_limit or tally.consecutive_failures >= limits.consecutive_failures:
        return GateDecision.FAIL
    if tally.consecutive_inconclusive > limits.max_inconclusive:
        return GateDecision.GIVE_UP
    return GateDecision.PROCEED if verdict is Verdict.PASS else GateDecision.HOLD


def step_window(configured_s: int, step_started_at: float | None, now: float) -> float:
    """The seconds of metrics a gate reads: the configured window, cut to the time since the step's
    weights were set (to a tenth of a second below, at least 1 s), so that traffic before the step -
    under the old weights, or a fault since fixed - never decides the step's gate. Too few requests so
    far stays INCONCLUSIVE: the gate is held and re-checked. A lock written before steps were timed
    keeps the configured window."""
    if step_started_at is None:
        return configured_s
    return max(1.0, min(float(configured_s), math.floor((now - step_started_at) * 10) / 10))
