"""The admin function's long-lived dependencies, built on first use."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from functions.admin.settings import AdminSettings, get_settings
from functions.store.audit import AuditLog
from functions.store.config import ConfigStore
from functions.store.metrics_source import MetricsSource, get_metrics_source


@dataclass
class AdminDependencies:
    settings: AdminSettings
    audit: AuditLog
    config: ConfigStore
    metrics: MetricsSource


@lru_cache(maxsize=1)
def get_admin_dependencies() -> AdminDependencies:
    settings = get_settings()
    audit = AuditLog(settings.audit_table)
    return AdminDependencies(
        settings=settings,
        audit=audit,
        config=ConfigStore(settings.flags_table, audit),
        metrics=get_metrics_source(),
    )
