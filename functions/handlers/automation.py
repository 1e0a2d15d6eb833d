"""Automation Lambda: the EventBridge target that turns failover alarms and health events into failover
executions, and, every minute, starts the failback of a provider that has recovered long enough.

Events (functions/shared/event_patterns.py):
* "CloudWatch Alarm State Change" of f"{alarm_prefix}-provider-failover-{provider}-{trigger}" into ALARM:
  a failover of that provider (immediate for server-errors, gradual for latency and throttling);
* "Provider Health Changed" to unhealthy: an immediate failover of that provider;
* "Scheduled Event": the failback check.

Each decision (started, duplicate, cooldown, ignored; for failbacks also waiting and restored) is
logged and audited. A claim is written (conditional, audited) before the execution starts, so of
two deliveries of one event - or two events about one provider - exactly one starts anything.
Bad or foreign events are ignored with a reason, never retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters.cloudwatch import MetricsSource, get_metrics_source
from functions.adapters.dynamodb.audit import AuditLog
from functions.adapters.dynamodb.automation import AutomationStore, ExecutionStarter
from functions.adapters.dynamodb.config import ConfigStore
from functions.adapters.dynamodb.health import HealthStore
from functions.adapters.dynamodb.rollouts import RolloutStore, alarm_states
from functions.adapters.eventbridge import HEALTH_EVENT_DETAIL_TYPE
from functions.app.automation.settings import AutomationSettings, get_settings
from functions.domain.automation.rules import (
    AutomationRecord,
    Decision,
    FailoverRequest,
    Ignored,
    Outcome,
    RecoveryEvidence,
    decide_failback,
    decide_failover,
    judge_recovery,
    parse_alarm_event,
    parse_health_event,
)
from functions.domain.errors import DependencyUnavailable, VersionConflict
from functions.domain.rollout.gates import GateThresholds, TargetMetrics
from functions.domain.thresholds import ROLLOUT_WRITE_RETRIES
from functions.shared.event_patterns import (
    ALARM_EVENT_DETAIL_TYPE,
    SCHEDULED_EVENT_DETAIL_TYPE,
    failover_alarm_prefix,
)
from functions.shared.observability import AUTOMATION_DIMENSION, AUTOMATION_METRIC, emit_count, logger

UNPARSED = "-"  # the audit target's provider when an event names none


@dataclass
class AutomationDependencies:
    settings: AutomationSettings
    store: AutomationStore
    rollouts: RolloutStore
    health: HealthStore
    starter: ExecutionStarter
    metrics: Callable[[], MetricsSource]
    alarms: Callable[[str], dict[str, str]]  # provider -> {alarm name: state} of its failover alarms
    clock: Callable[[], float] = time.time


def build_dependencies(settings: AutomationSettings) -> AutomationDependencies:
    config = ConfigStore(settings.flags_table, AuditLog(settings.audit_table))
    prefix = failover_alarm_prefix(settings.alarm_prefix)
    return AutomationDependencies(
        settings=settings,
        store=AutomationStore(config),
        rollouts=RolloutStore(config),
        health=HealthStore(settings.health_table),
        starter=ExecutionStarter(settings.machine_arns()),
        metrics=get_metrics_source,
        alarms=lambda provider: alarm_states([], f"{prefix}{provider}-", provider),
    )


@lru_cache(maxsize=1)
def get_dependencies() -> AutomationDependencies:
    return build_dependencies(get_settings())


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, get_dependencies())


def handle(event: Mapping[str, Any], deps: AutomationDependencies) -> dict[str, Any]:
    detail_type = event.get("detail-type")
    if detail_type == SCHEDULED_EVENT_DETAIL_TYPE:
        return failback_check(deps)
    if detail_type == ALARM_EVENT_DETAIL_TYPE:
        request = parse_alarm_event(event, deps.settings.alarm_prefix)
    elif detail_type == HEALTH_EVENT_DETAIL_TYPE:
        request = parse_health_event(event)
    else:
        request = Ignored(f"not an event automation acts on (detail-type {detail_type!r})")
    if isinstance(request, Ignored):
        return _report(UNPARSED, Decision(Outcome.IGNORED, request.reason), deps, {"detailType": detail_type})
    return failover(request, deps)


# --- failover ---------------------------------------------------------------------------------------
def failover(request: FailoverRequest, deps: AutomationDependencies) -> dict[str, Any]:
    settings, provider = deps.settings, request.provider
    direct = settings.direct()
    conflict: VersionConflict | None = None
    for _ in range(ROLLOUT_WRITE_RETRIES):
        now = deps.clock()
        records = deps.store.get_many(direct if provider in direct else (*direct, provider))
        record = records[provider]
        failed_over = [p for p, r in records.items() if r.failed_over is not None and p != provider]
        decision = decide_failover(
            request,
            record,
            deps.rollouts.get(),
            _health(deps, direct),
            direct,
            failed_over,
            now,
            settings.cooldown_s,
            settings.extras(),
        )
        context = {"trigger": request.trigger.value, "execution": request.execution_name}
        if decision.outcome is Outcome.DUPLICATE:
            return _duplicate(record, decision, deps, now, context)
        if decision.outcome is not Outcome.STARTED:
            return _report(provider, decision, deps, context)
        try:
            return _claim_and_start(record, decision, deps, context)
        except VersionConflict as exc:  # another event claimed this provider meanwhile: decide again
            conflict = exc
    assert conflict is not None
    raise conflict


def _claim_and_start(
    previous: AutomationRecord, decision: Decision, deps: AutomationDependencies, context: dict[str, Any]
) -> dict[str, Any]:
    assert decision.claim is not None and decision.record is not None
    claim = decision.claim
    arn = deps.starter.execution_arn(claim)
    details = {**context, "executionArn": arn, "input": dict(claim.input), **decision.details}
    saved = deps.store.save(decision.record, "automation.started", f"{decision.reason}; execution {arn}")
    try:
        started, arn = deps.starter.start(claim)
    except DependencyUnavailable:
        _unclaim(previous, saved, deps, claim.name)
        raise
    outcome = Outcome.STARTED if started else Outcome.DUPLICATE
    return _log(previous.provider, Decision(outcome, decision.reason), {**details, "executionArn": arn})


def _unclaim(previous: AutomationRecord, saved: AutomationRecord, deps: AutomationDependencies, name: str) -> None:
    """The execution could not be started: give the claim back, so the retried event can start it."""
    try:
        deps.store.save(replace(previous, version=saved.version), "automation.unclaimed", f"{name} not started")
    except (VersionConflict, DependencyUnavailable) as exc:
        logger.error("automation-unclaim-failed", extra={"execution": name, "error": type(exc).__name__})


def _duplicate(
    record: AutomationRecord, decision: Decision, deps: AutomationDependencies, now: float, context: dict[str, Any]
) -> dict[str, Any]:
    """The claim's own event again. Its execution is left to the claim's holder while that may still be
    starting it; past the grace period the claimed execution is started (idempotent: one that exists
    is not started again), in case its start was lost with the claim holder's invocation."""
    claim = record.last
    assert claim is not None
    if now - claim.at >= deps.settings.start_grace_s:
        started, arn = deps.starter.start(claim)
        if started:
            reason = f"{claim.name} was claimed but never started: started now"
            deps.store.audit(record.provider, "automation.started", reason, {**context, "executionArn": arn})
            return _log(record.provider, Decision(Outcome.STARTED, reason), {**context, "executionArn": arn})
    return _report(record.provider, decision, deps, {**context, "executionArn": deps.starter.execution_arn(claim)})


# --- failback ---------------------------------------------------------------------------------------
def failback_check(deps: AutomationDependencies) -> dict[str, Any]:
    """Every provider automation failed over: judge its recovery, advance its hysteresis clock, and
    start its failback when the clock has run long enough."""
    records = deps.store.get_many(deps.settings.direct())
    results = [_failback_one(record, deps) for record in records.values() if record.failed_over is not None]
    return {"check": "failback", "results": results}


def _failback_one(record: AutomationRecord, deps: AutomationDependencies) -> dict[str, Any]:
    settings, provider = deps.settings, record.provider
    try:
        evidence = _evidence(provider, deps)
    except DependencyUnavailable as exc:  # hold the clock as it is: missing data proves nothing either way
        return _log(provider, Decision(Outcome.WAITING, f"recovery evidence unavailable: {exc}"), {})
    strict = GateThresholds(
        settings.recovery_success_percent, settings.recovery_p95_latency_ms, settings.recovery_min_requests
    )
    healthy, reasons = judge_recovery(evidence, strict)
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
    if decision.record is None:
        return _log(provider, decision, context)
    if decision.claim is not None:
        try:
            return _claim_and_start(record, decision, deps, {**context, "execution": decision.claim.name})
        except VersionConflict:
            return _log(provider, Decision(Outcome.WAITING, "another check updated the record meanwhile"), context)
    action = "automation.restored" if decision.outcome is Outcome.RESTORED else "automation.recovery"
    try:
        deps.store.save(decision.record, action, decision.reason)
    except VersionConflict:
        return _log(provider, Decision(Outcome.WAITING, "another check updated the record meanwhile"), context)
    return _log(provider, decision, context)


def _evidence(provider: str, deps: AutomationDependencies) -> RecoveryEvidence:
    health = deps.health.read(provider)
    snapshot = deps.metrics().query(deps.settings.recovery_window_s)
    return RecoveryEvidence(
        probe_healthy=None if health is None else health.status == "healthy",
        probe_latency_ms=None if health is None else health.last_latency_ms,
        metrics=TargetMetrics.from_snapshot(snapshot, provider),
        alarms=deps.alarms(provider),
    )


# --- helpers ----------------------------------------------------------------------------------------
def _health(deps: AutomationDependencies, direct: tuple[str, ...]) -> dict[str, bool]:
    return {target: record.status == "healthy" for target, record in deps.health.read_all(direct).items()}


def _report(
    provider: str, decision: Decision, deps: AutomationDependencies, context: Mapping[str, Any]
) -> dict[str, Any]:
    """Audit a decision that writes nothing, then log it."""
    deps.store.audit(provider, f"automation.{decision.outcome.value}", decision.reason, dict(context))
    return _log(provider, decision, context)


def _log(provider: str, decision: Decision, context: Mapping[str, Any]) -> dict[str, Any]:
    answer = {"outcome": decision.outcome.value, "provider": provider, "reason": decision.reason, **context}
    logger.info("automation-decision", extra=answer)
    emit_count(AUTOMATION_METRIC, AUTOMATION_DIMENSION, decision.outcome.value)  # failover dashboard
    return answer
