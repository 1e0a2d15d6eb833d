"""Streaming end to end: the local stack as `make run` starts it, its simulators streaming in each provider's
wire protocol through the real adapters, faults set with `POST /local/faults`. The openai client streams and
reassembles what a buffered call answers; a slow first token fails over before anything is sent; a cut or a
stall never ends like a complete answer; a malformed event or a missing terminator still gives the whole text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from functions.domain.names import BEDROCK, GOOGLE
from functions.domain.routing.matrix import ROUTING_MATRIX, OperationType
from local.gateway import LOCAL_HEADERS as LOCAL
from tests.e2e.conftest import Running, started_stack

INFRA = {"X-Operation-Type": "infrastructure"}  # the Direct route, on the weighted provider (bedrock) first


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    """A stack of this module's own: the routing state other e2e modules leave in the shared one (overrides,
    health marks, weights) must not move the infrastructure route off its weighted provider."""
    with started_stack(CLIENT_API_KEY="hr-e2e-stream-key") as stack:
        yield stack


@pytest.fixture
def http(running) -> Iterator[httpx.Client]:
    """A client of the stack, from closed breakers and no fault, and back to that after the test."""
    with httpx.Client(base_url=running.url, timeout=60, headers=LOCAL) as client:
        _reset(client, running)
        yield client
        _reset(client, running)


def _reset(client: httpx.Client, running: Any) -> None:
    assert client.delete("/local/faults").status_code == 200
    admin = {"Authorization": f"Bearer {running.admin_token}"}
    assert client.post("/admin/circuit-breaker/reset", headers=admin).status_code == 200


def _fault(http: httpx.Client, **spec: Any) -> None:
    response = http.post("/local/faults", json=spec)
    assert response.status_code == 200, response.text


def _question(label: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Walk me through restoring the primary database ({label})."}]


def _stream(http: httpx.Client, running: Any, label: str, **body: Any) -> tuple[httpx.Response, list[str]]:
    """A raw streamed request: its answer and its `data:` payloads in order."""
    headers = {"Authorization": f"Bearer {running.client_key}", **INFRA}
    request = {"model": "m", "messages": _question(label), "stream": True, **body}
    with http.stream("POST", "/v1/chat/completions", json=request, headers=headers) as response:
        text = response.read().decode()
    payloads = [frame[len("data: ") :] for frame in text.split("\n\n") if frame.startswith("data: ")]
    return response, payloads


def _content(payloads: list[str]) -> str:
    return "".join(
        choice["delta"].get("content") or ""
        for payload in payloads
        if payload != "[DONE]"
        for choice in json.loads(payload).get("choices", [])
    )


def _buffered(http: httpx.Client, running: Any, label: str, provider: str) -> str:
    """What `provider` answers the same question, buffered (the faults cleared, the others' breakers aside)."""
    headers = {"Authorization": f"Bearer {running.client_key}", **INFRA}
    body = {"model": "m", "messages": _question(label)}
    answer = http.post("/v1/chat/completions", json=body, headers=headers)
    assert answer.status_code == 200 and answer.headers["x-hybrid-provider"] == provider, answer.headers
    return str(answer.json()["choices"][0]["message"]["content"])


@pytest.mark.parametrize("operation", list(OperationType))
def test_the_openai_client_streams_each_operation_type_and_reassembles_the_buffered_answer(running, operation):
    client = OpenAI(base_url=f"{running.url}/v1", api_key=running.client_key, max_retries=0)
    messages = [{"role": "user", "content": f"Summarise the overnight alerts ({operation.value})."}]
    headers = {"X-Operation-Type": operation.value}
    buffered = client.chat.completions.create(model="m", messages=messages, extra_headers=headers)  # type: ignore[arg-type]

    with client.chat.completions.with_streaming_response.create(
        model="m",
        messages=messages,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=headers,
    ) as raw:
        assert raw.headers["content-type"].startswith("text/event-stream")
        assert raw.headers["x-hybrid-route"] == ROUTING_MATRIX[operation].primary.value
        chunks = list(raw.parse())

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and text == buffered.choices[0].message.content
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1  # streamed, not one block
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == buffered.usage.total_tokens  # type: ignore[union-attr]


def test_a_slow_first_token_on_the_weighted_provider_is_answered_by_the_next_one(http, running):
    expected = _buffered(http, running, "slow", BEDROCK)
    _fault(http, provider=BEDROCK, mode="slow_first_token", first_token_delay_ms=20_000)

    response, payloads = _stream(http, running, "slow")

    # bedrock's first token would come in 20 s: abandoned at the infrastructure limit (4 s of its 10 s budget)
    assert response.status_code == 200
    assert response.headers["x-hybrid-provider"] == GOOGLE and response.headers["x-hybrid-fallback"] == "true"
    assert response.headers["x-hybrid-attempts"] == "bedrock:timeout,google:ok"
    assert payloads[-1] == "[DONE]"
    text = _content(payloads)
    assert text and text != expected  # google's own answer, nothing of bedrock's
    assert json.loads(payloads[-2])["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    "fault",
    [
        {"mode": "cut", "after_tokens": 3},
        {"mode": "stall", "after_tokens": 3, "stall_ms": 9_000},
        {"mode": "error", "in_stream": True, "after_tokens": 3},
    ],
    ids=["cut", "stall", "in-stream-error"],
)
def test_a_stream_broken_after_a_partial_answer_never_ends_with_stop_or_done(http, running, fault):
    label = f"broken {fault['mode']}"
    expected = _buffered(http, running, label, BEDROCK)
    _fault(http, provider=BEDROCK, **fault)

    response, payloads = _stream(http, running, label)

    assert response.status_code == 200 and response.headers["x-hybrid-provider"] == BEDROCK
    partial = _content(payloads)
    assert partial and expected.startswith(partial) and partial != expected  # a partial answer reached the client
    assert "[DONE]" not in payloads
    finishes = [c.get("finish_reason") for p in payloads for c in json.loads(p).get("choices", [])]
    assert "stop" not in finishes
    error = json.loads(payloads[-1])["error"]
    assert error["code"] in ("provider_stream_cut", "provider_stream_stalled")
    if fault["mode"] == "stall":
        assert error["code"] == "provider_stream_stalled"


def test_the_openai_client_raises_on_a_cut_stream_instead_of_ending_it_as_complete(http, running):
    _fault(http, provider=BEDROCK, mode="cut", after_tokens=2)
    client = OpenAI(base_url=f"{running.url}/v1", api_key=running.client_key, max_retries=0)
    received: list[str] = []
    with pytest.raises(openai.APIError, match="incomplete"):
        for chunk in client.chat.completions.create(
            model="m",
            messages=_question("openai cut"),
            stream=True,
            extra_headers=INFRA,  # type: ignore[arg-type]
        ):
            received.extend(c.delta.content or "" for c in chunk.choices)
            assert all(c.finish_reason is None for c in chunk.choices)
    assert "".join(received)


@pytest.mark.parametrize("fault", [{"mode": "malformed_chunk", "after_tokens": 2}, {"mode": "no_done"}])
def test_a_malformed_event_or_a_missing_terminator_still_reassembles_the_full_answer(http, running, fault):
    label = f"whole {fault['mode']}"
    expected = _buffered(http, running, label, BEDROCK)
    _fault(http, provider=BEDROCK, **fault)

    response, payloads = _stream(http, running, label, stream_options={"include_usage": True})

    assert response.status_code == 200 and response.headers["x-hybrid-provider"] == BEDROCK
    assert response.headers["x-hybrid-attempts"] == "bedrock:ok"
    assert _content(payloads) == expected
    assert payloads[-1] == "[DONE]"
    assert json.loads(payloads[-2])["usage"]["completion_tokens"] > 0
