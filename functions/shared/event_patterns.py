"""The EventBridge patterns that start the alarm-driven automation, defined once: the stack's rules
(stacks/constructs/automation.py) and the local stack's bus (local/eventbus.py) both use these.

Alarm names follow the shared convention f"{alarm_prefix}-provider-failover-{provider}-{trigger}".
"""

from __future__ import annotations

from typing import Any

# The health checker's own events (functions/adapters/eventbridge.py puts them).
HEALTH_EVENT_SOURCE = "hybrid-routing.health"
HEALTH_EVENT_DETAIL_TYPE = "Provider Health Changed"
ALARM_EVENT_SOURCE = "aws.cloudwatch"
ALARM_EVENT_DETAIL_TYPE = "CloudWatch Alarm State Change"
ALARM_STATE = "ALARM"
UNHEALTHY = "unhealthy"
SCHEDULED_EVENT_SOURCE = "aws.events"
SCHEDULED_EVENT_DETAIL_TYPE = "Scheduled Event"
# Step Functions' own events: an execution that ended this way has its rollout lock cleaned up
# (the stack's cleanup rule, the local execution watcher, the workflow handler's cleanup action).
EXECUTION_EVENT_SOURCE = "aws.states"
EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"
CLEANUP_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")


def failover_alarm_prefix(alarm_prefix: str) -> str:
    """Every per-provider failover alarm's name starts with this."""
    return f"{alarm_prefix}-provider-failover-"


def failover_alarm_name(alarm_prefix: str, provider: str, trigger: str) -> str:
    return f"{failover_alarm_prefix(alarm_prefix)}{provider}-{trigger}"


def alarm_pattern(alarm_prefix: str) -> dict[str, Any]:
    """A per-provider failover alarm entering ALARM."""
    return {
        "source": [ALARM_EVENT_SOURCE],
        "detail-type": [ALARM_EVENT_DETAIL_TYPE],
        "detail": {
            "alarmName": [{"prefix": failover_alarm_prefix(alarm_prefix)}],
            "state": {"value": [ALARM_STATE]},
        },
    }


def unhealthy_pattern() -> dict[str, Any]:
    """The health checker marking a provider unhealthy."""
    return {
        "source": [HEALTH_EVENT_SOURCE],
        "detail-type": [HEALTH_EVENT_DETAIL_TYPE],
        "detail": {"status": [UNHEALTHY]},
    }
