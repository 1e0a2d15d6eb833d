"""The bytes the router's runtime loop sends the Lambda Runtime API: a recording server on 127.0.0.1 plays
the Runtime API's side (it hands out scripted invocations and keeps every request as it arrived, framing
included), and the loop serves `HttpStream`s with scripted chunks."""

from __future__ import annotations

import base64
import json
import os
import socketserver
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import snapshot_restore_py

from functions.adapters.lambda_runtime_api import RuntimeApi, RuntimeApiError
from functions.handlers import streaming_runtime
from functions.handlers.streaming_runtime import serve
from functions.shared.http_stream import HttpStream
from stacks.constructs.router import ROUTER_HANDLER, STREAMING_BOOTSTRAP
from tests.paths import REPO_ROOT

NUL8 = b"\x00" * 8
DEADLINE_MS = 4_102_444_800_000  # 2100-01-01: the context's remaining time stays positive
ARN = "arn:aws:lambda:eu-central-1:123456789012:function:router:live"


@dataclass
class Recorded:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes  # as sent: the chunked framing kept

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[0] if values else None


@dataclass
class RuntimeApiSide:
    """Serves `events` one per `GET .../invocation/next` (then a 500, which ends the loop), answers 202
    to every POST; `drop_stream_after` closes a streamed response's connection after that many bytes."""

    events: list[dict[str, Any]]
    requests: list[Recorded] = field(default_factory=list)
    drop_stream_after: int | None = None
    address: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, recorded: Recorded) -> None:
        with self.lock:
            self.requests.append(recorded)


def _handler_class(side: RuntimeApiSide) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            method, path, _ = self.rfile.readline().decode("latin-1").split(" ", 2)
            headers: list[tuple[str, str]] = []
            while (line := self.rfile.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers.append((name.strip(), value.strip()))
            found = {k.lower(): v for k, v in headers}
            if found.get("transfer-encoding") == "chunked":
                body = self._chunked(found.get("lambda-runtime-function-response-mode") == "streaming")
                if body is None:
                    return  # connection dropped on purpose: nothing answered
            else:
                body = self.rfile.read(int(found.get("content-length", "0")))
            side.record(Recorded(method, path, headers, body))
            if path.endswith("/invocation/next"):
                self._next()
            elif path.endswith("/restore/next"):
                self._answer(200, b"")
            else:
                self._answer(202, b"")

        def _chunked(self, streaming: bool) -> bytes | None:
            raw = b""
            while True:
                size_line = self.rfile.readline()
                raw += size_line
                size = int(size_line.strip() or b"0", 16)
                if size == 0:
                    while (trailer := self.rfile.readline()) not in (b"\r\n", b""):
                        raw += trailer
                    return raw + b"\r\n"
                raw += self.rfile.read(size + 2)
                if streaming and side.drop_stream_after is not None and len(raw) >= side.drop_stream_after:
                    side.record(Recorded("POST", "dropped", [], raw))
                    return None

        def _next(self) -> None:
            if not side.events:
                self._answer(500, b'{"errorMessage": "no more invocations"}')
                return
            event = side.events.pop(0)
            number = len(side.requests) - 1  # the index of this poll among the requests
            self._answer(
                200,
                json.dumps(event).encode(),
                {
                    "Lambda-Runtime-Aws-Request-Id": f"req-{number}",
                    "Lambda-Runtime-Deadline-Ms": str(DEADLINE_MS),
                    "Lambda-Runtime-Invoked-Function-Arn": ARN,
                    "Lambda-Runtime-Trace-Id": f"Root=1-{number:08x}-abc",
                },
            )

        def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    return Handler


@pytest.fixture
def runtime_api() -> Iterator[Callable[..., tuple[RuntimeApiSide, RuntimeApi]]]:
    servers: list[socketserver.ThreadingTCPServer] = []

    def start(*events: dict[str, Any], drop_stream_after: int | None = None) -> tuple[RuntimeApiSide, RuntimeApi]:
        side = RuntimeApiSide(list(events), drop_stream_after=drop_stream_after)
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _handler_class(side))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        side.address = f"127.0.0.1:{server.server_address[1]}"
        return side, RuntimeApi(side.address)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def chat_event(**overrides: Any) -> dict[str, Any]:
    return {"resource": "/v1/chat/completions", "path": "/v1/chat/completions", "httpMethod": "POST", **overrides}


def health_event() -> dict[str, Any]:
    return {"resource": "/health", "path": "/health", "httpMethod": "GET"}


def scripted(*streams: HttpStream) -> Callable[[dict[str, Any], Any], HttpStream]:
    """A handler answering each invocation with the next scripted stream; it keeps what it was given."""
    queue = list(streams)

    def handler(event: dict[str, Any], context: Any) -> HttpStream:
        handler.calls.append((event, context))  # type: ignore[attr-defined]
        return queue.pop(0)

    handler.calls = []  # type: ignore[attr-defined]
    return handler


def sse(*chunks: bytes, headers: dict[str, str] | None = None) -> HttpStream:
    return HttpStream(200, headers or {"Content-Type": "text/event-stream", "x-request-id": "r1"}, iter(chunks), True)


def frame(data: bytes) -> bytes:
    """The chunked framing, written out here rather than taken from the code under test."""
    return f"{len(data):x}".encode() + b"\r\n" + data + b"\r\n"


ENV: dict[str, str] = {"AWS_LAMBDA_FUNCTION_NAME": "router", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"}


def test_a_streamed_answer_is_the_prelude_the_delimiter_then_each_chunk_in_order_in_chunked_framing(
    runtime_api: Callable[..., tuple[RuntimeApiSide, RuntimeApi]],
) -> None:
    # Given a chat invocation whose handler streams three chunks (an empty one between them)
    side, api = runtime_api(chat_event())
    handler = scripted(sse(b'data: {"a":1}\n\n', b"", b"data: [DONE]\n\n"))
    # When the loop serves it
    serve(handler, api, ENV, invocations=1)
    # Then it polled, then posted one streaming response with the streaming headers and the trailers declared
    poll, response = side.requests
    assert (poll.method, poll.path) == ("GET", "/2018-06-01/runtime/invocation/next")
    assert (response.method, response.path) == ("POST", "/2018-06-01/runtime/invocation/req-0/response")
    assert response.header("Content-Type") == "application/vnd.awslambda.http-integration-response"
    assert response.header("Lambda-Runtime-Function-Response-Mode") == "streaming"
    assert response.header("Transfer-Encoding") == "chunked"
    assert response.header("Trailer") == "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"
    assert response.header("Content-Length") is None
    # and the body is, byte for byte: the prelude JSON and 8 NULs in the first chunk, each non-empty chunk in
    # order, the last chunk with no trailer
    prelude = (
        b'{"statusCode":200,"headers":{"Content-Type":"text/event-stream","x-request-id":"r1"},'
        b'"multiValueHeaders":{},"cookies":[]}'
    )
    assert response.body == (
        frame(prelude + NUL8) + frame(b'data: {"a":1}\n\n') + frame(b"data: [DONE]\n\n") + b"0\r\n\r\n"
    )


def test_a_failure_after_the_first_byte_ends_the_stream_with_the_error_trailers_and_no_detail(
    runtime_api: Callable[..., tuple[RuntimeApiSide, RuntimeApi]],
) -> None:
    # Given a stream that sends one chunk, then breaks with a message that must not leave the function
    side, api = runtime_api(chat_event())

    def breaking() -> Iterator[bytes]:
        yield b"data: partial\n\n"
        raise RuntimeError("provider said: secret-token-123")

    # When the loop serves it
    serve(scripted(HttpStream(200, {"Content-Type": "text/event-stream"}, breaking(), True)), api, ENV, 1)
    # Then the chunk sent before the failure is there, and the last chunk carries both trailers
    body = side.requests[1].body
    prelude = b'{"statusCode":200,"headers":{"Content-Type":"text/event-stream"},"multiValueHeaders":{},"cookies":[]}'
    head = frame(prelude + NUL8) + frame(b"data: partial\n\n")
    assert body.startswith(head)
    last = body[len(head) :]
    lines = last.split(b"\r\n")
    assert lines[0] == b"0" and lines[-2:] == [b"", b""]
    trailers = dict(line.decode().split(": ", 1) for line in lines[1:-2])
    assert trailers.keys() == {"Lambda-Runtime-Function-Error-Type", "Lambda-Runtime-Function-Error-Body"}
    assert trailers["Lambda-Runtime-Function-Error-Type"] == "Function.RuntimeError"
    error = json.loads(base64.b64decode(trailers["Lambda-Runtime-Function-Error-Body"]))
    assert error == {
        "errorType": "Function.RuntimeError",
        "errorMessage": "the response stream failed after it started",
    }
    assert b"secret-token-123" not in body


def test_a_buffered_answer_on_the_streamed_route_is_its_prelude_and_its_body_as_one_chunk(
    runtime_api: Callable[..., tuple[RuntimeApiSide, RuntimeApi]],
) -> None:
    # Given a `stream: false` chat answer: a proxy result as one chunk, with a cookie among its headers
    side, api = runtime_api(chat_event())
    result = {
        "statusCode": 429,
        "headers": {"Content-Type": "application/json", "Set-Cookie": "a=b"},
        "body": '{"error": {"code": "rate_limited"}}',
    }
    # When the loop serves it
    serve(scripted(HttpStream.buffered(result)), api, ENV, invocations=1)
    # Then the status and headers are in the prelude (the cookie under `cookies`), the body in one chunk
    prelude = (
        b'{"statusCode":429,"headers":{"Content-Type":"application/json"},"multiValueHeaders":{},"cookies":["a=b"]}'
    )
    assert side.requests[1].body == frame(prelude + NUL8) + frame(b'{"error": {"code": "rate_limited"}}') + b"0\r\n\r\n"


def test_a_buffered_route_gets_one_proxy_result_json_then_the_next_invocation_is_polled(
    runtime_api: Callable[..., tuple[RuntimeApiSide, RuntimeApi]],
) -> None:
    # Given a streamed chat invocation, then a health invocation (a buffered integration)
    side, api = runtime_api(chat_event(), health_event())
    handler = scripted(
        sse(b"data: x\n\n"),
        HttpStream(503, {"Content-Type": "application/json"}, iter([b'{"status":', b' "degraded"}'])),
    )
    # When the loop serves both
    serve(handler, api, ENV, invocations=2)
    # Then each answer follows its poll, in order: the stream complete before the next poll
    assert [(r.method, r.path.rsplit("/", 2)[-2:]) for r in side.requests] == [
        ("GET", ["invocation", "next"]),
        ("POST", ["req-0", "response"]),
        ("GET", ["invocation", "next"]),
        ("POST", ["req-2", "response"]),
    ]
    assert side.requests[1].body.endswith(b"0\r\n\r\n")
    # and the buffered one is a plain JSON POST: the proxy result with the chunks joined
    buffered = side.requests[3]
    assert buffered.header("Lambda-Runtime-Function-Response-Mode") is None
    assert buffered.header("Content-Type") == "application/json"
    assert buffered.header("Content-Length") == str(len(buffered.body))
    assert json.loads(buffered.body) == {
        "statusCode": 503,
        "headers": {"Content-Type": "application/json"},
        "body": '{"status": "degraded"}',
    }
    # and the handler saw each event with a Lambda context built from the invocation
    (first_event, context), _ = handler.calls  # type: ignore[attr-defined]
    assert first_event == chat_event()
    assert (context.aws_request_id, context.invoked_function_arn, context.function_name) == ("req-0", ARN, "router")
    assert context.memory_limit_in_mb == 1024 and context.get_remaining_time_in_millis() > 0


def test_only_the_method_and_resource_of_a_streamed_integration_get_a_stream(
    runtime_api: Callable[..., tuple[RuntimeApiSide, RuntimeApi]],
) -> None:
    # Given the chat path reached through buffered integrations: another method, the catch-all proxy resource
    events = [
        chat_event(httpMethod="GET"),
        chat_event(resource="/{proxy+}", path="/v1/chat/completions/"),
        {"no": "api gateway"},
    ]
    side, api = runtime_api(*events)
    handler = scripted(*(HttpStream(404, {}, iter([b"{}"])) for _ in events))
    # When the loop serves them / Then every answer is a buffered proxy result
    serve(handler, api, ENV, invocations=len(events))
    answers = side.requests[1::2]
    assert len(answers) == len(events)
    assert all(a.header("Lambda-Runtime-Function-Response-Mode") is None for a in answers)
    assert all(json.loads(a.body)["statusCode"] == 404 for a in answers)


def test_a_reader_that_goes_away_mid_stream_stops_the_producer_and_the_loop_goes_on(
    runtime_api: Callable[..., tuple[RuntimeApiSide, RuntimeApi]],
) -> None:
    # Given a stream without end, whose connection the Runtime API side drops after 4 KiB, then a health call
    side, api = runtime_api(chat_event(), health_event(), drop_stream_after=4096)
    stopped = threading.Event()

    def endless() -> Iterator[bytes]:
        try:
            while True:
                yield b"data: " + b"x" * 1000 + b"\n\n"
        finally:
            stopped.set()

    handler = scripted(HttpStream(200, {}, endless(), True), HttpStream(200, {}, iter([b"ok"])))
    # When the loop serves both
    serve(handler, api, ENV, invocations=2)
    # Then the producer was closed, and the next invocation was polled and answered
    assert stopped.is_set()
    assert [r.path for r in side.requests][-2:] == [
        "/2018-06-01/runtime/invocation/next",
        "/2018-06-01/runtime/invocation/req-2/response",
    ]
    assert json.loads(side.requests[-1].body)["body"] == "ok"


def test_an_event_that_is_not_json_is_reported_as_an_invocation_error(
    runtime_api: Callable[..., tuple[RuntimeApiSide, RuntimeApi]],
) -> None:
    # Given an invocation whose payload is a JSON string, not an event object
    side, api = runtime_api("not an event")  # type: ignore[arg-type]
    handler = scripted()
    # When the loop serves it
    serve(handler, api, ENV, invocations=1)
    # Then the handler never ran and the error endpoint got the error type
    error = side.requests[1]
    assert error.path == "/2018-06-01/runtime/invocation/req-0/error"
    assert error.header("Lambda-Runtime-Function-Error-Type") == "Runtime.UnmarshalError"
    assert handler.calls == []  # type: ignore[attr-defined]


def test_a_handler_that_raises_still_answers_a_json_500_naming_the_request(
    runtime_api: Callable[..., tuple[RuntimeApiSide, RuntimeApi]],
) -> None:
    # Given a handler with a bug, on the streamed route
    side, api = runtime_api(chat_event())

    def broken(event: dict[str, Any], context: Any) -> HttpStream:
        raise KeyError("internal detail")

    # When the loop serves it
    serve(broken, api, ENV, invocations=1)
    # Then the stream carries a 500 with the OpenAI-style error body and no trace
    prelude, _, rest = side.requests[1].body.partition(NUL8)
    metadata = json.loads(prelude.split(b"\r\n", 1)[1])
    assert metadata["statusCode"] == 500 and metadata["headers"]["x-request-id"] == "req-0"
    payload = rest.split(b"\r\n")[2]
    assert json.loads(payload)["error"]["code"] == "internal_error"
    assert b"internal detail" not in side.requests[1].body


def test_a_snapstart_init_runs_the_hooks_around_restore_next_before_the_first_poll(
    runtime_api: Callable[..., tuple[RuntimeApiSide, RuntimeApi]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a SnapStart init with before-snapshot and after-restore hooks, and one invocation to serve
    side, api = runtime_api(health_event())
    order: list[str] = []
    monkeypatch.setattr(snapshot_restore_py, "_before_snapshot_registry", [])
    monkeypatch.setattr(snapshot_restore_py, "_after_restore_registry", [])
    snapshot_restore_py.register_before_snapshot(order.append, "before-1")
    snapshot_restore_py.register_before_snapshot(order.append, "before-2")
    snapshot_restore_py.register_after_restore(lambda: order.append(f"after, {len(side.requests)} requests"))
    monkeypatch.setattr(streaming_runtime, "RuntimeApi", lambda _address: api)
    handler = scripted(HttpStream(200, {}, iter([b"{}"])))
    monkeypatch.setattr(streaming_runtime, "load_handler", lambda name: handler if name == "pkg.mod.fn" else None)
    env = {**ENV, "AWS_LAMBDA_RUNTIME_API": "unused", "_HANDLER": "pkg.mod.fn"}
    # When the loop starts in snap-start mode (it ends when the Runtime API refuses a second poll)
    with pytest.raises(RuntimeApiError):
        streaming_runtime.main({**env, "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"})
    # Then the hooks ran last-registered first, restore/next came before any poll, the after-restore hooks after it
    assert order == ["before-2", "before-1", "after, 1 requests"]
    assert [r.path for r in side.requests][:3] == [
        "/2018-06-01/runtime/restore/next",
        "/2018-06-01/runtime/invocation/next",
        "/2018-06-01/runtime/invocation/req-1/response",
    ]
    assert len(handler.calls) == 1  # type: ignore[attr-defined]


def test_a_handler_that_cannot_be_loaded_is_an_init_error(
    runtime_api: Callable[..., tuple[RuntimeApiSide, RuntimeApi]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a handler string naming a module that does not exist
    side, api = runtime_api()
    monkeypatch.setattr(streaming_runtime, "RuntimeApi", lambda _address: api)
    # When the loop starts
    code = streaming_runtime.main({"AWS_LAMBDA_RUNTIME_API": "unused", "_HANDLER": "functions.handlers.nope.fn"})
    # Then it reports the init error and exits without polling
    assert code == 1
    (error,) = side.requests
    assert error.path == "/2018-06-01/runtime/init/error"
    assert error.header("Lambda-Runtime-Function-Error-Type") == "Runtime.ImportModuleError"


def test_the_router_stream_handler_answers_a_buffered_route_through_the_loop(
    runtime_api: Callable[..., tuple[RuntimeApiSide, RuntimeApi]],
) -> None:
    # Given the router's own stream handler and an unknown path (answered before any AWS call)
    side, api = runtime_api(
        {**health_event(), "resource": "/{proxy+}", "path": "/nowhere", "requestContext": {"requestId": "api-1"}}
    )
    handler = streaming_runtime.load_handler(streaming_runtime.DEFAULT_HANDLER)
    # When the loop serves it
    serve(handler, api, ENV, invocations=1)
    # Then the Runtime API gets the router's JSON 404 as a proxy result, with the request id
    result = json.loads(side.requests[1].body)
    assert result["statusCode"] == 404
    assert result["headers"]["x-request-id"] == "api-1"
    assert json.loads(result["body"])["error"]["code"] == "not_found"


def two_chunks(event: dict[str, Any], context: Any) -> HttpStream:
    """The handler the bootstrap test names in `_HANDLER` (imported by the child process)."""
    return sse(b"data: one\n\n", f"data: {context.aws_request_id}\n\n".encode())


def test_the_exec_wrapper_starts_the_loop_that_streams_in_a_fresh_process(
    runtime_api: Callable[..., tuple[RuntimeApiSide, RuntimeApi]],
) -> None:
    # Given the function's exec wrapper, started as Lambda starts it (the managed loop's command as arguments)
    side, _ = runtime_api(chat_event())
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "LAMBDA_TASK_ROOT": str(REPO_ROOT),
        "AWS_LAMBDA_RUNTIME_API": side.address,
        "_HANDLER": "tests.integration.test_streaming_runtime_contract.two_chunks",
    }
    wrapper = REPO_ROOT / os.path.relpath(STREAMING_BOOTSTRAP, "/var/task")
    # When it runs until the Runtime API refuses its second poll
    done = subprocess.run(
        [str(wrapper), "/var/runtime/bootstrap"], env=env, capture_output=True, timeout=120, check=False
    )
    # Then the loop it started streamed the handler's chunks, then polled again, and exited on the refusal
    assert [r.path for r in side.requests] == [
        "/2018-06-01/runtime/invocation/next",
        "/2018-06-01/runtime/invocation/req-0/response",
        "/2018-06-01/runtime/invocation/next",
    ]
    assert side.requests[1].body.endswith(frame(b"data: one\n\n") + frame(b"data: req-0\n\n") + b"0\r\n\r\n")
    assert done.returncode != 0 and b"RuntimeApiError" in done.stderr


def test_a_snapstart_init_of_the_router_under_the_exec_wrapper_snapshots_before_it_serves(
    runtime_api: Callable[..., tuple[RuntimeApiSide, RuntimeApi]],
) -> None:
    # Given the exec wrapper in a SnapStart init, running the router's own stream handler (the function's
    # handler string), with no AWS endpoint it could reach, and one request for an unknown path
    side, _ = runtime_api({**health_event(), "resource": "/{proxy+}", "path": "/nowhere"})
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "LAMBDA_TASK_ROOT": str(REPO_ROOT),
        "AWS_LAMBDA_RUNTIME_API": side.address,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start",
        "_HANDLER": ROUTER_HANDLER,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    wrapper = REPO_ROOT / os.path.relpath(STREAMING_BOOTSTRAP, "/var/task")
    # When it runs until the Runtime API refuses its second poll
    subprocess.run([str(wrapper)], env=env, capture_output=True, timeout=120, check=False)
    # Then the snapshot (restore/next, after the router's prime_for_snapshot hook) came before the first poll,
    # and the restored loop answered the router's JSON 404 as a buffered proxy result
    assert [r.path for r in side.requests] == [
        "/2018-06-01/runtime/restore/next",
        "/2018-06-01/runtime/invocation/next",
        "/2018-06-01/runtime/invocation/req-1/response",
        "/2018-06-01/runtime/invocation/next",
    ]
    result = json.loads(side.requests[2].body)
    assert result["statusCode"] == 404
    assert json.loads(result["body"])["error"]["code"] == "not_found"
