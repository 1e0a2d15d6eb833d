"""The routing snapshot, loaded from the flags and health tables with one BatchGetItem at most
every SNAPSHOT_MAX_AGE_SECONDS, and kept in memory in between."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.dynamodb.breakers import breaker_key, parse_breaker
from functions.adapters.dynamodb.client import dynamodb_client, from_item
from functions.adapters.dynamodb.schema import (
    BREAKER_SETTINGS_KEY,
    CACHE_SETTINGS_KEY,
    FEATURE_FLAGS_KEY,
    FLAGS,
    HEALTH,
    ISOLATION_KEY,
    REQUEST_TIMEOUT_KEY,
    ROUTING_OVERRIDE_KEY,
    ROUTING_RULES_KEY,
    SNAPSHOT_KEYS,
    TRAFFIC_WEIGHTS_KEY,
    health_key,
)
from functions.domain.routing.breaker import BreakerState
from functions.domain.routing.decision import FEATURE_FLAGS, RoutingMode, RoutingOverride, RoutingSnapshot
from functions.domain.routing.matrix import Route
from functions.domain.thresholds import SNAPSHOT_MAX_AGE_SECONDS
from functions.shared.observability import logger


@dataclass(frozen=True, slots=True)
class CacheSettings:
    mode: str = "deterministic"  # or "off"
    fresh_ttl_s: float | None = None  # None: the function's configured TTL (CACHE_FRESH_TTL_SECONDS)
    stale_ttl_s: float | None = None  # None: the function's configured TTL (CACHE_STALE_TTL_SECONDS)
    serve_stale: bool = True


@dataclass(frozen=True, slots=True)
class LoadedSnapshot:
    routing: RoutingSnapshot
    checked_at: dict[str, float]  # target -> epoch of the health table's last check
    breakers: dict[str, BreakerState] = field(default_factory=dict)
    isolated: frozenset[str] = frozenset()
    breakers_enabled: bool = True
    attempt_timeout_s: float | None = None  # the operator's cap on one provider attempt
    cache: CacheSettings = field(default_factory=lambda: CacheSettings())


class SnapshotStore:
    def __init__(
        self,
        flags_table: str,
        health_table: str,
        targets: Iterable[str],
        max_age_s: float = SNAPSHOT_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._flags_table, self._health_table = flags_table, health_table
        self._targets = tuple(targets)
        self._max_age_s, self._clock = max_age_s, clock
        self._lock = threading.Lock()
        self._current: LoadedSnapshot | None = None
        self._loaded_at = float("-inf")

    def get(self) -> LoadedSnapshot:
        if self._current is not None and self._clock() - self._loaded_at < self._max_age_s:
            return self._current
        with self._lock:
            if self._current is None or self._clock() - self._loaded_at >= self._max_age_s:
                self._refresh()
        assert self._current is not None
        return self._current

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    def _refresh(self) -> None:
        try:
            items = self._batch_get()
        except (ClientError, BotoCoreError) as exc:
            # A throttled or unreachable table must not fail requests: keep the last view.
            logger.warning("snapshot-refresh-failed", extra={"error": type(exc).__name__})
            if self._current is None:
                self._current = LoadedSnapshot(RoutingSnapshot(), {})
            self._loaded_at = self._clock()
            return
        try:
            self._current = _parse(items, self._targets)
        except (ValueError, TypeError, ArithmeticError, AttributeError) as exc:
            # A malformed control-plane item must not fail every request either: keep the last view.
            logger.warning("snapshot-parse-failed", extra={"error": type(exc).__name__})
            if self._current is None:
                self._current = LoadedSnapshot(RoutingSnapshot(), {})
        self._loaded_at = self._clock()

    def _batch_get(self) -> dict[str, dict[str, Any]]:
        request: dict[str, Any] = {
            self._flags_table: {
                "Keys": [{FLAGS.partition_key: {"S": k}} for k in SNAPSHOT_KEYS],
                "ConsistentRead": True,
            },
            self._health_table: {
                "Keys": [
                    {HEALTH.partition_key: {"S": key}} for t in self._targets for key in (health_key(t), breaker_key(t))
                ],
                "ConsistentRead": True,
            },
        }
        found: dict[str, dict[str, Any]] = {}
        for _ in range(3):
            response = dynamodb_client().batch_get_item(RequestItems=request)
            for table_items in response.get("Responses", {}).values():
                for raw in table_items:
                    item = from_item(raw)
                    found[str(item.get("pk"))] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        return found


def _parse(items: dict[str, dict[str, Any]], targets: tuple[str, ...]) -> LoadedSnapshot:
    snapshot = RoutingSnapshot()
    flags_item = items.get(FEATURE_FLAGS_KEY)
    if flags_item and isinstance(flags_item.get("flags"), dict):
        stored = {k: bool(v) for k, v in flags_item["flags"].items() if k in FEATURE_FLAGS}
        snapshot = replace(snapshot, flags={**snapshot.flags, **stored})
    override_item = items.get(ROUTING_OVERRIDE_KEY)
    if override_item and override_item.get("mode") in {m.value for m in RoutingMode}:
        expires = override_item.get("expires_at")
        snapshot = replace(
            snapshot,
            override=RoutingOverride(
                RoutingMode(override_item["mode"]),
                float(expires) if isinstance(expires, Decimal | int | float) else None,
                str(override_item.get("reason", "")),
            ),
        )
    weights_item = items.get(TRAFFIC_WEIGHTS_KEY)
    if weights_item and isinstance(weights_item.get("weights"), dict):
        snapshot = replace(snapshot, weights=_weights(weights_item["weights"]))
    healthy: dict[str, bool] = {}
    checked_at: dict[str, float] = {}
    for target in targets:
        item = items.get(health_key(target))
        if item:
            healthy[target] = item.get("status") != "unhealthy"
            if isinstance(item.get("checked_at"), Decimal | int | float):
                checked_at[target] = float(item["checked_at"])
    isolated = (items.get(ISOLATION_KEY) or {}).get("targets") or []
    for target in isolated:
        healthy[str(target)] = False
    breakers = {target: parse_breaker(items.get(breaker_key(target))) for target in targets}
    breakers_enabled = (items.get(BREAKER_SETTINGS_KEY) or {}).get("enabled", True) is not False
    timeout_ms = (items.get(REQUEST_TIMEOUT_KEY) or {}).get("timeout_ms")
    return LoadedSnapshot(
        replace(snapshot, healthy=healthy, rules=_rules(items.get(ROUTING_RULES_KEY))),
        checked_at,
        breakers,
        frozenset(map(str, isolated)),
        breakers_enabled,
        float(timeout_ms) / 1000 if isinstance(timeout_ms, Decimal | int | float) else None,
        _cache_settings(items.get(CACHE_SETTINGS_KEY)),
    )


def _weights(stored: dict[str, Any]) -> dict[str, int]:
    """The route's weights; an entry that is not a whole number is left out (and logged), not fatal."""
    weights: dict[str, int] = {}
    for provider, value in stored.items():
        try:
            weights[str(provider)] = int(value)
        except (TypeError, ValueError, ArithmeticError):
            logger.warning("traffic-weight-ignored", extra={"provider": str(provider)})
    return weights


def _rules(item: dict[str, Any] | None) -> dict[str, tuple[Route, Route | None]]:
    rules: dict[str, tuple[Route, Route | None]] = {}
    for operation, rule in ((item or {}).get("rules") or {}).items():
        try:
            fallback = rule.get("fallback")
            rules[str(operation)] = (Route(rule["primary"]), Route(fallback) if fallback else None)
        except (KeyError, ValueError, AttributeError):
            logger.warning("routing-rule-ignored", extra={"operation": str(operation)})
    return rules


def _cache_settings(item: dict[str, Any] | None) -> CacheSettings:
    item = item or {}
    return CacheSettings(
        mode="off" if item.get("mode") == "off" else "deterministic",
        fresh_ttl_s=_seconds(item.get("freshTtlSeconds")),
        stale_ttl_s=_seconds(item.get("staleTtlSeconds")),
        serve_stale=item.get("serveStale", True) is not False,
    )


def _seconds(value: Any) -> float | None:
    """A stored non-negative number of seconds; None when absent or not one (and then not applied)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float) or value < 0:
        return None
    return float(value)
