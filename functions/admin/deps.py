"""The admin function's long-lived dependencies, built on first use."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from functions.admin.settings import AdminSettings, get_settings
from functions.store.audit import AuditLog
from functions.store.config import ConfigStore
from functions.store.metrics_source import MetricsSource, get_metrics_source
from functions.store.rollouts import RolloutStore
from functions.workflow.control import RolloutControl, parse_machines


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
