"""The workflow tasks' dependencies: the route's store, the metrics and alarms a gate reads, a clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from functions.adapters.cloudwatch import MetricsSource, alarm_states, get_metrics_source
from functions.adapters.dynamodb.audit import audit_log
from functions.adapters.dynamodb.config import ConfigStore
from functions.adapters.dynamodb.rollouts import RolloutStore
from functions.app.workflow.settings import WorkflowSettings, get_settings


@dataclass
class WorkflowDependencies:
    settings: WorkflowSettings
    rollouts: RolloutStore
    metrics: Callable[[], MetricsSource]
    alarms: Callable[[Sequence[str], str], dict[str, str]]  # (alarm names, target) -> {name: state}
    clock: Callable[[], float] = time.time


def build_dependencies(settings: WorkflowSettings) -> WorkflowDependencies:
    config = ConfigStore(
        settings.flags_table,
        audit_log(settings.audit_table, settings.audit_key_id, settings.audit_anchor_log_group),
    )
    return WorkflowDependencies(
        settings=settings,
        rollouts=RolloutStore(config),
        metrics=get_metrics_source,
        alarms=lambda names, target: alarm_states(names, settings.alarm_prefix, target),
    )


@lru_cache(maxsize=1)
def get_dependencies() -> WorkflowDependencies:
    return build_dependencies(get_settings())
