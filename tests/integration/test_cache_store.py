"""The response cache over moto's DynamoDB: LRU first, the shared table next, never an error."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber

from functions.adapters import aws
from functions.adapters.dynamodb.cache import ResponseCache
from functions.adapters.dynamodb.client import dynamodb_client
from functions.adapters.dynamodb.schema import CACHE
from functions.domain.models import ChatCompletionResponse
from functions.domain.routing.cache import CachedResponse
from local.tables import create_tables
from tests.support import unique_prefix, use_local_moto

FRESH, STALE = 60.0, 600.0
T0 = 1_700_000_000.0


@pytest.fixture
def tables(monkeypatch, local_stack) -> Iterator[dict[str, str]]:
    """moto in process, our tables created from the stack's schemas; fresh clients inside the mock."""
    use_local_moto(monkeypatch, local_stack)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    _clear_clients()
    yield create_tables(boto3.client("dynamodb", region_name="us-east-1"), prefix=unique_prefix())
    _clear_clients()


def _clear_clients() -> None:
    dynamodb_client.cache_clear()
    aws.client.cache_clear()
    aws.session.cache_clear()


def _entry(content: str = "ok", stored_at: float = T0, padding: int = 0) -> CachedResponse:
    response = ChatCompletionResponse.model_validate(
        {
            "id": "chatcmpl-1",
            "created": int(stored_at),
            "model": "anthropic.claude-3-haiku-20240307-v1:0",
            "choices": [{"message": {"content": content + "x" * padding}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
    )
    return CachedResponse.of(response, provider="bedrock", route="direct", now=stored_at, fresh_for_s=FRESH)


def _cache(table: str | None, lru_size: int = 8) -> ResponseCache:
    return ResponseCache(table, lru_size=lru_size, fresh_ttl_s=FRESH, stale_ttl_s=STALE, clock=lambda: T0)


def _stored(table: str, key: str) -> dict | None:
    return boto3.client("dynamodb").get_item(TableName=table, Key={CACHE.partition_key: {"S": key}}).get("Item")


def test_a_stored_answer_is_served_from_memory_without_reading_the_table(tables):
    # Given an answer put in the cache
    cache = _cache(tables["CACHE_TABLE"])
    cache.put("k", _entry("from memory"))
    # When the table is unreachable (every DynamoDB call would fail) and the answer is asked for
    with Stubber(dynamodb_client()):  # no responses queued: any call would raise
        found = cache.get("k", T0 + 1)
    # Then it comes from the LRU
    assert found is not None
    assert found.response().choices[0].message.content == "from memory"
    assert cache.stats().hits == 1


def test_an_answer_evicted_from_memory_is_read_back_from_dynamodb(tables):
    # Given a one-entry LRU, and two answers put in turn
    cache = _cache(tables["CACHE_TABLE"], lru_size=1)
    cache.put("first", _entry("first answer"))
    cache.put("second", _entry("second answer"))
    # When the evicted one is asked for
    found = cache.get("first", T0 + 1)
    # Then DynamoDB has it, with its provenance and body intact
    assert found == _entry("first answer")


def test_another_instance_reads_what_one_instance_stored(tables):
    _cache(tables["CACHE_TABLE"]).put("k", _entry("shared"))
    found = _cache(tables["CACHE_TABLE"]).get("k", T0 + 1)
    assert found is not None and found.body["choices"][0]["message"]["content"] == "shared"


def test_the_item_carries_the_ttl_attribute_past_the_fresh_and_stale_windows(tables):
    _cache(tables["CACHE_TABLE"]).put("k", _entry())
    item = _stored(tables["CACHE_TABLE"], "k")
    assert item is not None
    assert int(item["expires_at"]["N"]) == int(T0 + FRESH + STALE)
    assert float(item["fresh_until"]["N"]) == T0 + FRESH


def test_a_stale_answer_is_a_miss_unless_stale_answers_are_allowed(tables):
    # Given an answer past its freshness but within the stale window, in a new instance (table only)
    _cache(tables["CACHE_TABLE"]).put("k", _entry())
    cache = _cache(tables["CACHE_TABLE"])
    later = T0 + FRESH + 1
    # Then a normal lookup misses, and a degraded-mode lookup gets it
    assert cache.get("k", later) is None
    assert cache.get("k", later, allow_stale=True) == _entry()
    assert (cache.stats().misses, cache.stats().stale_hits, cache.stats().hits) == (1, 1, 0)


def test_a_stale_answer_in_memory_is_also_served_only_when_allowed(tables):
    cache = _cache(None)
    cache.put("k", _entry())
    assert cache.get("k", T0 + FRESH) is None
    assert cache.get("k", T0 + FRESH, allow_stale=True) is not None


def test_an_answer_past_the_stale_window_is_never_served(tables):
    # Given DynamoDB TTL has not yet deleted an expired item
    cache = _cache(tables["CACHE_TABLE"])
    cache.put("k", _entry())
    # Then even degraded mode does not serve it
    assert cache.get("k", T0 + FRESH + STALE, allow_stale=True) is None


def test_a_fresher_answer_in_the_table_replaces_a_stale_one_in_memory(tables):
    # Given this instance remembers a stale answer and another instance stored a new one
    cache = _cache(tables["CACHE_TABLE"])
    cache.put("k", _entry("old"))
    _cache(tables["CACHE_TABLE"]).put("k", _entry("new", stored_at=T0 + FRESH))
    # When it is asked for after the old one went stale
    found = cache.get("k", T0 + FRESH + 1)
    # Then the new one is served as a fresh hit
    assert found is not None and found.body["choices"][0]["message"]["content"] == "new"


def test_an_oversized_answer_stays_in_memory_and_is_not_written(tables):
    # Given an answer of about 400 KB
    cache = _cache(tables["CACHE_TABLE"])
    cache.put("big", _entry(padding=400_000))
    # Then the table has no item, and this instance still serves it
    assert _stored(tables["CACHE_TABLE"], "big") is None
    assert cache.get("big", T0 + 1) is not None


def test_an_answer_just_under_the_limit_is_written(tables):
    _cache(tables["CACHE_TABLE"]).put("large", _entry(padding=300_000))
    assert _stored(tables["CACHE_TABLE"], "large") is not None


def test_a_throttled_read_is_a_miss_not_an_error(tables):
    # Given DynamoDB throttles every read
    cache = _cache(tables["CACHE_TABLE"])
    with Stubber(dynamodb_client()) as stub:
        for _ in range(3):  # the client's standard retry mode tries three times
            stub.add_client_error("get_item", "ProvisionedThroughputExceededException", http_status_code=400)
        # When an answer is asked for
        found = cache.get("k", T0)
    # Then it is a miss
    assert found is None
    assert cache.stats().misses == 1


def test_a_failed_write_is_swallowed_and_the_answer_is_still_served_from_memory(tables):
    cache = _cache(tables["CACHE_TABLE"])
    with Stubber(dynamodb_client()) as stub:
        for _ in range(3):
            stub.add_client_error("put_item", "ProvisionedThroughputExceededException", http_status_code=400)
        cache.put("k", _entry())
    assert cache.get("k", T0 + 1) is not None


def test_a_missing_table_is_a_miss_and_a_lost_write(tables):
    cache = _cache("no-such-table")
    cache.put("k", _entry())
    assert _cache("no-such-table").get("k", T0) is None


def test_an_unreadable_item_is_a_miss(tables):
    # Given an item someone wrote by hand without a body
    boto3.client("dynamodb").put_item(
        TableName=tables["CACHE_TABLE"], Item={"pk": {"S": "k"}, "provider": {"S": "bedrock"}}
    )
    assert _cache(tables["CACHE_TABLE"]).get("k", T0) is None


def test_without_a_table_the_cache_works_in_memory_only(tables):
    cache = _cache(None, lru_size=1)
    cache.put("a", _entry())
    cache.put("b", _entry())
    assert cache.get("b", T0) is not None
    assert cache.get("a", T0) is None


def test_the_hit_rate_counts_fresh_and_stale_hits_over_all_lookups(tables):
    cache = _cache(None)
    cache.put("k", _entry())
    cache.get("k", T0)
    cache.get("k", T0 + FRESH, allow_stale=True)
    cache.get("missing", T0)
    cache.get("missing", T0)
    stats = cache.stats()
    assert (stats.hits, stats.stale_hits, stats.misses) == (1, 1, 2)
    assert stats.hit_rate == pytest.approx(0.5)


def test_the_entry_factory_stamps_the_clock_and_the_fresh_ttl(tables):
    entry = _cache(None).entry(_entry().response(), provider="mcp", route="mcp")
    assert (entry.stored_at, entry.fresh_until, entry.provider) == (T0, T0 + FRESH, "mcp")
