"""The Llama API adapter over a scripted urllib3 pool: request shape, answer mapping, errors."""

from __future__ import annotations

from typing import Any

import pytest
from urllib3.exceptions import NewConnectionError, ReadTimeoutError

from functions.adapters.providers.meta import LlamaApiProvider
from functions.domain.completion import CompletionRequest, Turn
from functions.domain.errors import (
    ContentFiltered,
    ContextLengthExceeded,
    ProviderBadRequest,
    ProviderResponseInvalid,
    ProviderThrottled,
    ProviderTimeout,
    ProviderUnavailable,
)
from tests.unit.fakes import ScriptedPool, answer

MODEL = "Llama-4-Maverick-17B-128E-Instruct-FP8"
KEY = "test-llama-key"
REQUEST = CompletionRequest(turns=(Turn("user", "Hello"),))


def chat_answer(
    content: str | None = "Hi there", finish: str = "stop", prompt_tokens: int = 7, completion_tokens: int = 3
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def openai_error(code: str | None, error_type: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": "the model says no", "type": error_type, "param": None, "code": code}}


def provider_with(pool: ScriptedPool) -> LlamaApiProvider:
    return LlamaApiProvider(MODEL, api_key=lambda: KEY, endpoint_url="https://llama.test/compat/v1/", http=pool)


# --- request shape ----------------------------------------------------------------------------
def test_a_request_is_posted_to_chat_completions_with_a_bearer_key():
    pool = ScriptedPool(answer(chat_answer()))

    provider_with(pool).complete(REQUEST, timeout_s=5)

    call = pool.calls[0]
    assert (call["method"], call["url"]) == ("POST", "https://llama.test/compat/v1/chat/completions")
    assert call["headers"]["Authorization"] == f"Bearer {KEY}"
    assert call["retries"] is False


def test_a_bare_request_sends_only_the_model_and_messages():
    pool = ScriptedPool(answer(chat_answer()))

    provider_with(pool).complete(REQUEST, timeout_s=5)

    assert pool.sent == {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}]}


def test_system_prompts_come_first_and_set_options_are_sent_in_openai_shape():
    pool = ScriptedPool(answer(chat_answer()))
    request = CompletionRequest(
        turns=(Turn("user", "Hi"), Turn("assistant", "Hello"), Turn("user", "Bye")),
        system=("Be brief.",),
        max_tokens=64,
        temperature=0.2,
        top_p=0.9,
        stop=("END", "STOP"),
    )

    provider_with(pool).complete(request, timeout_s=5)

    assert pool.sent == {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Bye"},
        ],
        "max_completion_tokens": 64,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["END", "STOP"],
    }


# --- answer mapping ---------------------------------------------------------------------------
def test_a_chat_completion_becomes_a_completion_with_its_text_model_and_usage():
    body = chat_answer(content="Hi there", prompt_tokens=11, completion_tokens=4)
    body["model"] = "Llama-4-Maverick-served"

    completion = provider_with(ScriptedPool(answer(body))).complete(REQUEST, timeout_s=5)

    assert completion.text == "Hi there"
    assert completion.model == "Llama-4-Maverick-served"
    assert (completion.input_tokens, completion.output_tokens) == (11, 4)
    assert completion.finish_reason == "stop"


@pytest.mark.parametrize(
    ("finish", "finish_reason"),
    [("stop", "stop"), ("length", "length"), ("content_filter", "content_filter"), ("tool_calls", "stop")],
)
def test_each_finish_reason_maps_to_its_finish_reason(finish, finish_reason):
    pool = ScriptedPool(answer(chat_answer(finish=finish)))

    assert provider_with(pool).complete(REQUEST, timeout_s=5).finish_reason == finish_reason


def test_a_filtered_answer_without_content_is_an_empty_completion():
    pool = ScriptedPool(answer(chat_answer(content=None, finish="content_filter", completion_tokens=0)))

    completion = provider_with(pool).complete(REQUEST, timeout_s=5)

    assert (completion.text, completion.finish_reason) == ("", "content_filter")


# --- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (429, "rate_limit_exceeded", ProviderThrottled),
        (429, "insufficient_quota", ProviderUnavailable),
        (400, None, ProviderBadRequest),
        (400, "context_length_exceeded", ContextLengthExceeded),
        (400, "content_filter", ContentFiltered),
        (400, "content_policy_violation", ContentFiltered),
        (401, "invalid_api_key", ProviderUnavailable),
        (403, None, ProviderUnavailable),
        (404, "model_not_found", ProviderUnavailable),
        (404, None, ProviderUnavailable),
        (408, None, ProviderTimeout),
        (422, None, ProviderBadRequest),
        (500, None, ProviderUnavailable),
        (503, None, ProviderUnavailable),
        (504, None, ProviderUnavailable),
    ],
)
def test_each_llama_api_error_becomes_its_typed_provider_error(status, code, expected):
    pool = ScriptedPool(answer(openai_error(code), status=status))

    with pytest.raises(expected) as caught:
        provider_with(pool).complete(REQUEST, timeout_s=5)

    assert type(caught.value) is expected
    assert caught.value.provider == "meta"


@pytest.mark.parametrize("code", ["context_length_exceeded", "content_filter", "content_policy_violation"])
def test_a_refusal_carries_the_providers_message(code):
    pool = ScriptedPool(answer(openai_error(code), status=400))

    with pytest.raises(ProviderBadRequest) as caught:
        provider_with(pool).complete(REQUEST, timeout_s=5)

    assert caught.value.message == f"meta answered HTTP 400 {code}: the model says no"
    assert caught.value.retryable is False


def test_a_throttle_honours_the_retry_after_header():
    pool = ScriptedPool(answer(openai_error("rate_limit_exceeded"), status=429, headers={"retry-after": "3"}))

    with pytest.raises(ProviderThrottled) as caught:
        provider_with(pool).complete(REQUEST, timeout_s=5)

    assert caught.value.retry_after == 3


def test_an_authentication_error_does_not_echo_the_providers_message():
    body = {"error": {"message": "Incorrect API key provided: test-l***key", "type": "x", "code": "invalid_api_key"}}
    pool = ScriptedPool(answer(body, status=401))

    with pytest.raises(ProviderUnavailable) as caught:
        provider_with(pool).complete(REQUEST, timeout_s=5)

    assert "key provided" not in caught.value.message


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ReadTimeoutError(None, "https://llama.test", "read timed out"), ProviderTimeout),  # type: ignore[arg-type]
        (NewConnectionError(None, "connection refused"), ProviderUnavailable),  # type: ignore[arg-type]
    ],
    ids=["read timeout", "connection refused"],
)
def test_network_failures_become_timeouts_or_unavailability(exc, expected):
    with pytest.raises(expected) as caught:
        provider_with(ScriptedPool(exc)).complete(REQUEST, timeout_s=5)

    assert type(caught.value) is expected
    assert caught.value.__cause__ is exc


def test_no_budget_left_times_out_without_calling_the_llama_api():
    pool = ScriptedPool()

    with pytest.raises(ProviderTimeout):
        provider_with(pool).complete(REQUEST, timeout_s=-1)

    assert pool.calls == []


# --- malformed answers ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda r: r.pop("choices"), id="no choices"),
        pytest.param(lambda r: r.update(choices=[]), id="empty choices"),
        pytest.param(lambda r: r["choices"][0].pop("message"), id="no message"),
        pytest.param(lambda r: r["choices"][0]["message"].update(content=None), id="stop with null content"),
        pytest.param(lambda r: r["choices"][0]["message"].update(content=["Hi"]), id="content not a string"),
        pytest.param(lambda r: r.pop("usage"), id="no usage"),
        pytest.param(lambda r: r["usage"].update(prompt_tokens="7"), id="prompt tokens as text"),
        pytest.param(lambda r: r["usage"].update(completion_tokens=-2), id="negative tokens"),
        pytest.param(lambda r: r.update(model=None), id="model not a string"),
    ],
)
def test_a_malformed_answer_is_a_provider_response_invalid_error(mutate):
    body = chat_answer()
    mutate(body)

    with pytest.raises(ProviderResponseInvalid):
        provider_with(ScriptedPool(answer(body))).complete(REQUEST, timeout_s=5)


def test_an_answer_that_is_not_json_is_invalid():
    with pytest.raises(ProviderResponseInvalid):
        provider_with(ScriptedPool(answer(b"<html>ok</html>"))).complete(REQUEST, timeout_s=5)
