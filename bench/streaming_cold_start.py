"""Cold start of the two ways the router function can stream on Lambda's Python runtime, on this machine:
process start to the first byte of a buffered answer (`GET /health`) and of the streamed route's answer
(`POST /v1/chat/completions`), and the process's CPU time, median of BENCH_COLD_RUNS fresh processes
each (ms). The runs are interleaved, so that the machine's load weighs on every host alike.

- runtime loop: `functions/handlers/streaming_bootstrap` (what the function's exec wrapper runs) against
  a Runtime API endpoint on 127.0.0.1 played here; the first byte is the first payload byte after the
  prelude (streamed) or the first byte of the response POST (buffered).
- no host: the handler imported and called in a bare interpreter, the floor both hosts add to.
- web app (the Lambda Web Adapter model): the router served as an ASGI app by uvicorn; the adapter polls
  its readiness every 10 ms, then forwards the request; the first byte is the first body byte the app
  sends. The adapter's own binary and its Runtime API side cannot be fetched here and are left out.

The AWS side is the local stack's moto server and simulators, started here. `--sse` sends `stream: true`
on the chat route (once the router answers it as SSE); without it the chat answer is buffered JSON sent
through the streaming integration.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import socket
import socketserver
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "5"))
BOOTSTRAP = ROOT / "functions" / "handlers" / "streaming_bootstrap"
READINESS_POLL_S = 0.01  # the Lambda Web Adapter's default readiness check interval


def chat_event(key: str, sse: bool) -> dict[str, Any]:
    # The chat event of the router benchmark (imported by name: both are scripts, not a package).
    chat: dict[str, Any] = importlib.import_module("bench.router_overhead").event(
        "emergency", key
    )  # the Direct route: no MCP session in the figure
    chat["resource"] = "/v1/chat/completions"
    if sse:
        chat["body"] = json.dumps({**json.loads(chat["body"]), "stream": True})
    return chat


def health_event() -> dict[str, Any]:
    return {
        "resource": "/health",
        "path": "/health",
        "httpMethod": "GET",
        "headers": {},
        "requestContext": {"requestId": "bench-health", "stage": "bench"},
        "body": None,
        "isBase64Encoded": False,
    }


class OneInvocation(socketserver.ThreadingTCPServer):
    """The Runtime API's side for one invocation: hands out `event`, notes when the answer's first byte
    arrives, then refuses the next poll (the loop exits)."""

    daemon_threads = True

    def __init__(self, event: dict[str, Any]) -> None:
        self.event, self.first_byte, self.served = event, 0.0, False
        self.answered = threading.Event()
        self.status = 0
        super().__init__(("127.0.0.1", 0), _RuntimeSide)


class _RuntimeSide(socketserver.StreamRequestHandler):
    server: OneInvocation

    def handle(self) -> None:
        request_line = self.rfile.readline()
        arrived = time.perf_counter()
        headers = {}
        while (line := self.rfile.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if b"/invocation/next" in request_line:
            self._next()
        elif headers.get("lambda-runtime-function-response-mode") == "streaming":
            prelude = self.rfile.read(int(self.rfile.readline(), 16) + 2)
            self.rfile.readline()  # the size line of the first payload chunk: its first byte is here
            self._answered(time.perf_counter(), json.loads(prelude[: prelude.index(b"\x00")])["statusCode"])
            self._drain_chunks()
        else:
            body = self.rfile.read(int(headers.get("content-length", "0")))
            self._answered(arrived, json.loads(body).get("statusCode", 0) if b"/response" in request_line else -1)
            self._reply(202, b"")

    def _next(self) -> None:
        if self.server.served:
            self._reply(500, b"{}")
            return
        self.server.served = True
        payload = json.dumps(self.server.event).encode()
        self._reply(
            200,
            payload,
            {
                "Lambda-Runtime-Aws-Request-Id": "bench",
                "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 60_000),
            },
        )

    def _answered(self, at: float, status: int) -> None:
        self.server.first_byte, self.server.status = at, status
        self.server.answered.set()

    def _drain_chunks(self) -> None:
        while (line := self.rfile.readline()) not in (b"\r\n", b""):
            if line.strip() == b"0":
                while self.rfile.readline() not in (b"\r\n", b""):
                    pass
                break
            self.rfile.readline()
        self._reply(202, b"")

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)


def runtime_loop_cold(event: dict[str, Any], env: dict[str, str]) -> tuple[float, int]:
    server = OneInvocation(event)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    child_env = {
        **env,
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "LAMBDA_TASK_ROOT": str(ROOT),
        "_HANDLER": "functions.handlers.router.stream_handler",
        "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
    }
    started = time.perf_counter()
    process = subprocess.Popen([str(BOOTSTRAP)], env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not server.answered.wait(60):
            raise RuntimeError("the runtime loop gave no answer in 60 s")
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
        server.shutdown()
        server.server_close()
    return (server.first_byte - started) * 1000, server.status


WEB_APP = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route
from functions.handlers.router import stream_handler

class Context:
    function_name, memory_limit_in_mb, aws_request_id = "router", 1024, "bench"
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:router"
    def get_remaining_time_in_millis(self):
        return 60_000

async def ready(request):
    return PlainTextResponse("ok")

async def invoke(request):
    event = await request.json()
    stream = stream_handler(event, Context())
    return StreamingResponse(stream.chunks, status_code=stream.status, headers=stream.headers)

app = Starlette(routes=[Route("/", ready), Route("/invoke", invoke, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error")
"""


def web_app_cold(event: dict[str, Any], env: dict[str, str]) -> tuple[float, int]:
    """The adapter's path: wait until the app answers its readiness check, then forward the request. The
    router's proxy event is sent as the request body: the app's own HTTP-to-event mapping is left out."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", WEB_APP, str(port)],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/", started)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invoke", data=json.dumps(event).encode())
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read(1)
            return (time.perf_counter() - started) * 1000, response.status
    except urllib.error.HTTPError as refused:
        return (time.perf_counter() - started) * 1000, refused.code
    finally:
        process.kill()
        process.wait(30)


def _wait_ready(url: str, started: float) -> None:
    while time.perf_counter() - started < 60:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(READINESS_POLL_S)
    raise RuntimeError("the web app was not ready in 60 s")


BARE = """
import json, sys, time
from functions.handlers.router import stream_handler
from bench.router_overhead import Context
stream = stream_handler(json.loads(sys.argv[1]), Context())
first = next(iter(stream.chunks), b"")
print("BENCH-FIRST", stream.status, flush=True)
"""


def bare_cold(event: dict[str, Any], env: dict[str, str]) -> tuple[float, int]:
    """No host at all: the handler imported and called in a fresh interpreter, timed to its first chunk
    (what the managed runtime's own loop would do before answering, buffered)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", BARE, json.dumps(event)],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    for line in process.stdout:  # the handler's own logs and EMF come first
        if line.startswith(b"BENCH-FIRST"):
            elapsed = (time.perf_counter() - started) * 1000
            break
    else:
        raise RuntimeError("the handler gave no first chunk")
    process.stdout.read()
    process.wait(30)
    return elapsed, int(line.split()[1])


HOSTS = (
    ("no host (handler only)", bare_cold),
    ("runtime loop", runtime_loop_cold),
    ("web app (LWA model)", web_app_cold),
)


def main() -> int:
    from local.stack import start

    sse = "--sse" in sys.argv
    stack = start(port=0, serve_gateway_in_thread=False)
    env = dict(os.environ)
    events = {
        "buffered GET /health": health_event(),
        "streamed POST /v1/chat/completions": chat_event(stack.client_key, sse),
    }
    results: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
    try:
        for _ in range(COLD_RUNS):  # interleaved, so that the machine's load weighs on every host alike
            for host, run in HOSTS:
                for label, event in events.items():
                    results.setdefault((host, label), []).append(_timed(run, event, env))
    finally:
        stack.stop()
    print(
        f"cold start of a fresh process (median of {COLD_RUNS}, ms): wall time from its start to the answer's "
        "first byte, and its CPU time (user + sys, to its exit), which the machine's load disturbs less"
    )
    for (host, label), runs in results.items():
        walls, cpus = sorted(r[0] for r in runs), sorted(r[1] for r in runs)
        statuses = sorted({r[2] for r in runs})
        print(
            f"  {host:24} {label:36} wall {statistics.median(walls):6.0f} (min {walls[0]:5.0f})   "
            f"CPU {statistics.median(cpus):6.0f} (min {cpus[0]:5.0f})   status {statuses}"
        )
    print(f"  load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


def _timed(
    run: Callable[[dict[str, Any], dict[str, str]], tuple[float, int]], event: dict[str, Any], env: dict[str, str]
) -> tuple[float, float, int]:
    """`run`'s wall figure and status, with the CPU time of the child it started and reaped."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, status = run(event, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu, status


if __name__ == "__main__":
    sys.exit(main())
