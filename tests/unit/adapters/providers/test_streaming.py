"""What the adapters' streams share: the server-sent events reader and the guard that names a stream's
failure by when it came."""

from __future__ import annotations

import pytest

from functions.adapters.providers.streaming import StreamGuard, StreamTally, sse_data
from functions.domain.completion import StreamEnd, StreamLimits
from functions.domain.errors import ProviderStreamCut, ProviderStreamStalled, ProviderThrottled, ProviderTimeout
from tests.clock import FakeClock

LIMITS = StreamLimits(first_token_s=2.0, idle_s=0.5)


def test_sse_data_yields_each_events_data_across_chunk_boundaries():
    chunks = [b'data: {"a"', b": 1}\n\nda", b"ta: [DONE]\r\n\r\n"]

    assert list(sse_data(chunks)) == ['{"a": 1}', "[DONE]"]


def test_sse_data_joins_data_lines_and_ignores_comments_and_other_fields():
    chunks = [b": keep-alive\n\nevent: message\nid: 7\ndata: one\ndata:two\n\n"]

    assert list(sse_data(chunks)) == ["one\ntwo"]


def test_sse_data_drops_an_event_the_stream_ends_inside():
    assert list(sse_data([b"data: whole\n\ndata: half"])) == ["whole"]


def test_before_the_first_delta_reads_wait_what_is_left_of_the_first_token_limit():
    clock = FakeClock(100.0)
    guard = StreamGuard("meta", LIMITS, clock=clock)
    clock.advance(1.5)

    assert guard.read_timeout() == pytest.approx(0.5)
    clock.advance(0.5)
    with pytest.raises(ProviderTimeout) as caught:
        guard.read_timeout()
    assert type(caught.value) is ProviderTimeout


def test_after_the_first_delta_reads_wait_the_idle_limit_and_a_timeout_is_a_stall():
    clock = FakeClock(100.0)
    guard = StreamGuard("meta", LIMITS, clock=clock)
    guard.commit()
    clock.advance(60)

    assert guard.read_timeout() == LIMITS.idle_s
    assert isinstance(guard.timeout(), ProviderStreamStalled)


def test_a_failure_before_the_commit_is_the_buffered_error_and_after_it_a_cut():
    guard = StreamGuard("bedrock", LIMITS, clock=FakeClock(0.0))
    throttled = ProviderThrottled("bedrock ThrottlingException", provider="bedrock", retry_after=1.0)

    assert guard.failed(throttled) is throttled
    guard.commit()
    cut = guard.failed(throttled)
    assert isinstance(cut, ProviderStreamCut) and "ThrottlingException" in cut.message
    assert isinstance(guard.broken("IncompleteRead", throttled), ProviderStreamCut)


def test_a_tally_keeps_only_counts_that_are_non_negative_integers():
    tally = StreamTally(model="m")
    tally.usage(5, -1)
    tally.usage(True, 3)

    assert tally.end() == StreamEnd(model="m", input_tokens=5, output_tokens=3, terminated=False)
