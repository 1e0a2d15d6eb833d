"""The Google adapter over a scripted urllib3 pool: request shape, answer mapping, errors."""

from __future__ import annotations

from http.client import RemoteDisconnected
from typing import Any

import pytest
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ProtocolError, ReadTimeoutError

from functions.adapters.providers.google import GoogleProvider
from functions.domain.completion import CompletionRequest, Turn
from functions.domain.errors import (
    ContentFiltered,
    ContextLengthExceeded,
    ProviderBadRequest,
    ProviderConnectionReset,
    ProviderResponseInvalid,
    ProviderThrottled,
    ProviderTimeout,
    ProviderUnavailable,
)
from tests.unit.fakes import ScriptedPool, answer

MODEL = "gemini-2.0-flash"
KEY = "test-google-key"
REQUEST = CompletionRequest(turns=(Turn("user", "Hello"),))


def gemini_answer(
    text: str = "Hi there", finish: str = "STOP", prompt_tokens: int = 7, output_tokens: int = 3
) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish, "index": 0}],
        "usageMetadata": {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": prompt_tokens + output_tokens,
        },
        "modelVersion": "gemini-2.0-flash-001",
    }


def google_error(
    status: int, name: str, details: list[dict[str, Any]] | None = None, message: str = "the model says no"
) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": name, "details": details or []}}


def provider_with(pool: ScriptedPool, key: str = KEY) -> GoogleProvider:
    return GoogleProvider(MODEL, api_key=lambda: key, endpoint_url="https://gemini.test", http=pool)


# --- request shape ----------------------------------------------------------------------------
def test_a_request_is_posted_to_generate_content_of_the_model_with_the_key_header():
    pool = ScriptedPool(answer(gemini_answer()))

    provider_with(pool).complete(REQUEST, timeout_s=5)

    call = pool.calls[0]
    assert call["method"] == "POST"
    assert call["url"] == "https://gemini.test/v1beta/models/gemini-2.0-flash:generateContent"
    assert call["headers"]["x-goog-api-key"] == KEY
    assert call["headers"]["Content-Type"] == "application/json"


def test_a_bare_request_sends_only_the_contents():
    pool = ScriptedPool(answer(gemini_answer()))

    provider_with(pool).complete(REQUEST, timeout_s=5)

    assert pool.sent == {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]}


def test_system_prompts_turns_and_set_options_are_sent_in_gemini_shape():
    pool = ScriptedPool(answer(gemini_answer()))
    request = CompletionRequest(
        turns=(Turn("user", "Hi"), Turn("assistant", "Hello"), Turn("user", "Bye")),
        system=("Be brief.", "Be kind."),
        max_tokens=64,
        temperature=0.2,
        top_p=0.9,
        stop=("END",),
    )

    provider_with(pool).complete(request, timeout_s=5)

    assert pool.sent == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello"}]},
            {"role": "user", "parts": [{"text": "Bye"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Be kind."}]},
        "generationConfig": {"maxOutputTokens": 64, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]},
    }


def test_the_call_makes_one_attempt_follows_no_redirect_and_bounds_connect_and_read_by_the_budget():
    pool = ScriptedPool(answer(gemini_answer()), answer(gemini_answer()))
    provider = provider_with(pool)

    provider.complete(REQUEST, timeout_s=1.5)
    provider.complete(REQUEST, timeout_s=10)

    short, long = pool.calls
    assert short["retries"] is False
    assert short["redirect"] is False
    assert (short["timeout"].connect_timeout, short["timeout"].read_timeout) == (1.5, 1.5)
    assert (long["timeout"].connect_timeout, long["timeout"].read_timeout) == (2.0, 10)


def test_a_model_given_with_its_models_prefix_is_not_doubled_in_the_url():
    pool = ScriptedPool(answer(gemini_answer()))

    GoogleProvider(f"models/{MODEL}", api_key=lambda: KEY, http=pool).complete(REQUEST, timeout_s=5)

    assert pool.calls[0]["url"].endswith("/v1beta/models/gemini-2.0-flash:generateContent")


def test_the_key_is_read_on_each_call_not_when_the_provider_is_built():
    keys = iter(["first", "second"])
    pool = ScriptedPool(answer(gemini_answer()), answer(gemini_answer()))
    provider = GoogleProvider(MODEL, api_key=lambda: next(keys), http=pool)

    provider.complete(REQUEST, timeout_s=5)
    provider.complete(REQUEST, timeout_s=5)

    assert [call["headers"]["x-goog-api-key"] for call in pool.calls] == ["first", "second"]


# --- answer mapping ---------------------------------------------------------------------------
def test_a_gemini_answer_becomes_a_completion_with_its_text_model_version_and_usage():
    pool = ScriptedPool(answer(gemini_answer(text="Hi there", prompt_tokens=11, output_tokens=4)))

    completion = provider_with(pool).complete(REQUEST, timeout_s=5)

    assert completion.text == "Hi there"
    assert completion.model == "gemini-2.0-flash-001"
    assert (completion.input_tokens, completion.output_tokens) == (11, 4)
    assert completion.finish_reason == "stop"
    assert completion.provider_latency_ms is not None and completion.provider_latency_ms >= 0


def test_text_parts_are_joined_in_order_and_thoughts_left_out():
    body = gemini_answer()
    body["candidates"][0]["content"]["parts"] = [
        {"text": "pondering", "thought": True},
        {"text": "Hel"},
        {"text": "lo"},
    ]

    assert provider_with(ScriptedPool(answer(body))).complete(REQUEST, timeout_s=5).text == "Hello"


def test_thinking_tokens_count_as_output_tokens():
    body = gemini_answer(output_tokens=3)
    body["usageMetadata"]["thoughtsTokenCount"] = 40

    assert provider_with(ScriptedPool(answer(body))).complete(REQUEST, timeout_s=5).output_tokens == 43


def test_without_a_model_version_the_configured_model_is_reported():
    body = gemini_answer()
    del body["modelVersion"]

    assert provider_with(ScriptedPool(answer(body))).complete(REQUEST, timeout_s=5).model == MODEL


@pytest.mark.parametrize(
    ("finish", "finish_reason"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("SOMETHING_NEW", "stop"),
    ],
)
def test_each_gemini_finish_reason_maps_to_its_finish_reason(finish, finish_reason):
    pool = ScriptedPool(answer(gemini_answer(finish=finish)))

    assert provider_with(pool).complete(REQUEST, timeout_s=5).finish_reason == finish_reason


@pytest.mark.parametrize("finish", ["SAFETY", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"])
def test_an_answer_filtered_before_any_text_is_content_filtered_naming_the_reason(finish):
    body = {"candidates": [{"finishReason": finish, "index": 0}], "usageMetadata": {"promptTokenCount": 5}}

    with pytest.raises(ContentFiltered) as caught:
        provider_with(ScriptedPool(answer(body))).complete(REQUEST, timeout_s=5)

    assert caught.value.message == f"google filtered the answer ({finish})"
    assert (caught.value.provider, caught.value.retryable) == ("google", False)


def test_an_answer_filtered_after_some_text_is_a_completion_that_finished_by_the_filter():
    pool = ScriptedPool(answer(gemini_answer(text="The first half", finish="SAFETY")))

    completion = provider_with(pool).complete(REQUEST, timeout_s=5)

    assert (completion.text, completion.finish_reason) == ("The first half", "content_filter")


def test_an_answer_cut_short_with_no_text_for_another_reason_is_an_empty_completion():
    body = {"candidates": [{"finishReason": "MAX_TOKENS", "index": 0}], "usageMetadata": {"promptTokenCount": 5}}

    completion = provider_with(ScriptedPool(answer(body))).complete(REQUEST, timeout_s=5)

    assert (completion.text, completion.finish_reason, completion.output_tokens) == ("", "length", 0)


@pytest.mark.parametrize("reason", ["SAFETY", "OTHER", "BLOCKLIST", "PROHIBITED_CONTENT"])
def test_a_blocked_prompt_is_content_filtered_naming_the_block_reason(reason):
    body = {"promptFeedback": {"blockReason": reason}, "usageMetadata": {"promptTokenCount": 5}}

    with pytest.raises(ContentFiltered) as caught:
        provider_with(ScriptedPool(answer(body))).complete(REQUEST, timeout_s=5)

    assert caught.value.message == f"google blocked the prompt ({reason})"
    assert caught.value.code == "content_policy_violation"


# --- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "name", "expected"),
    [
        (429, "RESOURCE_EXHAUSTED", ProviderThrottled),
        (400, "INVALID_ARGUMENT", ProviderBadRequest),
        (400, "FAILED_PRECONDITION", ProviderUnavailable),
        (401, "UNAUTHENTICATED", ProviderUnavailable),
        (403, "PERMISSION_DENIED", ProviderUnavailable),
        (404, "NOT_FOUND", ProviderUnavailable),
        (500, "INTERNAL", ProviderUnavailable),
        (503, "UNAVAILABLE", ProviderUnavailable),
        (504, "DEADLINE_EXCEEDED", ProviderUnavailable),
        (429, "SOMETHING_NEW", ProviderThrottled),
        (413, "SOMETHING_NEW", ProviderBadRequest),
        (502, "SOMETHING_NEW", ProviderUnavailable),
    ],
)
def test_each_gemini_error_becomes_its_typed_provider_error(status, name, expected):
    pool = ScriptedPool(answer(google_error(status, name), status=status))

    with pytest.raises(expected) as caught:
        provider_with(pool).complete(REQUEST, timeout_s=5)

    assert type(caught.value) is expected
    assert caught.value.provider == "google"


def test_the_error_status_decides_over_the_http_status():
    pool = ScriptedPool(answer(google_error(503, "INVALID_ARGUMENT"), status=503))

    with pytest.raises(ProviderBadRequest):
        provider_with(pool).complete(REQUEST, timeout_s=5)


def test_an_invalid_api_key_is_a_configuration_problem_not_a_bad_request():
    info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
    pool = ScriptedPool(answer(google_error(400, "INVALID_ARGUMENT", [info]), status=400))

    with pytest.raises(ProviderUnavailable) as caught:
        provider_with(pool).complete(REQUEST, timeout_s=5)

    assert "API_KEY_INVALID" in caught.value.message


def test_an_invalid_argument_saying_the_input_has_too_many_tokens_is_context_length_exceeded():
    message = "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
    pool = ScriptedPool(answer(google_error(400, "INVALID_ARGUMENT", message=message), status=400))

    with pytest.raises(ContextLengthExceeded) as caught:
        provider_with(pool).complete(REQUEST, timeout_s=5)

    assert caught.value.message == f"google answered HTTP 400 INVALID_ARGUMENT: {message}"
    assert caught.value.code == "context_length_exceeded"


def test_a_bad_request_carries_the_providers_message():
    pool = ScriptedPool(answer(google_error(400, "INVALID_ARGUMENT"), status=400))

    with pytest.raises(ProviderBadRequest) as caught:
        provider_with(pool).complete(REQUEST, timeout_s=5)

    assert caught.value.message.endswith("the model says no")


def test_an_error_page_that_is_not_json_is_mapped_by_its_status():
    pool = ScriptedPool(answer(b"<html>Bad Gateway</html>", status=502))

    with pytest.raises(ProviderUnavailable):
        provider_with(pool).complete(REQUEST, timeout_s=5)


def test_a_throttle_honours_the_retry_after_header():
    pool = ScriptedPool(answer(google_error(429, "RESOURCE_EXHAUSTED"), status=429, headers={"Retry-After": "2.5"}))

    with pytest.raises(ProviderThrottled) as caught:
        provider_with(pool).complete(REQUEST, timeout_s=5)

    assert caught.value.retry_after == 2.5


def test_a_throttle_without_the_header_takes_the_retry_delay_of_its_retry_info():
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}
    pool = ScriptedPool(answer(google_error(429, "RESOURCE_EXHAUSTED", [retry]), status=429))

    with pytest.raises(ProviderThrottled) as caught:
        provider_with(pool).complete(REQUEST, timeout_s=5)

    assert caught.value.retry_after == 37


def test_a_throttle_that_says_nothing_of_when_to_retry_leaves_it_unset():
    pool = ScriptedPool(answer(google_error(429, "RESOURCE_EXHAUSTED"), status=429, headers={"Retry-After": "soon"}))

    with pytest.raises(ProviderThrottled) as caught:
        provider_with(pool).complete(REQUEST, timeout_s=5)

    assert caught.value.retry_after is None


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ReadTimeoutError(None, "https://gemini.test", "read timed out"), ProviderTimeout),  # type: ignore[arg-type]
        (ConnectTimeoutError("connect timed out"), ProviderTimeout),
        (NewConnectionError(None, "connection refused"), ProviderUnavailable),  # type: ignore[arg-type]
        (ProtocolError("Connection aborted."), ProviderUnavailable),
        (ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")), ProviderConnectionReset),
        (ProtocolError("Connection aborted.", RemoteDisconnected("closed")), ProviderConnectionReset),
    ],
    ids=["read timeout", "connect timeout", "connection refused", "connection dropped", "reset", "closed"],
)
def test_network_failures_become_timeouts_resets_or_unavailability(exc, expected):
    with pytest.raises(expected) as caught:
        provider_with(ScriptedPool(exc)).complete(REQUEST, timeout_s=5)

    assert type(caught.value) is expected
    assert caught.value.__cause__ is exc


def test_no_budget_left_times_out_without_calling_google():
    pool = ScriptedPool()

    with pytest.raises(ProviderTimeout):
        provider_with(pool).complete(REQUEST, timeout_s=0)

    assert pool.calls == []


def test_a_key_that_cannot_be_had_makes_google_unavailable_without_calling_it():
    def no_key() -> str:
        raise ProviderUnavailable("GOOGLE_API_KEY is not configured")

    pool = ScriptedPool()

    with pytest.raises(ProviderUnavailable) as caught:
        GoogleProvider(MODEL, api_key=no_key, http=pool).complete(REQUEST, timeout_s=5)

    assert caught.value.provider == "google"
    assert pool.calls == []


# --- malformed answers ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"not json", id="not json"),
        pytest.param(b"\xff\xfe", id="not utf-8"),
        pytest.param([1, 2], id="json array"),
        pytest.param({}, id="no candidates"),
        pytest.param({"candidates": []}, id="empty candidates"),
        pytest.param({"candidates": "x"}, id="candidates not a list"),
        pytest.param({"candidates": ["x"]}, id="candidate not an object"),
    ],
)
def test_an_answer_without_usable_candidates_is_invalid(body):
    with pytest.raises(ProviderResponseInvalid):
        provider_with(ScriptedPool(answer(body))).complete(REQUEST, timeout_s=5)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda r: r.pop("usageMetadata"), id="no usage"),
        pytest.param(lambda r: r["usageMetadata"].pop("promptTokenCount"), id="no prompt tokens"),
        pytest.param(lambda r: r["usageMetadata"].update(promptTokenCount="7"), id="prompt tokens as text"),
        pytest.param(lambda r: r["usageMetadata"].update(candidatesTokenCount=-1), id="negative tokens"),
        pytest.param(lambda r: r["usageMetadata"].update(candidatesTokenCount=True), id="tokens boolean"),
        pytest.param(lambda r: r["candidates"][0].pop("content"), id="stop without content"),
        pytest.param(lambda r: r["candidates"][0]["content"].update(parts=[]), id="stop without parts"),
        pytest.param(lambda r: r["candidates"][0]["content"].update(parts="Hi"), id="parts not a list"),
        pytest.param(lambda r: r["candidates"][0]["content"].update(parts=[{"text": 5}]), id="text not a string"),
        pytest.param(lambda r: r.update(modelVersion=3), id="model version not a string"),
    ],
)
def test_a_malformed_answer_is_a_provider_response_invalid_error(mutate):
    body = gemini_answer()
    mutate(body)

    with pytest.raises(ProviderResponseInvalid):
        provider_with(ScriptedPool(answer(body))).complete(REQUEST, timeout_s=5)


def test_the_constructor_makes_no_request_and_reads_no_key():
    asked = []
    pool = ScriptedPool()

    GoogleProvider(MODEL, api_key=lambda: asked.append(1) or KEY, http=pool)

    assert (asked, pool.calls) == ([], [])
