"""The admin function's long-lived dependencies, built on first use."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from functions.adapters.cloudwatch import MetricsSource, get_metrics_source
from functions.adapters.dynamodb.audit import AuditLog
from functions.adapters.dynamodb.config import ConfigStore
from functions.adapters.dynamodb.rollouts import RolloutStore
from functions.adapters.stepfunctions import RolloutControl, parse_machines
from functions.app.admin.settings import AdminSettings, get_settings


@dataclass
class AdminDependencies:
    settings: AdminSettings
    audit: AuditLog
    config: ConfigStore
    metrics: MetricsSource
    rollouts: RolloutStore
    workflows: RolloutControl


@lru_cache(maxsize=1)
def get_admin_dependencies() -> AdminDependencies:
    settings = get_settings()
    audit = AuditLog(settings.audit_table)
    config = ConfigStore(settings.flags_table, audit)
    return AdminDependencies(
        settings=settings,
        audit=audit,
        config=config,
        metrics=get_metrics_source(),
        rollouts=RolloutStore(config),
        workflows=RolloutControl(parse_machines(settings.state_machine_arns)),
    )
