"""The response cache: a bounded in-memory LRU per router instance in front of the shared CACHE table.

A cache never fails a request: a DynamoDB error on read is a miss, on write a lost entry, both logged.
The answer body is stored as one JSON string, so its size is known before the write and its numbers
come back exactly as they went in.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.dynamodb.client import dynamodb_client, from_item, to_item
from functions.adapters.dynamodb.schema import CACHE
from functions.domain.models import ChatCompletionResponse
from functions.domain.routing.cache import CachedResponse, CacheTtls
from functions.domain.thresholds import (
    CACHE_FRESH_SECONDS,
    CACHE_LRU_ENTRIES,
    CACHE_MAX_ITEM_BYTES,
    CACHE_STALE_SECONDS,
)
from functions.shared.observability import logger

_TTL_ATTRIBUTE = CACHE.ttl_attribute or "expires_at"


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int
    stale_hits: int
    misses: int

    @property
    def lookups(self) -> int:
        return self.hits + self.stale_hits + self.misses

    @property
    def hit_rate(self) -> float:
        """Share of lookups answered from the cache, fresh or stale; 0 before the first lookup."""
        return (self.hits + self.stale_hits) / self.lookups if self.lookups else 0.0


def item_size(item: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for an item of S and N attributes (names plus values), rounded up."""
    size = 0
    for name, value in item.items():
        ((kind, raw),) = value.items()
        size += len(name.encode("utf-8")) + (len(raw.encode("utf-8")) if kind == "S" else len(str(raw)) + 1)
    return size


class ResponseCache:
    def __init__(
        self,
        table: str | None,
        lru_size: int = CACHE_LRU_ENTRIES,
        fresh_ttl_s: float = CACHE_FRESH_SECONDS,
        stale_ttl_s: float = CACHE_STALE_SECONDS,
        clock: Callable[[], float] = time.time,
        max_item_bytes: int = CACHE_MAX_ITEM_BYTES,
    ) -> None:
        if lru_size < 1:
            raise ValueError("the LRU must hold at least one entry")
        self._table, self._lru_size = table, lru_size
        self.fresh_ttl_s, self.stale_ttl_s = fresh_ttl_s, stale_ttl_s
        self._clock, self._max_item_bytes = clock, max_item_bytes
        self._lru: OrderedDict[str, CachedResponse] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._stale_hits = self._misses = 0

    def ttls(self, fresh_s: float | None = None, stale_s: float | None = None) -> CacheTtls:
        """The TTLs an operator set (the snapshot's cache settings), this cache's own for those unset."""
        return CacheTtls(
            self.fresh_ttl_s if fresh_s is None else fresh_s, self.stale_ttl_s if stale_s is None else stale_s
        )

    def entry(
        self, response: ChatCompletionResponse, *, provider: str, route: str, ttls: CacheTtls | None = None
    ) -> CachedResponse:
        """A new entry for `response`, stored now and fresh for the fresh TTL."""
        fresh_s = (ttls or self.ttls()).fresh_s
        return CachedResponse.of(response, provider=provider, route=route, now=self._clock(), fresh_for_s=fresh_s)

    def get(
        self, key: str, now: float | None = None, allow_stale: bool = False, ttls: CacheTtls | None = None
    ) -> CachedResponse | None:
        """The entry under `key` if fresh at `now`; with `allow_stale` (degraded mode: every route down)
        also one past its freshness but within the stale window. Otherwise None."""
        now = self._clock() if now is None else now
        ttls = ttls or self.ttls()
        found = self._lru_get(key)
        if found is None or now >= found.fresh_until_under(ttls):
            # Another instance may have stored a fresher answer than the one this instance remembers.
            stored = self._read(key)
            if stored is not None and (found is None or stored.fresh_until > found.fresh_until):
                found = stored
                self._lru_put(key, stored)
        if found is not None and now < found.fresh_until_under(ttls):
            return self._count(found, "hits")
        if found is not None and allow_stale and now < found.stale_until_under(ttls):
            return self._count(found, "stale_hits")
        return self._count(None, "misses")

    def put(self, key: str, value: CachedResponse, ttls: CacheTtls | None = None) -> None:
        self._lru_put(key, value)
        if self._table is None:
            return
        item = to_item(
            {
                CACHE.partition_key: key,
                "body": json.dumps(value.body, separators=(",", ":"), ensure_ascii=False),
                "provider": value.provider,
                "route": value.route,
                "model": value.model,
                "stored_at": float(value.stored_at),
                "fresh_until": float(value.fresh_until),
                # DynamoDB TTL wants whole epoch seconds
                _TTL_ATTRIBUTE: math.ceil(value.stale_until_under(ttls or self.ttls())),
            }
        )
        size = item_size(item)
        if size > self._max_item_bytes:
            logger.info("cache-item-too-large", extra={"bytes": size, "limit": self._max_item_bytes})
            return
        try:
            dynamodb_client().put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            logger.warning("cache-write-failed", extra={"error": _error_name(exc)})

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._stale_hits, self._misses)

    def _count(self, value: CachedResponse | None, counter: str) -> CachedResponse | None:
        with self._lock:
            setattr(self, f"_{counter}", getattr(self, f"_{counter}") + 1)
        return value

    def _lru_get(self, key: str) -> CachedResponse | None:
        with self._lock:
            value = self._lru.get(key)
            if value is not None:
                self._lru.move_to_end(key)
            return value

    def _lru_put(self, key: str, value: CachedResponse) -> None:
        with self._lock:
            self._lru[key] = value
            self._lru.move_to_end(key)
            while len(self._lru) > self._lru_size:
                self._lru.popitem(last=False)

    def _read(self, key: str) -> CachedResponse | None:
        if self._table is None:
            return None
        try:
            response = dynamodb_client().get_item(
                TableName=self._table, Key={CACHE.partition_key: {"S": key}}, ConsistentRead=False
            )
        except (ClientError, BotoCoreError) as exc:
            logger.warning("cache-read-failed", extra={"error": _error_name(exc)})
            return None
        raw = response.get("Item")
        return _parse(from_item(raw)) if raw else None


def _parse(item: dict[str, Any]) -> CachedResponse | None:
    try:
        body = json.loads(item["body"])
        if not isinstance(body, dict):
            raise ValueError("body is not a JSON object")
        return CachedResponse(
            body=body,
            provider=str(item["provider"]),
            route=str(item["route"]),
            model=str(item["model"]),
            stored_at=float(item["stored_at"]),
            fresh_until=float(item["fresh_until"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        logger.warning("cache-item-unreadable", extra={"error": type(exc).__name__})
        return None


def _error_name(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__
