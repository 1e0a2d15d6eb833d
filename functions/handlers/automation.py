"""Automation Lambda: the EventBridge target that turns failover alarms and health events into failover
executions and, every minute, checks for failbacks (functions/app/automation/). Events
(functions/shared/event_patterns.py): an alarm of ours into ALARM, a provider health change to
unhealthy, the schedule (which also anchors the audit trail's head outside the table). Bad or foreign
events are ignored with a reason, never retried."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.app.automation.anchor import anchor_audit_head
from functions.app.automation.decisions import ignore
from functions.app.automation.failback import failback_check
from functions.app.automation.failover import failover
from functions.app.automation.wiring import AutomationDependencies, get_dependencies
from functions.domain.automation.rules import FailoverRequest, Ignored, parse_alarm_event, parse_health_event
from functions.shared.event_patterns import (
    ALARM_EVENT_DETAIL_TYPE,
    HEALTH_EVENT_DETAIL_TYPE,
    SCHEDULED_EVENT_DETAIL_TYPE,
)
from functions.shared.observability import log_function_context


@log_function_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, get_dependencies())


def handle(event: Mapping[str, Any], deps: AutomationDependencies) -> dict[str, Any]:
    detail_type = event.get("detail-type")
    if detail_type == SCHEDULED_EVENT_DETAIL_TYPE:
        anchor_audit_head(deps)
        return failback_check(deps)
    request = parse(event, deps.settings.alarm_prefix)
    if isinstance(request, Ignored):
        return ignore(request, deps, {"detailType": detail_type})
    return failover(request, deps)


def parse(event: Mapping[str, Any], alarm_prefix: str) -> FailoverRequest | Ignored:
    detail_type = event.get("detail-type")
    if detail_type == ALARM_EVENT_DETAIL_TYPE:
        return parse_alarm_event(event, alarm_prefix)
    if detail_type == HEALTH_EVENT_DETAIL_TYPE:
        return parse_health_event(event)
    return Ignored(f"not an event automation acts on (detail-type {detail_type!r})")
