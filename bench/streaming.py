"""Streaming overhead benchmark: what the router adds to a provider's stream, warm, in process.

An in-process provider emits N deltas at once and keeps its own timing: when `stream()` was called, when
it yielded each delta, and when it was resumed after each. The client side is `stream_handler`'s caller
reading the chunks. Printed, p50/p99 in µs:
- added time to first token: (request start -> first content chunk in the client's hands) minus the
  provider's own time to first token (`stream()` called -> first delta yielded);
- added time per chunk: (one content chunk -> the next, in the client's hands) minus the provider's own
  time between being resumed and yielding its next delta.
Targets on a 2-core machine: p99 added TTFT <= 2 ms, p99 per chunk <= 100 µs.

The AWS side is the local stack's moto server, started here; the measurement runs in a fresh child process
with its stdout (the handler's JSON logs and EMF) discarded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

REQUESTS = int(os.environ.get("BENCH_STREAM_REQUESTS", "400"))
DELTAS = int(os.environ.get("BENCH_STREAM_DELTAS", "50"))
WARMUP = 100
TTFT_TARGET_US, CHUNK_TARGET_US = 2000.0, 100.0


def stream_event(key: str) -> dict[str, Any]:
    """router_overhead's infrastructure request, with `stream: true`."""
    from router_overhead import event

    streamed = event("infrastructure", key)
    streamed["body"] = json.dumps({**json.loads(streamed["body"]), "stream": True})
    return streamed


class TimedProvider:
    """Streams DELTAS deltas at once, noting when it was called, yielded and resumed, on `clock`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.clock = time.perf_counter_ns
        self.called = 0
        self.yielded: list[int] = []
        self.resumed: list[int] = []

    def complete(self, request: Any, timeout_s: float) -> Any:
        raise AssertionError("streamed")

    def stream(self, request: Any, limits: Any) -> Iterator[Any]:
        from functions.domain.completion import StreamEnd, TextDelta

        clock = self.clock
        self.called = clock()
        self.yielded, self.resumed = [], []
        for i in range(DELTAS):
            delta = TextDelta(f"word{i} ")
            self.yielded.append(clock())
            yield delta
            self.resumed.append(clock())
        yield StreamEnd(f"{self.name}-bench", "stop", 1, DELTAS)


def child(out: str) -> None:
    """Measured twice: on the wall clock, and on this thread's CPU clock (what the router itself spends,
    without the time the machine's other processes take the core from it)."""
    from functions.app.chat.wiring import get_dependencies

    deps = get_dependencies()
    providers = {name: TimedProvider(name) for name in deps.providers}
    deps.providers = cast(Any, providers)
    results = {}
    for label, clock in (("wall", time.perf_counter_ns), ("cpu", time.thread_time_ns)):
        for provider in providers.values():
            provider.clock = clock
        results[label] = measure(providers["bedrock"], clock)
    Path(out).write_text(json.dumps(results))


def measure(provider: TimedProvider, clock: Any) -> dict[str, dict[str, float]]:
    from router_overhead import Context

    from functions.handlers.router import stream_handler

    event, context = stream_event(os.environ["BENCH_CLIENT_KEY"]), cast(Any, Context())
    ttft: list[float] = []
    per_chunk: list[float] = []
    for i in range(WARMUP + REQUESTS):
        started = clock()
        stream = stream_handler(event, context)
        received: list[int] = []
        for chunk in stream.chunks:
            if b'"content":"word' in chunk:
                received.append(clock())
        assert stream.status == 200 and len(received) == DELTAS, (stream.status, len(received))
        if i < WARMUP:
            continue
        ttft.append((received[0] - started - (provider.yielded[0] - provider.called)) / 1000)
        for n in range(1, DELTAS):
            own = provider.yielded[n] - provider.resumed[n - 1]
            per_chunk.append((received[n] - received[n - 1] - own) / 1000)
    return {"ttft": _percentiles(ttft), "chunk": _percentiles(per_chunk)}


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50": ordered[len(ordered) // 2], "p99": ordered[int(len(ordered) * 0.99)], "n": len(ordered)}


def main() -> int:
    from local.stack import start

    stack = start(port=0, serve_gateway_in_thread=False)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    try:
        env = {**os.environ, "BENCH_CLIENT_KEY": stack.client_key}
        subprocess.run(
            [sys.executable, __file__, "child", out], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
        )
        result = json.loads(Path(out).read_text())
    finally:
        os.unlink(out)
        stack.stop()
    load = os.getloadavg()[0]
    print(f"streaming overhead ({REQUESTS} streams of {DELTAS} deltas, warm, in process; provider answering at once):")
    for label, title in (("wall", "wall clock"), ("cpu", f"router thread's CPU time (load average {load:.1f})")):
        ttft, chunk = result[label]["ttft"], result[label]["chunk"]
        print(f" {title}:")
        print(
            f"  added time to first token: p50 {ttft['p50']:.0f} us   p99 {ttft['p99']:.0f} us"
            f"   (target p99 <= {TTFT_TARGET_US:.0f} us) {'PASS' if ttft['p99'] <= TTFT_TARGET_US else 'FAIL'}"
        )
        print(
            f"  added time per chunk:      p50 {chunk['p50']:.1f} us   p99 {chunk['p99']:.1f} us"
            f"   (target p99 <= {CHUNK_TARGET_US:.0f} us) {'PASS' if chunk['p99'] <= CHUNK_TARGET_US else 'FAIL'}"
            f"   ({chunk['n']} chunks)"
        )
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "child":
        child(sys.argv[2])
        sys.exit(0)
    sys.exit(main())
