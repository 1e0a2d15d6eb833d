"""Circuit breaker per target (Direct provider or the MCP route): the pure part.

Verdicts come from this instance's sliding window (error rates, P95 latency, consecutive
failures); the state (closed / open / half-open, probe budget) is shared by every instance through
the store, which applies the transitions computed here with conditional writes.
"""

from __future__ import annotations

from collections import deque
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

from functions.domain import thresholds

AttemptOutcome = Literal["ok", "server_error", "throttled", "client_error"]


class Admitted(Protocol):
    @property
    def target(self) -> str: ...

    @property
    def probe(self) -> bool: ...


class Breakers(Protocol):
    """The circuit breakers, as the request path sees them (the port SharedBreakers implements)."""

    def admit(self, target: str, now: float) -> Admitted | None: ...

    def force(self, target: str) -> Admitted:
        """Let a request through whatever the breaker says (last resort)."""
        ...

    def record(
        self, admission: Admitted, outcome: AttemptOutcome, latency_ms: float, code: str | None = None
    ) -> None: ...

    def may_take_traffic(self, target: str, now: float) -> bool: ...


class BreakerStatus(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    server_error_rate: float = thresholds.BREAKER_SERVER_ERROR_RATE
    throttle_rate: float = thresholds.BREAKER_THROTTLE_RATE
    p95_latency_ms: float = thresholds.BREAKER_P95_LATENCY_MS
    latency_window_s: float = thresholds.BREAKER_LATENCY_WINDOW_SECONDS
    error_window_s: float = thresholds.BREAKER_ERROR_WINDOW_SECONDS
    min_requests: int = thresholds.BREAKER_MIN_REQUESTS
    consecutive_failures: int = thresholds.BREAKER_CONSECUTIVE_FAILURES
    cooldown_s: float = thresholds.BREAKER_COOLDOWN_SECONDS
    half_open_probes: int = thresholds.BREAKER_HALF_OPEN_PROBES
    close_after_successes: int = thresholds.BREAKER_CLOSE_AFTER_SUCCESSES


@dataclass(frozen=True, slots=True)
class BreakerState:
    status: BreakerStatus = BreakerStatus.CLOSED
    version: int = 0
    opened_at: float | None = None
    probes_granted: int = 0
    probe_successes: int = 0
    reason: str = ""

    def cooled_down(self, now: float, policy: BreakerPolicy) -> bool:
        return (
            self.status is BreakerStatus.OPEN
            and self.opened_at is not None
            and now - self.opened_at >= policy.cooldown_s
        )

    def may_take_traffic(self, now: float, policy: BreakerPolicy) -> bool:
        """Closed, half-open with probes left, or open past its cooldown (about to half-open)."""
        if self.status is BreakerStatus.CLOSED:
            return True
        if self.status is BreakerStatus.HALF_OPEN:
            return self.probes_granted < policy.half_open_probes
        return self.cooled_down(now, policy)


def tripped(state: BreakerState, now: float, reason: str) -> BreakerState:
    return BreakerState(BreakerStatus.OPEN, state.version + 1, now, 0, 0, reason)


def half_opened(state: BreakerState) -> BreakerState:
    return BreakerState(BreakerStatus.HALF_OPEN, state.version + 1, state.opened_at, 0, 0, "cooldown elapsed")


def closed(state: BreakerState, reason: str) -> BreakerState:
    return BreakerState(BreakerStatus.CLOSED, state.version + 1, None, 0, 0, reason)


def after_probe(successes: int, ok: bool, policy: BreakerPolicy) -> Literal["close", "open", "wait"]:
    """What a half-open breaker does after a probe: any failure re-opens it, enough successes
    (counted across instances) close it."""
    if not ok:
        return "open"
    return "close" if successes >= policy.close_after_successes else "wait"


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    outcome: AttemptOutcome
    latency_ms: float


class SlidingWindow:
    """This instance's recent outcomes for one target. Error rates are kept as running counts
    (O(1) per request); the P95 latency is recomputed at most once a second."""

    LATENCY_CHECK_INTERVAL_S = 1.0

    def __init__(
        self, policy: BreakerPolicy, max_samples: int = 5000, lock: AbstractContextManager[object] | None = None
    ) -> None:
        """`lock` guards the window where requests of one process overlap (the caller's threading.Lock)."""
        self._policy = policy
        self._recent: deque[Sample] = deque()  # the error window, all outcomes but client errors
        self._counts = {"ok": 0, "server_error": 0, "throttled": 0}
        self._latencies: deque[tuple[float, float]] = deque(maxlen=max_samples)  # successes, latency window
        self._consecutive_failures = 0
        self._latency_checked_at = float("-inf")
        self._latency_verdict: str | None = None
        self._lock: AbstractContextManager[object] = lock if lock is not None else nullcontext()
        self.last_success_at: float | None = None
        self.last_failure_at: float | None = None
        self.last_error: str | None = None

    def record(self, sample: Sample, error_code: str | None = None) -> None:
        with self._lock:
            if sample.outcome == "client_error":
                return
            self._recent.append(sample)
            self._counts[sample.outcome] += 1
            if sample.outcome == "ok":
                self._consecutive_failures, self.last_success_at = 0, sample.at
                self._latencies.append((sample.at, sample.latency_ms))
            else:
                self._consecutive_failures += 1
                self.last_failure_at, self.last_error = sample.at, error_code

    def reset(self) -> None:
        with self._lock:
            self._recent.clear()
            self._latencies.clear()
            self._counts = dict.fromkeys(self._counts, 0)
            self._consecutive_failures = 0
            self._latency_checked_at, self._latency_verdict = float("-inf"), None

    def verdict(self, now: float) -> str | None:
        """Why the breaker should trip now, or None."""
        policy = self._policy
        with self._lock:
            while self._recent and now - self._recent[0].at > policy.error_window_s:
                self._counts[self._recent.popleft().outcome] -= 1
            if self._consecutive_failures >= policy.consecutive_failures:
                return f"{self._consecutive_failures} consecutive failures"
            total = len(self._recent)
            if total >= policy.min_requests:
                server, throttled = self._counts["server_error"] / total, self._counts["throttled"] / total
                if server > policy.server_error_rate:
                    return f"5xx rate {server:.1%} > {policy.server_error_rate:.0%} over {total} requests"
                if throttled > policy.throttle_rate:
                    return f"rate-limit rate {throttled:.1%} > {policy.throttle_rate:.0%} over {total} requests"
            if now - self._latency_checked_at >= self.LATENCY_CHECK_INTERVAL_S:
                self._latency_checked_at, self._latency_verdict = now, self._p95_verdict(now)
            return self._latency_verdict

    def _p95_verdict(self, now: float) -> str | None:
        policy = self._policy
        while self._latencies and now - self._latencies[0][0] > policy.latency_window_s:
            self._latencies.popleft()
        if len(self._latencies) < policy.min_requests:
            return None
        ordered = sorted(latency for _, latency in self._latencies)
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        return f"P95 {p95:.0f} ms > {policy.p95_latency_ms:.0f} ms" if p95 > policy.p95_latency_ms else None
