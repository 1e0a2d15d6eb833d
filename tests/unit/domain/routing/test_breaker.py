"""The breaker's pure part: window verdicts on the runbook triggers, state transitions."""

import pytest

from functions.domain.routing.breaker import (
    BreakerPolicy,
    BreakerState,
    BreakerStatus,
    Sample,
    SlidingWindow,
    after_probe,
    half_opened,
    tripped,
)

POLICY = BreakerPolicy()
NOW = 10_000.0


def window_with(outcomes, latency_ms=100.0, start=NOW - 30):
    window = SlidingWindow(POLICY)
    for i, outcome in enumerate(outcomes):
        window.record(Sample(start + i * 0.01, outcome, latency_ms))
    return window


def test_a_window_below_the_minimum_request_count_gives_no_verdict_on_rates():
    # Given 4 server errors among 10 requests (40 %), but fewer than the minimum of 20
    window = window_with(["server_error", "ok", "ok"] * 3 + ["ok"])
    assert window.verdict(NOW) is None


def test_more_than_five_percent_5xx_over_the_window_trips():
    window = window_with(["ok"] * 18 + ["server_error", "ok"] + ["server_error"] + ["ok"] * 19)  # 2/40 = 5 %
    assert window.verdict(NOW) is None  # exactly 5 % is not "> 5 %"
    window.record(Sample(NOW, "server_error", 100))
    assert "5xx rate" in window.verdict(NOW)


def test_more_than_ten_percent_rate_limiting_trips():
    window = window_with((["throttled"] + ["ok"] * 8) * 3)  # 3/27 = 11 %
    assert "rate-limit" in window.verdict(NOW)


def test_p95_latency_over_3000_ms_trips():
    slow = window_with(["ok"] * 30, latency_ms=3500)
    assert "P95" in slow.verdict(NOW)
    fast = window_with(["ok"] * 30, latency_ms=2900)
    assert fast.verdict(NOW) is None


def test_consecutive_failures_trip_without_the_minimum_request_count():
    window = window_with(["server_error"] * POLICY.consecutive_failures)
    assert "consecutive" in window.verdict(NOW)


def test_client_errors_neither_count_as_failures_nor_reset_the_streak():
    window = window_with(["server_error"] * 4 + ["client_error"] + ["server_error"])
    assert "consecutive" in window.verdict(NOW)


def test_samples_older_than_the_error_window_are_not_judged():
    window = window_with(["server_error"] * 3 + ["ok"] * 30, start=NOW - POLICY.error_window_s - 100)
    assert window.verdict(NOW) is None


def test_an_open_breaker_takes_no_traffic_until_its_cooldown_has_passed():
    state = tripped(BreakerState(), NOW, "test")
    assert state.status is BreakerStatus.OPEN and state.version == 1
    assert not state.may_take_traffic(NOW + POLICY.cooldown_s - 1, POLICY)
    assert state.may_take_traffic(NOW + POLICY.cooldown_s, POLICY)


def test_a_half_open_breaker_takes_traffic_only_while_probes_remain():
    state = half_opened(tripped(BreakerState(), NOW, "test"))
    assert state.may_take_traffic(NOW, POLICY)
    exhausted = BreakerState(BreakerStatus.HALF_OPEN, state.version, NOW, POLICY.half_open_probes)
    assert not exhausted.may_take_traffic(NOW, POLICY)


@pytest.mark.parametrize(
    ("successes", "ok", "verdict"),
    [(1, True, "wait"), (POLICY.close_after_successes, True, "close"), (2, False, "open")],
)
def test_probe_results_close_reopen_or_wait(successes, ok, verdict):
    assert after_probe(successes, ok, POLICY) == verdict
