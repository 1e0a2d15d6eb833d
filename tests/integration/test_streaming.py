"""`stream: true` through the local gateway and the router's `stream_handler`: the OpenAI stream's exact bytes,
the commit gate (failures before the first delta retried or failed over invisibly, cut and stalled streams ended
with an error event), cache, billing, client disconnects and bad input. The providers are in-process
`StreamingProvider` test doubles (plain classes yielding scripted events or raising the domain's typed errors),
put in place of the configured adapters; the tables, breakers and cache are the local stack's (moto)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from functions.app.chat.wiring import get_dependencies
from functions.domain import names
from functions.domain.completion import (
    Completion,
    CompletionRequest,
    MalformedEvent,
    StreamEnd,
    StreamEvent,
    StreamLimits,
    TextDelta,
    Turn,
)
from functions.domain.errors import (
    ProviderStreamCut,
    ProviderStreamStalled,
    ProviderTimeout,
    ProviderUnavailable,
)
from functions.domain.names import BEDROCK, GOOGLE, MCP, META
from functions.domain.routing.matrix import ROUTING_MATRIX, OperationType
from functions.domain.thresholds import STREAM_FIRST_TOKEN_SECONDS, STREAM_STALL_SECONDS
from functions.handlers.router import lambda_handler, stream_handler
from local import metrics_sink
from tests.support import emf_now, reset_routing_state

INFRA = {"X-Operation-Type": "infrastructure"}  # the Direct route: bedrock, then google, then meta
BODY: dict[str, Any] = {"model": "any", "messages": [{"role": "user", "content": "Summarise the incident."}]}
STREAM = {**BODY, "stream": True}

Script = list[StreamEvent | Exception]


class ScriptedStream:
    """A streaming provider double: each call to `stream` plays the next script, event by event, raising
    the exceptions in it where they stand; it records the limits it was given and whether it was closed."""

    def __init__(self, name: str, *scripts: Script) -> None:
        self.name = name
        self.scripts = list(scripts)
        self.limits: list[StreamLimits] = []
        self.requests: list[CompletionRequest] = []
        self.closed = 0
        self.read = 0

    def complete(self, request: CompletionRequest, timeout_s: float) -> Completion:
        raise AssertionError("a streaming provider is streamed")

    def stream(self, request: CompletionRequest, limits: StreamLimits) -> Iterator[StreamEvent]:
        self.limits.append(limits)
        self.requests.append(request)
        script = self.scripts.pop(0) if len(self.scripts) > 1 else self.scripts[0]  # the last one, again
        try:
            for item in script:
                if isinstance(item, Exception):
                    raise item
                self.read += 1
                yield item
        finally:
            self.closed += 1


class Buffered:
    """A provider without `stream()`: a buffered completion."""

    def __init__(self, name: str, text: str) -> None:
        self.name, self.text = name, text

    def complete(self, request: CompletionRequest, timeout_s: float) -> Completion:
        return Completion(self.text, "buffered-model", 7, 3)


def answer(*parts: str, model: str = "sim-model", usage: tuple[int, int] | None = (5, 4)) -> Script:
    events: Script = [TextDelta(p) for p in parts]
    events.append(StreamEnd(model, "stop", *(usage or (None, None))))
    return events


@pytest.fixture(autouse=True)
def _clean(local_stack):
    reset_routing_state(local_stack)
    yield
    reset_routing_state(local_stack)


@pytest.fixture
def providers(monkeypatch):
    """Put doubles in place of the configured providers for one test."""
    deps = get_dependencies()

    def use(*doubles: Any) -> None:
        for double in doubles:
            monkeypatch.setitem(deps.providers, double.name, double)

    return use


@pytest.fixture
def breaker_records(monkeypatch) -> list[tuple[str, str, str | None]]:
    """Every outcome the breakers record, as (provider, outcome, code)."""
    deps = get_dependencies()
    records: list[tuple[str, str, str | None]] = []
    real = deps.breakers.record

    def record(admission, outcome, latency_ms, code=None):
        records.append((admission.target, outcome, code))
        real(admission, outcome, latency_ms, code)

    monkeypatch.setattr(deps.breakers, "record", record)
    return records


def events_of(text: str) -> list[str]:
    """The `data:` payloads of an SSE body, in order; every frame is `data: ...` and a blank line."""
    assert text.endswith("\n\n"), text
    frames = text[:-2].split("\n\n")
    assert all(f.startswith("data: ") for f in frames), frames
    return [f[len("data: ") :] for f in frames]


def content_of(text: str) -> str:
    return "".join(
        choice["delta"].get("content") or ""
        for payload in events_of(text)
        if payload != "[DONE]"
        for choice in json.loads(payload).get("choices", [])
    )


def test_a_stream_is_the_openai_chunks_byte_for_byte_with_the_buffered_headers(client, providers):
    providers(ScriptedStream(BEDROCK, answer("Hello", ", world")))
    response = client.post(
        "/v1/chat/completions", json={**STREAM, "stream_options": {"include_usage": True}}, headers=INFRA
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-hybrid-route"] == "direct" and response.headers["x-hybrid-provider"] == BEDROCK
    assert response.headers["x-hybrid-fallback"] == "false" and response.headers["x-hybrid-cache"] == "miss"
    assert response.headers["x-hybrid-attempts"] == "bedrock:ok"
    request_id = response.headers["x-request-id"]
    created = re.search(r'"created":(\d+)', response.text).group(1)  # type: ignore[union-attr]
    head = f'{{"id":"chatcmpl-{request_id}","object":"chat.completion.chunk","created":{created},"model":"any",'
    assert response.text == (
        f'data: {head}"choices":[{{"index":0,"delta":{{"role":"assistant","content":""}},"finish_reason":null}}]}}\n\n'
        f'data: {head}"choices":[{{"index":0,"delta":{{"content":"Hello"}},"finish_reason":null}}]}}\n\n'
        f'data: {head}"choices":[{{"index":0,"delta":{{"content":", world"}},"finish_reason":null}}]}}\n\n'
        f'data: {head}"choices":[{{"index":0,"delta":{{}},"finish_reason":"stop"}}]}}\n\n'
        f'data: {head}"choices":[],"usage":{{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}}}}\n\n'
        "data: [DONE]\n\n"
    )


def test_without_include_usage_there_is_no_usage_chunk(client, providers):
    providers(ScriptedStream(BEDROCK, answer("Hi")))
    response = client.post("/v1/chat/completions", json=STREAM, headers=INFRA)
    payloads = events_of(response.text)
    assert payloads[-1] == "[DONE]"
    assert all("usage" not in json.loads(p) for p in payloads[:-1])
    assert content_of(response.text) == "Hi"


def test_a_failure_before_the_first_delta_fails_over_invisibly(client, providers, breaker_records):
    bedrock = ScriptedStream(
        BEDROCK,
        [ProviderUnavailable("down", provider=BEDROCK)],
        [ProviderUnavailable("down again", provider=BEDROCK)],
    )
    google = ScriptedStream(GOOGLE, answer("from google"))
    providers(bedrock, google)

    response = client.post("/v1/chat/completions", json=STREAM, headers=INFRA)

    assert response.status_code == 200
    assert response.headers["x-hybrid-provider"] == GOOGLE and response.headers["x-hybrid-fallback"] == "true"
    assert response.headers["x-hybrid-attempts"] == "bedrock:503,bedrock:503,google:ok"
    assert content_of(response.text) == "from google" and events_of(response.text)[-1] == "[DONE]"
    assert bedrock.closed == 2
    assert (BEDROCK, "server_error", "provider_unavailable") in breaker_records
    assert breaker_records[-1] == (GOOGLE, "ok", None)


def test_no_first_token_within_its_limit_fails_over_and_the_limit_is_the_operations(client, providers):
    bedrock = ScriptedStream(BEDROCK, [ProviderTimeout("no first token", provider=BEDROCK)])
    google = ScriptedStream(GOOGLE, answer("on time"))
    providers(bedrock, google)

    response = client.post("/v1/chat/completions", json=STREAM, headers=INFRA)

    assert response.headers["x-hybrid-attempts"] == "bedrock:timeout,google:ok"
    assert content_of(response.text) == "on time"
    limit = bedrock.limits[0]
    # 40 % of the 10 s budget (4 s), under the planner's attempt timeout (half the budget, 5 s)
    assert limit.first_token_s == STREAM_FIRST_TOKEN_SECONDS["infrastructure"] == 4.0
    assert limit.idle_s == STREAM_STALL_SECONDS
    assert google.limits[0].first_token_s <= 4.0


def test_an_in_stream_error_before_any_delta_is_retried_after_malformed_events(client, providers):
    bedrock = ScriptedStream(
        BEDROCK, [MalformedEvent("bad json"), ProviderUnavailable("in-stream", provider=BEDROCK)], answer("second try")
    )
    providers(bedrock)
    response = client.post("/v1/chat/completions", json=STREAM, headers=INFRA)
    assert response.headers["x-hybrid-attempts"] == "bedrock:503,bedrock:ok"
    assert content_of(response.text) == "second try"


@pytest.mark.parametrize(
    ("error", "code", "error_type"),
    [
        (ProviderStreamCut("reset", provider=BEDROCK), "provider_stream_cut", "server_error"),
        (ProviderStreamStalled("silent", provider=BEDROCK), "provider_stream_stalled", "timeout_error"),
    ],
    ids=["cut", "stall"],
)
def test_a_broken_stream_after_commit_ends_with_an_error_event_never_a_stop_or_done(
    client, providers, breaker_records, error, code, error_type, caplog
):
    bedrock = ScriptedStream(BEDROCK, [TextDelta("Half an "), TextDelta("answer"), error])
    google = ScriptedStream(GOOGLE, answer("never asked"))
    providers(bedrock, google)
    question = [{"role": "user", "content": f"a question whose answer breaks: {code}"}]
    body = {**STREAM, "messages": question, "temperature": 0, "stream_options": {"include_usage": True}}

    with caplog.at_level("INFO"):
        response = client.post("/v1/chat/completions", json=body, headers=INFRA)

    assert response.status_code == 200  # committed at the first delta
    payloads = events_of(response.text)
    assert "[DONE]" not in payloads
    chunks = [json.loads(p) for p in payloads]
    assert all(c.get("choices", [{}])[0].get("finish_reason") is None for c in chunks[:-1])
    assert chunks[-1] == {
        "error": {
            "type": error_type,
            "message": chunks[-1]["error"]["message"],
            "code": code,
            "param": None,
        }
    }
    assert "incomplete" in chunks[-1]["error"]["message"]
    assert content_of(response.text) == "Half an answer"
    assert google.limits == []  # nothing is resent once the client has content
    assert breaker_records[-1][0] == BEDROCK and breaker_records[-1][2] == code
    (decision,) = [r for r in caplog.records if r.getMessage() == "routing-decision"]
    assert decision.attempts == [f"bedrock:{error.attempt_outcome}"] and decision.error == code
    # never cached: the same deterministic request is served again, not replayed
    again = ScriptedStream(BEDROCK, answer("whole"))
    providers(again)
    retry = client.post("/v1/chat/completions", json=body, headers=INFRA)
    assert retry.headers["x-hybrid-cache"] == "miss" and content_of(retry.text) == "whole"


def test_malformed_events_are_skipped_and_the_answer_is_whole(client, providers):
    providers(
        ScriptedStream(
            BEDROCK, [TextDelta("one "), MalformedEvent("?"), TextDelta("two"), MalformedEvent("!"), StreamEnd("m")]
        )
    )
    response = client.post("/v1/chat/completions", json=STREAM, headers=INFRA)
    assert content_of(response.text) == "one two"
    assert events_of(response.text)[-1] == "[DONE]"


@pytest.mark.parametrize(
    "tail", [[StreamEnd("m", terminated=False)], []], ids=["end-without-terminator", "iterator-exhausted"]
)
def test_a_stream_without_its_terminator_is_finalised_at_once_with_estimated_usage(client, providers, tail):
    providers(ScriptedStream(BEDROCK, [TextDelta("12345678"), *tail]))
    body = {**STREAM, "stream_options": {"include_usage": True}}
    response = client.post("/v1/chat/completions", json=body, headers=INFRA)
    payloads = events_of(response.text)
    assert payloads[-1] == "[DONE]"
    assert json.loads(payloads[-3])["choices"][0]["finish_reason"] == "stop"
    usage = json.loads(payloads[-2])["usage"]
    # no usage from the provider: 4 characters a token, rounded up
    assert usage["completion_tokens"] == 2 and usage["prompt_tokens"] == 6


def test_when_every_attempt_fails_before_the_first_delta_the_answer_is_the_buffered_json_error(client, providers):
    down: Script = [ProviderUnavailable("down")]
    providers(*(ScriptedStream(name, *[down] * 4) for name in (BEDROCK, GOOGLE, META, MCP)))
    streamed = client.post("/v1/chat/completions", json=STREAM, headers=INFRA)
    assert streamed.status_code == 503
    assert streamed.headers["content-type"] == "application/json"
    assert streamed.json()["error"]["code"] == "provider_unavailable"
    assert streamed.headers["x-hybrid-attempts"].startswith("bedrock:503")


def test_a_provider_without_stream_is_served_by_complete_as_one_delta(client, providers):
    providers(Buffered(BEDROCK, "all at once"))
    response = client.post(
        "/v1/chat/completions", json={**STREAM, "stream_options": {"include_usage": True}}, headers=INFRA
    )
    payloads = [json.loads(p) for p in events_of(response.text)[:-1]]
    assert [c["choices"][0]["delta"] for c in payloads[:2]] == [
        {"role": "assistant", "content": ""},
        {"content": "all at once"},
    ]
    assert payloads[-1]["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def test_a_completed_stream_is_cached_and_a_cached_answer_is_replayed_as_a_stream(client, providers):
    providers(ScriptedStream(BEDROCK, answer("cached ", "text")))
    body = {**STREAM, "temperature": 0, "messages": [{"role": "user", "content": "cache me"}]}
    first = client.post("/v1/chat/completions", json=body, headers=INFRA)
    assert first.headers["x-hybrid-cache"] == "miss"

    buffered = client.post("/v1/chat/completions", json={**body, "stream": False}, headers=INFRA)
    assert buffered.headers["x-hybrid-cache"] == "hit"
    assert buffered.json()["choices"][0]["message"]["content"] == "cached text"
    assert buffered.json()["usage"]["total_tokens"] == 9

    replayed = client.post(
        "/v1/chat/completions", json={**body, "stream_options": {"include_usage": True}}, headers=INFRA
    )
    assert replayed.headers["x-hybrid-cache"] == "hit" and replayed.headers["x-hybrid-provider"] == BEDROCK
    assert content_of(replayed.text) == "cached text"
    payloads = events_of(replayed.text)
    assert payloads[-1] == "[DONE]" and json.loads(payloads[-2])["usage"]["total_tokens"] == 9


def _event(body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "path": "/v1/chat/completions",
        "httpMethod": "POST",
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": {"requestId": "req-stream-1"},
        "body": json.dumps(body),
    }


@pytest.fixture
def event(local_stack):
    def make(body: dict[str, Any]) -> dict[str, Any]:
        return _event(
            body, {"authorization": f"Bearer {local_stack.client_key}", **{k.lower(): v for k, v in INFRA.items()}}
        )

    return make


def test_stream_handler_streams_and_closing_it_stops_the_provider_and_bills_once(event, providers, monkeypatch):
    bedrock = ScriptedStream(BEDROCK, answer(*[f"part{i} " for i in range(50)]))
    providers(bedrock)
    spent: list[float] = []
    deps = get_dependencies()
    real_add = deps.spend.add
    monkeypatch.setattr(deps.spend, "add", lambda cost, provider: (spent.append(cost), real_add(cost, provider)))

    stream = stream_handler(event(STREAM), None)

    assert stream.streamed and stream.status == 200
    assert stream.headers["Content-Type"] == "text/event-stream" and stream.headers["x-request-id"] == "req-stream-1"
    first, second = next(stream.chunks), next(stream.chunks)
    assert b'"role":"assistant"' in first and b'"content":"part0 "' in second
    stream.close()
    stream.close()  # a second close changes nothing
    assert bedrock.closed == 1 and bedrock.read == 1  # the provider's stream stopped at the delta in flight
    assert len(spent) == 1
    assert list(stream.chunks) == []


def test_a_stream_closed_before_its_first_chunk_still_stops_the_provider(event, providers):
    bedrock = ScriptedStream(BEDROCK, answer("a", "b"))
    providers(bedrock)
    stream = stream_handler(event(STREAM), None)
    stream.close()
    assert bedrock.closed == 1


def test_stream_handler_answers_buffered_requests_and_errors_as_one_chunk(event):
    buffered = stream_handler(event(BODY), None)
    assert not buffered.streamed and buffered.status == 200
    assert json.loads(b"".join(buffered.chunks))["object"] == "chat.completion"
    refused = stream_handler(event({**BODY, "stream": "yes"}), None)
    assert not refused.streamed and refused.status == 400


def test_lambda_handler_answers_a_stream_whole_for_a_host_that_cannot_stream(event, providers):
    providers(ScriptedStream(BEDROCK, answer("buffered ", "stream")))
    result = lambda_handler(event(STREAM), None)
    assert result["statusCode"] == 200
    assert result["multiValueHeaders"]["Content-Type"] == ["text/event-stream"]
    assert content_of(result["body"]) == "buffered stream"
    assert events_of(result["body"])[-1] == "[DONE]"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"stream": "yes"}, "stream"),
        ({"stream": 1}, "stream"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"stream": False, "stream_options": {"include_usage": True}}, "stream_options"),
        ({"stream": True, "stream_options": {"include_usage": True, "chunk_size": 3}}, "stream_options.chunk_size"),
        ({"stream": True, "stream_options": {"include_usage": "yes"}}, "stream_options.include_usage"),
        ({"stream": True, "stream_options": []}, "stream_options"),
    ],
)
def test_bad_stream_input_is_a_400_naming_the_field_before_any_byte(client, providers, extra, param):
    bedrock = ScriptedStream(BEDROCK)
    providers(bedrock)
    response = client.post("/v1/chat/completions", json={**BODY, **extra}, headers=INFRA)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["param"] == param and param in error["message"]
    assert bedrock.limits == []


# --- over real HTTP: the gateway served by uvicorn, the openai client, a client that goes away ----------------
@pytest.fixture(scope="module")
def gateway_url(local_stack) -> Iterator[str]:
    from local.servers import start_uvicorn

    server = start_uvicorn(local_stack.app)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.mark.parametrize("operation", list(OperationType))
def test_the_openai_client_streams_every_operation_type_and_reassembles_the_buffered_answer(
    local_stack, gateway_url, operation
):
    from openai import OpenAI

    client = OpenAI(base_url=f"{gateway_url}/v1", api_key=local_stack.client_key, max_retries=0)
    messages = [{"role": "user", "content": f"What should the on-call engineer do first? ({operation.value})"}]
    headers = {"X-Operation-Type": operation.value}
    buffered = client.chat.completions.create(model="any", messages=messages, extra_headers=headers)

    with client.chat.completions.with_streaming_response.create(
        model="any", messages=messages, stream=True, stream_options={"include_usage": True}, extra_headers=headers
    ) as raw:
        assert raw.headers["x-hybrid-route"] == ROUTING_MATRIX[operation].primary.value
        assert raw.headers["x-hybrid-provider"] and raw.headers["x-request-id"]
        chunks = list(raw.parse())

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == buffered.choices[0].message.content and text
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == buffered.choices[0].finish_reason
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_a_client_that_disconnects_mid_stream_stops_the_provider_and_is_counted(local_stack, gateway_url, providers):
    import httpx

    class Endless(ScriptedStream):
        def stream(self, request: CompletionRequest, limits: StreamLimits) -> Iterator[StreamEvent]:
            self.limits.append(limits)
            try:
                while True:
                    self.read += 1
                    yield TextDelta(f"word{self.read} ")
                    time.sleep(0.01)
            finally:
                self.closed += 1

    endless = Endless(BEDROCK)
    providers(endless)
    metrics_sink.install()  # pytest's capture swaps sys.stdout between phases: tap the EMF lines again
    started = emf_now()
    headers = {"Authorization": f"Bearer {local_stack.client_key}", **INFRA}
    with (
        httpx.Client(base_url=gateway_url, timeout=10) as http,
        http.stream("POST", "/v1/chat/completions", json=STREAM, headers=headers) as response,
    ):
        assert response.status_code == 200
        lines = response.iter_lines()
        assert "assistant" in next(lines)
        for _ in range(5):
            next(lines)
    assert wait_for(lambda: endless.closed == 1), "the provider's stream was not closed"
    read = endless.read
    time.sleep(0.2)
    assert endless.read == read  # nothing more was asked of the provider
    gone = wait_for(lambda: [r for r in metrics_sink.STORE.since(started) if names.STREAM_CLIENT_GONE in r.values])
    assert gone and gone[0].dimensions[names.DIM_PROVIDER] == BEDROCK


def test_each_stream_counts_its_time_to_first_token_and_outcome_by_provider_and_operation(client, providers):
    providers(
        ScriptedStream(BEDROCK, [ProviderUnavailable("down")], [ProviderUnavailable("down")]),
        ScriptedStream(GOOGLE, [TextDelta("ok"), MalformedEvent("?"), StreamEnd("m", "stop", 1, 1)]),
    )
    metrics_sink.install()
    started = emf_now()
    client.post("/v1/chat/completions", json=STREAM, headers=INFRA)
    records = [
        r for r in metrics_sink.STORE.since(started) if r.dimensions.get(names.DIM_OPERATION) == "infrastructure"
    ]
    ttft = [r for r in records if names.TIME_TO_FIRST_TOKEN in r.values]
    assert len(ttft) == 1 and ttft[0].dimensions[names.DIM_PROVIDER] == GOOGLE
    assert ttft[0].values[names.TIME_TO_FIRST_TOKEN][0] > 0
    assert ttft[0].values[names.STREAM_FAILED_OVER] == (1.0,)
    (outcome,) = [r for r in records if names.STREAM_COMPLETED in r.values]
    assert outcome.values[names.STREAM_MALFORMED_EVENTS] == (1.0,)
    assert set(outcome.dimensions) == {names.DIM_PROVIDER, names.DIM_OPERATION, names.DIM_SERVICE}
    (request,) = [r for r in records if names.REQUESTS in r.values and names.DIM_ROUTE in r.dimensions]
    assert request.values[names.ATTEMPTS] == (3.0,) and request.values[names.FALLBACKS] == (1.0,)
    assert request.values[names.OUTPUT_TOKENS] == (1.0,)


def wait_for(check: Any, timeout_s: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return result


def test_when_every_route_is_down_a_stale_answer_is_replayed_as_a_stream(client, local_stack, providers, monkeypatch):
    from functions.adapters.dynamodb.cache import ResponseCache
    from tests.clock import FakeClock

    deps = get_dependencies()
    clock = FakeClock(time.time())
    monkeypatch.setattr(
        deps, "cache", ResponseCache(deps.settings.cache_table, fresh_ttl_s=0.05, stale_ttl_s=600, clock=clock)
    )
    body = {**STREAM, "temperature": 0, "messages": [{"role": "user", "content": "stale but useful"}]}
    providers(ScriptedStream(BEDROCK, answer("kept ", "answer")))
    assert content_of(client.post("/v1/chat/completions", json=body, headers=INFRA).text) == "kept answer"
    clock.advance(0.1)
    down: Script = [ProviderUnavailable("down")]
    providers(*(ScriptedStream(name, down) for name in (BEDROCK, GOOGLE, META, MCP)))
    monkeypatch.setattr(ScriptedStream, "stream", _always(down))

    degraded = client.post("/v1/chat/completions", json=body, headers=INFRA)

    assert degraded.status_code == 200
    assert (degraded.headers["x-hybrid-cache"], degraded.headers["x-hybrid-degraded"]) == ("stale", "true")
    assert content_of(degraded.text) == "kept answer" and events_of(degraded.text)[-1] == "[DONE]"


def _always(script: Script) -> Any:
    def stream(self: ScriptedStream, request: CompletionRequest, limits: StreamLimits) -> Iterator[StreamEvent]:
        for item in script:
            if isinstance(item, Exception):
                raise item
            yield item  # type: ignore[misc]

    return stream


def test_a_stream_over_the_monthly_budget_is_refused_like_a_buffered_request_before_any_byte(client, providers):
    from functions.adapters.dynamodb.client import dynamodb_client
    from functions.adapters.dynamodb.spend import SpendAccumulator, spend_key
    from functions.domain.routing.cost import BudgetPolicy

    deps = get_dependencies()
    table = deps.settings.spend_table
    saved = deps.budget, deps.spend
    month = spend_key(time.time())
    dynamodb_client().put_item(TableName=table, Item={"pk": {"S": month}, "spent_usd": {"N": "96"}})
    deps.budget, deps.spend = BudgetPolicy(100.0), SpendAccumulator(table)
    bedrock = ScriptedStream(BEDROCK, answer("never"))
    providers(bedrock)
    try:
        refused = client.post("/v1/chat/completions", json=STREAM, headers={"X-Operation-Type": "standard"})
    finally:
        deps.budget, deps.spend = saved
        dynamodb_client().delete_item(TableName=table, Key={"pk": {"S": month}})
    assert refused.status_code == 429 and refused.headers["content-type"] == "application/json"
    assert refused.json()["error"]["code"] == "budget_exhausted"
    assert bedrock.limits == []


# --- continuing a cut stream on a prefill-capable fallback (STREAM_CONTINUE_ON_CUT, PREFILL_TARGETS) -----------
@pytest.fixture
def continuation(monkeypatch):
    settings = get_dependencies().settings

    def enable(prefill_targets: str) -> None:
        monkeypatch.setattr(settings, "stream_continuation", True)
        monkeypatch.setattr(settings, "prefill_targets_csv", prefill_targets)

    return enable


def test_a_cut_stream_is_continued_by_a_fallback_that_accepts_the_partial_answer_as_prefill(
    client, providers, continuation, breaker_records, caplog
):
    continuation(GOOGLE)
    bedrock = ScriptedStream(BEDROCK, [TextDelta("Half an "), ProviderStreamCut("reset", provider=BEDROCK)])
    google = ScriptedStream(GOOGLE, answer("answer, ", "finished."))
    providers(bedrock, google)
    body = {**STREAM, "temperature": 0, "messages": [{"role": "user", "content": "continue me"}]}
    metrics_sink.install()
    started = emf_now()

    with caplog.at_level("INFO"):
        response = client.post(
            "/v1/chat/completions", json={**body, "stream_options": {"include_usage": True}}, headers=INFRA
        )

    assert response.headers["x-hybrid-provider"] == BEDROCK  # the headers were sent at bedrock's first delta
    assert content_of(response.text) == "Half an answer, finished."
    payloads = events_of(response.text)
    assert payloads[-1] == "[DONE]" and json.loads(payloads[-3])["choices"][0]["finish_reason"] == "stop"
    (prefilled,) = google.requests
    assert prefilled.turns[-1] == Turn("assistant", "Half an ") and prefilled.turns[:-1] == bedrock.requests[0].turns
    assert [(p, o) for p, o, _ in breaker_records] == [(BEDROCK, "server_error"), (GOOGLE, "ok")]
    (decision,) = [r for r in caplog.records if r.getMessage() == "routing-decision"]
    assert decision.attempts == ["bedrock:cut", "google:ok"] and decision.fallback is True and decision.error is None
    continued = [r for r in metrics_sink.STORE.since(started) if names.STREAM_CONTINUED in r.values]
    assert [r.dimensions[names.DIM_PROVIDER] for r in continued] == [GOOGLE]
    # a stitched answer is not cached: the same request is served again
    providers(ScriptedStream(BEDROCK, answer("fresh")))
    assert client.post("/v1/chat/completions", json=body, headers=INFRA).headers["x-hybrid-cache"] == "miss"


@pytest.mark.parametrize("prefill_targets", ["", BEDROCK], ids=["none-accepts-prefill", "only-the-one-that-cut"])
def test_a_fallback_whose_model_rejects_prefill_is_never_sent_the_partial_answer(
    client, providers, continuation, prefill_targets
):
    continuation(prefill_targets)
    bedrock = ScriptedStream(BEDROCK, [TextDelta("Half"), ProviderStreamCut("reset", provider=BEDROCK)])
    others = [ScriptedStream(name, answer("never")) for name in (GOOGLE, META, MCP)]
    providers(bedrock, *others)
    response = client.post("/v1/chat/completions", json=STREAM, headers=INFRA)
    payloads = events_of(response.text)
    assert "[DONE]" not in payloads and json.loads(payloads[-1])["error"]["code"] == "provider_stream_cut"
    assert len(bedrock.requests) == 1 and all(other.requests == [] for other in others)


def test_when_the_continuation_fails_before_its_first_delta_the_stream_ends_with_the_cut(
    client, providers, continuation
):
    continuation(GOOGLE)
    bedrock = ScriptedStream(BEDROCK, [TextDelta("Half"), ProviderStreamCut("reset", provider=BEDROCK)])
    google = ScriptedStream(GOOGLE, [ProviderUnavailable("down")])
    providers(bedrock, google)
    response = client.post("/v1/chat/completions", json=STREAM, headers=INFRA)
    payloads = events_of(response.text)
    assert content_of(response.text) == "Half" and "[DONE]" not in payloads
    assert json.loads(payloads[-1])["error"]["code"] == "provider_stream_cut"
    assert len(google.requests) >= 1
