"""Failover detection benchmark: how long, and how many requests, from the start of a provider
fault until its circuit breaker opens, under steady traffic on the local stack; and what the
clients saw meanwhile. Prints one line per scenario.

Scenarios follow the runbook's failover triggers (provider-failover.md): a hard outage (5xx on
every request), a partial one (5xx above 5 %), rate limiting above 10 %, and P95 above 3000 ms.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TIMEOUT_S = 60.0


@dataclass
class Scenario:
    name: str
    fault: dict[str, Any]
    concurrency: int = 4


SCENARIOS = (
    Scenario("hard outage (100 % 503)", {"error_rate": 1.0, "status": 503}),
    Scenario("partial outage (15 % 500)", {"error_rate": 0.15, "status": 500}),
    Scenario("rate limiting (30 % 429)", {"error_rate": 0.3, "status": 429}),
    Scenario("latency (P95 > 3000 ms: +3200 ms)", {"error_rate": 0.0, "latency_ms": 3200}, concurrency=24),
)


def _traffic(client: Any, body: Any, stop: Any, lock: Any, sent: Any, failed: Any) -> None:
    while not stop.is_set():
        response = client.post("/v1/chat/completions", json=body, headers={"X-Operation-Type": "infrastructure"})
        with lock:
            sent[0] += 1
            failed[0] += response.status_code != 200


def main() -> int:
    import logging

    from local.faults import FaultSpec
    from local.stack import start

    logging.disable(logging.INFO)
    os.environ.setdefault("CLIENT_REQUESTS_PER_MINUTE", "1000000000")  # the bench's one key sends thousands a minute
    stack = start(port=0, serve_gateway_in_thread=False)
    from starlette.testclient import TestClient

    from functions.app.chat.wiring import get_dependencies
    from functions.domain.routing.breaker import BreakerStatus
    from tests.support import reset_routing_state

    body = {"model": "bench", "messages": [{"role": "user", "content": "ping"}], "temperature": 0.5}
    print(
        "failover detection on the local stack (infrastructure traffic; bedrock faulted; breaker thresholds as shipped)"
    )
    try:
        with TestClient(stack.app) as client:
            client.headers["Authorization"] = f"Bearer {stack.client_key}"
            for scenario in SCENARIOS:
                breakers = reset_routing_state(stack)
                stop = threading.Event()
                sent, failed = [0], [0]
                lock = threading.Lock()
                with ThreadPoolExecutor(scenario.concurrency) as pool:
                    for _ in range(scenario.concurrency):
                        pool.submit(_traffic, client, body, stop, lock, sent, failed)
                    time.sleep(0.5)  # steady state first
                    reached0, sent0, failed0 = stack.faults.requests("bedrock"), sent[0], failed[0]
                    stack.faults.set(FaultSpec(provider="bedrock", **scenario.fault))
                    started = time.monotonic()
                    while breakers.state("bedrock").status is not BreakerStatus.OPEN:
                        if time.monotonic() - started > TIMEOUT_S:
                            break
                        time.sleep(0.005)
                    elapsed = time.monotonic() - started
                    opened = breakers.state("bedrock").status is BreakerStatus.OPEN
                    reached, during, errors = (
                        stack.faults.requests("bedrock") - reached0,
                        sent[0] - sent0,
                        failed[0] - failed0,
                    )
                    stop.set()
                stack.faults.clear()
                verdict = breakers.state("bedrock").reason if opened else f"not open after {TIMEOUT_S:.0f} s"
                print(
                    f"  {scenario.name:<36} detected in {elapsed:6.2f} s after {reached:4d} bedrock requests "
                    f"({during} client requests, {errors} failed) - {verdict}"
                )
                get_dependencies().snapshots.invalidate()
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
