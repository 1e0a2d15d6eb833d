"""Router overhead benchmark: prints p50/p99 warm overhead (µs), DynamoDB calls per request,
cold start (ms) per route, as a fresh process and as an environment resumed from a SnapStart snapshot.
Targets on a 2-core machine: warm p99 <= 1 ms, 0 DynamoDB reads per request in steady state,
cold start <= 500 ms on every route.

The AWS side is the local stack's moto server and simulators, started here; each measurement
runs in a fresh child process with its stdout (the handler's JSON logs and EMF) discarded.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WARM_REQUESTS = int(os.environ.get("BENCH_WARM_REQUESTS", "3000"))
COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "5"))


def event(operation: str, key: str, temperature: float = 0.5) -> dict[str, Any]:
    body = {"model": "bench", "messages": [{"role": "user", "content": "ping"}], "temperature": temperature}
    return {
        "resource": "/{proxy+}",
        "path": "/v1/chat/completions",
        "httpMethod": "POST",
        "headers": {
            "Authorization": f"Bearer {key}",
            "X-Operation-Type": operation,
            "Content-Type": "application/json",
        },
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": "bench",
            "stage": "bench",
            "httpMethod": "POST",
            "path": "/v1/chat/completions",
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


class Context:
    function_name, memory_limit_in_mb, aws_request_id = "router", 1024, "bench"
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:router"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def child_cold(out: str, operation: str) -> None:
    """A process cold start: the handler's import and the first request, nothing loaded before."""
    started = time.perf_counter()
    from functions.handlers.router import lambda_handler

    imported = time.perf_counter()
    result = lambda_handler(event(operation, os.environ["BENCH_CLIENT_KEY"]), cast(Any, Context()))
    done = time.perf_counter()
    assert result["statusCode"] == 200, result
    mcp_loaded = "mcp" in sys.modules
    Path(out).write_text(
        json.dumps(
            {
                "import_ms": (imported - started) * 1000,
                "first_ms": (done - started) * 1000,
                "mcp_imported": mcp_loaded,
                "route": _header(result, "x-hybrid-route"),
            }
        )
    )


def child_snapstart(out: str) -> None:
    """The SnapStart model: this process runs the init a snapshot captures (the handler import and
    its before-snapshot hooks), then forks once per run; each fork is an environment resumed from
    that memory, timed from the resume to the end of its first request on each route. What the
    model leaves out is Lambda's own restore of the snapshot's pages."""
    import snapshot_restore_py

    started = time.perf_counter()
    from functions.handlers.router import lambda_handler

    for func, args, kwargs in snapshot_restore_py.get_before_snapshot():
        func(*args, **kwargs)
    init_ms = (time.perf_counter() - started) * 1000
    runs: list[dict[str, Any]] = []
    for operation in ("emergency", "standard") * COLD_RUNS:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            resumed = time.perf_counter()
            for func, args, kwargs in snapshot_restore_py.get_after_restore():
                func(*args, **kwargs)
            result = lambda_handler(event(operation, os.environ["BENCH_CLIENT_KEY"]), cast(Any, Context()))
            ms = (time.perf_counter() - resumed) * 1000
            os.write(
                write,
                json.dumps(
                    {"route": _header(result, "x-hybrid-route"), "status": result["statusCode"], "first_ms": ms}
                ).encode(),
            )
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as answer:
            runs.append(json.loads(answer.read()))
        os.waitpid(pid, 0)
    Path(out).write_text(json.dumps({"init_ms": init_ms, "runs": runs}))


def _header(result: dict[str, Any], name: str) -> str:
    values = (result.get("multiValueHeaders") or {}).get(name) or [(result.get("headers") or {}).get(name)]
    return str(values[0])


def child_warm(out: str) -> None:
    import boto3

    from functions.app.chat.wiring import get_dependencies
    from functions.domain.completion import Completion
    from functions.handlers.router import lambda_handler

    class Instant:
        def __init__(self, name: str) -> None:
            self.name = name

        def complete(self, request: Any, timeout_s: float) -> Any:
            return Completion(text="pong", model=f"{self.name}-instant", input_tokens=1, output_tokens=1)

    deps = get_dependencies()
    deps.providers = {name: Instant(name) for name in deps.providers}
    calls: list[str] = []
    boto3.DEFAULT_SESSION = None
    from functions.adapters.dynamodb.client import dynamodb_client

    dynamodb_client().meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    key = os.environ["BENCH_CLIENT_KEY"]
    temperature = float(os.environ.get("BENCH_TEMPERATURE", "0.5"))  # 0 = deterministic: cache hits
    events = [event(op, key, temperature) for op in ("emergency", "standard", "infrastructure", "background")]
    context = Context()
    import gc

    if os.environ.get("BENCH_NO_GC"):
        gc.disable()
    for i in range(300):  # warm-up: first snapshot load, key lookup, pydantic schema builds
        lambda_handler(events[i % len(events)], cast(Any, context))
    calls.clear()
    samples: list[float] = []
    started_all = time.monotonic()
    for i in range(WARM_REQUESTS):
        e = events[i % len(events)]
        t0 = time.perf_counter_ns()
        result = lambda_handler(e, cast(Any, context))
        samples.append((time.perf_counter_ns() - t0) / 1000)
        assert result["statusCode"] == 200
    elapsed = time.monotonic() - started_all
    samples.sort()
    Path(out).write_text(
        json.dumps(
            {
                "p50_us": samples[len(samples) // 2],
                "p99_us": samples[int(len(samples) * 0.99)],
                "mean_us": statistics.fmean(samples),
                "requests": WARM_REQUESTS,
                "elapsed_s": elapsed,
                "dynamodb_calls": len(calls),
                "dynamodb_ops": sorted(set(calls)),
            }
        )
    )


def run_child(mode: str, *args: str, env: dict[str, str]) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; its result comes back as JSON in a file."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    wall0 = time.perf_counter()
    subprocess.run(
        [sys.executable, __file__, mode, out, *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )
    wall = (time.perf_counter() - wall0) * 1000
    result: dict[str, Any] = json.loads(Path(out).read_text())
    os.unlink(out)
    result["process_wall_ms"] = wall
    return result


def main() -> int:
    from local.stack import start

    os.environ.setdefault("CLIENT_REQUESTS_PER_MINUTE", "1000000000")  # the bench's one key sends thousands a minute
    stack = start(port=0, serve_gateway_in_thread=False)
    env = {**os.environ, "BENCH_CLIENT_KEY": stack.client_key}
    try:
        warm = run_child("warm", env=env)
        cached = run_child("warm", env={**env, "BENCH_TEMPERATURE": "0"})
        cold = {op: [run_child("cold", op, env=env) for _ in range(COLD_RUNS)] for op in ("emergency", "standard")}
        snapstart = run_child("snapstart", env=env)
    finally:
        stack.stop()
    print(f"router warm overhead ({warm['requests']} requests, provider answering at once; breakers and cache on):")
    print(
        f"  p50 {warm['p50_us']:.0f} us   p99 {warm['p99_us']:.0f} us   mean {warm['mean_us']:.0f} us"
        "   (target p99 <= 1000 us)"
    )
    print(
        f"  cache hits (temperature 0): p50 {cached['p50_us']:.0f} us   p99 {cached['p99_us']:.0f} us"
        f"   DynamoDB calls {cached['dynamodb_calls']}"
    )
    per_request = warm["dynamodb_calls"] / warm["requests"]
    print(
        f"  DynamoDB calls per request: {per_request:.4f} ({warm['dynamodb_calls']} in {warm['elapsed_s']:.1f} s "
        f"{warm['dynamodb_ops']}; snapshot refreshed at most every 5 s; target 0 in steady state)"
    )
    for op, runs in cold.items():
        first = statistics.median(r["first_ms"] for r in runs)
        imported = statistics.median(r["import_ms"] for r in runs)
        wall = statistics.median(r["process_wall_ms"] for r in runs)
        print(f"cold start, first '{op}' request on route {runs[0]['route']} (median of {len(runs)} fresh processes):")
        print(
            f"  import {imported:.0f} ms, import + first request {first:.0f} ms (target <= 500 ms); "
            f"whole process incl. interpreter {wall:.0f} ms; mcp SDK imported: {runs[0]['mcp_imported']}"
        )
    for label, route in (("Direct", "direct"), ("MCP", "mcp")):
        runs = [r for op_runs in cold.values() for r in op_runs if r["route"] == route]
        if runs:
            print(f"{label} cold start: {statistics.median(r['first_ms'] for r in runs):.0f} ms")
    _print_snapstart(snapstart)
    return 0


def _print_snapstart(model: dict[str, Any]) -> None:
    print(
        f"SnapStart (init captured in the snapshot: {model['init_ms']:.0f} ms; "
        f"each run a fork of it, median of {COLD_RUNS}):"
    )
    for route in ("direct", "mcp"):
        runs = [r for r in model["runs"] if r["route"] == route]
        assert runs and all(r["status"] == 200 for r in runs), model["runs"]
        first = statistics.median(r["first_ms"] for r in runs)
        label = "Direct" if route == "direct" else "MCP"
        print(
            f"{label} cold start after a SnapStart restore: {first:.0f} ms (target <= 500 ms), "
            "plus Lambda's restore of the snapshot"
        )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "warm":
        child_warm(sys.argv[2])
    elif len(sys.argv) > 2 and sys.argv[1] == "snapstart":
        child_snapstart(sys.argv[2])
    elif len(sys.argv) > 3 and sys.argv[1] == "cold":
        child_cold(*sys.argv[2:4])
    else:
        sys.exit(main())
