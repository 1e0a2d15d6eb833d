"""Per-client-key quotas: requests and tokens per fixed window, counted in sharded counters.

Pure: the window arithmetic, the verdict on a window's usage, the shard count and the key of a counter item.
The counters themselves live in functions/adapters/dynamodb/quotas.py; the router asks it before serving
(`ClientRateLimited`, `ClientTokenQuotaExceeded`: 429 with Retry-After to the window's end)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from functions.domain.errors import ClientRateLimited, ClientTokenQuotaExceeded
from functions.domain.thresholds import (
    CLIENT_REQUESTS_PER_MINUTE,
    CLIENT_TOKENS_PER_MINUTE,
    QUOTA_WINDOW_SECONDS,
)

# The attributes of a client key's item that carry its own limits, and the name each limit has in a 429.
REQUESTS_LIMIT = "requests_per_minute"
TOKENS_LIMIT = "tokens_per_minute"


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    requests_per_minute: int = CLIENT_REQUESTS_PER_MINUTE
    tokens_per_minute: int = CLIENT_TOKENS_PER_MINUTE

    def for_item(self, item: dict[str, Any]) -> QuotaLimits:
        """A key item's own limits, these (the defaults) for any it does not carry, or carries unusable."""
        return QuotaLimits(
            requests_per_minute=_limit(item.get(REQUESTS_LIMIT), self.requests_per_minute),
            tokens_per_minute=_limit(item.get(TOKENS_LIMIT), self.tokens_per_minute),
        )


DEFAULT_LIMITS = QuotaLimits()


def _limit(value: Any, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return number if number > 0 else default


@dataclass(frozen=True, slots=True)
class WindowUsage:
    """What a key has used of one window, as far as this instance knows."""

    requests: int
    tokens: int


def window_of(now: float, window_s: int = QUOTA_WINDOW_SECONDS) -> int:
    """The index of the fixed window holding epoch `now`."""
    return int(now // window_s)


def seconds_left(now: float, window_s: int = QUOTA_WINDOW_SECONDS) -> int:
    """Whole seconds from `now` to the end of its window, at least 1 (a Retry-After)."""
    end = (window_of(now, window_s) + 1) * window_s
    return max(1, math.ceil(end - now))


def check(limits: QuotaLimits, used: WindowUsage, now: float, window_s: int = QUOTA_WINDOW_SECONDS) -> None:
    """Raise the 429 owed to a request whose key has used `used` of the window at `now`: the request limit
    once `used.requests` reached it (this request would pass it), the token limit once the window's tokens
    are spent."""
    wait = seconds_left(now, window_s)
    requests, tokens = limits.requests_per_minute, limits.tokens_per_minute
    refusals: tuple[tuple[bool, type[ClientRateLimited], str, str], ...] = (
        (
            used.requests >= requests,
            ClientRateLimited,
            REQUESTS_LIMIT,
            f"sent its limit of {requests} requests per minute",
        ),
        (
            used.tokens >= tokens,
            ClientTokenQuotaExceeded,
            TOKENS_LIMIT,
            f"spent its limit of {tokens} tokens per minute ({used.tokens} used)",
        ),
    )
    for spent, error, limit, what in refusals:
        if spent:
            raise error(
                f"this client key {what}; retry after {wait} s, when the window ends",
                retry_after=wait,
                param=limit,
            )


def pick_shard(rand: float, shards: int) -> int:
    """The shard a write goes to, for a uniform `rand` in [0, 1)."""
    return min(shards - 1, int(rand * shards))


def counter_key(key_id: str, window: int, shard: int) -> str:
    """The partition key of one shard of a key's window: `quota#<key digest>#<window>#<shard>`."""
    return f"quota#{key_id}#{window}#{shard}"
