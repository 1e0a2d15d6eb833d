"""The real Bedrock, MCP, Google and Llama API adapters against the local simulators, over HTTP, with faults."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from functions.adapters.providers.bedrock import BedrockProvider
from functions.adapters.providers.google import GoogleProvider
from functions.adapters.providers.mcp import McpProvider
from functions.adapters.providers.meta import LlamaApiProvider
from functions.adapters.secrets import secret_getter
from functions.domain.completion import CompletionRequest, Provider, Turn
from functions.domain.errors import (
    ProviderBadRequest,
    ProviderResponseInvalid,
    ProviderThrottled,
    ProviderTimeout,
    ProviderUnavailable,
)
from local.faults import FaultSpec

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
GOOGLE_MODEL = "gemini-2.0-flash"
META_MODEL = "Llama-4-Maverick-17B-128E-Instruct-FP8"
REQUEST = CompletionRequest(turns=(Turn("user", "What is the capital of France?"),), system=("Answer briefly.",))


@pytest.fixture(autouse=True)
def _fake_aws_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def bedrock(sims) -> BedrockProvider:
    return BedrockProvider(MODEL_ID, region="eu-central-1", endpoint_url=sims.bedrock_endpoint_url)


def mcp(sims) -> McpProvider:
    return McpProvider(server_url=sims.mcp_url, tool_name="generate")


def google(sims, key: str = "local-google-key") -> GoogleProvider:
    return GoogleProvider(GOOGLE_MODEL, api_key=lambda: key, endpoint_url=f"{sims.server.url}/google")


def meta(sims, key: str = "local-llama-key") -> LlamaApiProvider:
    return LlamaApiProvider(META_MODEL, api_key=lambda: key, endpoint_url=f"{sims.server.url}/meta")


ADAPTERS: list[Callable[..., Provider]] = [bedrock, mcp, google, meta]
by_adapter = pytest.mark.parametrize("make_provider", ADAPTERS, ids=lambda f: f.__name__)


def test_the_simulators_answer_their_health_check(provider_simulators):
    response = httpx.get(f"{provider_simulators.server.url}/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@by_adapter
def test_each_adapter_gets_a_completion_with_token_usage(provider_simulators, make_provider):
    completion = make_provider(provider_simulators).complete(REQUEST, timeout_s=5)

    assert completion.text.startswith("Simulated answer")
    assert "capital of France" not in completion.text
    prompt_words = [word for text in (*REQUEST.system, *(t.text for t in REQUEST.turns)) for word in text.split()]
    assert completion.input_tokens == len(prompt_words)
    assert completion.output_tokens == len(completion.text.split())
    assert completion.finish_reason == "stop"


def test_bedrock_reports_the_configured_model_id(provider_simulators):
    assert bedrock(provider_simulators).complete(REQUEST, timeout_s=5).model == MODEL_ID


def test_mcp_reports_the_model_the_tool_answered_with(provider_simulators):
    request = CompletionRequest(turns=REQUEST.turns, requested_model="tiny-model")

    assert mcp(provider_simulators).complete(request, timeout_s=5).model == "tiny-model"


@by_adapter
def test_max_tokens_truncates_the_answer_and_finishes_with_length(provider_simulators, make_provider):
    request = CompletionRequest(turns=REQUEST.turns, max_tokens=3)

    completion = make_provider(provider_simulators).complete(request, timeout_s=5)

    assert completion.output_tokens == 3
    assert len(completion.text.split()) == 3
    assert completion.finish_reason == "length"


@by_adapter
def test_a_stop_sequence_cuts_the_answer_before_it(provider_simulators, make_provider):
    provider = make_provider(provider_simulators)
    full = provider.complete(CompletionRequest(turns=REQUEST.turns), timeout_s=5).text

    completion = provider.complete(CompletionRequest(turns=REQUEST.turns, stop=("request",)), timeout_s=5)

    assert completion.text == full.split("request")[0].rstrip()
    assert completion.finish_reason == "stop"


@by_adapter
def test_an_injected_429_is_a_throttle(provider_simulators, make_provider):
    provider_simulators.faults.set(FaultSpec(provider=make_provider.__name__, status=429))

    with pytest.raises(ProviderThrottled) as caught:
        make_provider(provider_simulators).complete(REQUEST, timeout_s=5)

    assert caught.value.provider == make_provider.__name__


@by_adapter
def test_an_injected_503_makes_the_provider_unavailable(provider_simulators, make_provider):
    provider_simulators.faults.set(FaultSpec(provider=make_provider.__name__, status=503))

    with pytest.raises(ProviderUnavailable):
        make_provider(provider_simulators).complete(REQUEST, timeout_s=5)


@by_adapter
def test_an_injected_500_makes_the_provider_unavailable(provider_simulators, make_provider):
    provider_simulators.faults.set(FaultSpec(provider=make_provider.__name__, status=500))

    with pytest.raises(ProviderUnavailable):
        make_provider(provider_simulators).complete(REQUEST, timeout_s=5)


@by_adapter
def test_latency_beyond_the_budget_is_a_timeout_raised_within_the_budget(provider_simulators, make_provider):
    provider_simulators.faults.set(FaultSpec(provider=make_provider.__name__, error_rate=0.0, latency_ms=1500))
    started = time.monotonic()

    with pytest.raises(ProviderTimeout):
        make_provider(provider_simulators).complete(REQUEST, timeout_s=0.5)

    assert time.monotonic() - started < 1.5


@by_adapter
def test_latency_within_the_budget_still_answers(provider_simulators, make_provider):
    provider_simulators.faults.set(FaultSpec(provider=make_provider.__name__, error_rate=0.0, latency_ms=50))

    completion = make_provider(provider_simulators).complete(REQUEST, timeout_s=5)

    assert completion.text.startswith("Simulated answer")


@by_adapter
def test_once_the_fault_is_cleared_the_provider_answers_again(provider_simulators, make_provider):
    provider = make_provider(provider_simulators)
    provider_simulators.faults.set(FaultSpec(provider=make_provider.__name__, status=503))
    with pytest.raises(ProviderUnavailable):
        provider.complete(REQUEST, timeout_s=5)

    provider_simulators.faults.clear(make_provider.__name__)

    assert provider.complete(REQUEST, timeout_s=5).text.startswith("Simulated answer")


@by_adapter
def test_a_fault_on_another_provider_leaves_this_one_answering(provider_simulators, make_provider):
    other = "mcp" if make_provider is bedrock else "bedrock"
    provider_simulators.faults.set(FaultSpec(provider=other, status=503))

    assert make_provider(provider_simulators).complete(REQUEST, timeout_s=5).text.startswith("Simulated answer")


def test_bedrock_validation_errors_from_the_simulator_are_bad_requests(provider_simulators):
    starts_with_assistant = CompletionRequest(turns=(Turn("assistant", "Hi"), Turn("user", "Hello")))

    with pytest.raises(ProviderBadRequest) as caught:
        bedrock(provider_simulators).complete(starts_with_assistant, timeout_s=5)

    assert "must start with a user message" in caught.value.message


def test_an_mcp_tool_error_is_unavailable_with_the_tools_text_and_not_the_prompt(provider_simulators):
    no_user_turn = CompletionRequest(turns=(), system=("a secret system prompt",))

    with pytest.raises(ProviderUnavailable) as caught:
        mcp(provider_simulators).complete(no_user_turn, timeout_s=5)

    assert "at least one user message" in caught.value.message
    assert "secret" not in caught.value.message


@by_adapter
def test_a_provider_nobody_listens_on_is_unavailable(provider_simulators, make_provider):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{closed_port}"
    nobody = SimpleNamespace(
        server=SimpleNamespace(url=url), bedrock_endpoint_url=f"{url}/bedrock", mcp_url=f"{url}/mcp"
    )
    provider = make_provider(nobody)

    with pytest.raises(ProviderUnavailable):
        provider.complete(REQUEST, timeout_s=5)


def test_importing_the_mcp_adapter_does_not_load_the_mcp_sdk():
    code = (
        "import sys, functions.adapters.providers.mcp; print(sorted(m for m in ('mcp', 'httpx2') if m in sys.modules))"
    )

    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert loaded.strip() == "[]"


@pytest.mark.parametrize("mode", ["auto", "legacy", "2026-07-28"])
def test_mcp_answers_in_each_connect_mode(provider_simulators, mode):
    provider = McpProvider(server_url=provider_simulators.mcp_url, mode=mode)

    assert provider.complete(REQUEST, timeout_s=5).text.startswith("Simulated answer")


def test_an_unknown_mcp_connect_mode_is_unavailable(provider_simulators):
    with pytest.raises(ProviderUnavailable, match="ValueError"):
        McpProvider(server_url=provider_simulators.mcp_url, mode="2024-11-05").complete(REQUEST, timeout_s=5)


# Run in a fresh interpreter: this process imported the whole SDK for the simulators' MCP server.
FIRST_MCP_CALL = """
import sys
from functions.adapters.providers.mcp import McpProvider
from functions.domain.completion import CompletionRequest, Turn

request = CompletionRequest(turns=(Turn("user", "What is the capital of France?"),))
text = McpProvider(server_url=sys.argv[1]).complete(request, timeout_s=5).text
loaded = sorted(m for m in ("mcp.server", "starlette", "uvicorn") if m in sys.modules)
from mcp import Client, ClientSession
from mcp.client import Transport
print(text.startswith("Simulated answer"), loaded, Client.__module__, ClientSession.__module__, Transport.__name__)
"""


def test_the_first_mcp_call_loads_the_sdk_client_without_its_server_side(provider_simulators):
    run = subprocess.run(
        [sys.executable, "-c", FIRST_MCP_CALL, provider_simulators.mcp_url], capture_output=True, text=True
    )

    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["True", "[]", "mcp.client.client", "mcp.client.session", "Transport"]


PRELOADED_MCP_CALL = """
import sys
from functions.adapters.providers.mcp import McpProvider, import_sdk_client
from functions.domain.completion import CompletionRequest, Turn

import_sdk_client()
before = set(sys.modules)
request = CompletionRequest(turns=(Turn("user", "What is the capital of France?"),))
McpProvider(server_url=sys.argv[1]).complete(request, timeout_s=5)
print(sorted(set(sys.modules) - before))
"""


def test_after_import_sdk_client_the_first_mcp_call_imports_nothing_more(provider_simulators):
    run = subprocess.run(
        [sys.executable, "-c", PRELOADED_MCP_CALL, provider_simulators.mcp_url], capture_output=True, text=True
    )

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def misbehaving_mcp_url() -> Iterator[str]:
    """An MCP server whose `generate` tool answers with usage counts as text: valid MCP, wrong shape."""
    from mcp.server.mcpserver import MCPServer

    from local.servers import start_uvicorn

    server = MCPServer(name="misbehaving")

    @server.tool(name="generate", structured_output=True)
    def generate(messages: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "content": "hi",
            "model": "m",
            "usage": {"input_tokens": "1", "output_tokens": 1},
            "finish_reason": "stop",
        }

    handle = start_uvicorn(server.streamable_http_app(stateless_http=True, json_response=True))
    try:
        yield f"{handle.url}/mcp"
    finally:
        handle.stop()


def test_an_mcp_result_in_the_wrong_shape_is_a_provider_response_invalid_error(misbehaving_mcp_url):
    with pytest.raises(ProviderResponseInvalid):
        McpProvider(server_url=misbehaving_mcp_url).complete(REQUEST, timeout_s=5)


# --- Google and the Llama API ------------------------------------------------------------------
HTTP_ADAPTERS: list[Callable[..., Provider]] = [google, meta]
by_http_adapter = pytest.mark.parametrize("make_provider", HTTP_ADAPTERS, ids=lambda f: f.__name__)


def test_google_reports_the_model_version_it_answered_with(provider_simulators):
    assert google(provider_simulators).complete(REQUEST, timeout_s=5).model == GOOGLE_MODEL


def test_the_llama_api_reports_the_model_it_answered_with(provider_simulators):
    assert meta(provider_simulators).complete(REQUEST, timeout_s=5).model == META_MODEL


@by_http_adapter
def test_an_injected_429_carries_when_to_retry(provider_simulators, make_provider):
    provider_simulators.faults.set(FaultSpec(provider=make_provider.__name__, status=429))

    with pytest.raises(ProviderThrottled) as caught:
        make_provider(provider_simulators).complete(REQUEST, timeout_s=5)

    assert caught.value.retry_after == 1


@by_http_adapter
def test_a_request_without_an_api_key_is_refused_and_the_provider_unavailable(provider_simulators, make_provider):
    with pytest.raises(ProviderUnavailable) as caught:
        make_provider(provider_simulators, key="").complete(REQUEST, timeout_s=5)

    assert caught.value.provider == make_provider.__name__
    assert any(str(status) in caught.value.message for status in (401, 403))


def test_a_provider_with_no_key_configured_is_unavailable_before_calling(provider_simulators):
    no_key = secret_getter(None, None, "GOOGLE_API_KEY")
    provider = GoogleProvider(GOOGLE_MODEL, api_key=no_key, endpoint_url=f"{provider_simulators.server.url}/google")

    with pytest.raises(ProviderUnavailable) as caught:
        provider.complete(REQUEST, timeout_s=5)

    assert "GOOGLE_API_KEY" in caught.value.message
    assert caught.value.provider == "google"


@by_http_adapter
def test_validation_errors_from_the_simulator_are_bad_requests_with_its_message(provider_simulators, make_provider):
    too_hot = CompletionRequest(turns=REQUEST.turns, temperature=5.0)

    with pytest.raises(ProviderBadRequest) as caught:
        make_provider(provider_simulators).complete(too_hot, timeout_s=5)

    assert "temperature" in caught.value.message


def test_google_refuses_more_than_five_stop_sequences(provider_simulators):
    many_stops = CompletionRequest(turns=REQUEST.turns, stop=tuple("abcdef"))

    with pytest.raises(ProviderBadRequest) as caught:
        google(provider_simulators).complete(many_stops, timeout_s=5)

    assert "stop_sequences" in caught.value.message


def test_the_llama_api_needs_a_user_message(provider_simulators):
    system_only = CompletionRequest(turns=(), system=("Be brief.",))

    with pytest.raises(ProviderBadRequest):
        meta(provider_simulators).complete(system_only, timeout_s=5)


def test_the_gemini_simulator_answers_an_unknown_field_with_googles_error_shape(provider_simulators):
    url = f"{provider_simulators.server.url}/google/v1beta/models/{GOOGLE_MODEL}:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}], "max_tokens": 5}

    response = httpx.post(url, json=body, headers={"x-goog-api-key": "k"})

    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert '"max_tokens"' in response.json()["error"]["message"]


def test_the_llama_simulator_answers_a_missing_model_with_the_openai_error_shape(provider_simulators):
    body = {"messages": [{"role": "user", "content": "Hi"}]}

    response = httpx.post(
        f"{provider_simulators.server.url}/meta/chat/completions", json=body, headers={"Authorization": "Bearer k"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["param"] == "model"
