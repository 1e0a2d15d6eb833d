"""The snapshot's cache settings: every field the admin API stores is parsed, and an unusable TTL is
left to the router's own (never applied as a wrong value)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from functions.adapters.dynamodb.schema import CONTROL_KEYS, SNAPSHOT_KEYS
from functions.adapters.dynamodb.snapshot import CacheSettings, _cache_settings


def test_the_stored_fresh_and_stale_ttls_are_both_parsed():
    stored = {"mode": "off", "freshTtlSeconds": Decimal("1"), "staleTtlSeconds": 30, "serveStale": False}
    assert _cache_settings(stored) == CacheSettings(mode="off", fresh_ttl_s=1.0, stale_ttl_s=30.0, serve_stale=False)


@pytest.mark.parametrize("value", [None, "60", True, -1])
def test_a_ttl_that_is_not_a_non_negative_number_is_left_to_the_router(value):
    settings = _cache_settings({"freshTtlSeconds": value, "staleTtlSeconds": value})
    assert (settings.fresh_ttl_s, settings.stale_ttl_s) == (None, None)


def test_the_snapshot_reads_control_items_only_and_every_control_item_is_known_to_the_schema():
    assert set(SNAPSHOT_KEYS) < set(CONTROL_KEYS) and len(set(CONTROL_KEYS)) == len(CONTROL_KEYS)
