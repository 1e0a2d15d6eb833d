"""The quota arithmetic: windows, verdicts, shards, a key item's own limits."""

from __future__ import annotations

import math

import pytest

from functions.domain.errors import ClientRateLimited, ClientTokenQuotaExceeded
from functions.domain.quotas import DEFAULT_LIMITS, QuotaLimits, WindowUsage, check, pick_shard, seconds_left
from functions.domain.thresholds import (
    API_THROTTLING_BURST_LIMIT,
    API_THROTTLING_RATE_LIMIT,
    CLIENT_REQUESTS_PER_MINUTE,
    DYNAMODB_ITEM_WRITES_PER_SECOND,
    QUOTA_SHARDS,
    QUOTA_WRITES_PER_REQUEST,
    quota_shards,
)

START = 1_800_000_000 - 1_800_000_000 % 60


def test_retry_after_is_the_whole_seconds_to_the_window_s_end_and_never_zero():
    assert seconds_left(START + 0.0) == 60
    assert seconds_left(START + 10.2) == 50
    assert seconds_left(START + 59.99) == 1


def test_the_request_limit_refuses_once_reached_naming_the_limit_and_the_wait():
    limits = QuotaLimits(requests_per_minute=5, tokens_per_minute=100)
    check(limits, WindowUsage(requests=4, tokens=0), START + 15)  # the fifth is let through
    with pytest.raises(ClientRateLimited) as refused:
        check(limits, WindowUsage(requests=5, tokens=0), START + 15)
    error = refused.value
    assert (error.status, error.error_type, error.code, error.param) == (
        429,
        "rate_limit_error",
        "client_rate_limited",
        "requests_per_minute",
    )
    assert error.retry_after == 45 and "5 requests per minute" in error.message


def test_the_token_limit_refuses_the_next_request_once_the_window_s_tokens_are_spent():
    limits = QuotaLimits(requests_per_minute=5, tokens_per_minute=100)
    check(limits, WindowUsage(requests=1, tokens=99), START)
    with pytest.raises(ClientTokenQuotaExceeded) as refused:
        check(limits, WindowUsage(requests=1, tokens=130), START)
    assert (refused.value.code, refused.value.param) == ("client_token_quota_exceeded", "tokens_per_minute")
    assert "100 tokens per minute (130 used)" in refused.value.message


def test_a_key_item_s_own_limits_replace_the_defaults_and_unusable_ones_are_ignored():
    own = DEFAULT_LIMITS.for_item({"requests_per_minute": 5, "tokens_per_minute": "900"})
    assert own == QuotaLimits(5, 900)
    assert DEFAULT_LIMITS.for_item({"requests_per_minute": 0, "tokens_per_minute": "lots"}) == DEFAULT_LIMITS
    assert DEFAULT_LIMITS.requests_per_minute == CLIENT_REQUESTS_PER_MINUTE
    assert CLIENT_REQUESTS_PER_MINUTE < API_THROTTLING_RATE_LIMIT * 60  # one key cannot take the whole stage


def test_the_shard_count_keeps_every_item_under_half_a_partition_s_writes_at_the_stage_s_rate():
    for rate, burst in ((API_THROTTLING_RATE_LIMIT, API_THROTTLING_BURST_LIMIT), (1_000, 2_000), (10, 20)):
        shards = quota_shards(rate, burst)
        assert QUOTA_WRITES_PER_REQUEST * (rate + burst) / shards <= DYNAMODB_ITEM_WRITES_PER_SECOND / 2
    assert QUOTA_SHARDS == quota_shards(API_THROTTLING_RATE_LIMIT, API_THROTTLING_BURST_LIMIT) >= 2
    assert quota_shards(1_000, 2_000) == math.ceil(2 * 3_000 / 500)


def test_a_shard_is_picked_uniformly_and_always_in_range():
    assert [pick_shard(r, 4) for r in (0.0, 0.24, 0.25, 0.99, 0.999999)] == [0, 0, 1, 3, 3]
    assert pick_shard(1.0, 4) == 3
