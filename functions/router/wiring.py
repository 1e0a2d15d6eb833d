"""The router's long-lived dependencies, built once per Lambda instance on first use."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import lru_cache

from functions.core.decision import MCP_TARGET, RoutingSnapshot
from functions.core.outcomes import OutcomeTracker
from functions.providers.base import Provider
from functions.providers.registry import build_providers
from functions.providers.settings import get_provider_settings
from functions.router.settings import RouterSettings, get_settings
from functions.store.client_keys import ClientKeyStore
from functions.store.snapshot import LoadedSnapshot, SnapshotStore

ALL_TARGETS: tuple[str, ...] = ("bedrock", "google", "meta", MCP_TARGET)


@dataclass
class RouterDependencies:
    settings: RouterSettings
    snapshots: SnapshotStore
    client_keys: ClientKeyStore
    providers: dict[str, Provider]
    outcomes: OutcomeTracker = field(default_factory=OutcomeTracker)

    def current(self) -> tuple[RoutingSnapshot, LoadedSnapshot]:
        """The stored snapshot with this instance's suspects taken out of rotation."""
        loaded = self.snapshots.get()
        now = time.time()
        healthy = dict(loaded.routing.healthy)
        for target in ALL_TARGETS:
            if target not in self.providers or self.outcomes.is_suspect(target, now):
                healthy[target] = False
        return replace(loaded.routing, healthy=healthy), loaded


@lru_cache(maxsize=1)
def get_dependencies() -> RouterDependencies:
    settings = get_settings()
    providers = build_providers(get_provider_settings())
    return RouterDependencies(
        settings=settings,
        snapshots=SnapshotStore(settings.flags_table, settings.health_table, targets=ALL_TARGETS),
        client_keys=ClientKeyStore(settings.client_keys_table),
        providers=providers,
    )
