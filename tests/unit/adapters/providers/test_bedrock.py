"""The Bedrock adapter over a stubbed `bedrock-runtime` client: request shape, answer mapping, errors."""

from __future__ import annotations

from http.client import IncompleteRead, RemoteDisconnected
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber
from urllib3.exceptions import ProtocolError

from functions.adapters.providers.bedrock import BedrockProvider, bedrock_runtime_client, timeout_bucket
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

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
REQUEST = CompletionRequest(turns=(Turn("user", "Hello"),))


def converse_response(
    text: str = "Hi there", stop_reason: str = "end_turn", input_tokens: int = 7, output_tokens: int = 3
) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop_reason,
        "usage": {
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
        },
        "metrics": {"latencyMs": 42},
    }


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def client():
    return boto3.client("bedrock-runtime", region_name="eu-central-1")


@pytest.fixture
def stubber(client):
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


@pytest.fixture
def provider(client):
    return BedrockProvider(MODEL_ID, region="eu-central-1", client_factory=lambda _timeout: client)


class _AnsweringClient:
    """Hands back a response botocore's stubber would refuse to queue (wrong types, missing parts)."""

    def __init__(self, response: dict[str, Any]) -> None:
        self.response = response

    def converse(self, **_: Any) -> dict[str, Any]:
        return self.response


class _RaisingClient:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def converse(self, **_: Any) -> dict[str, Any]:
        raise self.exc


def _closed(reason: Exception, *, reading_body: bool = False) -> ConnectionClosedError:
    """botocore's error for a connection urllib3 saw closed: before the status line urllib3's pool
    re-raises its ProtocolError with no cause, while reading a body it raises it `from` the reason."""
    error = ProtocolError("Connection broken" if reading_body else "Connection aborted.", reason)
    error.__cause__ = reason if reading_body else None
    return ConnectionClosedError(error=error, endpoint_url="https://bedrock")


def _provider_with(client: object) -> BedrockProvider:
    return BedrockProvider(MODEL_ID, client_factory=lambda _timeout: client)  # type: ignore[arg-type, return-value]


# --- request shape ----------------------------------------------------------------------------
def test_a_bare_request_sends_only_model_and_messages(provider, stubber):
    stubber.add_response(
        "converse",
        converse_response(),
        expected_params={"modelId": MODEL_ID, "messages": [{"role": "user", "content": [{"text": "Hello"}]}]},
    )
    assert provider.complete(REQUEST, timeout_s=5).text == "Hi there"


def test_system_prompts_and_set_inference_options_are_sent_in_converse_shape(provider, stubber):
    request = CompletionRequest(
        turns=(Turn("user", "Hi"), Turn("assistant", "Hello"), Turn("user", "Bye")),
        system=("Be brief.", "Be kind."),
        max_tokens=64,
        temperature=0.2,
        stop=("END",),
    )
    stubber.add_response(
        "converse",
        converse_response(),
        expected_params={
            "modelId": MODEL_ID,
            "messages": [
                {"role": "user", "content": [{"text": "Hi"}]},
                {"role": "assistant", "content": [{"text": "Hello"}]},
                {"role": "user", "content": [{"text": "Bye"}]},
            ],
            "system": [{"text": "Be brief."}, {"text": "Be kind."}],
            "inferenceConfig": {"maxTokens": 64, "temperature": 0.2, "stopSequences": ["END"]},
        },
    )
    assert provider.complete(request, timeout_s=5).text == "Hi there"


# --- answer mapping ---------------------------------------------------------------------------
def test_a_converse_answer_becomes_a_completion_with_its_text_model_and_token_usage(provider, stubber):
    stubber.add_response("converse", converse_response(text="Hi there", input_tokens=11, output_tokens=4))

    completion = provider.complete(REQUEST, timeout_s=5)

    assert completion.text == "Hi there"
    assert completion.model == MODEL_ID
    assert (completion.input_tokens, completion.output_tokens) == (11, 4)
    assert completion.finish_reason == "stop"
    assert completion.provider_latency_ms == 42


def test_several_text_blocks_are_joined_in_order(provider, stubber):
    response = converse_response()
    response["output"]["message"]["content"] = [{"text": "Hel"}, {"text": "lo"}]
    stubber.add_response("converse", response)

    assert provider.complete(REQUEST, timeout_s=5).text == "Hello"


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
    ],
)
def test_each_bedrock_stop_reason_maps_to_its_finish_reason(provider, stubber, stop_reason, finish_reason):
    stubber.add_response("converse", converse_response(stop_reason=stop_reason))

    assert provider.complete(REQUEST, timeout_s=5).finish_reason == finish_reason


@pytest.mark.parametrize("stop_reason", ["guardrail_intervened", "content_filtered"])
def test_an_answer_a_guardrail_or_the_content_filters_stopped_is_content_filtered_with_bedrock_s_text(
    provider, stubber, stop_reason
):
    stubber.add_response("converse", converse_response(text="Sorry, I cannot help with that.", stop_reason=stop_reason))

    with pytest.raises(ContentFiltered) as caught:
        provider.complete(REQUEST, timeout_s=5)

    assert caught.value.message == f"bedrock stopped the answer ({stop_reason}): Sorry, I cannot help with that."
    assert (caught.value.code, caught.value.provider, caught.value.retryable) == (
        "content_policy_violation",
        "bedrock",
        False,
    )


def test_an_answer_stopped_by_a_guardrail_with_no_text_is_content_filtered_naming_the_reason(provider, stubber):
    response = converse_response(stop_reason="guardrail_intervened")
    response["output"]["message"]["content"] = []
    stubber.add_response("converse", response)

    with pytest.raises(ContentFiltered, match=r"^bedrock stopped the answer \(guardrail_intervened\)$"):
        provider.complete(REQUEST, timeout_s=5)


# --- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 429, ProviderThrottled),
        ("ServiceQuotaExceededException", 400, ProviderThrottled),
        ("ServiceUnavailableException", 503, ProviderUnavailable),
        ("InternalServerException", 500, ProviderUnavailable),
        ("ModelNotReadyException", 429, ProviderUnavailable),
        ("ModelErrorException", 424, ProviderUnavailable),
        ("ModelTimeoutException", 408, ProviderTimeout),
        ("ValidationException", 400, ProviderBadRequest),
        ("AccessDeniedException", 403, ProviderUnavailable),
        ("ResourceNotFoundException", 404, ProviderUnavailable),
        ("SomethingNewException", 502, ProviderUnavailable),
        ("SomethingNewException", 429, ProviderThrottled),
        ("SomethingNewException", 409, ProviderBadRequest),
    ],
)
def test_each_bedrock_error_becomes_its_typed_provider_error(provider, stubber, code, status, expected):
    stubber.add_client_error("converse", service_error_code=code, service_message="nope", http_status_code=status)

    with pytest.raises(expected) as caught:
        provider.complete(REQUEST, timeout_s=5)

    assert type(caught.value) is expected
    assert caught.value.provider == "bedrock"
    assert caught.value.__cause__ is not None


TOO_LONG = ContextLengthExceeded


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("ValidationException", "Input is too long for requested model.", TOO_LONG),
        (
            "ValidationException",
            "Too many input tokens. Max input tokens: 8192, request input token count: 9001",
            TOO_LONG,
        ),
        ("ValidationException", "prompt is too long: 210000 tokens > 200000 maximum", TOO_LONG),
        ("ValidationException", "The input exceeds the maximum number of tokens allowed for this model.", TOO_LONG),
        ("ValidationException", "This model's maximum context length is 8192 tokens.", TOO_LONG),
        ("ValidationException", "Input exceeds the model's context window.", TOO_LONG),
        ("ValidationException", "This request has been blocked by our content filters.", ContentFiltered),
        ("ValidationException", "A conversation must start with a user message.", ProviderBadRequest),
        ("ServiceUnavailableException", "Input is too long for the queue.", ProviderUnavailable),
    ],
)
def test_a_validation_error_is_the_refusal_its_message_names_and_only_a_validation_error_is_read(
    provider, stubber, code, message, expected
):
    stubber.add_client_error("converse", service_error_code=code, service_message=message, http_status_code=400)

    with pytest.raises(expected) as caught:
        provider.complete(REQUEST, timeout_s=5)

    assert type(caught.value) is expected
    assert caught.value.message == f"bedrock {code}: {message}"


def test_the_error_code_decides_over_the_http_status(provider, stubber):
    stubber.add_client_error("converse", service_error_code="ValidationException", http_status_code=503)

    with pytest.raises(ProviderBadRequest):
        provider.complete(REQUEST, timeout_s=5)


def test_a_throttle_carries_the_retry_after_header_in_seconds(provider, stubber):
    stubber.add_client_error(
        "converse",
        service_error_code="ThrottlingException",
        http_status_code=429,
        response_meta={"HTTPHeaders": {"retry-after": "2.5"}},
    )

    with pytest.raises(ProviderThrottled) as caught:
        provider.complete(REQUEST, timeout_s=5)

    assert caught.value.retry_after == 2.5


def test_a_throttle_without_retry_after_leaves_it_unset(provider, stubber):
    stubber.add_client_error("converse", service_error_code="ThrottlingException", http_status_code=429)

    with pytest.raises(ProviderThrottled) as caught:
        provider.complete(REQUEST, timeout_s=5)

    assert caught.value.retry_after is None


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ReadTimeoutError(endpoint_url="https://bedrock"), ProviderTimeout),
        (ConnectTimeoutError(endpoint_url="https://bedrock"), ProviderTimeout),
        (EndpointConnectionError(endpoint_url="https://bedrock"), ProviderUnavailable),
        (_closed(ConnectionResetError(104, "Connection reset by peer")), ProviderConnectionReset),
        (_closed(RemoteDisconnected("Remote end closed connection without response")), ProviderConnectionReset),
        (_closed(ConnectionResetError(104, "Connection reset by peer"), reading_body=True), ProviderResponseInvalid),
        (_closed(IncompleteRead(16, 84), reading_body=True), ProviderResponseInvalid),
    ],
    ids=[
        "read timeout",
        "connect timeout",
        "unreachable",
        "reset before the answer",
        "closed before the answer",
        "reset mid-body",
        "body cut",
    ],
)
def test_network_failures_become_timeouts_resets_or_unavailability(exc, expected):
    with pytest.raises(expected) as caught:
        _provider_with(_RaisingClient(exc)).complete(REQUEST, timeout_s=5)

    assert type(caught.value) is expected
    assert caught.value.__cause__ is exc


def test_a_request_bedrock_cannot_accept_client_side_is_a_bad_request(provider):
    with pytest.raises(ProviderBadRequest):
        provider.complete(CompletionRequest(turns=(Turn("user", "Hi"),), max_tokens=0), timeout_s=5)


def test_no_budget_left_times_out_without_calling_bedrock(provider, stubber):
    with pytest.raises(ProviderTimeout):
        provider.complete(REQUEST, timeout_s=0)


# --- malformed answers ------------------------------------------------------------------------
def test_an_answer_without_text_content_is_invalid(provider, stubber):
    response = converse_response()
    response["output"]["message"]["content"] = []
    stubber.add_response("converse", response)

    with pytest.raises(ProviderResponseInvalid):
        provider.complete(REQUEST, timeout_s=5)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda r: r.pop("output"), id="no output"),
        pytest.param(lambda r: r["output"].pop("message"), id="no message"),
        pytest.param(lambda r: r.pop("usage"), id="no usage"),
        pytest.param(lambda r: r["usage"].update(inputTokens="7"), id="input tokens as text"),
        pytest.param(lambda r: r["usage"].update(outputTokens=None), id="output tokens null"),
        pytest.param(lambda r: r["usage"].update(outputTokens=True), id="output tokens boolean"),
        pytest.param(lambda r: r["usage"].update(inputTokens=-1), id="negative tokens"),
        pytest.param(lambda r: r["output"]["message"].update(content=[{"text": 5}]), id="text not a string"),
        pytest.param(lambda r: r["output"]["message"].update(content="Hi"), id="content not a list"),
    ],
)
def test_a_malformed_answer_is_a_provider_response_invalid_error(mutate):
    response = converse_response()
    mutate(response)

    with pytest.raises(ProviderResponseInvalid):
        _provider_with(_AnsweringClient(response)).complete(REQUEST, timeout_s=5)


# --- clients ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("budget", "bucket"), [(0.01, 0.5), (0.5, 0.5), (0.51, 1.0), (2.2, 2.5), (30, 30), (600, 60)])
def test_the_read_timeout_is_the_budget_rounded_up_to_half_seconds_within_sixty(budget, bucket):
    assert timeout_bucket(budget) == bucket


def test_clients_are_cached_per_timeout_bucket_and_never_retry():
    short = bedrock_runtime_client("eu-central-1", "http://127.0.0.1:9/bedrock", 1.2)
    same = bedrock_runtime_client("eu-central-1", "http://127.0.0.1:9/bedrock", 1.4)
    long = bedrock_runtime_client("eu-central-1", "http://127.0.0.1:9/bedrock", 30)

    config: Config = short.meta.config
    assert short is same
    assert long is not short
    assert (config.read_timeout, config.connect_timeout) == (1.5, 1.5)
    assert long.meta.config.read_timeout == 30
    assert config.retries["total_max_attempts"] == 1
    assert config.tcp_keepalive is True


def test_the_constructor_makes_no_client():
    made = []
    BedrockProvider(MODEL_ID, client_factory=lambda t: made.append(t))  # type: ignore[arg-type, func-returns-value]
    assert made == []
