"""Steady, open-loop traffic for a drill: `rate_rps` requests per second over HTTP to the gateway,
cycling through the seven operation types of the routing matrix in turn. Open loop: a slow or failing
stack does not slow the sender down (requests are scheduled on the clock, served by a thread pool),
which is how real clients behave and what makes the error rate honest."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle

import httpx

from functions.domain.routing.matrix import OPERATION_NAMES, ROUTING_MATRIX, OperationType
from local.drill.timeline import Recorder, RequestRecord

CACHEABLE_PROMPTS = 4  # distinct prompts per cacheable operation: warmed by the steady traffic before the fault
CLIENT_SLACK_S = 2.0  # the client waits the operation's latency budget plus this before giving up


class TrafficGenerator:
    def __init__(
        self,
        base_url: str,
        client_key: str,
        recorder: Recorder,
        rate_rps: float,
        cacheable: frozenset[str] = frozenset(),
        max_in_flight: int = 128,
    ) -> None:
        if rate_rps <= 0:
            raise ValueError("the traffic rate must be positive")
        self.rate_rps, self._recorder, self._cacheable = rate_rps, recorder, cacheable
        self._client = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {client_key}"},
            limits=httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight),
        )
        self._pool = ThreadPoolExecutor(max_in_flight, thread_name_prefix="drill-traffic")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._schedule, name="drill-traffic-clock", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sending, then wait for every request in flight to be answered (or time out)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        self._pool.shutdown(wait=True)
        self._client.close()

    def _schedule(self) -> None:
        interval = 1.0 / self.rate_rps
        operations = cycle(OPERATION_NAMES)
        due = time.monotonic()
        while not self._stop.is_set():
            delay = due - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            self._pool.submit(self._send, next(operations), self.sent)
            self.sent += 1
            due += interval

    def _send(self, operation: str, number: int) -> None:
        row = ROUTING_MATRIX[OperationType(operation)]
        if operation in self._cacheable:
            body = {"messages": [_message(f"drill {operation} prompt {number % CACHEABLE_PROMPTS}")], "temperature": 0}
        else:
            body = {"messages": [_message(f"drill {operation} request {number}")], "temperature": 0.7}
        started, has_fallback = self._recorder.now(), row.fallback is not None
        try:
            response = self._client.post(
                "/v1/chat/completions",
                json={"model": "drill", **body},
                headers={"X-Operation-Type": operation},
                timeout=row.latency_budget_s + CLIENT_SLACK_S,
            )
        except httpx.HTTPError:
            unanswered = RequestRecord(started, self._recorder.now(), operation, 0, has_fallback=has_fallback)
            self._recorder.add_request(unanswered)
            return
        self._recorder.add_request(_record(response, started, self._recorder.now(), operation, has_fallback))


def _message(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def _record(
    response: httpx.Response, started: float, ended: float, operation: str, has_fallback: bool
) -> RequestRecord:
    code = ""
    if response.status_code >= 400:
        try:
            code = str(response.json()["error"]["code"])
        except (ValueError, KeyError, TypeError):
            code = "unparsed"
    headers = response.headers
    return RequestRecord(
        started=started,
        ended=ended,
        operation=operation,
        status=response.status_code,
        provider=headers.get("x-hybrid-provider", ""),
        route=headers.get("x-hybrid-route", ""),
        fallback=headers.get("x-hybrid-fallback", "") == "true",
        cache=headers.get("x-hybrid-cache", ""),
        error_code=code,
        has_fallback=has_fallback,
    )
