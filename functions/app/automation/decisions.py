"""How every automation decision ends: logged, counted on the failover dashboard, and (when it writes
nothing else) audited."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from functions.app.automation.wiring import AutomationDependencies
from functions.domain.automation.rules import Decision, Ignored, Outcome
from functions.domain.names import AUTOMATION_DIMENSION, AUTOMATION_METRIC
from functions.shared.observability import emit_count, logger

UNPARSED = "-"  # the audit target's provider when an event names none


def ignore(ignored: Ignored, deps: AutomationDependencies, context: Mapping[str, Any]) -> dict[str, Any]:
    """An event automation does not act on: audited and logged with the reason, never retried."""
    return report(UNPARSED, Decision(Outcome.IGNORED, ignored.reason), deps, context)


def report(
    provider: str, decision: Decision, deps: AutomationDependencies, context: Mapping[str, Any]
) -> dict[str, Any]:
    """Audit a decision that writes nothing, then log it."""
    deps.store.audit(provider, f"automation.{decision.outcome.value}", decision.reason, dict(context))
    return log(provider, decision, context)


def log(provider: str, decision: Decision, context: Mapping[str, Any]) -> dict[str, Any]:
    answer = {"outcome": decision.outcome.value, "provider": provider, "reason": decision.reason, **context}
    logger.info("automation-decision", extra=answer)
    emit_count(AUTOMATION_METRIC, AUTOMATION_DIMENSION, decision.outcome.value)
    return answer
