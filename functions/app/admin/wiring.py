"""The admin function's long-lived dependencies, built on first use. Tests and the local stack replace
them through the admin app's `dependency_overrides`, never by changing the cached object (it is frozen)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from functions.adapters.cloudwatch import MetricsSource, get_metrics_source
from functions.adapters.dynamodb.audit import AuditLog, audit_log
from functions.adapters.dynamodb.config import ConfigStore
from functions.adapters.dynamodb.rollouts import RolloutStore
from functions.adapters.providers.settings import ProviderSettings, get_provider_settings
from functions.adapters.stepfunctions import RolloutControl, parse_machines
from functions.app.admin.settings import AdminSettings, get_settings


@dataclass(frozen=True)
class AdminDependencies:
    settings: AdminSettings
    audit: AuditLog
    config: ConfigStore
    metrics: MetricsSource
    rollouts: RolloutStore
    workflows: RolloutControl
    providers: ProviderSettings
    clock: Callable[[], float] = field(default=time.time)


def build_admin_dependencies(settings: AdminSettings, providers: ProviderSettings) -> AdminDependencies:
    audit = audit_log(settings.audit_table, settings.audit_key_id, settings.audit_anchor_log_group)
    config = ConfigStore(settings.flags_table, audit)
    return AdminDependencies(
        settings=settings,
        audit=audit,
        config=config,
        metrics=get_metrics_source(),
        rollouts=RolloutStore(config),
        workflows=RolloutControl(parse_machines(settings.state_machine_arns)),
        providers=providers,
    )


@lru_cache(maxsize=1)
def get_admin_dependencies() -> AdminDependencies:
    return build_admin_dependencies(get_settings(), get_provider_settings())
