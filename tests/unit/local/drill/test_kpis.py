"""The drill KPIs (local/drill/kpis.py) on crafted timelines: each definition held to its docstring."""

from __future__ import annotations

import pytest

from functions.domain.thresholds import KPI_DETECTION_SECONDS, OUR_DETECTION_SECONDS
from local.drill import kpis
from local.drill.timeline import ALARM, BREAKER, HEALTH, RequestRecord, Sample, Signal, Timeline, changes

BASELINE = {"bedrock": 100}


def ok(at: float, operation: str = "infrastructure", provider: str = "google", latency_s: float = 0.05):
    return RequestRecord(at, at + latency_s, operation, 200, provider=provider)


def failed(at: float, operation: str = "emergency", status: int = 503, code: str = "provider_unavailable"):
    return RequestRecord(at, at + 0.01, operation, status, error_code=code, has_fallback=operation != "emergency")


def sample(at: float, weights=None, **state) -> Sample:
    return Sample(at, weights or BASELINE, **state)


def timeline(**fields) -> Timeline:
    base = {"scenario": "crafted", "faulted": ("bedrock",), "baseline_weights": BASELINE, "fault_started": 10.0}
    return Timeline(**(base | fields))


# --- detection ---------------------------------------------------------------------------------------
def test_detection_is_the_first_breaker_health_or_alarm_signal_about_the_faulted_provider_after_the_fault():
    t = timeline(
        signals=[
            Signal(5.0, BREAKER, "bedrock", "open"),  # before the fault: not the drill's doing
            Signal(11.0, BREAKER, "google", "open"),  # another provider
            Signal(12.5, HEALTH, "bedrock", "unhealthy"),
            Signal(13.0, BREAKER, "bedrock", "open"),
        ]
    )
    assert kpis.detection(t) == 12.5


def test_an_alarm_counts_only_when_it_names_a_faulted_provider_and_was_not_already_in_alarm():
    t = timeline(
        baseline_alarms=frozenset({"hr-provider-failover-bedrock-latency"}),
        signals=[
            Signal(10.5, ALARM, "hr-warning-cache-hit-rate", "ALARM"),
            Signal(10.7, ALARM, "hr-provider-failover-bedrock-latency", "ALARM"),
            Signal(11.2, ALARM, "hr-provider-failover-bedrock-server-errors", "ALARM"),
        ],
    )
    assert kpis.detection(t) == 11.2


def test_with_no_provider_faulted_the_first_refusal_by_policy_is_the_detection():
    refused = RequestRecord(10.2, 10.25, "standard", 429, error_code="budget_exhausted")
    t = timeline(faulted=(), requests=[ok(10.1), refused])
    assert kpis.detection(t) == 10.25


def test_no_signal_means_no_detection():
    assert kpis.detection(timeline(signals=[Signal(11.0, BREAKER, "bedrock", "closed")])) is None


# --- failover execution ------------------------------------------------------------------------------
def test_failover_is_in_force_when_the_faulted_providers_weights_reach_zero():
    t = timeline(
        fault_lifted=30.0,
        samples=[sample(11.0), sample(14.0, {"bedrock": 50, "google": 50}), sample(16.0, {"google": 100})],
        requests=[failed(10.5 + i) for i in range(19)],  # failing until the lift: never "served elsewhere"
    )
    assert kpis.failover(t, detected=12.0) == 16.0


def test_failover_is_in_force_once_every_request_is_served_by_another_provider():
    t = timeline(
        fault_lifted=20.0,
        requests=[ok(10.1, provider="bedrock"), failed(11.0), ok(12.0), failed(13.0), ok(14.0), ok(19.0)],
    )
    assert kpis.failover(t, detected=10.5) == pytest.approx(13.01)


def test_stale_cache_answers_from_a_faulted_provider_count_as_served_elsewhere():
    stale = RequestRecord(15.0, 15.01, "emergency", 200, provider="bedrock", cache="stale")
    t = timeline(fault_lifted=20.0, requests=[ok(11.0), stale])
    assert kpis.failover(t, detected=10.5) == 10.5


def test_failover_is_not_reached_while_requests_still_fail_just_before_the_lift():
    t = timeline(fault_lifted=20.0, requests=[ok(11.0), failed(19.5)])
    assert kpis.failover(t, detected=10.5, settle_s=1.0) is None


# --- restoration -------------------------------------------------------------------------------------
def test_restoration_is_the_first_bucket_from_which_every_bucket_stays_under_the_error_target():
    requests = [failed(10.2), *(ok(10.0 + i / 10) for i in range(1, 10))]  # 10 % impaired in the first second
    requests += [ok(11.0 + i / 20) for i in range(20)]  # clean second
    requests += [failed(12.1), *(ok(12.0 + i / 25) for i in range(25))]  # 1 of 26: under 5 %
    requests += [ok(13.0 + i / 20) for i in range(20)]
    t = timeline(fault_lifted=14.0, requests=requests)
    assert kpis.restoration(t, bucket_s=1.0) == 11.0


def test_slow_answers_do_not_hold_back_restoration_which_watches_the_error_rate():
    slow = [ok(10.0 + i / 10, provider="bedrock", latency_s=3.5) for i in range(10)]
    t = timeline(fault_lifted=12.0, requests=[failed(10.05), *slow, *(ok(11.0 + i / 10) for i in range(10))])
    assert kpis.restoration(t, bucket_s=1.0) == 11.0


def test_a_faulted_provider_answering_after_the_lift_does_not_count_against_the_failover():
    late = ok(19.5, provider="bedrock", latency_s=1.0)  # started under the fault, answered after the lift
    t = timeline(fault_lifted=20.0, requests=[ok(11.0), late])
    assert kpis.failover(t, detected=10.5, settle_s=1.0) == 10.5


def test_restoration_is_not_reached_when_the_last_bucket_before_the_lift_is_impaired():
    t = timeline(fault_lifted=12.0, requests=[ok(10.5), failed(11.5)])
    assert kpis.restoration(t, bucket_s=1.0) is None


# --- total recovery ----------------------------------------------------------------------------------
def test_recovery_needs_baseline_weights_closed_breakers_healthy_marks_no_rollout_and_quiet_alarms():
    alarm = "hr-provider-failover-bedrock-server-errors"
    t = timeline(
        fault_lifted=20.0,
        samples=[
            sample(19.0, {"google": 100}, breakers={"bedrock": "open"}),
            sample(21.0, {"bedrock": 10, "google": 90}, rollout="failback bedrock step 0 (running)"),
            sample(22.0, breakers={"bedrock": "half_open"}),
            sample(23.0, health={"bedrock": "unhealthy"}),
            sample(24.0, alarms={alarm: "ALARM"}),
            sample(25.0, breakers={"bedrock": "closed"}, alarms={"hr-info-cache-hit-rate": "ALARM"}),
        ],
    )
    assert kpis.recovery(t) == 25.0


def test_a_breaker_not_closed_counts_as_recovered_only_on_a_provider_no_weight_routes_to():
    everyone = ("bedrock", "google", "meta")
    t = timeline(
        faulted=everyone,
        fault_lifted=20.0,
        samples=[
            sample(21.0, breakers={"bedrock": "half_open"}),  # bedrock has the weight: its breaker must close
            sample(21.5, breakers={"meta": "open"}, health={"meta": "unhealthy"}),  # no weight: health decides
            sample(22.0, breakers={"meta": "open", "google": "half_open"}),  # nothing routes to either
        ],
    )
    assert kpis.recovery(t) == 22.0


def test_with_every_direct_provider_faulted_no_weights_can_move_and_serving_elsewhere_is_the_failover():
    everyone = timeline(faulted=("bedrock", "google", "meta"), fault_lifted=20.0, requests=[ok(11.0, provider="mcp")])
    assert not kpis.weights_movable(everyone)
    assert kpis.failover(everyone, detected=10.5) == 10.5
    assert kpis.weights_movable(timeline())


def test_recovery_is_none_before_the_fault_is_lifted():
    assert kpis.recovery(timeline(samples=[sample(12.0)])) is None


# --- counts and the whole report ---------------------------------------------------------------------
def test_request_loss_counts_operations_with_a_fallback_and_user_errors_exclude_refusals_by_policy():
    requests = [
        ok(9.0),  # before the fault: outside the window
        ok(10.5),
        failed(11.0, "infrastructure"),  # lost, has a fallback
        failed(11.5, "emergency"),  # lost, no fallback
        RequestRecord(12.0, 12.1, "standard", 0),  # no answer at all
        failed(12.5, "implementation", status=429, code="rate_limited"),  # an error, not lost
        RequestRecord(13.0, 13.01, "background", 429, error_code="budget_exhausted"),  # policy
        ok(14.0),
        ok(40.0),  # after recovery: outside the window
    ]
    t = timeline(fault_lifted=20.0, samples=[sample(21.0)], requests=requests, ended=41.0)
    report = kpis.compute(t)
    c = report.counts
    assert (c.requests, c.failed, c.lost, c.shed_by_policy) == (7, 4, 3, 1)
    assert (c.with_fallback, c.lost_with_fallback) == (6, 2)
    named = report.by_name()
    assert named["request loss"].value == pytest.approx(200 / 6, abs=1e-3)
    assert named["user error rate"].value == pytest.approx(400 / 7, abs=1e-3)


def test_a_kpi_meets_the_runbook_strictly_under_its_target_and_ours_at_or_under():
    at_ours = kpis.Kpi("detection", OUR_DETECTION_SECONDS, "s", KPI_DETECTION_SECONDS, OUR_DETECTION_SECONDS)
    over_ours = kpis.Kpi("detection", 12.0, "s", KPI_DETECTION_SECONDS, OUR_DETECTION_SECONDS)
    at_runbook = kpis.Kpi("detection", KPI_DETECTION_SECONDS, "s", KPI_DETECTION_SECONDS)
    never = kpis.Kpi("detection", None, "s", KPI_DETECTION_SECONDS)
    assert at_ours.meets_runbook and at_ours.meets_ours
    assert over_ours.meets_runbook and not over_ours.meets_ours
    assert not at_runbook.meets_runbook and not at_runbook.meets_ours
    assert not never.meets_runbook and not never.meets_ours


def test_a_clean_failover_meets_every_target():
    signals = [Signal(10.4, BREAKER, "bedrock", "open")]
    samples = [sample(9.0), sample(12.0, {"google": 100}), sample(21.0, {"google": 100}), sample(23.0)]
    requests = [ok(9.0 + i / 10) for i in range(150)]
    t = timeline(fault_lifted=20.0, signals=signals, samples=samples, requests=requests, ended=24.0)
    report = kpis.compute(t)
    assert report.meets_runbook
    assert (report.detected_at, report.failed_over_at, report.restored_at, report.recovered_at) == (
        pytest.approx(0.4),
        pytest.approx(0.4),
        0.0,
        13.0,
    )


def test_signals_are_the_differences_between_two_samples():
    before = sample(1.0, breakers={"bedrock": "closed"})
    after = sample(2.0, {"google": 100}, breakers={"bedrock": "open"}, alarms={"a": "ALARM"}, rollout="x")
    found = {(s.kind, s.subject, s.state) for s in changes(before, after)}
    assert found == {
        ("breaker", "bedrock", "open"),
        ("alarm", "a", "ALARM"),
        ("weights", "direct", "google:100"),
        ("rollout", "direct", "x"),
    }
