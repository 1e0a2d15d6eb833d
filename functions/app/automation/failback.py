"""The failback check (every minute): judge each failed-over provider's recovery, advance its
hysteresis clock, and start its failback once the clock has run long enough."""

from __future__ import annotations

from typing import Any

from functions.app.automation.claims import claim_and_start
from functions.app.automation.decisions import log
from functions.app.automation.wiring import AutomationDependencies
from functions.domain.automation.rules import (
    AutomationRecord,
    Decision,
    Outcome,
    RecoveryEvidence,
    decide_failback,
    judge_recovery,
)
from functions.domain.errors import DependencyUnavailable, VersionConflict
from functions.domain.rollout.gates import TargetMetrics

RACED = "another check updated the record meanwhile"


def failback_check(deps: AutomationDependencies) -> dict[str, Any]:
    records = deps.store.get_many(deps.settings.direct())
    results = [_failback_one(record, deps) for record in records.values() if record.failed_over is not None]
    return {"check": "failback", "results": results}


def _failback_one(record: AutomationRecord, deps: AutomationDependencies) -> dict[str, Any]:
    settings, provider = deps.settings, record.provider
    try:
        evidence = _evidence(provider, deps)
    except DependencyUnavailable as exc:  # hold the clock as it is: missing data proves nothing either way
        return log(provider, Decision(Outcome.WAITING, f"recovery evidence unavailable: {exc}"), {})
    healthy, reasons = judge_recovery(evidence, settings.recovery_thresholds())
    decision = decide_failback(
        record,
        deps.rollouts.get(),
        healthy,
        reasons,
        deps.clock(),
        settings.hysteresis_s,
        settings.extras(),
        settings.start_grace_s,
    )
    context: dict[str, Any] = {"check": "failback", **decision.details}
    try:
        return _act(record, decision, deps, context)
    except VersionConflict:
        return log(provider, Decision(Outcome.WAITING, RACED), context)


def _act(
    record: AutomationRecord, decision: Decision, deps: AutomationDependencies, context: dict[str, Any]
) -> dict[str, Any]:
    """Start the failback the decision claims, or save the clock it advanced (or the restored record)."""
    if decision.record is None:
        return log(record.provider, decision, context)
    if decision.claim is not None:
        return claim_and_start(record, decision, deps, {**context, "execution": decision.claim.name})
    action = "automation.restored" if decision.outcome is Outcome.RESTORED else "automation.recovery"
    deps.store.save(decision.record, action, decision.reason)
    return log(record.provider, decision, context)


def _evidence(provider: str, deps: AutomationDependencies) -> RecoveryEvidence:
    health = deps.health.read(provider)
    snapshot = deps.metrics().query(deps.settings.recovery_window_s)
    return RecoveryEvidence(
        probe_healthy=None if health is None else health.status == "healthy",
        probe_latency_ms=None if health is None else health.last_latency_ms,
        metrics=TargetMetrics.from_snapshot(snapshot, provider),
        alarms=deps.alarms(provider),
    )
