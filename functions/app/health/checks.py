"""The scheduled health check as a use case: probe every configured target in parallel, fold each outcome into
its stored record (`apply_probe`), publish each healthy <-> unhealthy transition once its record is stored."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from functions.domain.completion import CompletionRequest, Provider, Turn
from functions.domain.errors import HybridRoutingError
from functions.domain.health_check import (
    HealthRecord,
    HealthRecords,
    ProbeOutcome,
    Transition,
    TransitionPublisher,
    apply_probe,
)
from functions.domain.thresholds import HEALTH_PROBE_TIMEOUT_SECONDS

PROBE_REQUEST = CompletionRequest(turns=(Turn("user", "ping"),), max_tokens=1)
PROBE_TIMEOUT_CODE = "probe_timeout"  # the probe was cut by the checker, not by the adapter
UNEXPECTED_ERROR_CODE = "unexpected_error"
# The adapters enforce `timeout_s` themselves; the checker waits this much longer before cutting a
# probe, so an adapter's own typed timeout is what gets recorded whenever the adapter honours it.
PROBE_CUT_GRACE_SECONDS = 0.5


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
