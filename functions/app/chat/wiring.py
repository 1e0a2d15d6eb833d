"""The router's long-lived dependencies, built once per Lambda instance on first use."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache

from functions.adapters.dynamodb.breakers import SharedBreakers
from functions.adapters.dynamodb.cache import ResponseCache
from functions.adapters.dynamodb.client_keys import ClientKeyStore
from functions.adapters.dynamodb.snapshot import LoadedSnapshot, SnapshotStore
from functions.adapters.dynamodb.spend import SpendAccumulator
from functions.adapters.providers.registry import build_providers
from functions.adapters.providers.settings import get_provider_settings
from functions.app.chat.settings import RouterSettings, get_settings
from functions.domain.completion import Provider
from functions.domain.routing.cost import BudgetPolicy, PriceTable
from functions.domain.routing.decision import MCP_TARGET, RoutingSnapshot

ALL_TARGETS: tuple[str, ...] = ("bedrock", "google", "meta", MCP_TARGET)


@dataclass
class RouterDependencies:
    settings: RouterSettings
    snapshots: SnapshotStore
    client_keys: ClientKeyStore
    providers: dict[str, Provider]
    breakers: SharedBreakers
    cache: ResponseCache
    prices: PriceTable
    budget: BudgetPolicy
    spend: SpendAccumulator
    _synced: LoadedSnapshot | None = field(default=None, repr=False)

    def current(self, ignore_breakers: bool = False) -> tuple[RoutingSnapshot, LoadedSnapshot]:
        """The stored snapshot, with unconfigured targets and (unless ignored) open breakers out
        of rotation."""
        loaded = self.snapshots.get()
        if loaded is not self._synced:
            self.breakers.sync(loaded.breakers)
            self._synced = loaded
        now = time.time()
        healthy = dict(loaded.routing.healthy)
        for target in ALL_TARGETS:
            if target not in self.providers:
                healthy[target] = False
            elif not (ignore_breakers or not loaded.breakers_enabled) and not self.breakers.may_take_traffic(
                target, now
            ):
                healthy[target] = False
        direct = tuple(p for p in self.providers if p != MCP_TARGET)
        return replace(loaded.routing, healthy=healthy, direct=direct), loaded


@lru_cache(maxsize=1)
def get_dependencies() -> RouterDependencies:
    settings = get_settings()
    providers = build_providers(get_provider_settings())
    return RouterDependencies(
        settings=settings,
        snapshots=SnapshotStore(
            settings.flags_table, settings.health_table, ALL_TARGETS, max_age_s=settings.snapshot_max_age_seconds
        ),
        client_keys=ClientKeyStore(settings.client_keys_table),
        providers=providers,
        breakers=SharedBreakers(settings.health_table, ALL_TARGETS),
        cache=ResponseCache(
            settings.cache_table,
            fresh_ttl_s=settings.cache_fresh_ttl_seconds,
            stale_ttl_s=settings.cache_stale_ttl_seconds,
        ),
        prices=PriceTable.from_config(json.loads(settings.price_table_json) if settings.price_table_json else None),
        budget=BudgetPolicy(settings.monthly_budget_usd),
        spend=SpendAccumulator(settings.flags_table),
    )
