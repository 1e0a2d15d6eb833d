"""Scheduled provider health checks: probe every configured target, fold each outcome into its
record, report the healthy <-> unhealthy transitions.

`apply_probe` is the rule and is pure. `probe_all` and `run_health_checks` are a small service over
the `Provider` protocol and two ports (the record store and the event publisher)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from functions.domain.completion import CompletionRequest, Provider, Turn
from functions.domain.errors import HybridRoutingError
from functions.domain.thresholds import (
    HEALTH_FAILURE_THRESHOLD,
    HEALTH_PROBE_TIMEOUT_SECONDS,
    HEALTH_RECOVERY_SUCCESSES,
)

HealthStatus = Literal["healthy", "unhealthy"]

PROBE_REQUEST = CompletionRequest(turns=(Turn("user", "ping"),), max_tokens=1)
PROBE_TIMEOUT_CODE = "probe_timeout"  # the probe was cut by the checker, not by the adapter
UNEXPECTED_ERROR_CODE = "unexpected_error"
# The adapters enforce `timeout_s` themselves; the checker waits this much longer before cutting a
# probe, so an adapter's own typed timeout is what gets recorded whenever the adapter honours it.
PROBE_CUT_GRACE_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    target: str
    ok: bool
    latency_ms: int
    checked_at: int  # epoch seconds
    error_code: str | None = None  # an error code, never provider text


@dataclass(frozen=True, slots=True)
class HealthRecord:
    target: str
    status: HealthStatus = "healthy"
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    checked_at: int = 0
    last_error: str | None = None
    last_latency_ms: int | None = None
    version: int = 0  # 0: never stored


@dataclass(frozen=True, slots=True)
class Transition:
    target: str
    previous: HealthStatus
    current: HealthStatus
    consecutive_failures: int
    checked_at: int
    reason: str


def apply_probe(
    previous: HealthRecord | None,
    outcome: ProbeOutcome,
    failure_threshold: int = HEALTH_FAILURE_THRESHOLD,
    recovery_successes: int = HEALTH_RECOVERY_SUCCESSES,
) -> tuple[HealthRecord, Transition | None]:
    """The record after `outcome`, and the transition it caused, if any.

    A target never checked before starts healthy (the router treats a missing record so too).
    The returned record keeps the previous `version`: the store bumps it when it writes.
    """
    record = previous or HealthRecord(outcome.target)
    if outcome.ok:
        successes = record.consecutive_successes + 1
        status: HealthStatus = (
            "healthy" if record.status == "healthy" or successes >= recovery_successes else "unhealthy"
        )
        updated = replace(record, consecutive_failures=0, consecutive_successes=successes, status=status)
        reason = f"{successes} consecutive successful probes"
    else:
        failures = record.consecutive_failures + 1
        status = "unhealthy" if failures >= failure_threshold else record.status
        updated = replace(
            record, consecutive_failures=failures, consecutive_successes=0, status=status, last_error=outcome.error_code
        )
        reason = f"{failures} consecutive failed probes (last error: {outcome.error_code})"
    updated = replace(updated, checked_at=outcome.checked_at, last_latency_ms=outcome.latency_ms)
    if updated.status == record.status:
        return updated, None
    transition = Transition(
        outcome.target, record.status, updated.status, updated.consecutive_failures, outcome.checked_at, reason
    )
    return updated, transition


def probe_all(
    providers: Mapping[str, Provider],
    timeout_s: float = HEALTH_PROBE_TIMEOUT_SECONDS,
    clock: Callable[[], float] = time.time,
) -> dict[str, ProbeOutcome]:
    """Probe every provider in parallel; a probe still running shortly after `timeout_s` is a failure.

    The pool is not joined: a provider that ignores its timeout keeps a thread, not the checker.
    """
    if not providers:
        return {}
    checked_at = int(clock())
    started = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=len(providers), thread_name_prefix="health-probe")
    try:
        futures = {
            name: pool.submit(_probe, name, provider, timeout_s, checked_at) for name, provider in providers.items()
        }
        wait(futures.values(), timeout=timeout_s + PROBE_CUT_GRACE_SECONDS)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    cut = round((time.perf_counter() - started) * 1000)
    return {
        name: future.result()
        if future.done()
        else ProbeOutcome(name, ok=False, latency_ms=cut, checked_at=checked_at, error_code=PROBE_TIMEOUT_CODE)
        for name, future in futures.items()
    }


def _probe(name: str, provider: Provider, timeout_s: float, checked_at: int) -> ProbeOutcome:
    started = time.perf_counter()
    error_code: str | None = None
    try:
        provider.complete(PROBE_REQUEST, timeout_s)
    except HybridRoutingError as exc:
        error_code = exc.code
    except Exception:  # a probe must report a broken adapter, never crash the checker
        error_code = UNEXPECTED_ERROR_CODE
    latency_ms = round((time.perf_counter() - started) * 1000)
    return ProbeOutcome(
        name, ok=error_code is None, latency_ms=latency_ms, checked_at=checked_at, error_code=error_code
    )


class HealthRecords(Protocol):
    def read_all(self, targets: tuple[str, ...]) -> dict[str, HealthRecord]: ...

    def save(
        self,
        previous: HealthRecord | None,
        outcome: ProbeOutcome,
        step: Callable[[HealthRecord | None, ProbeOutcome], tuple[HealthRecord, Transition | None]],
    ) -> tuple[HealthRecord, Transition | None]: ...


class TransitionPublisher(Protocol):
    def publish(self, transition: Transition) -> None: ...


@dataclass(frozen=True, slots=True)
class CheckResult:
    outcome: ProbeOutcome
    record: HealthRecord
    transition: Transition | None


def run_health_checks(
    providers: Mapping[str, Provider],
    records: HealthRecords,
    publisher: TransitionPublisher,
    timeout_s: float = HEALTH_PROBE_TIMEOUT_SECONDS,
    clock: Callable[[], float] = time.time,
) -> list[CheckResult]:
    """Probe, record every outcome, publish each transition once its record is stored."""
    current = records.read_all(tuple(providers))
    results = []
    for target, outcome in probe_all(providers, timeout_s, clock).items():
        record, transition = records.save(current.get(target), outcome, apply_probe)
        if transition is not None:
            publisher.publish(transition)
        results.append(CheckResult(outcome, record, transition))
    return results
