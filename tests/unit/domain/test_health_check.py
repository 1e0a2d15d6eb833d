"""The health-check rule (failures to unhealthy at the threshold, recovery after successes) and the parallel probes."""

from __future__ import annotations

import time

import pytest

from functions.app.health.checks import PROBE_CUT_GRACE_SECONDS, PROBE_TIMEOUT_CODE, probe_all
from functions.domain.completion import Completion, CompletionRequest
from functions.domain.errors import ProviderUnavailable
from functions.domain.health_check import HealthRecord, ProbeOutcome, apply_probe
from functions.domain.thresholds import HEALTH_FAILURE_THRESHOLD, HEALTH_RECOVERY_SUCCESSES


def _fail(at: int = 100) -> ProbeOutcome:
    return ProbeOutcome("bedrock", ok=False, latency_ms=12, checked_at=at, error_code="provider_unavailable")


def _ok(at: int = 100) -> ProbeOutcome:
    return ProbeOutcome("bedrock", ok=True, latency_ms=8, checked_at=at)


def _run(record: HealthRecord | None, outcomes: list[ProbeOutcome]) -> tuple[HealthRecord, list]:
    transitions = []
    for outcome in outcomes:
        record, transition = apply_probe(record, outcome)
        transitions.append(transition)
    assert record is not None
    return record, transitions


def test_the_runbook_threshold_is_three_failures_and_recovery_needs_two_successes() -> None:
    assert HEALTH_FAILURE_THRESHOLD == 3
    assert HEALTH_RECOVERY_SUCCESSES == 2


def test_a_target_never_checked_starts_healthy_and_a_success_keeps_it_so() -> None:
    record, transition = apply_probe(None, _ok(at=42))
    assert (record.status, record.consecutive_successes, record.checked_at, record.last_latency_ms) == (
        "healthy",
        1,
        42,
        8,
    )
    assert transition is None


def test_two_failures_leave_a_healthy_target_healthy() -> None:
    record, transitions = _run(None, [_fail(), _fail()])
    assert (record.status, record.consecutive_failures) == ("healthy", 2)
    assert transitions == [None, None]


def test_the_third_consecutive_failure_marks_the_target_unhealthy_with_one_transition() -> None:
    record, transitions = _run(None, [_fail(1), _fail(2), _fail(3)])
    assert (record.status, record.consecutive_failures, record.last_error) == ("unhealthy", 3, "provider_unavailable")
    assert transitions[:2] == [None, None]
    transition = transitions[2]
    assert (transition.previous, transition.current, transition.consecutive_failures, transition.checked_at) == (
        "healthy",
        "unhealthy",
        3,
        3,
    )
    assert "provider_unavailable" in transition.reason


def test_a_success_between_failures_resets_the_count() -> None:
    record, transitions = _run(None, [_fail(), _fail(), _ok(), _fail(), _fail()])
    assert (record.status, record.consecutive_failures) == ("healthy", 2)
    assert all(t is None for t in transitions)


def test_further_failures_of_an_unhealthy_target_emit_no_new_transition() -> None:
    record, transitions = _run(None, [_fail()] * 5)
    assert record.status == "unhealthy"
    assert [t is not None for t in transitions] == [False, False, True, False, False]


def test_one_success_does_not_yet_bring_an_unhealthy_target_back() -> None:
    unhealthy = HealthRecord("bedrock", status="unhealthy", consecutive_failures=3)
    record, transition = apply_probe(unhealthy, _ok())
    assert (record.status, record.consecutive_successes, record.consecutive_failures) == ("unhealthy", 1, 0)
    assert transition is None


def test_the_second_consecutive_success_makes_an_unhealthy_target_healthy_with_one_transition() -> None:
    unhealthy = HealthRecord("bedrock", status="unhealthy", consecutive_failures=3, last_error="provider_timeout")
    record, transitions = _run(unhealthy, [_ok(), _ok(), _ok()])
    assert record.status == "healthy"
    assert [t is not None for t in transitions] == [False, True, False]
    assert (transitions[1].previous, transitions[1].current, transitions[1].consecutive_failures) == (
        "unhealthy",
        "healthy",
        0,
    )


def test_a_failure_during_recovery_starts_recovery_over() -> None:
    unhealthy = HealthRecord("bedrock", status="unhealthy", consecutive_failures=3)
    record, transitions = _run(unhealthy, [_ok(), _fail(), _ok()])
    assert (record.status, record.consecutive_successes) == ("unhealthy", 1)
    assert all(t is None for t in transitions)


def test_applying_a_probe_keeps_the_version_for_the_store_to_bump() -> None:
    record, _ = apply_probe(HealthRecord("bedrock", version=7), _fail())
    assert record.version == 7


class _Answers:
    def __init__(self, name: str, delay_s: float = 0.0, error: Exception | None = None) -> None:
        self.name, self._delay_s, self._error = name, delay_s, error
        self.requests: list[tuple[CompletionRequest, float]] = []

    def complete(self, request: CompletionRequest, timeout_s: float) -> Completion:
        self.requests.append((request, timeout_s))
        time.sleep(self._delay_s)
        if self._error:
            raise self._error
        return Completion(text="p", model="m", input_tokens=1, output_tokens=1)


def test_every_provider_gets_one_minimal_ping_with_the_probe_timeout() -> None:
    provider = _Answers("bedrock")
    outcomes = probe_all({"bedrock": provider}, timeout_s=0.5, clock=lambda: 1000.0)
    ((request, timeout_s),) = provider.requests
    assert [(t.role, t.text) for t in request.turns] == [("user", "ping")]
    assert (request.max_tokens, timeout_s) == (1, 0.5)
    assert outcomes["bedrock"].ok and outcomes["bedrock"].checked_at == 1000


def test_a_typed_provider_error_is_recorded_by_its_code_never_its_text() -> None:
    failing = _Answers("google", error=ProviderUnavailable("secret provider text", provider="google"))
    outcome = probe_all({"google": failing}, timeout_s=0.5)["google"]
    assert (outcome.ok, outcome.error_code) == (False, "provider_unavailable")


def test_a_provider_that_hangs_is_cut_by_the_timeout_while_the_others_are_probed_in_parallel() -> None:
    providers = {"bedrock": _Answers("bedrock", delay_s=0.15), "meta": _Answers("meta", delay_s=2.0)}
    started = time.monotonic()
    outcomes = probe_all(providers, timeout_s=0.3)
    elapsed = time.monotonic() - started
    assert elapsed < 0.3 + PROBE_CUT_GRACE_SECONDS + 0.3
    assert outcomes["bedrock"].ok
    assert (outcomes["meta"].ok, outcomes["meta"].error_code) == (False, PROBE_TIMEOUT_CODE)
    assert outcomes["meta"].latency_ms >= 300


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyError("x")])
def test_an_adapter_bug_counts_as_a_failed_probe_not_a_crashed_checker(error: Exception) -> None:
    outcome = probe_all({"mcp": _Answers("mcp", error=error)}, timeout_s=0.5)["mcp"]
    assert (outcome.ok, outcome.error_code) == (False, "unexpected_error")
