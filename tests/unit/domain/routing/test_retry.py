"""The attempt policy: failoverbench's conduct for each failure, the retry budget, and properties over
any sequence of provider outcomes (ends within its budget; never gives up while an untried target and
budget remain; re-attempts never exceed the retry budget)."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.domain.names import BEDROCK, GOOGLE, MCP, META
from functions.domain.routing.decision import Target
from functions.domain.routing.matrix import Route
from functions.domain.routing.retry import Attempt, AttemptPlanner, Failure, RetryBudget, RetryRules

B, G, M, P = (
    Target(Route.DIRECT, BEDROCK),
    Target(Route.DIRECT, GOOGLE),
    Target(Route.DIRECT, META),
    Target(Route.MCP, MCP),
)
WINDOWS = {BEDROCK: 200_000, GOOGLE: 1_048_576, META: 128_000, MCP: None}
RULES = RetryRules()


def budget(ratio: float = 1.0, floor_per_s: float = 10.0, window_s: float = 10.0) -> RetryBudget:
    return RetryBudget(nullcontext(), ratio=ratio, floor_per_s=floor_per_s, window_s=window_s)


def planner(plan=(B, G), last_chance=(), rules=RULES, retry_budget=None) -> AttemptPlanner:
    retry_budget = retry_budget or budget()
    retry_budget.request(0.0)
    return AttemptPlanner(list(plan), list(last_chance), rules, retry_budget, WINDOWS)


def first(p: AttemptPlanner, remaining: float = 30.0) -> Attempt:
    attempt = p.next(remaining, 0.0, 0.5)
    assert attempt is not None
    return attempt


def fail(p: AttemptPlanner, attempt: Attempt, failure: Failure, retry_after: float | None = None) -> None:
    p.failed(attempt.target, failure, retry_after, remaining_s=30.0, now=0.0, rand=0.5)


# --- the catalogue's conduct ---------------------------------------------------------------------
def test_a_500_once_is_retried_once_on_the_same_target_after_a_jittered_backoff():  # S03
    p = planner()
    a = first(p)
    fail(p, a, Failure.RETRYABLE)
    again = first(p)
    assert again.target == B and again.retry and 0 <= again.delay_s < RULES.base_delay_s
    fail(p, again, Failure.RETRYABLE)
    assert first(p).target == G  # one same-target retry per request, then the next target


def test_a_retry_after_that_fits_is_waited_out_on_the_same_target():  # S01
    p = planner()
    fail(p, first(p), Failure.THROTTLED, retry_after=2.0)
    again = first(p)
    assert (again.target, again.delay_s) == (B, 2.0)


def test_a_retry_after_that_does_not_fit_fails_over_at_once():  # S01, the other correct conduct
    p = planner()
    fail(p, first(p), Failure.THROTTLED, retry_after=RULES.retry_after_max_wait_s + 1)
    nxt = first(p)
    assert (nxt.target, nxt.delay_s, nxt.retry) == (G, 0.0, False)


def test_a_retry_after_is_a_floor_for_later_rounds_too():
    p = planner(plan=(B,))
    fail(p, first(p), Failure.THROTTLED, retry_after=40.0)
    assert p.next(30.0, 0.0, 0.5) is None  # never before its Retry-After, and 40 s do not fit


def test_persistent_429_without_retry_after_backs_off_then_fails_over():  # S02
    p = planner()
    fail(p, first(p), Failure.THROTTLED)
    again = first(p)
    assert again.target == B and 0 < again.delay_s < RULES.base_delay_s
    fail(p, again, Failure.THROTTLED)
    assert first(p).target == G


def test_a_silent_target_is_never_tried_again():  # S06
    p = planner()
    fail(p, first(p), Failure.SILENT)
    nxt = first(p)
    assert nxt.target == G
    fail(p, nxt, Failure.RETRYABLE)
    rest = [a.target for a in iter(lambda: p.next(30.0, 0.0, 0.5), None) if not fail(p, a, Failure.RETRYABLE)]
    assert B not in rest and rest and set(rest) == {G}


def test_a_prompt_too_long_goes_only_to_a_larger_window_then_fails_cleanly():  # S12
    p = planner(plan=(B, M, G, P))
    fail(p, first(p), Failure.CONTEXT_LENGTH)
    nxt = first(p)
    assert nxt.target == G  # meta's 128k and mcp's unknown window cannot help
    fail(p, nxt, Failure.CONTEXT_LENGTH)
    assert p.next(30.0, 0.0, 0.5) is None


def test_a_content_filter_ends_the_request_after_one_attempt():  # S13
    p = planner()
    fail(p, first(p), Failure.CONTENT_FILTER)
    assert p.ended and p.next(30.0, 0.0, 0.5) is None


def test_failing_over_around_a_content_filter_is_the_operator_s_setting():
    p = planner(rules=RetryRules(failover_on_content_filter=True))
    fail(p, first(p), Failure.CONTENT_FILTER)
    nxt = first(p)
    assert nxt.target == G
    fail(p, nxt, Failure.CONTENT_FILTER)
    assert p.next(30.0, 0.0, 0.5) is None


def test_a_rejected_request_ends_at_once():
    p = planner()
    fail(p, first(p), Failure.REJECTED)
    assert p.next(30.0, 0.0, 0.5) is None


def test_persistent_503_everywhere_cycles_in_rounds_and_stays_bounded():  # S04
    p = planner(plan=(B, G))
    attempts = []
    while (a := p.next(30.0, 0.0, 0.5)) is not None:
        attempts.append(a)
        fail(p, a, Failure.RETRYABLE)
    on_primary = [a for a in attempts if a.target == B]
    assert 2 <= len(on_primary) <= 6 and len(on_primary) == 1 + RULES.same_target_retries + RULES.max_rounds - 1
    assert all(a.delay_s < RULES.max_delay_s for a in attempts)


def test_a_refused_target_moves_to_the_end_as_a_forced_last_chance():
    p = planner(plan=(B, G), last_chance=(M,))
    p.refused(first(p).target)
    order = []
    while (a := p.next(30.0, 0.0, 0.5)) is not None and len(order) < 3:
        order.append((a.target, a.forced))
        fail(p, a, Failure.SILENT)
    assert order == [(G, False), (M, True), (B, True)]


def test_the_attempt_timeout_is_a_share_of_what_is_left_and_the_last_target_gets_it_all():
    p = planner(plan=(B, G))
    a = first(p, remaining=10.0)
    assert a.timeout_s == pytest.approx(10.0 * RULES.attempt_timeout_share)
    assert first(planner(plan=(B, G)), remaining=1.2).timeout_s == pytest.approx(RULES.attempt_timeout_min_s)
    p.failed(B, Failure.SILENT, None, remaining_s=5.0, now=0.0, rand=0.5)
    assert first(p, remaining=5.0).timeout_s == pytest.approx(5.0)  # bedrock is out: google is the last one


def test_an_operator_cap_bounds_every_attempt():
    p = planner(plan=(B,), rules=RetryRules(attempt_timeout_cap_s=2.0))
    assert first(p, remaining=30.0).timeout_s == 2.0


def test_the_retry_budget_admits_a_share_of_requests_plus_a_floor_in_a_sliding_window():
    b = budget(ratio=0.2, floor_per_s=0.1, window_s=10.0)  # floor: 1 per window
    for _ in range(10):
        b.request(0.0)
    assert [b.try_retry(1.0) for _ in range(4)] == [True, True, True, False]
    assert b.try_retry(11.5)  # the window slid past all of it: the floor again


def test_a_spent_retry_budget_still_lets_the_request_fail_over():
    p = planner(plan=(B, G), retry_budget=budget(ratio=0.0, floor_per_s=0.0))
    fail(p, first(p), Failure.RETRYABLE)
    nxt = first(p)
    assert (nxt.target, nxt.retry) == (G, False)  # no same-target retry, but a fail-over
    fail(p, nxt, Failure.RETRYABLE)
    assert p.next(30.0, 0.0, 0.5) is None


# --- properties over any sequence of outcomes ----------------------------------------------------
outcomes = st.lists(
    st.tuples(
        st.sampled_from([None, Failure.RETRYABLE, Failure.THROTTLED, Failure.SILENT]),
        st.floats(0.0, 5.0),  # how long the provider took to answer or fail
        st.one_of(st.none(), st.floats(0.0, 15.0)),  # its Retry-After
    ),
    min_size=1,
    max_size=30,
)


@given(
    script=outcomes,
    budget_s=st.floats(0.1, 60.0),
    plan=st.permutations([B, G, M, P]).map(lambda t: t[: 1 + len(t) % 4]),
    retries_allowed=st.integers(0, 5),
    rand=st.floats(0.0, 1.0, exclude_max=True),
)
def test_any_outcomes_end_within_budget_never_give_up_early_and_respect_the_retry_budget(
    script, budget_s, plan, retries_allowed, rand
):
    retry_budget = budget(ratio=0.0, floor_per_s=retries_allowed / 10.0, window_s=10.0)
    p = planner(plan=plan, retry_budget=retry_budget)
    t, tried, retried_at, served = 0.0, set(), [], False
    for step in range(200):
        attempt = p.next(budget_s - t, t, rand)
        if attempt is None:
            break
        assert attempt.delay_s >= 0 and attempt.timeout_s > 0
        assert t + attempt.delay_s + attempt.timeout_s <= budget_s + 1e-9
        if attempt.retry:
            retried_at.append(t)  # the budget takes it when the attempt is planned, before its delay
        t += attempt.delay_s
        assert attempt.retry == (attempt.target in tried)
        tried.add(attempt.target)
        failure, took, retry_after = script[step % len(script)]
        t += attempt.timeout_s if failure is Failure.SILENT else min(took, attempt.timeout_s)
        if failure is None:
            served = True
            break
        p.failed(attempt.target, failure, retry_after, remaining_s=budget_s - t, now=t, rand=rand)
    else:
        pytest.fail("the planner never stopped")
    assert t <= budget_s + 1e-9
    # at most `retries_allowed` re-attempts in any 10 s of the budget's sliding window
    assert all(sum(at - 10.0 < other <= at for other in retried_at) <= retries_allowed for at in retried_at)
    if not served:
        untried = [target for target in plan if target not in tried]
        assert not untried or budget_s - t < RULES.min_attempt_s
