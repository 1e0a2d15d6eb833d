"""One module per hybridctl verb; each `register`s its subcommand, its arguments and its handler."""

from __future__ import annotations

from types import ModuleType

from cli.hybridctl.verbs import (
    analyze,
    audit,
    breakers,
    canary,
    config,
    dashboard,
    drill,
    emergency,
    failback,
    failover,
    flags,
    monitor,
    offline,
    report,
    rollback,
    rollouts,
    route,
    status,
    validate,
)

# The order of `hybridctl --help`.
VERBS: tuple[ModuleType, ...] = (
    status,
    flags,
    emergency,
    route,
    config,
    breakers,
    validate,
    monitor,
    report,
    analyze,
    offline,
    drill,
    audit,
    dashboard,
    failover,
    canary,
    failback,
    rollback,
    rollouts,
)
