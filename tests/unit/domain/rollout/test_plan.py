"""Rollout kinds, plans, weights at each step and the lock's pre-emption rule."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.domain import thresholds
from functions.domain.errors import InvalidRequest
from functions.domain.rollout.plan import (
    Admission,
    NotLockOwner,
    Phase,
    RolloutKind,
    RolloutLock,
    RolloutLocked,
    RouteState,
    admit,
    plan_for,
    require_owner,
    weights_at,
)

PROVIDERS = ("bedrock", "google", "meta")
CANARY, FAILBACK = RolloutKind.CANARY, RolloutKind.FAILBACK
GRADUAL, IMMEDIATE = RolloutKind.GRADUAL_FAILOVER, RolloutKind.IMMEDIATE_FAILOVER


@st.composite
def starting_weights(draw) -> dict[str, int]:
    """Non-negative weights over the three providers, summing to 100."""
    a = draw(st.integers(0, 100))
    b = draw(st.integers(0, 100 - a))
    return {"bedrock": a, "google": b, "meta": 100 - a - b}


def lock(kind: RolloutKind, owner: str = "arn:exec:1") -> RolloutLock:
    return RolloutLock(owner, kind, ("bedrock",), "google", starting_weights={"bedrock": 100})


# --- plans -------------------------------------------------------------------------------------
def test_the_default_plans_are_the_runbook_numbers_from_thresholds():
    assert plan_for(CANARY).steps == (5, 10, 25, 50, 75, 100) == thresholds.CANARY_STEPS
    assert plan_for(CANARY).bake_seconds == 120
    assert plan_for(FAILBACK).steps == (10, 25, 50, 75, 100)
    assert plan_for(FAILBACK).bake_seconds == 180
    assert plan_for(GRADUAL).steps == (50, 25, 0)
    assert plan_for(IMMEDIATE).steps == (0,)


def test_a_drill_may_override_steps_and_bake_time():
    plan = plan_for(CANARY, [50, 100], 1)
    assert (plan.steps, plan.bake_seconds) == ((50, 100), 1)


@pytest.mark.parametrize(
    ("kind", "steps"),
    [(CANARY, [10, 5]), (FAILBACK, [10, 10]), (GRADUAL, [25, 50]), (CANARY, [101]), (CANARY, [])],
)
def test_steps_moving_the_wrong_way_or_out_of_range_are_refused(kind, steps):
    with pytest.raises(InvalidRequest):
        plan_for(kind, steps)


# --- weights: fill (canary, failback) --------------------------------------------------------------
def test_a_canary_gives_the_target_exactly_its_step_and_the_source_the_rest():
    assert weights_at(CANARY, "bedrock", "google", 5, {"bedrock": 100}) == {"bedrock": 95, "google": 5}


def test_a_canary_shrinks_the_source_and_bystanders_in_proportion():
    start = {"bedrock": 80, "google": 0, "meta": 20}
    assert weights_at(CANARY, "bedrock", "google", 50, start) == {"bedrock": 40, "google": 50, "meta": 10}


def test_a_canary_at_100_sends_everything_to_the_target():
    assert weights_at(CANARY, "bedrock", "google", 100, {"bedrock": 70, "meta": 30}) == {
        "bedrock": 0,
        "google": 100,
        "meta": 0,
    }


def test_when_nobody_else_had_weight_the_sources_share_the_rest_equally():
    result = weights_at(FAILBACK, ("bedrock", "meta"), "google", 10, {"google": 100})
    assert result == {"bedrock": 45, "google": 10, "meta": 45}


def test_rounding_uses_the_largest_remainder_and_breaks_ties_by_name():
    result = weights_at(CANARY, "bedrock", "google", 1, {"bedrock": 50, "meta": 50})
    assert result == {"bedrock": 50, "google": 1, "meta": 49}


@given(starting_weights(), st.integers(0, 100), st.sampled_from([CANARY, FAILBACK]))
def test_fill_weights_sum_to_100_and_the_target_share_is_exact(start, percent, kind):
    result = weights_at(kind, "bedrock", "google", percent, start)
    assert sum(result.values()) == 100
    assert result["google"] == percent
    assert all(w >= 0 for w in result.values())


@given(starting_weights(), st.sampled_from([CANARY, FAILBACK]))
def test_fill_weights_move_monotonically_over_the_plan(start, kind):
    shares = [weights_at(kind, "bedrock", "google", p, start) for p in plan_for(kind).steps]
    targets = [w["google"] for w in shares]
    others = [100 - t for t in targets]
    assert targets == sorted(targets) and others == sorted(others, reverse=True)


@given(starting_weights(), st.integers(0, 100))
def test_each_non_target_provider_stays_within_one_of_its_exact_proportional_share(start, percent):
    result = weights_at(CANARY, "bedrock", "google", percent, start)
    rest = 100 - start["google"]
    for provider in ("bedrock", "meta"):
        exact = start[provider] * (100 - percent) / rest if rest else (100 - percent if provider == "bedrock" else 0)
        assert abs(result[provider] - exact) < 1


# --- weights: drain (failovers) ---------------------------------------------------------------
def test_a_gradual_failover_follows_the_runbook_phases_and_bystanders_keep_their_share():
    start = {"bedrock": 70, "google": 10, "meta": 20}
    phases = [weights_at(GRADUAL, "bedrock", "google", p, start) for p in (50, 25, 0)]
    assert phases == [
        {"bedrock": 50, "google": 30, "meta": 20},
        {"bedrock": 25, "google": 55, "meta": 20},
        {"bedrock": 0, "google": 80, "meta": 20},
    ]


def test_an_immediate_failover_moves_all_of_the_failing_providers_share_to_the_target():
    assert weights_at(IMMEDIATE, "bedrock", "google", 0, {"bedrock": 100}) == {"bedrock": 0, "google": 100}


def test_a_drain_step_never_gives_the_failing_provider_more_than_it_had():
    assert weights_at(GRADUAL, "bedrock", "google", 50, {"bedrock": 30, "google": 70}) == {"bedrock": 30, "google": 70}


@given(starting_weights(), st.sampled_from([GRADUAL, IMMEDIATE]))
def test_drain_weights_sum_to_100_and_are_monotone_over_the_plan(start, kind):
    phases = [weights_at(kind, "bedrock", "google", p, start) for p in plan_for(kind).steps]
    for phase, percent in zip(phases, plan_for(kind).steps, strict=True):
        assert sum(phase.values()) == 100
        assert phase["bedrock"] == min(percent, start["bedrock"])
        assert phase["meta"] == start["meta"]
    sources = [p["bedrock"] for p in phases]
    assert sources == sorted(sources, reverse=True)
    assert phases[-1]["bedrock"] == 0


@pytest.mark.parametrize(
    ("source", "target", "percent", "start"),
    [
        ("google", "google", 5, {"bedrock": 100}),
        ("bedrock", "google", 101, {"bedrock": 100}),
        ("bedrock", "google", 5, {"bedrock": 90}),
    ],
)
def test_weights_at_refuses_a_target_among_the_sources_a_bad_percent_or_weights_not_summing_to_100(
    source, target, percent, start
):
    with pytest.raises(InvalidRequest):
        weights_at(CANARY, source, target, percent, start)


# --- the lock ----------------------------------------------------------------------------------
def test_a_free_route_is_acquired():
    assert admit(None, "arn:exec:2", CANARY) is Admission.ACQUIRE


def test_the_same_execution_asking_again_reenters():
    assert admit(lock(CANARY), "arn:exec:1", CANARY) is Admission.REENTER


@pytest.mark.parametrize("held", [CANARY, FAILBACK])
@pytest.mark.parametrize("kind", [IMMEDIATE, GRADUAL])
def test_a_safety_failover_preempts_a_canary_or_failback(held, kind):
    assert admit(lock(held), "arn:exec:2", kind) is Admission.PREEMPT


@pytest.mark.parametrize("held", [IMMEDIATE, GRADUAL])
@pytest.mark.parametrize("kind", [CANARY, FAILBACK])
def test_a_canary_or_failback_never_preempts_a_failover(held, kind):
    with pytest.raises(RolloutLocked):
        admit(lock(held), "arn:exec:2", kind)


@pytest.mark.parametrize(
    ("held", "kind"), [(CANARY, FAILBACK), (CANARY, CANARY), (GRADUAL, IMMEDIATE), (IMMEDIATE, GRADUAL)]
)
def test_a_second_rollout_of_the_same_priority_is_refused(held, kind):
    with pytest.raises(RolloutLocked):
        admit(lock(held), "arn:exec:2", kind)


def test_only_the_owner_passes_the_owner_check():
    assert require_owner(lock(CANARY), "arn:exec:1").owner == "arn:exec:1"
    with pytest.raises(NotLockOwner):
        require_owner(lock(CANARY), "arn:exec:2")
    with pytest.raises(NotLockOwner):
        require_owner(None, "arn:exec:1")


def test_the_route_as_shown_says_an_approval_is_pending_but_never_shows_its_token():
    waiting = replace(lock(CANARY), phase=Phase.AWAITING_APPROVAL, approval_token="secret-task-token")
    shown = RouteState({"bedrock": 100}, 3, waiting).as_dict()
    assert shown["lock"]["approvalPending"] is True and shown["lock"]["phase"] == "awaiting_approval"
    assert "secret-task-token" not in str(shown)
    assert RouteState({"bedrock": 100}, 3, lock(CANARY)).as_dict()["lock"]["approvalPending"] is False
