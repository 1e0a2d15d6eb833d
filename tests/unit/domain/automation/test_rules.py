"""Alarm-driven automation's pure rules: which event starts which failover under which name, duplicates,
cooldown, target selection, the recovery judgement and the failback's hysteresis."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.domain.automation.rules import (
    FAILOVER_KIND,
    AutomationRecord,
    Claim,
    FailedOver,
    Ignored,
    Outcome,
    RecoveryEvidence,
    Trigger,
    decide_failback,
    decide_failover,
    failback_steps,
    judge_recovery,
    parse_alarm_event,
    parse_health_event,
    select_target,
)
from functions.domain.rollout.executions import EXECUTION_NAME_MAX, execution_name
from functions.domain.rollout.gates import GateThresholds, TargetMetrics
from functions.domain.rollout.plan import Phase, RolloutKind, RolloutLock, RouteState
from functions.domain.thresholds import FAILBACK_STEPS, RECOVERY_P95_LATENCY_MS, RECOVERY_SUCCESS_PERCENT
from functions.shared.event_patterns import alarm_pattern, failover_alarm_name, unhealthy_pattern

PREFIX = "HybridRouting"
DIRECT = ("bedrock", "google", "meta")
NOW = 1_700_000_000.0
COOLDOWN = 900.0
HYSTERESIS = 600.0
GRACE = 60.0
STRICT = GateThresholds(RECOVERY_SUCCESS_PERCENT, RECOVERY_P95_LATENCY_MS, 20)
VALID_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


def alarm_event(provider: str = "bedrock", trigger: str = "server-errors", state: str = "ALARM", **kw) -> dict:
    return {
        "source": "aws.cloudwatch",
        "detail-type": "CloudWatch Alarm State Change",
        "time": "2025-01-14T10:00:01Z",
        "resources": [f"arn:aws:cloudwatch:eu-central-1:123456789012:alarm:{PREFIX}"],
        "detail": {
            "alarmName": kw.get("name", failover_alarm_name(PREFIX, provider, trigger)),
            "state": {
                "value": state,
                "reason": "Threshold Crossed",
                "timestamp": kw.get("ts", "2025-01-14T10:00:00.123+0000"),
            },
            "previousState": {"value": "OK"},
        },
    }


def health_event(provider: str = "bedrock", status: str = "unhealthy", checked_at: int = 1_736_848_800) -> dict:
    return {
        "source": "hybrid-routing.health",
        "detail-type": "Provider Health Changed",
        "time": "2025-01-14T10:00:00Z",
        "detail": {"provider": provider, "status": status, "previousStatus": "healthy", "checkedAt": checked_at},
    }


def request(**kw):
    parsed = parse_alarm_event(alarm_event(**kw), PREFIX)
    assert not isinstance(parsed, Ignored), parsed
    return parsed


def failover(req, record=None, weights=None, health=None, failed_over=(), now=NOW, lock=None):
    return decide_failover(
        req,
        record or AutomationRecord(req.provider),
        RouteState(weights or {"bedrock": 100}, 3, lock),
        health or {},
        DIRECT,
        failed_over,
        now,
        COOLDOWN,
        {},
    )


def failed_over_record(pre_share: int = 100, target: str = "google", **kw) -> AutomationRecord:
    down = FailedOver(
        NOW - 1000,
        RolloutKind.IMMEDIATE_FAILOVER,
        "server-errors",
        target,
        pre_share,
        {"bedrock": pre_share, target: 100 - pre_share},
    )
    claim = Claim("x", RolloutKind.IMMEDIATE_FAILOVER, {}, NOW - 1000)
    return replace(AutomationRecord("bedrock", cooldown_until=NOW - 100, last=claim, failed_over=down), **kw)


def failback(record, healthy=True, weights=None, now=NOW, lock=None):
    route = RouteState(weights or {"bedrock": 0, "google": 100}, 7, lock)
    return decide_failback(record, route, healthy, ("why",), now, HYSTERESIS, {}, GRACE)


# --- the trigger table and the events ------------------------------------------------------------
@pytest.mark.parametrize(
    ("trigger", "kind"),
    [
        ("server-errors", RolloutKind.IMMEDIATE_FAILOVER),
        ("latency", RolloutKind.GRADUAL_FAILOVER),
        ("throttling", RolloutKind.GRADUAL_FAILOVER),
    ],
)
def test_each_failover_alarm_starts_the_workflow_of_its_trigger(trigger: str, kind: RolloutKind) -> None:
    # Given the provider failover alarm of a trigger / When it enters ALARM
    parsed = request(provider="google", trigger=trigger)
    # Then the request fails that provider over with the trigger's workflow
    assert (parsed.provider, parsed.trigger.value, parsed.kind) == ("google", trigger, kind)


def test_an_unhealthy_event_starts_an_immediate_failover() -> None:
    parsed = parse_health_event(health_event("meta"))
    assert not isinstance(parsed, Ignored)
    assert (parsed.provider, parsed.kind) == ("meta", RolloutKind.IMMEDIATE_FAILOVER)
    assert FAILOVER_KIND[Trigger.UNHEALTHY] is RolloutKind.IMMEDIATE_FAILOVER


@pytest.mark.parametrize(
    "event",
    [
        alarm_event(state="OK"),
        alarm_event(name=f"{PREFIX}-critical-error-rate"),
        alarm_event(name="Other-provider-failover-bedrock-latency"),
        alarm_event(name=f"{PREFIX}-provider-failover-bedrock-quality"),
        alarm_event(name=f"{PREFIX}-provider-failover--latency"),
        {"detail-type": "CloudWatch Alarm State Change"},
    ],
    ids=["ok-state", "not-a-failover-alarm", "other-prefix", "unknown-trigger", "no-provider", "no-detail"],
)
def test_alarm_events_that_are_not_ours_in_alarm_are_ignored(event: dict) -> None:
    assert isinstance(parse_alarm_event(event, PREFIX), Ignored)


def test_a_healthy_event_is_ignored() -> None:
    assert isinstance(parse_health_event(health_event(status="healthy")), Ignored)


# --- execution names ---------------------------------------------------------------------------------
def test_one_alarm_state_change_gives_one_execution_name_whoever_delivers_it() -> None:
    # Given the same state change delivered twice (EventBridge's at-least-once delivery)
    first, second = request(), request()
    # Then both deliveries derive the same name, from the alarm and its state-change time
    assert first.execution_name == second.execution_name
    assert first.execution_name == "HybridRouting-provider-failover-bedrock-server-errors-20250114T100000123Z"


def test_a_later_state_change_of_the_same_alarm_gets_another_name() -> None:
    assert request().execution_name != request(ts="2025-01-14T10:20:00.000+0000").execution_name


def test_two_health_events_of_one_provider_differ_by_check_time() -> None:
    a, b = parse_health_event(health_event(checked_at=100)), parse_health_event(health_event(checked_at=160))
    assert not isinstance(a, Ignored) and not isinstance(b, Ignored)
    assert a.execution_name != b.execution_name


def test_long_alarm_names_are_cut_to_80_characters_and_stay_distinct() -> None:
    when = datetime(2025, 1, 14, tzinfo=UTC)
    long_a, long_b = "A" * 120 + "-bedrock-latency", "A" * 120 + "-google-latency"
    names = {execution_name(long_a, when), execution_name(long_b, when)}
    assert len(names) == 2
    assert all(VALID_NAME.match(name) for name in names)


@given(st.text(min_size=0, max_size=300), st.datetimes(timezones=st.just(UTC)))
def test_execution_names_always_follow_step_functions_rules(basis: str, when: datetime) -> None:
    name = execution_name(basis, when)
    assert VALID_NAME.match(name) and len(name) <= EXECUTION_NAME_MAX


# --- failover decisions ------------------------------------------------------------------------------
def test_a_failover_alarm_claims_the_provider_and_sets_its_cooldown() -> None:
    decision = failover(request(), weights={"bedrock": 80, "google": 20})
    assert decision.outcome is Outcome.STARTED
    assert decision.claim is not None and decision.record is not None
    assert decision.claim.input["source"] == "bedrock" and decision.claim.input["target"] == "google"
    assert decision.record.cooldown_until == NOW + COOLDOWN
    assert decision.record.failed_over is not None
    assert (decision.record.failed_over.pre_share, decision.record.failed_over.pre_weights) == (
        80,
        {"bedrock": 80, "google": 20},
    )


def test_the_same_event_again_is_a_duplicate_even_after_the_cooldown() -> None:
    first = failover(request())
    assert first.record is not None
    again = failover(request(), record=first.record, now=NOW + COOLDOWN + 1)
    assert again.outcome is Outcome.DUPLICATE


def test_another_alarm_of_the_provider_during_the_cooldown_starts_nothing() -> None:
    first = failover(request())
    assert first.record is not None
    latency = failover(request(trigger="latency"), record=first.record, now=NOW + 60)
    assert latency.outcome is Outcome.COOLDOWN and latency.claim is None


def test_after_the_cooldown_a_new_state_change_may_fail_over_again() -> None:
    first = failover(request())
    assert first.record is not None
    later = failover(request(ts="2025-01-14T11:00:00.000+0000"), record=first.record, now=NOW + COOLDOWN)
    assert later.outcome is Outcome.STARTED


def test_a_provider_without_direct_traffic_is_not_failed_over() -> None:
    assert failover(request(), weights={"google": 100}).outcome is Outcome.IGNORED


def test_a_health_event_the_health_table_contradicts_is_ignored() -> None:
    parsed = parse_health_event(health_event())
    assert not isinstance(parsed, Ignored)
    assert failover(parsed, health={"bedrock": True}).outcome is Outcome.IGNORED
    assert failover(parsed, health={"bedrock": False}).outcome is Outcome.STARTED


def test_no_healthy_target_means_no_failover() -> None:
    decision = failover(request(), health={"google": False, "meta": False})
    assert decision.outcome is Outcome.IGNORED and "no healthy" in decision.reason


def test_a_failover_pre_empting_a_canary_remembers_the_canary_starting_weights() -> None:
    lock = RolloutLock("arn:canary", RolloutKind.CANARY, ("bedrock",), "meta", Phase.RUNNING, 2, {"bedrock": 100})
    decision = failover(request(), weights={"bedrock": 75, "meta": 25}, lock=lock)
    assert decision.record is not None and decision.record.failed_over is not None
    assert decision.record.failed_over.pre_share == 100


# --- target selection ----------------------------------------------------------------------------------
def test_the_target_follows_the_runbook_chain_when_nobody_else_serves() -> None:
    assert select_target("bedrock", {"bedrock": 100}, {}, DIRECT) == "google"
    assert select_target("google", {"google": 100}, {}, DIRECT) == "bedrock"


def test_a_provider_already_serving_traffic_is_preferred() -> None:
    assert select_target("bedrock", {"bedrock": 50, "meta": 50}, {}, DIRECT) == "meta"


def test_unhealthy_failed_over_or_unconfigured_providers_are_never_targets() -> None:
    assert select_target("bedrock", {"bedrock": 100}, {"google": False}, DIRECT) == "meta"
    assert select_target("bedrock", {"bedrock": 100}, {}, DIRECT, excluded=("google",)) == "meta"
    assert select_target("bedrock", {"bedrock": 100}, {}, ("bedrock",)) is None


# --- recovery --------------------------------------------------------------------------------------------
def metrics(requests: float, errors: float = 0.0, p95: float | None = 400.0) -> TargetMetrics:
    return TargetMetrics("bedrock", requests, errors, p95, 60)


@pytest.mark.parametrize(
    ("evidence", "healthy"),
    [
        (RecoveryEvidence(True, 300, metrics(0), {}), True),
        (RecoveryEvidence(True, 300, metrics(100, errors=0), {}), True),
        (RecoveryEvidence(False, 300, metrics(0), {}), False),
        (RecoveryEvidence(None, None, metrics(0), {}), False),
        (RecoveryEvidence(True, 1600, metrics(0), {}), False),
        (RecoveryEvidence(True, 300, metrics(100, errors=2), {}), False),
        (RecoveryEvidence(True, 300, metrics(100, p95=1800), {}), False),
        (RecoveryEvidence(True, 300, metrics(0), {"HybridRouting-provider-failover-bedrock-latency": "ALARM"}), False),
    ],
    ids=[
        "probes-only",
        "traffic-clean",
        "probes-unhealthy",
        "no-record",
        "slow-probe",
        "2pct-errors",
        "p95-1800",
        "alarm",
    ],
)
def test_recovery_is_judged_under_stricter_thresholds_than_the_triggers(evidence, healthy) -> None:
    # 2 % errors and a 1800 ms p95 would not trip a failover (5 %, 3000 ms) but are not a recovery either
    assert judge_recovery(evidence, STRICT)[0] is healthy


# --- failback --------------------------------------------------------------------------------------------
def test_the_hysteresis_clock_starts_when_the_provider_is_first_healthy() -> None:
    decision = failback(failed_over_record())
    assert decision.outcome is Outcome.WAITING
    assert decision.record is not None and decision.record.healthy_since == NOW


def test_one_unhealthy_check_restarts_the_clock() -> None:
    decision = failback(failed_over_record(healthy_since=NOW - 500), healthy=False)
    assert decision.outcome is Outcome.WAITING
    assert decision.record is not None and decision.record.healthy_since is None


def test_no_failback_before_the_provider_has_been_healthy_long_enough() -> None:
    decision = failback(failed_over_record(healthy_since=NOW - HYSTERESIS + 1))
    assert decision.outcome is Outcome.WAITING and decision.claim is None


def test_a_failback_starts_once_healthy_for_the_whole_hysteresis() -> None:
    decision = failback(failed_over_record(healthy_since=NOW - HYSTERESIS))
    assert decision.outcome is Outcome.STARTED and decision.claim is not None
    assert decision.claim.kind is RolloutKind.FAILBACK
    assert {k: decision.claim.input[k] for k in ("source", "target", "steps")} == {
        "source": "google",
        "target": "bedrock",
        "steps": list(FAILBACK_STEPS),
    }
    assert decision.record is not None and decision.record.healthy_since is None  # the next attempt waits again


def test_no_failback_during_the_cooldown() -> None:
    decision = failback(failed_over_record(healthy_since=NOW - HYSTERESIS, cooldown_until=NOW + 1))
    assert decision.outcome is Outcome.COOLDOWN and decision.claim is None


def test_no_failback_while_a_rollout_holds_the_route() -> None:
    lock = RolloutLock("arn:x", RolloutKind.GRADUAL_FAILOVER, ("bedrock",), "google")
    decision = failback(failed_over_record(healthy_since=NOW - HYSTERESIS), lock=lock)
    assert decision.outcome is Outcome.WAITING and decision.claim is None


def test_a_restored_share_clears_the_record() -> None:
    decision = failback(failed_over_record(), weights={"bedrock": 100})
    assert decision.outcome is Outcome.RESTORED
    assert decision.record is not None and decision.record.failed_over is None


@pytest.mark.parametrize(
    ("current", "pre", "steps"),
    [
        (0, 100, (10, 25, 50, 75, 100)),
        (0, 80, (10, 25, 50, 75, 80)),
        (0, 30, (10, 25, 30)),
        (20, 60, (25, 50, 60)),
        (0, 5, (5,)),
        (50, 50, ()),
    ],
)
def test_failback_steps_end_exactly_on_the_pre_failover_share(current: int, pre: int, steps: tuple[int, ...]) -> None:
    assert failback_steps(current, pre) == steps


# --- the patterns ------------------------------------------------------------------------------------------
def test_the_patterns_match_exactly_the_events_automation_acts_on() -> None:
    from moto.events.models import EventPattern

    alarms, health = EventPattern(None, alarm_pattern(PREFIX)), EventPattern(None, unhealthy_pattern())
    assert alarms.matches_event(alarm_event())
    assert not alarms.matches_event(alarm_event(state="OK"))
    assert not alarms.matches_event(alarm_event(name=f"{PREFIX}-critical-error-rate"))
    assert health.matches_event(health_event())
    assert not health.matches_event(health_event(status="healthy"))
