"""Each adapter's native `stream()` against the local simulators, over HTTP, for every stream fault
mode: the events it yields and the typed errors it raises (before the first delta as the buffered path
does, after it a cut or a stall)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urllib3

from functions.adapters.providers.bedrock import BedrockProvider
from functions.adapters.providers.google import GoogleProvider
from functions.adapters.providers.mcp import McpProvider
from functions.adapters.providers.meta import LlamaApiProvider
from functions.domain.completion import (
    CompletionRequest,
    MalformedEvent,
    StreamEnd,
    StreamEvent,
    StreamingProvider,
    StreamLimits,
    TextDelta,
    Turn,
)
from functions.domain.errors import (
    ContentFiltered,
    ContextLengthExceeded,
    ProviderConnectionReset,
    ProviderError,
    ProviderResponseInvalid,
    ProviderStreamCut,
    ProviderStreamStalled,
    ProviderThrottled,
    ProviderTimeout,
    ProviderUnavailable,
)
from local.faults import FaultSpec

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
REQUEST = CompletionRequest(turns=(Turn("user", "What is the capital of France?"),), system=("Answer briefly.",))
LIMITS = StreamLimits(first_token_s=5.0, idle_s=5.0)
SHORT = StreamLimits(first_token_s=0.5, idle_s=0.5)
STALL = StreamLimits(first_token_s=5.0, idle_s=0.5)


pytestmark = pytest.mark.usefixtures("fake_aws_credentials")


def bedrock(sims: Any, http: urllib3.PoolManager | None = None) -> BedrockProvider:
    return BedrockProvider(MODEL_ID, region="eu-central-1", endpoint_url=sims.bedrock_endpoint_url)


def google(sims: Any, http: urllib3.PoolManager | None = None) -> GoogleProvider:
    return GoogleProvider("gemini-2.0-flash", lambda: "key", f"{sims.server.url}/google", http=http)


def meta(sims: Any, http: urllib3.PoolManager | None = None) -> LlamaApiProvider:
    return LlamaApiProvider("Llama-4-Maverick", lambda: "key", f"{sims.server.url}/meta", http=http)


ADAPTERS: list[Callable[..., StreamingProvider]] = [bedrock, google, meta]
by_adapter = pytest.mark.parametrize("make_provider", ADAPTERS, ids=lambda f: f.__name__)


def fault(make_provider: Callable[..., StreamingProvider], **settings: Any) -> FaultSpec:
    return FaultSpec(provider=make_provider.__name__, **settings)


def read(events: Iterator[StreamEvent], into: list[StreamEvent]) -> list[StreamEvent]:
    """Every event of `events`, kept in `into` as they come (so a test sees those before an error)."""
    for event in events:
        into.append(event)
    return into


def text_of(events: list[StreamEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


def deltas(events: list[StreamEvent]) -> int:
    return sum(isinstance(event, TextDelta) for event in events)


@by_adapter
def test_a_stream_reassembles_the_buffered_answer_and_ends_with_its_usage(provider_simulators, make_provider):
    provider = make_provider(provider_simulators)
    buffered = provider.complete(REQUEST, timeout_s=5)

    events = read(provider.stream(REQUEST, LIMITS), [])

    assert text_of(events) == buffered.text
    assert deltas(events) == len(buffered.text.split())
    assert events[-1] == StreamEnd(
        model=buffered.model,
        finish_reason="stop",
        input_tokens=buffered.input_tokens,
        output_tokens=buffered.output_tokens,
        terminated=True,
    )
    assert not any(isinstance(event, MalformedEvent) for event in events)


@by_adapter
def test_max_tokens_ends_the_stream_with_length(provider_simulators, make_provider):
    events = read(make_provider(provider_simulators).stream(CompletionRequest(REQUEST.turns, max_tokens=3), LIMITS), [])

    assert deltas(events) == 3
    assert isinstance(events[-1], StreamEnd) and events[-1].finish_reason == "length"
    assert events[-1].output_tokens == 3


FAILURES: list[tuple[dict[str, Any], StreamLimits, type[ProviderError], int]] = [
    # fault settings, limits, the error raised, the deltas yielded before it
    ({"mode": "slow_first_token", "first_token_delay_ms": 2000}, SHORT, ProviderTimeout, 0),
    ({"mode": "hang"}, SHORT, ProviderTimeout, 0),
    ({"mode": "cut", "after_tokens": 3}, LIMITS, ProviderStreamCut, 3),
    ({"mode": "cut", "after_tokens": 0}, LIMITS, ProviderResponseInvalid, 0),  # as a buffered body cut short
    ({"mode": "stall", "after_tokens": 2, "stall_ms": 3000}, STALL, ProviderStreamStalled, 2),
    ({"mode": "error", "in_stream": True, "after_tokens": 3, "status": 429}, LIMITS, ProviderStreamCut, 3),
    ({"mode": "error", "in_stream": True, "after_tokens": 3, "status": 503}, LIMITS, ProviderStreamCut, 3),
    ({"mode": "reset"}, LIMITS, ProviderConnectionReset, 0),
    # the provider's own refusal in place of the stream
    ({"mode": "error", "error_code": "context_length_exceeded"}, LIMITS, ContextLengthExceeded, 0),
    ({"mode": "error", "error_code": "content_filter"}, LIMITS, ContentFiltered, 0),
]


@by_adapter
@pytest.mark.parametrize(("settings", "limits", "error", "sent"), FAILURES, ids=lambda v: str(v))
def test_a_failing_stream_raises_its_error_after_the_text_it_sent(
    provider_simulators, make_provider, settings, limits, error, sent
):
    provider_simulators.faults.set(fault(make_provider, **settings))
    seen: list[StreamEvent] = []

    with pytest.raises(error) as caught:
        read(make_provider(provider_simulators).stream(REQUEST, limits), seen)

    assert type(caught.value) is error  # a timeout before the commit is no stall, a cut no reset
    assert deltas(seen) == sent
    assert not any(isinstance(event, StreamEnd) for event in seen)


WITHIN_LIMITS = [
    {"mode": "slow_first_token", "first_token_delay_ms": 300},
    {"mode": "stall", "after_tokens": 2, "stall_ms": 200},
    {"error_rate": 0.0, "latency_ms": 100},
]


@by_adapter
@pytest.mark.parametrize("settings", WITHIN_LIMITS, ids=lambda v: str(v))
def test_a_delay_within_the_limits_streams_the_whole_answer(provider_simulators, make_provider, settings):
    provider = make_provider(provider_simulators)
    expected = provider.complete(REQUEST, timeout_s=5).text
    provider_simulators.faults.set(fault(make_provider, **settings))

    events = read(provider.stream(REQUEST, LIMITS), [])

    assert text_of(events) == expected
    assert isinstance(events[-1], StreamEnd) and events[-1].terminated


@by_adapter
def test_a_malformed_event_is_reported_once_and_the_rest_of_the_answer_follows(provider_simulators, make_provider):
    provider = make_provider(provider_simulators)
    expected = provider.complete(REQUEST, timeout_s=5).text
    provider_simulators.faults.set(fault(make_provider, mode="malformed_chunk", after_tokens=2))

    events = read(provider.stream(REQUEST, LIMITS), [])

    assert text_of(events) == expected
    malformed = [index for index, event in enumerate(events) if isinstance(event, MalformedEvent)]
    assert len(malformed) == 1 and deltas(events[: malformed[0]]) == 2
    assert isinstance(events[-1], StreamEnd) and events[-1].terminated


@by_adapter
def test_a_stream_without_its_terminator_ends_unterminated_with_the_whole_text(provider_simulators, make_provider):
    provider = make_provider(provider_simulators)
    expected = provider.complete(REQUEST, timeout_s=5).text
    provider_simulators.faults.set(fault(make_provider, mode="no_done"))

    events = read(provider.stream(REQUEST, LIMITS), [])

    assert text_of(events) == expected
    assert events[-1] == StreamEnd(model=events[-1].model, terminated=False)  # type: ignore[union-attr]


IN_STREAM_ERRORS: list[tuple[dict[str, Any], type[ProviderError]]] = [
    ({"status": 429}, ProviderThrottled),
    ({"status": 503}, ProviderUnavailable),
    ({"status": 500}, ProviderUnavailable),
    ({"error_code": "context_length_exceeded"}, ContextLengthExceeded),
    ({"error_code": "content_filter"}, ContentFiltered),
]


@by_adapter
@pytest.mark.parametrize(("settings", "error"), IN_STREAM_ERRORS, ids=lambda v: str(v))
def test_an_in_stream_error_before_any_text_maps_as_on_the_buffered_path(
    provider_simulators, make_provider, settings, error
):
    provider_simulators.faults.set(fault(make_provider, mode="error", in_stream=True, after_tokens=0, **settings))

    with pytest.raises(error) as caught:
        read(make_provider(provider_simulators).stream(REQUEST, LIMITS), [])

    assert type(caught.value) is error


def test_bedrock_sends_a_model_stream_error_as_the_424_exception(provider_simulators):
    provider_simulators.faults.set(
        FaultSpec(provider="bedrock", mode="error", in_stream=True, after_tokens=0, status=424)
    )

    with pytest.raises(ProviderUnavailable) as caught:
        read(bedrock(provider_simulators).stream(REQUEST, LIMITS), [])

    assert "ModelStreamErrorException" in caught.value.message


@by_adapter
def test_an_error_status_before_the_stream_is_raised_from_the_iterator(provider_simulators, make_provider):
    provider_simulators.faults.set(fault(make_provider, status=429, retry_after_s=2))

    events = make_provider(provider_simulators).stream(REQUEST, LIMITS)  # nothing is sent yet
    with pytest.raises(ProviderThrottled) as caught:
        next(events)

    assert caught.value.retry_after == 2


@by_adapter
def test_every_stream_attempt_is_in_the_attempts_log(provider_simulators, make_provider):
    provider = make_provider(provider_simulators)
    read(provider.stream(REQUEST, LIMITS), [])
    provider_simulators.faults.set(fault(make_provider, mode="cut", after_tokens=1))
    with pytest.raises(ProviderStreamCut):
        read(provider.stream(REQUEST, LIMITS), [])

    outcomes = [attempt.outcome for attempt in provider_simulators.faults.attempts(make_provider.__name__)]

    assert outcomes[-1] == "cut"


@pytest.mark.parametrize("make_provider", [google, meta], ids=lambda f: f.__name__)
def test_closing_a_stream_mid_way_closes_its_connection(provider_simulators, make_provider):
    http = urllib3.PoolManager(retries=False)
    provider = make_provider(provider_simulators, http)
    provider_simulators.faults.set(fault(make_provider, mode="stall", after_tokens=2, stall_ms=10_000))
    events = provider.stream(REQUEST, LIMITS)
    assert isinstance(next(events), TextDelta)
    pool = http.connection_from_url(provider_simulators.server.url)

    events.close()

    assert [conn.sock for conn in list(pool.pool.queue) if conn is not None] == [None]
    provider_simulators.faults.clear()
    assert text_of(read(provider.stream(REQUEST, LIMITS), [])).startswith("Simulated answer")


@pytest.mark.parametrize("make_provider", [google, meta], ids=lambda f: f.__name__)
def test_a_stream_read_to_its_end_leaves_its_connection_for_the_next_request(provider_simulators, make_provider):
    http = urllib3.PoolManager(retries=False)
    provider = make_provider(provider_simulators, http)

    read(provider.stream(REQUEST, LIMITS), [])
    pool = http.connection_from_url(provider_simulators.server.url)

    assert [conn.sock is not None for conn in list(pool.pool.queue) if conn is not None] == [True]


# --- MCP: the tool's progress notifications ----------------------------------------------------
def mcp(sims: Any) -> McpProvider:
    return McpProvider(server_url=sims.mcp_url, tool_name="generate")


def test_mcp_streams_the_tools_progress_messages_then_the_results_end(provider_simulators):
    provider = mcp(provider_simulators)
    buffered = provider.complete(REQUEST, timeout_s=5)

    events = read(provider.stream(REQUEST, LIMITS), [])

    assert deltas(events) == len(buffered.text.split())  # a progress message for each word
    assert text_of(events) == buffered.text
    assert events[-1] == StreamEnd(
        model=buffered.model,
        input_tokens=buffered.input_tokens,
        output_tokens=buffered.output_tokens,
        finish_reason="stop",
        terminated=True,
    )


MCP_FAILURES: list[tuple[dict[str, Any], StreamLimits, type[ProviderError], int]] = [
    ({"mode": "slow_first_token", "first_token_delay_ms": 2000}, SHORT, ProviderTimeout, 0),
    ({"mode": "hang"}, SHORT, ProviderTimeout, 0),
    ({"mode": "stall", "after_tokens": 2, "stall_ms": 3000}, STALL, ProviderStreamStalled, 2),
    ({"mode": "cut", "after_tokens": 3}, LIMITS, ProviderStreamCut, 3),
    # The SDK ends a call on an event it cannot parse, and tells no end without the result from a cut.
    ({"mode": "malformed_chunk", "after_tokens": 2}, LIMITS, ProviderStreamCut, 2),
    ({"mode": "no_done"}, LIMITS, ProviderStreamCut, 13),
    ({"mode": "error", "in_stream": True, "after_tokens": 3}, LIMITS, ProviderStreamCut, 3),
    ({"mode": "error", "in_stream": True, "after_tokens": 0}, LIMITS, ProviderUnavailable, 0),
    ({"mode": "error", "status": 429}, LIMITS, ProviderThrottled, 0),
    ({"mode": "error", "error_code": "context_length_exceeded"}, LIMITS, ContextLengthExceeded, 0),
    ({"mode": "reset"}, LIMITS, ProviderConnectionReset, 0),
]


@pytest.mark.parametrize(("settings", "limits", "error", "sent"), MCP_FAILURES, ids=lambda v: str(v))
def test_a_failing_mcp_stream_raises_its_error_after_the_text_it_sent(
    provider_simulators, settings, limits, error, sent
):
    provider_simulators.faults.set(FaultSpec(provider="mcp", **settings))
    seen: list[StreamEvent] = []

    with pytest.raises(error) as caught:
        read(mcp(provider_simulators).stream(REQUEST, limits), seen)

    assert type(caught.value) is error
    assert deltas(seen) == sent


@pytest.mark.parametrize("make_provider", [bedrock, mcp], ids=lambda f: f.__name__)
def test_closing_a_stream_mid_way_lets_the_next_stream_run(provider_simulators, make_provider):
    provider = make_provider(provider_simulators)
    provider_simulators.faults.set(fault(make_provider, mode="stall", after_tokens=2, stall_ms=10_000))
    events = provider.stream(REQUEST, LIMITS)
    assert isinstance(next(events), TextDelta)

    events.close()

    provider_simulators.faults.clear()
    assert text_of(read(provider.stream(REQUEST, LIMITS), [])).startswith("Simulated answer")
