"""Claim, then start: the automation writes its claim (conditional, audited) before it starts the
execution, so of two deliveries of one event exactly one starts anything; a start that fails gives the
claim back, and a claim whose start was lost is started again after a grace period."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from functions.app.automation.decisions import log, report
from functions.app.automation.wiring import AutomationDependencies
from functions.domain.automation.rules import AutomationRecord, Decision, Outcome
from functions.domain.errors import DependencyUnavailable, VersionConflict
from functions.shared.observability import logger


def claim_and_start(
    previous: AutomationRecord, decision: Decision, deps: AutomationDependencies, context: dict[str, Any]
) -> dict[str, Any]:
    """Save the decision's record (VersionConflict if another event claimed meanwhile), then start its
    execution; a start that fails unclaims and lets the error escape, so the event is retried."""
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
    return log(previous.provider, Decision(outcome, decision.reason), {**details, "executionArn": arn})


def _unclaim(previous: AutomationRecord, saved: AutomationRecord, deps: AutomationDependencies, name: str) -> None:
    """The execution could not be started: give the claim back, so the retried event can start it."""
    try:
        deps.store.save(replace(previous, version=saved.version), "automation.unclaimed", f"{name} not started")
    except (VersionConflict, DependencyUnavailable) as exc:
        logger.error("automation-unclaim-failed", extra={"execution": name, "error": type(exc).__name__})


def duplicate(
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
            return log(record.provider, Decision(Outcome.STARTED, reason), {**context, "executionArn": arn})
    return report(record.provider, decision, deps, {**context, "executionArn": deps.starter.execution_arn(claim)})
