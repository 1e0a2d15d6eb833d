"""The Llama API and Gemini adapters' `stream()` over a scripted urllib3 pool: the request they send and
how each chunk shape maps to stream events or errors."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import urllib3

from functions.adapters.providers.google import GoogleProvider
from functions.adapters.providers.meta import LlamaApiProvider
from functions.domain.completion import (
    CompletionRequest,
    MalformedEvent,
    StreamEnd,
    StreamEvent,
    StreamLimits,
    TextDelta,
    Turn,
)
from functions.domain.errors import (
    ContentFiltered,
    ProviderResponseInvalid,
    ProviderStreamCut,
    ProviderThrottled,
    ProviderUnavailable,
)
from tests.unit.fakes import ScriptedPool, answer

REQUEST = CompletionRequest(turns=(Turn("user", "Hello"),), max_tokens=20)
LIMITS = StreamLimits(first_token_s=5.0, idle_s=5.0)


def sse_answer(*events: object) -> urllib3.HTTPResponse:
    """A 200 whose body is `events` as server-sent events (a str as it is, else as JSON), not yet read."""
    body = b"".join(f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n".encode() for e in events)
    headers = {"content-type": "text/event-stream"}
    return urllib3.HTTPResponse(body=io.BytesIO(body), status=200, headers=headers, preload_content=False)


def meta(pool: ScriptedPool) -> LlamaApiProvider:
    return LlamaApiProvider("Llama-4", api_key=lambda: "k", endpoint_url="https://llama.test/compat/v1", http=pool)


def google(pool: ScriptedPool) -> GoogleProvider:
    return GoogleProvider("gemini-2.0-flash", api_key=lambda: "k", endpoint_url="https://g.test", http=pool)


def chunk(content: str | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


def gemini(text: str | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"index": 0}
    if text is not None:
        candidate["content"] = {"role": "model", "parts": [{"text": text}]}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], **extra}


def events_of(provider: Any) -> list[StreamEvent]:
    return list(provider.stream(REQUEST, LIMITS))


def test_meta_asks_for_a_stream_with_usage_and_accepts_server_sent_events():
    pool = ScriptedPool(sse_answer(chunk("Hi"), "[DONE]"))

    events_of(meta(pool))

    assert pool.calls[0]["url"] == "https://llama.test/compat/v1/chat/completions"
    assert pool.calls[0]["headers"]["Accept"] == "text/event-stream"
    assert pool.sent["stream"] is True and pool.sent["stream_options"] == {"include_usage": True}
    assert pool.sent["max_completion_tokens"] == 20


def test_meta_reads_a_separate_usage_chunk_with_no_choices_and_the_model_it_names():
    usage = {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}
    pool = ScriptedPool(
        sse_answer(
            chunk("", role="assistant"),
            chunk("Hi ", model="Llama-4-001"),
            chunk("there", "length"),
            {"object": "chat.completion.chunk", "choices": [], "usage": usage},
            "[DONE]",
        )
    )

    assert events_of(meta(pool)) == [
        TextDelta("Hi "),
        TextDelta("there"),
        StreamEnd(model="Llama-4-001", finish_reason="length", input_tokens=4, output_tokens=2),
    ]


def test_meta_reports_chunks_of_no_known_shape_as_malformed_and_goes_on():
    pool = ScriptedPool(sse_answer({"choices": "none"}, chunk(content=7), "not json", chunk("ok", "stop"), "[DONE]"))

    events = events_of(meta(pool))

    assert [type(e) for e in events] == [MalformedEvent, MalformedEvent, MalformedEvent, TextDelta, StreamEnd]


def test_meta_an_error_status_before_the_stream_is_its_typed_error():
    error = {"error": {"message": "slow down", "type": "rate_limit_error", "code": "rate_limit_exceeded"}}
    pool = ScriptedPool(answer(error, status=429, headers={"retry-after": "3"}))

    with pytest.raises(ProviderThrottled) as caught:
        events_of(meta(pool))

    assert caught.value.retry_after == 3


def test_meta_an_in_stream_rate_limit_error_is_a_throttle_before_any_text_and_a_cut_after():
    error = {"error": {"message": "slow down", "type": "rate_limit_error", "code": None}}

    with pytest.raises(ProviderThrottled):
        events_of(meta(ScriptedPool(sse_answer(error))))
    with pytest.raises(ProviderStreamCut):
        events_of(meta(ScriptedPool(sse_answer(chunk("Hi"), error))))


def test_google_streams_from_stream_generate_content_with_alt_sse():
    pool = ScriptedPool(sse_answer(gemini("Hi", "STOP")))

    events_of(google(pool))

    assert pool.calls[0]["url"] == "https://g.test/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    assert pool.sent["generationConfig"] == {"maxOutputTokens": 20}


def test_google_leaves_thoughts_out_and_counts_them_as_output():
    usage = {"promptTokenCount": 3, "candidatesTokenCount": 2, "thoughtsTokenCount": 5}
    thought = {"candidates": [{"content": {"parts": [{"text": "hmm", "thought": True}]}, "index": 0}]}
    pool = ScriptedPool(sse_answer(thought, gemini("Hi"), gemini("", "STOP", usageMetadata=usage, modelVersion="g-1")))

    assert events_of(google(pool)) == [
        TextDelta("Hi"),
        StreamEnd(model="g-1", finish_reason="stop", input_tokens=3, output_tokens=7),
    ]


def test_google_a_blocked_prompt_is_content_filtered():
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}}

    with pytest.raises(ContentFiltered, match="SAFETY"):
        events_of(google(ScriptedPool(sse_answer(blocked))))


def test_google_a_safety_stop_before_any_text_is_filtered_and_after_text_finishes_as_filtered():
    with pytest.raises(ContentFiltered):
        events_of(google(ScriptedPool(sse_answer(gemini(None, "SAFETY")))))

    events = events_of(google(ScriptedPool(sse_answer(gemini("Hi"), gemini(None, "SAFETY")))))

    assert events[-1] == StreamEnd(model="gemini-2.0-flash", finish_reason="content_filter")


def test_google_an_in_stream_error_maps_by_its_status():
    error = {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}

    with pytest.raises(ProviderUnavailable):
        events_of(google(ScriptedPool(sse_answer(error))))


def test_google_a_stream_that_ends_without_a_finish_reason_is_unterminated():
    events = events_of(google(ScriptedPool(sse_answer(gemini("Hi")))))

    assert events == [TextDelta("Hi"), StreamEnd(model="gemini-2.0-flash", terminated=False)]


def test_a_stream_request_answered_with_json_is_an_invalid_answer_not_an_empty_stream():
    pool = ScriptedPool(
        answer({"choices": [{"message": {"content": "Hi"}}]}, headers={"content-type": "application/json"})
    )

    with pytest.raises(ProviderResponseInvalid, match="application/json"):
        events_of(meta(pool))


def test_a_stream_that_ends_with_no_text_and_no_terminator_is_an_invalid_answer():
    with pytest.raises(ProviderResponseInvalid, match="no text"):
        events_of(meta(ScriptedPool(sse_answer(chunk("", role="assistant")))))


def test_a_stream_that_ends_with_no_text_but_its_terminator_is_an_empty_answer():
    events = events_of(meta(ScriptedPool(sse_answer(chunk(None, "length"), "[DONE]"))))

    assert events == [StreamEnd(model="Llama-4", finish_reason="length", terminated=True)]
