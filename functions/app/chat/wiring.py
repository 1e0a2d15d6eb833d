"""The router's long-lived dependencies, built once per Lambda instance on first use."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache

from functions.adapters.dynamodb.breakers import SharedBreakers
from functions.adapters.dynamodb.cache import ResponseCache
from functions.adapters.dynamodb.client_keys import ClientKeyStore
from functions.adapters.dynamodb.quotas import QuotaCounters
from functions.adapters.dynamodb.snapshot import LoadedSnapshot, SnapshotStore
from functions.adapters.dynamodb.spend import SpendAccumulator
from functions.adapters.providers.registry import build_providers
from functions.adapters.providers.settings import get_provider_settings
from functions.app.chat.settings import RouterSettings, get_settings
from functions.domain.completion import Provider
from functions.domain.names import TARGETS
from functions.domain.quotas import QuotaLimits
from functions.domain.routing.cache import CacheTtls
from functions.domain.routing.cost import BudgetPolicy, PriceTable
from functions.domain.routing.decision import RoutingSnapshot
from functions.domain.routing.plan import configured, in_rotation
from functions.domain.routing.retry import RetryBudget, RetryRules


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
    context_windows: dict[str, int | None] = field(default_factory=dict)
    quotas: QuotaCounters = field(default_factory=lambda: QuotaCounters(None))  # None: no quota table, no quota
    retry_budget: RetryBudget = field(default_factory=lambda: RetryBudget(threading.Lock()))
    _synced: LoadedSnapshot | None = field(default=None, repr=False)

    def current(self) -> tuple[RoutingSnapshot, LoadedSnapshot]:
        """The stored snapshot with unconfigured targets and (breakers on) open breakers out of rotation:
        the targets as the health API shows them."""
        snapshot, loaded = self.configured()
        refused = self.refused_targets(time.time())
        return in_rotation(snapshot, refused, loaded.breakers_enabled), loaded

    def configured(self) -> tuple[RoutingSnapshot, LoadedSnapshot]:
        """The stored snapshot restricted to the configured targets; the breakers synced with it."""
        loaded = self.snapshots.get()
        if loaded is not self._synced:
            self.breakers.sync(loaded.breakers)
            self._synced = loaded
        return configured(loaded.routing, self.providers), loaded

    def refused_targets(self, now: float) -> frozenset[str]:
        """The targets whose breakers refuse traffic at `now`."""
        return frozenset(target for target in TARGETS if not self.breakers.may_take_traffic(target, now))

    def retry_rules(self, loaded: LoadedSnapshot) -> RetryRules:
        """The attempt policy's rules: the thresholds, the operator's attempt cap and content-filter setting."""
        return RetryRules(
            attempt_timeout_cap_s=loaded.attempt_timeout_s,
            failover_on_content_filter=self.settings.content_filter_failover,
        )

    def cache_ttls(self, loaded: LoadedSnapshot) -> CacheTtls:
        return self.cache.ttls(loaded.cache.fresh_ttl_s, loaded.cache.stale_ttl_s)


@lru_cache(maxsize=1)
def get_dependencies() -> RouterDependencies:
    settings = get_settings()
    provider_settings = get_provider_settings()
    providers = build_providers(provider_settings)
    return RouterDependencies(
        settings=settings,
        snapshots=SnapshotStore(
            settings.flags_table, settings.health_table, TARGETS, max_age_s=settings.snapshot_max_age_seconds
        ),
        client_keys=ClientKeyStore(
            settings.client_keys_table,
            default_limits=QuotaLimits(settings.client_requests_per_minute, settings.client_tokens_per_minute),
        ),
        providers=providers,
        breakers=SharedBreakers(settings.health_table, TARGETS),
        cache=ResponseCache(
            settings.cache_table,
            fresh_ttl_s=settings.cache_fresh_ttl_seconds,
            stale_ttl_s=settings.cache_stale_ttl_seconds,
        ),
        prices=PriceTable.from_config(json.loads(settings.price_table_json) if settings.price_table_json else None),
        budget=BudgetPolicy(settings.monthly_budget_usd),
        spend=SpendAccumulator(settings.spend_table, legacy_table=settings.flags_table),
        context_windows=provider_settings.context_windows(),
        quotas=QuotaCounters(settings.quotas_table, settings.quota_shards),
    )
