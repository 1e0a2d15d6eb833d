"""The automation's dependencies: its store, the route, health records, the Step Functions starter, and
the metrics and alarms a failback check reads."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from functions.adapters.cloudwatch import MetricsSource, alarm_states, get_metrics_source
from functions.adapters.dynamodb.audit import AuditLog, audit_log
from functions.adapters.dynamodb.automation import AutomationStore
from functions.adapters.dynamodb.config import ConfigStore
from functions.adapters.dynamodb.health import HealthStore
from functions.adapters.dynamodb.rollouts import RolloutStore
from functions.adapters.stepfunctions import ExecutionStarter
from functions.app.automation.settings import AutomationSettings, get_settings
from functions.shared.event_patterns import failover_alarm_prefix


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
    audit: AuditLog | None = None  # the trail, whose head the schedule anchors every minute


def build_dependencies(settings: AutomationSettings) -> AutomationDependencies:
    audit = audit_log(settings.audit_table, settings.audit_key_id, settings.audit_anchor_log_group)
    config = ConfigStore(settings.flags_table, audit)
    prefix = failover_alarm_prefix(settings.alarm_prefix)
    return AutomationDependencies(
        settings=settings,
        store=AutomationStore(config),
        rollouts=RolloutStore(config),
        health=HealthStore(settings.health_table),
        starter=ExecutionStarter(settings.machine_arns()),
        metrics=get_metrics_source,
        alarms=lambda provider: alarm_states([], f"{prefix}{provider}-", provider),
        audit=audit,
    )


@lru_cache(maxsize=1)
def get_dependencies() -> AutomationDependencies:
    return build_dependencies(get_settings())
