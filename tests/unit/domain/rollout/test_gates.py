"""Health gates: PASS only on enough good data, FAIL on bad numbers or an alarm, and a tally that
keeps one blip from rolling back."""

from __future__ import annotations

import pytest

from functions.domain.reports.metrics import AttemptCounts, Cell, Counts, Latency, MetricsSnapshot
from functions.domain.rollout.gates import (
    GateDecision,
    GateLimits,
    GateTally,
    GateThresholds,
    TargetMetrics,
    Verdict,
    decide,
    evaluate,
)

THRESHOLDS = GateThresholds()  # 98 %, p95 3000 ms, 20 requests
OK = {"HybridRouting-google-errors": "OK"}


def metrics(requests: float = 100, errors: float = 0, p95: float | None = 800.0) -> TargetMetrics:
    return TargetMetrics("google", requests, errors, p95, 120)


def test_the_gate_uses_the_runbook_numbers_by_default():
    assert (THRESHOLDS.success_percent, THRESHOLDS.p95_latency_ms, THRESHOLDS.min_requests) == (98.0, 3000.0, 20)


def test_enough_good_traffic_passes():
    assert evaluate(metrics(), THRESHOLDS, OK).verdict is Verdict.PASS


def test_no_traffic_is_inconclusive_never_pass():
    verdict = evaluate(metrics(requests=0, p95=None), THRESHOLDS, OK)
    assert verdict.verdict is Verdict.INCONCLUSIVE
    assert "fewer than 20" in verdict.reasons[0]


def test_missing_metrics_are_inconclusive():
    assert evaluate(None, THRESHOLDS, {}).verdict is Verdict.INCONCLUSIVE


def test_too_little_traffic_is_inconclusive_even_when_all_of_it_failed():
    assert evaluate(metrics(requests=19, errors=19), THRESHOLDS, OK).verdict is Verdict.INCONCLUSIVE


def test_no_latency_data_is_inconclusive():
    assert evaluate(metrics(p95=None), THRESHOLDS, OK).verdict is Verdict.INCONCLUSIVE


def test_a_success_rate_below_98_percent_fails():
    verdict = evaluate(metrics(requests=100, errors=3), THRESHOLDS, OK)
    assert verdict.verdict is Verdict.FAIL
    assert verdict.evidence["metrics"]["successPercent"] == 97.0


def test_exactly_98_percent_passes():
    assert evaluate(metrics(requests=100, errors=2), THRESHOLDS, OK).verdict is Verdict.PASS


def test_a_p95_above_the_slo_fails():
    assert evaluate(metrics(p95=3000.1), THRESHOLDS, OK).verdict is Verdict.FAIL


def test_an_alarm_in_alarm_fails_the_gate_whatever_the_metrics_say():
    verdict = evaluate(metrics(requests=0, p95=None), THRESHOLDS, {"HybridRouting-google-errors": "ALARM"})
    assert verdict.verdict is Verdict.FAIL
    assert verdict.reasons == ("alarm HybridRouting-google-errors is in ALARM",)


def test_an_alarm_without_data_does_not_fail_the_gate():
    assert evaluate(metrics(), THRESHOLDS, {"x": "INSUFFICIENT_DATA"}).verdict is Verdict.PASS


def test_target_metrics_come_from_the_snapshot_of_that_provider_only():
    snapshot = MetricsSnapshot(
        window_s=120,
        cells=(
            Cell("direct", "google", "standard", Counts(requests=40, errors=1)),
            Cell("direct", "google", "emergency", Counts(requests=10)),
            Cell("direct", "bedrock", "standard", Counts(requests=500, errors=400)),
        ),
        latency={"provider": {"google": Latency(p95_ms=900.0)}},
    )
    target = TargetMetrics.from_snapshot(snapshot, "google")
    assert (target.requests, target.errors, target.p95_ms, target.success_percent) == (50, 1, 900.0, 98.0)


def test_a_providers_own_attempts_judge_it_even_when_the_failover_chain_served_its_requests():
    snapshot = MetricsSnapshot(
        window_s=120,
        cells=(Cell("direct", "google", "emergency", Counts(requests=20)),),  # every request served by google
        attempts={"bedrock": AttemptCounts(attempts=20, server_errors=15, throttles=3, p95_ms=40.0)},
    )
    target = TargetMetrics.from_snapshot(snapshot, "bedrock")
    assert (target.requests, target.errors, target.p95_ms, target.success_percent) == (20, 18, 40.0, 10.0)
    assert evaluate(target, THRESHOLDS, {}).verdict is Verdict.FAIL


def test_a_provider_absent_from_the_snapshot_has_no_traffic():
    target = TargetMetrics.from_snapshot(MetricsSnapshot(window_s=60), "meta")
    assert (target.requests, target.p95_ms, target.success_percent) == (0, None, None)


# --- tally -------------------------------------------------------------------------------------
LIMITS = GateLimits()  # 3 failures, 2 in a row, 3 inconclusive re-checks


def run(verdicts: list[Verdict]) -> list[GateDecision]:
    tally, decisions = GateTally(), []
    for verdict in verdicts:
        tally = tally.record(verdict)
        decisions.append(decide(tally, verdict, LIMITS))
    return decisions


def test_one_blip_holds_and_rechecks_instead_of_rolling_back():
    assert run([Verdict.PASS, Verdict.FAIL, Verdict.PASS]) == [
        GateDecision.PROCEED,
        GateDecision.HOLD,
        GateDecision.PROCEED,
    ]


def test_two_failures_in_a_row_fail():
    assert run([Verdict.FAIL, Verdict.FAIL])[-1] is GateDecision.FAIL


def test_the_failure_limit_counts_failures_across_the_rollout():
    decisions = run([Verdict.FAIL, Verdict.PASS, Verdict.FAIL, Verdict.PASS, Verdict.FAIL])
    assert decisions[:-1] == [GateDecision.HOLD, GateDecision.PROCEED] * 2
    assert decisions[-1] is GateDecision.FAIL


def test_inconclusive_holds_a_bounded_number_of_times_then_gives_up():
    decisions = run([Verdict.INCONCLUSIVE] * 4)
    assert decisions == [GateDecision.HOLD] * 3 + [GateDecision.GIVE_UP]


def test_a_pass_resets_the_inconclusive_and_consecutive_counts_but_not_the_total():
    tally = GateTally(failures=1, consecutive_failures=1, consecutive_inconclusive=2).record(Verdict.PASS)
    assert tally == GateTally(failures=1)


@pytest.mark.parametrize("verdict", [Verdict.FAIL, Verdict.INCONCLUSIVE])
def test_never_proceeds_without_a_pass(verdict):
    assert run([verdict])[0] is not GateDecision.PROCEED
