"""Per-client-key request and token counters in the QUOTAS table, sharded, one write per request.

Each key has `shards` items per fixed window (`quota#<key digest>#<window>#<shard>`, expired by TTL). A request
the check admits is counted at once in this instance and ADDed (1 to `requests`, with the token usage this
instance has counted for the key since its last write) to one random shard by a writer thread while the request
is served; the router waits for that write before it answers. The ADD returns the shard's new totals. One key's
window has at most one write in flight per instance: requests admitted meanwhile join the next write, so one
write per request in a Lambda instance (one request at a time) and fewer under a local gateway's concurrency.
The check reads the sum of the shards at most every `sum_max_age_s` (one BatchGetItem); between reads it sums
what it knows of each shard (counts only grow within a window, so the highest seen is a lower bound), its writes
in flight or queued, and its unwritten tokens. So one instance never lets through more than the limit; what
other instances admit is seen at the next read or in a shard one of this instance's writes returns, which bounds
the overshoot at what the key's other instances admit in one `sum_max_age_s` interval. Once a window is known to
be spent, refusals cost no call at all.

A store that cannot be read or written fails open: the request is served, the caller is told (`QuotaCheck`)
so that it counts the outage, and it is logged at most once per QUOTA_OUTAGE_LOG_SECONDS.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.dynamodb.client import dynamodb_client
from functions.adapters.dynamodb.schema import QUOTAS
from functions.domain.quotas import QuotaLimits, WindowUsage, check, counter_key, pick_shard, window_of
from functions.domain.thresholds import (
    QUOTA_ITEM_TTL_SECONDS,
    QUOTA_OUTAGE_LOG_SECONDS,
    QUOTA_SHARDS,
    QUOTA_SUM_CACHE_SECONDS,
    QUOTA_WINDOW_SECONDS,
)
from functions.shared.observability import logger

REQUESTS_ATTRIBUTE = "requests"
WRITER_THREADS = 8  # admission writes in flight at once (one per request; the local gateway serves many)
TOKENS_ATTRIBUTE = "tokens"


class QuotaCheck(Enum):
    COUNTED = "counted"  # checked against the window's counters and counted in them
    UNCHECKED = "unchecked"  # the store failed: served without a check (fail open)
    OFF = "off"  # no quota table configured


@dataclass
class _Batch:
    """Requests (and token usage) of one key's window that one write will add."""

    requests: int = 0
    tokens: int = 0
    done: Future[bool] = field(default_factory=Future)


@dataclass
class _Window:
    """What this instance knows of one key's current window. Per shard: a count the shard is known to hold (a
    read, or what one of this instance's writes returned), and this instance's write in flight. This instance
    writes one key's window one write at a time (requests arriving meanwhile join the next write), so what a
    write returns holds every earlier write of this instance and nothing still waiting: the usage is exact for
    this instance's own requests, and concurrent requests of one key cost fewer writes than requests."""

    index: int
    requests: list[int]
    tokens: list[int]
    flight_requests: list[int]
    flight_tokens: list[int]
    queued: _Batch | None = None  # the next write's requests, while one is in flight
    sending: bool = False  # a writer thread is draining this window's batches
    read_at: float = -math.inf
    unwritten_requests: int = 0  # admitted while the store failed: this instance still counts them
    pending_tokens: int = 0  # usage counted here and not yet sent
    pending_since: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def empty(cls, index: int, shards: int) -> _Window:
        return cls(index, [0] * shards, [0] * shards, [0] * shards, [0] * shards)

    def usage(self) -> WindowUsage:
        queued = self.queued or _Batch()
        return WindowUsage(
            requests=sum(self.requests) + sum(self.flight_requests) + queued.requests + self.unwritten_requests,
            tokens=sum(self.tokens) + sum(self.flight_tokens) + queued.tokens + self.pending_tokens,
        )

    def saw(self, shard: int, requests: int, tokens: int) -> None:
        """Counts the shard held (counts only grow within a window: the highest known is kept)."""
        self.requests[shard] = max(self.requests[shard], requests)
        self.tokens[shard] = max(self.tokens[shard], tokens)

    def settling(self, shard: int) -> bool:
        """Whether a write of this instance to `shard` is in flight (a read may or may not hold it)."""
        return self.flight_requests[shard] > 0 or self.flight_tokens[shard] > 0

    def hold_tokens(self, tokens: int, now: float) -> None:
        if tokens > 0:
            self.pending_tokens += tokens
            self.pending_since = now if self.pending_since is None else self.pending_since

    def join(self, requests: int) -> tuple[_Batch, bool]:
        """Under the lock: add `requests` and the pending tokens to the next write; whether the caller must
        start the writer."""
        batch = self.queued = self.queued or _Batch()
        batch.requests += requests
        batch.tokens += self.pending_tokens
        self.pending_tokens, self.pending_since = 0, None
        start, self.sending = not self.sending, True
        return batch, start


@dataclass(frozen=True, slots=True)
class QuotaTicket:
    """An admitted request's counter write, in flight while the request is served."""

    write: Future[bool] | None  # None: no quota table, nothing written
    healthy: bool = True  # the window's sum could be read when it was due

    def outcome(self) -> QuotaCheck:
        """Wait for the write: COUNTED, or UNCHECKED when the store failed (the request is served anyway)."""
        if self.write is None:
            return QuotaCheck.OFF
        try:
            written = self.write.result()
        except Exception:  # a bug in the write must not fail the request it counts
            logger.exception("quota-write-error")
            written = False
        return QuotaCheck.COUNTED if written and self.healthy else QuotaCheck.UNCHECKED


class QuotaCounters:
    def __init__(
        self,
        table: str | None,
        shards: int = QUOTA_SHARDS,
        *,
        window_s: int = QUOTA_WINDOW_SECONDS,
        sum_max_age_s: float = QUOTA_SUM_CACHE_SECONDS,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._table, self._shards, self._window_s = table, max(1, shards), window_s
        self._max_age, self._clock, self._rand = sum_max_age_s, clock, rand
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()
        self._outage_logged_at = -math.inf
        self._pool: ThreadPoolExecutor | None = None

    def admit(self, key_id: str, limits: QuotaLimits) -> QuotaTicket:
        """Count one request of `key_id`, or raise the 429 its limits owe it (`functions.domain.quotas.check`).
        The count's write is made while the request is served (it is counted here at once): the caller waits
        for the ticket's `outcome` before it answers."""
        if self._table is None:
            return QuotaTicket(None)
        now = self._clock()
        window = self._window(key_id, now)
        with window.lock:
            check(limits, window.usage(), now, self._window_s)  # a spent window stays spent: no call
            stale = now - window.read_at >= self._max_age
        healthy = self._refresh(key_id, window, now) if stale else True
        with window.lock:
            check(limits, window.usage(), now, self._window_s)
            batch, start = window.join(1)
        if start:
            self._writer().submit(self._drain, key_id, window)
        return QuotaTicket(batch.done, healthy)

    def add_tokens(self, key_id: str, tokens: int) -> QuotaCheck:
        """Count a served request's token usage against its key's current window: sent with the key's next
        request from this instance, or by `flush_due` once it has waited `sum_max_age_s`."""
        if self._table is None:
            return QuotaCheck.OFF
        now = self._clock()
        window = self._window(key_id, now)
        with window.lock:
            window.hold_tokens(tokens, now)
        return self.flush_due(now)

    def flush_due(self, now: float | None = None) -> QuotaCheck:
        """Send the token usage that has waited `sum_max_age_s` for a next request (one ADD per such key)."""
        now = self._clock() if now is None else now
        with self._lock:
            windows = list(self._windows.items())
        tickets = []
        for key_id, window in windows:
            with window.lock:
                since = window.pending_since
                if since is None or now - since < self._max_age:
                    continue
                batch, start = window.join(0)
            if start:
                self._writer().submit(self._drain, key_id, window)
            tickets.append(QuotaTicket(batch.done))
        outcomes = [ticket.outcome() for ticket in tickets]
        return QuotaCheck.UNCHECKED if QuotaCheck.UNCHECKED in outcomes else QuotaCheck.COUNTED

    def _writer(self) -> ThreadPoolExecutor:
        """The threads that make the counter writes, started on first use (after a SnapStart restore)."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=WRITER_THREADS, thread_name_prefix="quota-write")
            return self._pool

    def _drain(self, key_id: str, window: _Window) -> None:
        """Write the window's batches one after the other until none is left."""
        while True:
            with window.lock:
                batch, window.queued = window.queued, None
                if batch is None:
                    window.sending = False
                    return
                shard = pick_shard(self._rand(), self._shards)
                window.flight_requests[shard] += batch.requests
                window.flight_tokens[shard] += batch.tokens
            try:
                result = self._add(key_id, window.index, shard, batch)
            except Exception:  # a bug: the batch counts as unwritten, its requests are answered
                logger.exception("quota-write-error")
                result = None
            now = self._clock()
            with window.lock:
                window.flight_requests[shard] -= batch.requests
                window.flight_tokens[shard] -= batch.tokens
                if result is None:  # this instance keeps counting them, and the tokens stay pending
                    window.unwritten_requests += batch.requests
                    window.hold_tokens(batch.tokens, now)
                else:
                    window.saw(shard, *result)
            batch.done.set_result(result is not None)

    def _window(self, key_id: str, now: float) -> _Window:
        """The key's state for the window of `now`; a new window starts from nothing (but the token usage still
        pending: it was spent just now)."""
        index = window_of(now, self._window_s)
        with self._lock:
            window = self._windows.get(key_id)
            if window is None or window.index != index:
                fresh = _Window.empty(index, self._shards)
                if window is not None:
                    with window.lock:
                        fresh.hold_tokens(window.pending_tokens, now)
                        window.pending_tokens, window.pending_since = 0, None
                self._windows[key_id] = window = fresh
            return window

    def _refresh(self, key_id: str, window: _Window, now: float) -> bool:
        """Read every shard of the window; False (and the last view kept) if the store cannot answer."""
        keys = [{QUOTAS.partition_key: {"S": counter_key(key_id, window.index, s)}} for s in range(self._shards)]
        try:
            response = dynamodb_client().batch_get_item(
                RequestItems={self._table: {"Keys": keys, "ConsistentRead": False}}
            )
        except (ClientError, BotoCoreError) as exc:
            self._outage("quota-read-failed", exc)
            return False
        with window.lock:
            for item in response.get("Responses", {}).get(self._table, []):
                shard = _shard_of(item)
                if shard is not None and shard < self._shards and not window.settling(shard):
                    window.saw(shard, _count(item, REQUESTS_ATTRIBUTE), _count(item, TOKENS_ATTRIBUTE))
            window.read_at = now
        return True

    def _add(self, key_id: str, index: int, shard: int, batch: _Batch) -> tuple[int, int] | None:
        """ADD the batch to one shard of window `index`: the shard's new request and token counts, None on
        failure."""
        expires = (index + 1) * self._window_s + QUOTA_ITEM_TTL_SECONDS
        try:
            response = dynamodb_client().update_item(
                TableName=self._table,
                Key={QUOTAS.partition_key: {"S": counter_key(key_id, index, shard)}},
                UpdateExpression="ADD #r :r, #t :t SET #e = :e",
                ExpressionAttributeNames={"#r": REQUESTS_ATTRIBUTE, "#t": TOKENS_ATTRIBUTE, "#e": "expires_at"},
                ExpressionAttributeValues={
                    ":r": {"N": str(batch.requests)},
                    ":t": {"N": str(batch.tokens)},
                    ":e": {"N": str(expires)},
                },
                ReturnValues="UPDATED_NEW",
            )
        except (ClientError, BotoCoreError) as exc:
            self._outage("quota-write-failed", exc)
            return None
        attributes = response.get("Attributes") or {}
        return _count(attributes, REQUESTS_ATTRIBUTE), _count(attributes, TOKENS_ATTRIBUTE)

    def _outage(self, event: str, exc: Exception) -> None:
        now = self._clock()
        with self._lock:
            if now - self._outage_logged_at < QUOTA_OUTAGE_LOG_SECONDS:
                return
            self._outage_logged_at = now
        logger.warning(event, extra={"error": type(exc).__name__, "fail_open": True})


def _count(item: dict[str, Any], attribute: str) -> int:
    raw = (item.get(attribute) or {}).get("N")
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


def _shard_of(item: dict[str, Any]) -> int | None:
    key = (item.get(QUOTAS.partition_key) or {}).get("S", "")
    tail = key.rpartition("#")[2]
    return int(tail) if tail.isdigit() else None
