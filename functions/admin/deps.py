"""The admin function's long-lived dependencies, built on first use."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from functions.admin.settings import AdminSettings, get_settings
from functions.store.audit import AuditLog
from functions.store.config import ConfigStore


@dataclass
class AdminDependencies:
    settings: AdminSettings
    audit: AuditLog
    config: ConfigStore


@lru_cache(maxsize=1)
def get_admin_dependencies() -> AdminDependencies:
    settings = get_settings()
    audit = AuditLog(settings.audit_table)
    return AdminDependencies(settings=settings, audit=audit, config=ConfigStore(settings.flags_table, audit))
