"""Each provider's own outcomes over a window, judged: against the rollout gate (canary monitoring), the
failback's recovery thresholds (recovery monitoring) and the SLO (validation, performance checks against a
baseline). Pure functions over `MetricsSnapshot`s and the stored health record."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from functions.domain.automation.rules import RecoveryEvidence, judge_recovery
from functions.domain.health_check import HealthRecord
from functions.domain.reports.metrics import Latency, MetricsSnapshot, percent
from functions.domain.rollout.gates import RECOVERY_THRESHOLDS, GateThresholds, TargetMetrics, evaluate
from functions.domain.thresholds import (
    FAILBACK_HYSTERESIS_SECONDS,
    HEALTH_RECOVERY_SUCCESSES,
    PERFORMANCE_COMPARE_MIN_P95_MS,
    PERFORMANCE_DEGRADATION_PERCENT,
    SLO_DEFAULT_ERROR_RATE_PERCENT,
    SLO_DEFAULT_P95_LATENCY_MS,
    SLO_MIN_REQUESTS,
)

PASS, FAIL, NO_DATA = "pass", "FAIL", "no-data"
ALL = "all"  # the client-facing subject: every request, whoever served it


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def own_outcomes(snapshot: MetricsSnapshot, provider: str) -> dict[str, Any]:
    """The provider's own attempts (a failure the failover chain hid still counts) and its p95."""
    metrics = TargetMetrics.from_snapshot(snapshot, provider)
    return {
        "attempts": round(metrics.requests),
        "failures": round(metrics.errors),
        "successPercent": metrics.success_percent,
        "p95Ms": _round(metrics.p95_ms),
    }


def provider_outcomes(
    snapshot: MetricsSnapshot, providers: Iterable[str], gate: GateThresholds | None = None
) -> dict[str, Any]:
    """Each provider's own outcomes and the gate's verdict on them (no alarms: a gate adds those)."""
    thresholds = gate or GateThresholds()
    result: dict[str, Any] = {}
    for provider in providers:
        verdict = evaluate(TargetMetrics.from_snapshot(snapshot, provider), thresholds, {})
        result[provider] = {
            **own_outcomes(snapshot, provider),
            "gate": {"verdict": verdict.verdict.value, "reasons": list(verdict.reasons)},
        }
    return {"windowSeconds": snapshot.window_s, "thresholds": asdict(thresholds), "providers": result}


def recovery(provider: str, record: HealthRecord | None, snapshot: MetricsSnapshot) -> dict[str, Any]:
    """The provider's probes and traffic against the failback's recovery thresholds, as the failback check
    judges them (alarms aside: the check adds its failover alarms)."""
    evidence = RecoveryEvidence(
        probe_healthy=None if record is None else record.status == "healthy",
        probe_latency_ms=None if record is None else record.last_latency_ms,
        metrics=TargetMetrics.from_snapshot(snapshot, provider),
        alarms={},
    )
    recovered, reasons = judge_recovery(evidence, RECOVERY_THRESHOLDS)
    probes = None
    if record is not None:
        probes = {
            "status": record.status,
            "consecutiveSuccesses": record.consecutive_successes,
            "consecutiveFailures": record.consecutive_failures,
            "checkedAt": record.checked_at or None,
            "lastLatencyMs": record.last_latency_ms,
            "lastError": record.last_error,
        }
    return {
        "provider": provider,
        "recovered": recovered,
        "reasons": list(reasons),
        "probes": probes,
        "traffic": {**own_outcomes(snapshot, provider), "windowSeconds": snapshot.window_s},
        "thresholds": {
            "successPercent": RECOVERY_THRESHOLDS.success_percent,
            "p95LatencyMs": RECOVERY_THRESHOLDS.p95_latency_ms,
            "minRequests": RECOVERY_THRESHOLDS.min_requests,
            "probeSuccessesToRecover": HEALTH_RECOVERY_SUCCESSES,
            "hysteresisSeconds": FAILBACK_HYSTERESIS_SECONDS,
        },
    }


# --- the SLO --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Slo:
    p95_latency_ms: float = SLO_DEFAULT_P95_LATENCY_MS
    error_rate_percent: float = SLO_DEFAULT_ERROR_RATE_PERCENT
    min_requests: int = SLO_MIN_REQUESTS

    @classmethod
    def from_stored(cls, value: Mapping[str, Any]) -> Slo:
        """The thresholds PUT /admin/config/slo-thresholds stored; the runbook's where none is."""
        p95, rate = value.get("p95_latency_ms"), value.get("error_rate_percent")
        return cls(
            float(p95) if p95 is not None else SLO_DEFAULT_P95_LATENCY_MS,
            float(rate) if rate is not None else SLO_DEFAULT_ERROR_RATE_PERCENT,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "p95LatencyMs": self.p95_latency_ms,
            "errorRatePercent": self.error_rate_percent,
            "minRequests": self.min_requests,
            "degradationPercent": PERFORMANCE_DEGRADATION_PERCENT,
            "compareMinP95Ms": PERFORMANCE_COMPARE_MIN_P95_MS,
        }


@dataclass(frozen=True, slots=True)
class Reading:
    requests: float
    errors: float
    p95_ms: float | None

    @property
    def error_rate(self) -> float | None:
        return percent(self.errors, self.requests)


def _reading(snapshot: MetricsSnapshot, subject: str) -> Reading:
    if subject == ALL:
        total = snapshot.total()
        latency = snapshot.latency.get("all", {}).get("all", Latency())
        return Reading(total.requests, total.errors, latency.p95_ms)
    metrics = TargetMetrics.from_snapshot(snapshot, subject)
    return Reading(metrics.requests, metrics.errors, metrics.p95_ms)


def _check(name: str, value: float | None, limit: float, enough: bool, unit: str) -> dict[str, Any]:
    if not enough or value is None:
        result = NO_DATA
    else:
        result = PASS if value <= limit else FAIL
    return {"check": name, "value": _round(value), "threshold": limit, "unit": unit, "result": result}


def _baseline_check(now: Reading, base: Reading, slo: Slo) -> dict[str, Any]:
    """The p95 against the baseline's: more than PERFORMANCE_DEGRADATION_PERCENT slower fails, below the
    comparison floor (noise) it is not compared."""
    limit = None if base.p95_ms is None else base.p95_ms * (1 + PERFORMANCE_DEGRADATION_PERCENT / 100.0)
    enough = now.requests >= slo.min_requests and base.requests >= slo.min_requests
    degradation = (
        None
        if not enough or now.p95_ms is None or not base.p95_ms
        else round((now.p95_ms - base.p95_ms) / base.p95_ms * 100.0, 2)
    )
    if degradation is None or limit is None or now.p95_ms is None:
        result = NO_DATA
    elif now.p95_ms < PERFORMANCE_COMPARE_MIN_P95_MS:
        result = PASS
    else:
        result = PASS if now.p95_ms <= limit else FAIL
    return {
        "check": "p95 against baseline",
        "value": _round(now.p95_ms),
        "baselineP95Ms": _round(base.p95_ms),
        "degradationPercent": degradation,
        "threshold": _round(limit),
        "unit": "ms",
        "result": result,
    }


def slo_report(
    current: MetricsSnapshot, baseline: MetricsSnapshot | None, slo: Slo, subjects: Iterable[str]
) -> dict[str, Any]:
    """Error rate and p95 of each subject (ALL: client-facing; a provider: its own attempts) against the SLO,
    and with a baseline the p95 against the baseline's. Too few requests: no-data, never a pass or a fail."""
    judged: dict[str, Any] = {}
    for subject in subjects:
        now = _reading(current, subject)
        enough = now.requests >= slo.min_requests
        checks = [
            _check("error rate", now.error_rate, slo.error_rate_percent, enough, "%"),
            _check("p95 latency", now.p95_ms, slo.p95_latency_ms, enough, "ms"),
        ]
        if baseline is not None:
            checks.append(_baseline_check(now, _reading(baseline, subject), slo))
        judged[subject] = {
            "requests": round(now.requests),
            "errorRatePercent": now.error_rate,
            "p95Ms": _round(now.p95_ms),
            "checks": checks,
            "valid": all(c["result"] != FAIL for c in checks),
        }
    return {
        "windowSeconds": current.window_s,
        "baselineWindowSeconds": None if baseline is None else baseline.window_s,
        "slo": slo.as_dict(),
        "subjects": judged,
        "valid": all(s["valid"] for s in judged.values()),
    }
