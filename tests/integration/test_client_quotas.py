"""Per-client-key rate and token quotas through the router on the local stack (moto's Quotas table)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import boto3
import pytest

from functions.adapters.dynamodb.client_keys import ClientKeyStore, hash_key
from functions.adapters.dynamodb.quotas import QuotaCheck, QuotaCounters
from functions.app.chat.wiring import get_dependencies
from functions.domain.errors import ClientRateLimited
from functions.domain.quotas import QuotaLimits, counter_key
from functions.domain.thresholds import QUOTA_WINDOW_SECONDS
from local import metrics_sink
from tests.clock import FakeClock
from tests.support import emf_now, reset_routing_state

BODY = {"model": "m", "messages": [{"role": "user", "content": "How are the providers?"}], "temperature": 0.7}
WINDOW_START = 1_800_000_000 - 1_800_000_000 % QUOTA_WINDOW_SECONDS  # an epoch at a window's start


@pytest.fixture(autouse=True)
def _clean(local_stack) -> Iterator[None]:
    reset_routing_state(local_stack)
    deps = get_dependencies()
    saved = deps.quotas
    yield
    deps.quotas = saved
    reset_routing_state(local_stack)


@pytest.fixture
def clock() -> FakeClock:
    """The quota windows' clock, 10 s into a window, installed in the router's counters."""
    clock = FakeClock(WINDOW_START + 10)
    deps = get_dependencies()
    deps.quotas = QuotaCounters(deps.settings.quotas_table, deps.settings.quota_shards, clock=clock)
    return clock


def _key(client_id: str, **limits: int) -> str:
    return ClientKeyStore(get_dependencies().settings.client_keys_table).create(client_id, **limits)


def _chat(http, key: str, operation: str = "emergency"):
    headers = {"Authorization": f"Bearer {key}", "X-Operation-Type": operation}
    return http.post("/v1/chat/completions", json=BODY, headers=headers)


def _stored(key: str, window: int) -> tuple[int, int]:
    """The requests and tokens of the client key `key`'s window summed over its shard items in the table."""
    return _stored_for(hash_key(key), window)


def _stored_for(key_id: str, window: int) -> tuple[int, int]:
    deps = get_dependencies()
    ddb = boto3.client("dynamodb")
    requests = tokens = 0
    for shard in range(deps.settings.quota_shards):
        item = ddb.get_item(
            TableName=deps.settings.quotas_table,
            Key={"pk": {"S": counter_key(key_id, window, shard)}},
            ConsistentRead=True,
        ).get("Item")
        if item:
            requests += int(item["requests"]["N"])
            tokens += int(item["tokens"]["N"])
    return requests, tokens


def test_a_key_limited_to_5_rpm_gets_its_6th_request_refused_with_retry_after_and_others_are_served(
    http, clock
) -> None:
    # Given a key limited to 5 requests per minute, and another key with the default limits
    limited, other = _key("quota-five", requests_per_minute=5), _key("quota-other")
    metrics_sink.install()
    started = emf_now()
    # When the limited key sends six requests 10 s into a window
    answers = [_chat(http, limited) for _ in range(6)]
    # Then five are served and the sixth is a 429 naming the limit, to retry when the window ends
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    refused = answers[5]
    assert refused.headers["retry-after"] == str(QUOTA_WINDOW_SECONDS - 10)
    error = refused.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "rate_limit_error",
        "client_rate_limited",
        "requests_per_minute",
    )
    assert "5 requests per minute" in error["message"]
    # And it is counted, once
    rejected = [r for r in metrics_sink.STORE.since(started) if "ClientQuotaRejected" in r.values]
    assert [r.values["ClientQuotaRejected"] for r in rejected] == [(1.0,)]
    # And the other key is served meanwhile
    assert _chat(http, other).status_code == 200
    # And the table holds the five counted requests, spread over the window's shards
    assert _stored(limited, WINDOW_START // QUOTA_WINDOW_SECONDS)[0] == 5
    # And the next window serves the limited key again
    clock.advance(QUOTA_WINDOW_SECONDS)
    assert _chat(http, limited).status_code == 200


def test_once_the_window_s_tokens_are_spent_the_next_requests_are_refused(http, clock) -> None:
    # Given a key whose token limit is a little over twice what one answer uses
    probe = _key("quota-token-probe")
    used = _chat(http, probe).json()["usage"]["total_tokens"]
    assert used > 0
    key = _key("quota-tokens", tokens_per_minute=2 * used + 1)
    # When it sends requests until one is refused
    answers = [_chat(http, key) for _ in range(4)]
    # Then three are served (2 x used is still under the limit), the fourth is refused as over its tokens
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    error = answers[3].json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "rate_limit_error",
        "client_token_quota_exceeded",
        "tokens_per_minute",
    )
    assert f"{2 * used + 1} tokens per minute" in error["message"]
    assert answers[3].headers["retry-after"] == str(QUOTA_WINDOW_SECONDS - 10)
    # And the usage reaches the table: the first two answers' tokens rode on the next requests' writes, the
    # third's is written once it has waited the sum's cache interval
    clock.advance(2)
    assert get_dependencies().quotas.flush_due() is QuotaCheck.COUNTED
    assert _stored(key, WINDOW_START // QUOTA_WINDOW_SECONDS) == (3, 3 * used)


def test_16_threads_through_one_router_never_get_more_than_the_limit_served(http, clock) -> None:
    # Given a key limited to 20 requests per minute
    key = _key("quota-threads", requests_per_minute=20)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def send() -> None:
        for _ in range(4):
            status = _chat(http, key).status_code
            with lock:
                statuses[status] += 1

    # When 16 threads send 4 requests each at once
    threads = [threading.Thread(target=send) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly the limit is served (one instance overshoots by nothing, and refuses only a spent window)
    assert sum(statuses.values()) == 64
    assert set(statuses) <= {200, 429}
    assert statuses[200] == 20
    assert _stored(key, WINDOW_START // QUOTA_WINDOW_SECONDS)[0] == statuses[200]


def test_16_threads_over_4_router_instances_overshoot_at_most_what_the_others_have_in_flight(local_stack) -> None:
    # Given four router instances' counters that re-read the sum before every check, and a key of limit 20
    table = get_dependencies().settings.quotas_table
    clock = FakeClock(WINDOW_START + 10)
    shards = get_dependencies().settings.quota_shards
    instances = [QuotaCounters(table, shards, clock=clock, sum_max_age_s=0) for _ in range(4)]
    limits, key_id = QuotaLimits(requests_per_minute=20), "threads-over-instances"
    admitted: Counter[str] = Counter()
    lock = threading.Lock()

    def send(counters: QuotaCounters) -> None:
        for _ in range(8):
            try:
                assert counters.admit(key_id, limits).outcome() is QuotaCheck.COUNTED
            except ClientRateLimited:
                outcome = "refused"
            else:
                outcome = "admitted"
            with lock:
                admitted[outcome] += 1

    # When 4 threads on each instance ask 8 times each
    threads = [threading.Thread(target=send, args=(instances[i % 4],)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then the limit is passed at most by one request in flight per thread of the other instances (12), and the
    # table counts exactly what was admitted
    assert admitted["admitted"] + admitted["refused"] == 128
    assert 20 <= admitted["admitted"] <= 20 + 12
    assert _stored_for(key_id, WINDOW_START // QUOTA_WINDOW_SECONDS)[0] == admitted["admitted"]


def test_a_missing_quota_table_fails_open_counted_in_a_metric_and_logged_once(http, caplog) -> None:
    # Given counters over a table that does not exist, and a key limited to 2 requests per minute
    deps = get_dependencies()
    deps.quotas = QuotaCounters("no-such-quotas-table", 4)
    key = _key("quota-fail-open", requests_per_minute=2)
    metrics_sink.install()
    started = emf_now()
    # When it sends three requests
    with caplog.at_level("WARNING"):
        answers = [_chat(http, key) for _ in range(3)]
    # Then the first two are served unchecked (fail open), each counted; the third is refused by this
    # instance's own count, which it keeps while the store is down
    assert [a.status_code for a in answers] == [200, 200, 429]
    unavailable = [r for r in metrics_sink.STORE.since(started) if "ClientQuotaUnavailable" in r.values]
    assert sum(r.values["ClientQuotaUnavailable"][0] for r in unavailable) >= 2
    # And the outage is logged once for the interval, not per request
    outages = [r for r in caplog.records if r.getMessage() in ("quota-read-failed", "quota-write-failed")]
    assert len(outages) == 1


def test_streamed_requests_count_against_the_same_request_and_token_quotas(http, clock) -> None:
    # Given a key whose token limit is a little over twice what one streamed answer uses, and 5 requests a minute
    probe = _key("quota-stream-probe")
    first = http.post(
        "/v1/chat/completions",
        json={**BODY, "stream": True, "stream_options": {"include_usage": True}},
        headers={"Authorization": f"Bearer {probe}", "X-Operation-Type": "emergency"},
    )
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/event-stream")
    usage = [line for line in first.text.splitlines() if '"usage": {' in line or '"usage":{' in line]
    assert usage, first.text
    key = _key("quota-stream", requests_per_minute=5)

    def stream(client_key: str):
        headers = {"Authorization": f"Bearer {client_key}", "X-Operation-Type": "emergency"}
        return http.post("/v1/chat/completions", json={**BODY, "stream": True}, headers=headers)

    # When the limited key streams six times in one window
    answers = [stream(key) for _ in range(6)]
    # Then five streams are served and the sixth is refused before any byte of a stream, as a JSON 429
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert answers[5].headers["content-type"].startswith("application/json")
    assert answers[5].json()["error"]["code"] == "client_rate_limited"
    assert answers[5].headers["retry-after"] == str(QUOTA_WINDOW_SECONDS - 10)
    # And the streamed answers' tokens reach the key's window, as a buffered answer's do
    clock.advance(2)
    get_dependencies().quotas.flush_due()
    requests, tokens = _stored(key, WINDOW_START // QUOTA_WINDOW_SECONDS)
    assert requests == 5 and tokens > 0
