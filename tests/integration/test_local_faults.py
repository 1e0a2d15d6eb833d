"""Fault modes of the local simulators, set through the gateway's `/local/faults` and seen by plain HTTP
clients (httpx, urllib3, boto3) on the wire: resets, hangs, slow, cut, stalled and malformed answers,
each provider's own refusals, and the attempts log."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions
import httpx
import pytest
import urllib3
from botocore.config import Config

from local.faults import BODY_BYTES_PER_TOKEN, FaultRegistry, FaultSpec
from local.gateway import LOCAL_HEADERS as LOCAL
from local.gateway import build_gateway_app
from local.providers_app import build_providers_app
from local.servers import ServerHandle, start_uvicorn

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
PROMPT = "What is the capital of France?"
MCP_HEADERS = {
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": "2026-07-28",
    "mcp-method": "tools/call",
    "mcp-name": "generate",
}
MCP_META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}


@dataclass(frozen=True)
class Call:
    """One request to a simulator as its provider's client sends it."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]


CALLS = {
    "bedrock": Call(
        f"/bedrock/model/{MODEL_ID}/converse", {"messages": [{"role": "user", "content": [{"text": PROMPT}]}]}, {}
    ),
    "google": Call(
        "/google/v1beta/models/gemini-2.0-flash:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]},
        {"x-goog-api-key": "local-key"},
    ),
    "meta": Call(
        "/meta/chat/completions",
        {"model": "Llama-4-Maverick", "messages": [{"role": "user", "content": PROMPT}]},
        {"Authorization": "Bearer local-key"},
    ),
    "mcp": Call(
        "/mcp",
        {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {
                "name": "generate",
                "arguments": {"messages": [{"role": "user", "content": PROMPT}]},
                "_meta": MCP_META,
            },
        },
        MCP_HEADERS,
    ),
}
PROVIDERS = list(CALLS)
by_provider = pytest.mark.parametrize("provider", PROVIDERS)


def answer_text(provider: str, body: dict[str, Any]) -> str:
    """The completion's text in the provider's answer shape."""
    if provider == "bedrock":
        return body["output"]["message"]["content"][0]["text"]
    if provider == "google":
        return body["candidates"][0]["content"]["parts"][0]["text"]
    if provider == "meta":
        return body["choices"][0]["message"]["content"]
    return body["result"]["structuredContent"]["content"]


@dataclass(frozen=True)
class Stack:
    """The simulators and a gateway serving `/local/faults`, sharing one registry."""

    simulators: ServerHandle
    gateway: ServerHandle
    faults: FaultRegistry

    def call(self, provider: str, timeout_s: float = 5.0) -> httpx.Response:
        call = CALLS[provider]
        return httpx.post(f"{self.simulators.url}{call.path}", json=call.body, headers=call.headers, timeout=timeout_s)

    def set_fault(self, **fields: Any) -> httpx.Response:
        response = httpx.post(f"{self.gateway.url}/local/faults", headers=LOCAL, json=fields)
        assert response.status_code == 200, response.text
        return response

    def attempts(self, provider: str | None = None) -> list[dict[str, Any]]:
        params = {"provider": provider} if provider else None
        response = httpx.get(f"{self.gateway.url}/local/faults/attempts", headers=LOCAL, params=params)
        assert response.status_code == 200, response.text
        return response.json()["attempts"]


def _no_router(_event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return {"statusCode": 404, "body": ""}


@pytest.fixture(scope="module")
def _stack() -> Iterator[Stack]:
    faults = FaultRegistry()
    simulators = start_uvicorn(build_providers_app(faults))
    gateway = start_uvicorn(build_gateway_app(_no_router, faults))
    try:
        yield Stack(simulators, gateway, faults)
    finally:
        gateway.stop()
        simulators.stop()


@pytest.fixture
def stack(_stack: Stack) -> Iterator[Stack]:
    """No fault and an empty attempts log when the test starts, and after it ends."""
    assert httpx.delete(f"{_stack.gateway.url}/local/faults", headers=LOCAL).status_code == 200
    yield _stack
    httpx.delete(f"{_stack.gateway.url}/local/faults", headers=LOCAL)


# --- streams, as each provider's own client reads them -------------------------------------------------
def bedrock_client(stack: Stack) -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name="eu-central-1",
        endpoint_url=f"{stack.simulators.url}/bedrock",
        config=Config(retries={"total_max_attempts": 1}),
    )


def converse_stream(stack: Stack, seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = bedrock_client(stack).converse_stream(
        modelId=MODEL_ID, messages=[{"role": "user", "content": [{"text": PROMPT}]}]
    )
    for event in response["stream"]:
        seen.append(event)
    return seen


def meta_stream_lines(stack: Stack) -> list[str]:
    call = CALLS["meta"]
    with httpx.stream(
        "POST", f"{stack.simulators.url}{call.path}", json={**call.body, "stream": True}, headers=call.headers
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        return [line for line in response.iter_lines() if line]


@pytest.mark.usefixtures("fake_aws_credentials")
def test_boto3_reads_the_bedrock_stream_of_the_simulator_event_by_event(stack):
    events = converse_stream(stack, [])

    kinds = [next(iter(event)) for event in events]
    assert kinds[0] == "messageStart" and kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    text = "".join(event["contentBlockDelta"]["delta"]["text"] for event in events if "contentBlockDelta" in event)
    assert text == answer_text("bedrock", stack.call("bedrock").json())
    assert events[-1]["metadata"]["usage"]["outputTokens"] == len(text.split())


@pytest.mark.usefixtures("fake_aws_credentials")
def test_an_in_stream_error_set_through_the_gateway_is_a_bedrock_exception_event(stack):
    stack.set_fault(provider="bedrock", mode="error", status=429, in_stream=True, after_tokens=2)
    seen: list[dict[str, Any]] = []

    with pytest.raises(botocore.exceptions.EventStreamError) as caught:
        converse_stream(stack, seen)

    assert caught.value.response["Error"]["Code"] == "throttlingException"
    assert sum("contentBlockDelta" in event for event in seen) == 2
    assert [attempt["outcome"] for attempt in stack.attempts("bedrock")] == ["429"]


def test_the_llama_api_stream_ends_with_done_unless_no_done_leaves_it_out(stack):
    whole = meta_stream_lines(stack)
    stack.set_fault(provider="meta", mode="no_done")
    unterminated = meta_stream_lines(stack)

    assert whole[-1] == "data: [DONE]" and '"finish_reason":"stop"' in whole[-2]
    assert len(unterminated) == len(whole) - 2
    assert not any("[DONE]" in line or '"finish_reason":"stop"' in line for line in unterminated)


# --- modes ------------------------------------------------------------------------------------------
@by_provider
def test_without_a_fault_each_simulator_answers_in_its_shape(stack, provider):
    response = stack.call(provider)

    assert response.status_code == 200
    assert answer_text(provider, response.json()).startswith("Simulated answer")


@by_provider
def test_reset_resets_the_connection_before_any_byte(stack, provider):
    stack.set_fault(provider=provider, mode="reset")

    with pytest.raises(httpx.ReadError, match="reset by peer"):
        stack.call(provider)


def test_reset_is_a_connection_error_to_boto3(stack):
    stack.set_fault(provider="bedrock", mode="reset")
    client = boto3.client(
        "bedrock-runtime",
        region_name="eu-central-1",
        endpoint_url=f"{stack.simulators.url}/bedrock",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"total_max_attempts": 1}),
    )

    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        client.converse(modelId=MODEL_ID, messages=[{"role": "user", "content": [{"text": PROMPT}]}])


@by_provider
def test_hang_holds_the_request_until_the_client_gives_up(stack, provider):
    stack.set_fault(provider=provider, mode="hang")
    started = time.monotonic()

    with pytest.raises(httpx.ReadTimeout):
        stack.call(provider, timeout_s=0.5)

    assert time.monotonic() - started >= 0.5


def test_a_hanging_request_does_not_hold_up_the_others(stack):
    stack.set_fault(provider="google", mode="hang")
    hung: list[BaseException] = []

    def held() -> None:
        try:
            stack.call("google", timeout_s=1.5)
        except httpx.TransportError as exc:
            hung.append(exc)

    thread = threading.Thread(target=held, daemon=True)
    thread.start()
    _wait_for(lambda: len(stack.attempts("google")) == 1)

    started = time.monotonic()
    answered = stack.call("meta")

    assert answered.status_code == 200
    assert time.monotonic() - started < 1.0
    thread.join(5)
    assert [type(exc) for exc in hung] == [httpx.ReadTimeout]


def test_a_server_with_a_hanging_request_shuts_down_at_once_and_resets_it():
    faults = FaultRegistry()
    server = start_uvicorn(build_providers_app(faults), graceful_shutdown_s=5)
    faults.set(FaultSpec(provider="meta", mode="hang"))
    call = CALLS["meta"]
    seen: list[BaseException] = []

    def client() -> None:
        try:
            httpx.post(f"{server.url}{call.path}", json=call.body, headers=call.headers, timeout=30)
        except httpx.TransportError as exc:
            seen.append(exc)

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    _wait_for(lambda: faults.requests("meta") == 1)
    started = time.monotonic()

    server.stop()

    assert time.monotonic() - started < 2.0  # well inside the 5 s a held request would take
    thread.join(5)
    assert [type(exc) for exc in seen] in ([httpx.ReadError], [httpx.RemoteProtocolError])


@by_provider
def test_slow_first_token_answers_normally_after_the_delay(stack, provider):
    stack.set_fault(provider=provider, mode="slow_first_token", first_token_delay_ms=400)
    started = time.monotonic()

    response = stack.call(provider)

    assert time.monotonic() - started >= 0.4
    assert answer_text(provider, response.json()).startswith("Simulated answer")


@by_provider
@pytest.mark.parametrize("mode", ["cut", "no_done"])
def test_cut_sends_headers_and_part_of_the_body_then_closes(stack, provider, mode):
    stack.set_fault(provider=provider, mode=mode, after_tokens=3)
    call = CALLS[provider]
    http = urllib3.PoolManager(retries=False)

    response = http.request(
        "POST", f"{stack.simulators.url}{call.path}", json=call.body, headers=call.headers, preload_content=False
    )
    received = b""
    with pytest.raises(urllib3.exceptions.ProtocolError, match=r"IncompleteRead|Connection broken"):
        for chunk in response.stream(1):
            received += chunk

    assert response.status == 200
    assert len(received) == 3 * BODY_BYTES_PER_TOKEN
    assert int(response.headers["content-length"]) > len(received)


@by_provider
def test_cut_without_after_tokens_keeps_half_the_body(stack, provider):
    stack.set_fault(provider=provider, mode="cut")

    with pytest.raises(httpx.RemoteProtocolError, match="without sending complete message body") as caught:
        stack.call(provider)

    received, expected = map(int, caught.value.args[0].split("received ")[1].rstrip(")").split(" bytes, expected "))
    assert received == expected // 2


@by_provider
def test_stall_sends_part_of_the_body_pauses_then_sends_the_rest(stack, provider):
    stack.set_fault(provider=provider, mode="stall", stall_ms=500, after_tokens=2)
    call = CALLS[provider]
    started = time.monotonic()
    arrivals: list[tuple[float, bytes]] = []

    with httpx.stream(
        "POST", f"{stack.simulators.url}{call.path}", json=call.body, headers=call.headers, timeout=5
    ) as response:
        for chunk in response.iter_raw():
            arrivals.append((time.monotonic() - started, chunk))

    first_at, first = arrivals[0]
    assert first == b"".join(chunk for _, chunk in arrivals)[: 2 * BODY_BYTES_PER_TOKEN]
    assert first_at < 0.4
    assert arrivals[-1][0] >= 0.5
    assert answer_text(provider, json.loads(b"".join(chunk for _, chunk in arrivals))).startswith("Simulated")


@by_provider
def test_malformed_chunk_answers_200_with_a_body_that_is_not_json(stack, provider):
    stack.set_fault(provider=provider, mode="malformed_chunk")

    response = stack.call(provider)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_an_mcp_fault_strikes_tool_calls_and_lets_the_session_s_own_requests_through(stack):
    stack.set_fault(provider="mcp", status=503)
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }

    handshake = httpx.post(f"{stack.simulators.url}/mcp", json=initialize, headers={"accept": MCP_HEADERS["accept"]})
    call = stack.call("mcp")

    assert (handshake.status_code, call.status_code) == (200, 503)
    assert [a["outcome"] for a in stack.attempts("mcp")] == ["503"]


# --- error codes, Retry-After -----------------------------------------------------------------------
def meta_refusal(code: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": "messages", "code": code}}


REFUSALS_400 = [
    ("bedrock", "context_length_exceeded", {"message": "Input is too long for requested model."}),
    ("bedrock", "content_filter", {"message": "This request has been blocked by our content filters."}),
    (
        "meta",
        "context_length_exceeded",
        meta_refusal("context_length_exceeded", "This model's maximum context length is 128000 tokens."),
    ),
    (
        "meta",
        "content_filter",
        meta_refusal(
            "content_filter", "The response was filtered due to the prompt triggering the content management policy."
        ),
    ),
]


@pytest.mark.parametrize(("provider", "code", "body"), REFUSALS_400)
def test_bedrock_and_meta_refuse_with_a_400_in_their_own_shape(stack, provider, code, body):
    stack.set_fault(provider=provider, error_code=code)

    response = stack.call(provider)

    assert (response.status_code, response.json()) == (400, body)


PREFILLS = {  # each chat simulator's request, ending with the model's own (partial) turn
    "bedrock": {"role": "assistant", "content": [{"text": "Paris is"}]},
    "google": {"role": "model", "parts": [{"text": "Paris is"}]},
    "meta": {"role": "assistant", "content": "Paris is"},
}


@pytest.mark.parametrize("provider", list(PREFILLS))
def test_rejects_prefill_refuses_only_a_request_ending_with_an_assistant_turn(stack, provider):
    stack.set_fault(provider=provider, mode="rejects_prefill")
    call = CALLS[provider]
    turns = "contents" if provider == "google" else "messages"
    prefilled = {**call.body, turns: [*call.body[turns], PREFILLS[provider]]}

    refused = httpx.post(f"{stack.simulators.url}{call.path}", json=prefilled, headers=call.headers, timeout=5.0)
    answered = stack.call(provider)

    assert refused.status_code == 400 and "prefill" in refused.text
    assert answered.status_code == 200 and answer_text(provider, answered.json()).startswith("Simulated answer")
    assert [a["outcome"] for a in stack.attempts(provider)] == ["prefill_rejected", "ok"]


@pytest.mark.parametrize("code", ["context_length_exceeded", "content_filter"])
def test_bedrock_s_refusals_are_validation_exceptions(stack, code):
    stack.set_fault(provider="bedrock", error_code=code)

    assert stack.call("bedrock").headers["x-amzn-ErrorType"].split(":")[0] == "ValidationException"


def test_google_refuses_a_long_input_with_invalid_argument(stack):
    stack.set_fault(provider="google", error_code="context_length_exceeded")

    response = stack.call("google")

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": 400,
            "message": "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
            "status": "INVALID_ARGUMENT",
        }
    }


def test_google_blocks_filtered_content_with_a_200_that_has_no_candidates(stack):
    stack.set_fault(provider="google", error_code="content_filter")

    response = stack.call("google")

    prompt_tokens = len(PROMPT.split())
    assert response.status_code == 200
    assert response.json() == {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens},
    }


@pytest.mark.parametrize("code", ["context_length_exceeded", "content_filter"])
def test_mcp_refuses_with_a_tool_error_result_whose_text_starts_with_the_code(stack, code):
    stack.set_fault(provider="mcp", error_code=code)

    response = stack.call("mcp")

    assert response.status_code == 200
    result = response.json()["result"]
    assert result["isError"] is True
    assert [block["type"] for block in result["content"]] == ["text"]
    assert result["content"][0]["text"].startswith(f"{code}: ")
    assert len(result["content"][0]["text"]) > len(f"{code}: ")


def test_a_client_cannot_ask_the_mcp_tool_for_a_refusal_itself(stack):
    call = CALLS["mcp"]
    headers = {**call.headers, "x-local-injected-refusal": "content_filter"}

    response = httpx.post(f"{stack.simulators.url}{call.path}", json=call.body, headers=headers)

    assert answer_text("mcp", response.json()).startswith("Simulated answer")


@by_provider
def test_retry_after_s_is_sent_on_injected_error_answers(stack, provider):
    stack.set_fault(provider=provider, status=429, retry_after_s=7)

    response = stack.call(provider)

    assert (response.status_code, response.headers["retry-after"]) == (429, "7")


def test_google_s_retry_info_carries_retry_after_s(stack):
    stack.set_fault(provider="google", status=429, retry_after_s=2.5)

    details = stack.call("google").json()["error"]["details"]

    assert details == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}]


@pytest.mark.parametrize("provider", ["google", "meta"])
def test_an_injected_429_without_retry_after_s_still_says_one_second(stack, provider):
    stack.set_fault(provider=provider, status=429)

    response = stack.call(provider)

    said = response.headers.get("retry-after") or response.json()["error"]["details"][0]["retryDelay"]
    assert said in ("1", "1s")


# --- the old fields -----------------------------------------------------------------------------------
def test_the_old_fields_still_inject_a_status_and_list_the_fault(stack):
    set_answer = stack.set_fault(provider="bedrock", error_rate=1.0, status=503, latency_ms=0)

    assert stack.call("bedrock").status_code == 503
    listed = httpx.get(f"{stack.gateway.url}/local/faults", headers=LOCAL).json()["faults"]
    assert listed == set_answer.json()["faults"]
    assert [(f["provider"], f["mode"], f["status"], f["error_rate"]) for f in listed] == [
        ("bedrock", "error", 503, 1.0)
    ]


def test_the_old_latency_only_fault_still_delays_a_normal_answer(stack):
    stack.set_fault(provider="meta", error_rate=0.0, latency_ms=300)
    started = time.monotonic()

    response = stack.call("meta")

    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200
    assert [a["outcome"] for a in stack.attempts("meta")] == ["ok"]


# --- first_n, duration_s, the attempts log ---------------------------------------------------------
@by_provider
def test_first_n_faults_the_first_attempts_then_the_provider_behaves(stack, provider):
    stack.set_fault(provider=provider, status=500, first_n=2)

    statuses = [stack.call(provider).status_code for _ in range(3)]

    assert statuses == [500, 500, 200]
    assert [a["outcome"] for a in stack.attempts(provider)] == ["500", "500", "ok"]


def test_duration_s_faults_for_that_long_then_the_provider_behaves(stack):
    stack.set_fault(provider="google", mode="malformed_chunk", duration_s=0.4)

    during = stack.call("google")
    time.sleep(0.5)
    after = stack.call("google")

    with pytest.raises(json.JSONDecodeError):
        during.json()
    assert answer_text("google", after.json()).startswith("Simulated answer")


def test_the_attempts_log_lists_every_request_oldest_first_with_its_outcome(stack):
    stack.set_fault(provider="meta", error_code="content_filter", first_n=1)
    stack.set_fault(provider="bedrock", mode="cut")
    before = time.time()
    for provider in ("meta", "meta", "google"):
        stack.call(provider)
    with pytest.raises(httpx.RemoteProtocolError):
        stack.call("bedrock")

    attempts = stack.attempts()

    assert [(a["provider"], a["outcome"]) for a in attempts] == [
        ("meta", "content_filter"),
        ("meta", "ok"),
        ("google", "ok"),
        ("bedrock", "cut"),
    ]
    times = [a["at"] for a in attempts]
    assert all(isinstance(t, float) for t in times)
    assert before <= times[0] and times == sorted(times) and times[-1] <= time.time()


def test_the_attempts_log_is_filtered_by_provider(stack):
    stack.set_fault(provider="google", status=503)
    for provider in ("google", "meta", "google"):
        stack.call(provider)

    assert [(a["provider"], a["outcome"]) for a in stack.attempts("google")] == [("google", "503"), ("google", "503")]
    assert [a["outcome"] for a in stack.attempts("meta")] == ["ok"]


def test_delete_with_a_provider_clears_its_fault_and_attempts_only(stack):
    stack.set_fault(provider="google", status=503)
    stack.set_fault(provider="meta", status=503)
    stack.call("google")
    stack.call("meta")

    cleared = httpx.delete(f"{stack.gateway.url}/local/faults", headers=LOCAL, params={"provider": "google"})

    assert [f["provider"] for f in cleared.json()["faults"]] == ["meta"]
    assert [a["provider"] for a in stack.attempts()] == ["meta"]
    assert stack.call("google").status_code == 200


def test_delete_clears_every_fault_and_the_whole_log(stack):
    stack.set_fault(provider="mcp", mode="reset")
    with pytest.raises(httpx.ReadError):
        stack.call("mcp")

    cleared = httpx.delete(f"{stack.gateway.url}/local/faults", headers=LOCAL)

    assert cleared.json() == {"faults": []}
    assert stack.attempts() == []
    assert stack.call("mcp").status_code == 200


# --- bad values -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "acme"}, "provider"),
        ({"provider": "bedrock", "mode": "explode"}, "mode"),
        ({"provider": "bedrock", "error_code": "too_polite"}, "error_code"),
        ({"provider": "bedrock", "mode": "hang", "error_code": "content_filter"}, "error_code"),
        ({"provider": "bedrock", "error_rate": 1.5}, "error_rate"),
        ({"provider": "bedrock", "error_rate": -0.1}, "error_rate"),
        ({"provider": "bedrock", "status": 200}, "status"),
        ({"provider": "bedrock", "latency_ms": -1}, "latency_ms"),
        ({"provider": "bedrock", "first_token_delay_ms": -5}, "first_token_delay_ms"),
        ({"provider": "bedrock", "after_tokens": -1}, "after_tokens"),
        ({"provider": "bedrock", "stall_ms": -1}, "stall_ms"),
        ({"provider": "bedrock", "retry_after_s": -2}, "retry_after_s"),
        ({"provider": "bedrock", "first_n": 0}, "first_n"),
        ({"provider": "bedrock", "duration_s": 0}, "duration_s"),
        ({"provider": "bedrock", "status": "503"}, "status"),
        ({"provider": "bedrock", "error_rate": "high"}, "error_rate"),
        ({"provider": "bedrock", "first_n": True}, "first_n"),
        ({"provider": "bedrock", "stall_ms": 1.5}, "stall_ms"),
        ({"provider": "bedrock", "blast_radius": 3}, "blast_radius"),
        ({"provider": "bedrock", "mode": "cut", "in_stream": True}, "in_stream"),
        ({"provider": "bedrock", "in_stream": "yes"}, "in_stream"),
        ({"mode": "reset"}, "provider"),
        ([{"provider": "bedrock"}], "body"),
    ],
)
def test_a_bad_fault_is_a_400_naming_the_field(stack, body, field):
    response = httpx.post(f"{stack.gateway.url}/local/faults", headers=LOCAL, json=body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_fault"
    assert error["message"].startswith(f"{field}: ")
    assert httpx.get(f"{stack.gateway.url}/local/faults", headers=LOCAL).json() == {"faults": []}


def test_a_body_that_is_not_json_is_a_400_naming_the_body(stack):
    response = httpx.post(f"{stack.gateway.url}/local/faults", headers=LOCAL, content=b"{provider: bedrock")

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("body: ")


@pytest.mark.parametrize("method", ["GET attempts", "DELETE"])
def test_an_unknown_provider_parameter_is_a_400_naming_it(stack, method):
    stack.set_fault(provider="bedrock", status=503)
    verb, _, path = method.partition(" ")
    url = f"{stack.gateway.url}/local/faults" + (f"/{path}" if path else "")

    response = httpx.request(verb, url, params={"provider": "acme"}, headers=LOCAL)

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("provider: ")
    assert [f["provider"] for f in httpx.get(f"{stack.gateway.url}/local/faults", headers=LOCAL).json()["faults"]] == [
        "bedrock"
    ]


def _wait_for(condition: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
