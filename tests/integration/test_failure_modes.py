"""The failoverbench catalogue's non-streaming failure modes, end to end through the local gateway: each
scenario's faults set with `POST /local/faults` on the primary (bedrock for infrastructure operations), the
request sent to `/v1/chat/completions`, and its conduct read from the answer, its `x-hybrid-*` headers and the
simulators' attempts log (`GET /local/faults/attempts`). Each test asserts the catalogue's correct conduct and
the scenario's verdict (local/failure_scenarios.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions.adapters.providers.settings import get_provider_settings
from functions.domain.names import BEDROCK, GOOGLE
from functions.domain.routing.breaker import BreakerPolicy
from functions.domain.thresholds import LATENCY_BUDGET_SECONDS
from local import metrics_sink
from local.failure_scenarios import BY_ID, OPERATION, RECOVERY_WITHIN_S, GatewaySystem, Result, Roles, Runner
from tests.support import emf_now, reset_routing_state

# Breakers as shipped but for a short cooldown: a flapping primary recovers in seconds, not minutes.
FAST = BreakerPolicy(cooldown_s=0.5)
BUDGET_S = LATENCY_BUDGET_SECONDS[OPERATION]


@pytest.fixture
def runner(client, local_stack) -> Iterator[Runner]:
    """Scenarios against the gateway, each from closed breakers and no fault; the routing state reset after.
    The faults are set through a client whose Host `/local/*` accepts."""
    from starlette.testclient import TestClient

    roles = Roles(BEDROCK, GOOGLE, get_provider_settings().google_model)
    with TestClient(local_stack.app, base_url="http://127.0.0.1") as control:
        yield Runner(
            control,
            GatewaySystem(client, per_call_timeout=False),
            roles,
            prepare=lambda: reset_routing_state(local_stack, FAST),
        )
    reset_routing_state(local_stack)


def attempts_header(result: Result) -> list[str]:
    return result.answer.headers["x-hybrid-attempts"].split(",")


def test_s01_a_429_with_retry_after_is_retried_no_earlier_than_it_says_when_it_fits_the_budget(runner):
    scenario = BY_ID["S01"]
    result = runner.run(scenario)
    # The Retry-After (2 s) fits the 10 s budget: the same provider again, once it has passed, and it answers
    assert result.answer.status == 200 and result.answer.provider == BEDROCK
    assert [a.outcome for a in result.primary] == ["429", "ok"]
    gap = result.first_gap_s
    assert gap is not None and gap >= scenario.primary_fault["retry_after_s"]
    assert result.fallback == ()
    assert result.verdict == "pass", result.reason


def test_s01b_a_retry_after_beyond_the_budget_fails_over_at_once(runner):
    result = runner.run(BY_ID["S01b"])
    # Waiting 60 s cannot fit a 10 s budget: one attempt on bedrock, then google answers
    assert result.answer.status == 200 and result.answer.provider == GOOGLE
    assert [a.outcome for a in result.primary] == ["429"]
    assert [a.outcome for a in result.fallback] == ["ok"]
    assert attempts_header(result) == ["bedrock:429", "google:ok"]
    assert result.verdict == "pass", result.reason


def test_s02_a_persistent_429_is_backed_off_then_failed_over_without_hammering(runner):
    scenario = BY_ID["S02"]
    result = runner.run(scenario)
    assert result.answer.status == 200 and result.answer.provider == GOOGLE
    assert 1 <= len(result.primary) <= 6
    assert all(a.outcome == "429" for a in result.primary)
    assert attempts_header(result)[-1] == "google:ok"
    assert result.verdict == "pass", result.reason


def test_s03_a_500_once_is_retried_once_on_the_same_provider(runner):
    result = runner.run(BY_ID["S03"])
    assert result.answer.status == 200 and result.answer.provider == BEDROCK
    assert [a.outcome for a in result.primary] == ["500", "ok"]
    assert result.fallback == ()
    assert [a.split(":")[0] for a in attempts_header(result)] == [BEDROCK, BEDROCK]
    assert attempts_header(result)[-1] == "bedrock:ok"
    assert result.verdict == "pass", result.reason


def test_s04_a_persistent_503_fails_over_within_the_retry_budget(runner):
    result = runner.run(BY_ID["S04"])
    assert result.answer.status == 200 and result.answer.provider == GOOGLE
    assert result.answer.headers["x-hybrid-fallback"] == "true"
    assert 1 <= len(result.primary) <= 2  # one retry on the same provider at most, then the next target
    assert [a.outcome for a in result.fallback] == ["ok"]
    assert result.verdict == "pass", result.reason


def test_s05_a_reset_before_headers_is_retried_on_the_same_provider(runner):
    result = runner.run(BY_ID["S05"])
    # The request is idempotent and the provider never saw it: sent once more, and answered
    assert result.answer.status == 200 and result.answer.provider == BEDROCK
    assert [a.outcome for a in result.primary] == ["reset", "ok"]
    assert attempts_header(result) == ["bedrock:reset", "bedrock:ok"]
    assert result.verdict == "pass", result.reason


def test_s06_a_silent_provider_is_abandoned_once_and_the_fallback_answers_within_the_budget(runner):
    result = runner.run(BY_ID["S06"])
    # One attempt on the silent provider, cut at a per-attempt timeout that leaves budget for the fallback
    assert result.answer.status == 200 and result.answer.provider == GOOGLE
    assert [a.outcome for a in result.primary] == ["hang"]
    assert [a.outcome for a in result.fallback] == ["ok"]
    assert attempts_header(result) == ["bedrock:timeout", "google:ok"]
    assert result.fallback[0].at - result.primary[0].at < BUDGET_S  # the fallback was asked inside the budget
    assert result.verdict == "pass", result.reason


def test_s12_context_length_exceeded_is_never_resent_to_the_same_model(runner):
    result = runner.run(BY_ID["S12"])
    assert [a.outcome for a in result.primary] == ["context_length_exceeded"]
    answer = result.answer
    if answer.status == 200:  # a model with a larger window took it
        assert answer.provider != BEDROCK
        assert result.verdict == "pass", result.reason
    else:  # none is configured: a clean 400 naming the problem
        assert (answer.status, answer.error_code) == (400, "context_length_exceeded")
        assert result.fallback == ()
        assert result.verdict == "safe", result.reason


def test_s13_a_content_filter_rejection_gets_one_attempt_and_a_clean_400_with_the_reason(runner):
    result = runner.run(BY_ID["S13"])
    answer = result.answer
    assert (answer.status, answer.error_code) == (400, "content_policy_violation")
    assert answer.error_message  # the provider's reason, passed on
    assert [a.outcome for a in result.primary] == ["content_filter"]
    assert result.fallback == ()  # failing over around a safety system is off by default
    assert attempts_header(result) == ["bedrock:content_filter"]
    assert result.verdict == "pass", result.reason


def test_s15_a_flapping_primary_is_covered_by_the_fallback_then_used_again_after_it_recovers(runner):
    scenario = BY_ID["S15"]
    result = runner.run(scenario)
    recovers_at = result.answers[0].sent_at + float(scenario.primary_fault["duration_s"])
    during = [a for a in result.answers if a.sent_at < recovers_at - 0.5]
    assert len(during) >= 3
    assert all(a.ok and a.provider != BEDROCK for a in during)  # every request answered while bedrock is down
    assert all(a.ok for a in result.answers)
    # Then back on bedrock within 30 s of its recovery
    assert result.answer.provider == BEDROCK and result.answer.sent_at >= recovers_at
    assert result.recovered_after_s is not None and result.recovered_after_s <= RECOVERY_WITHIN_S
    assert result.verdict == "pass", result.reason


def test_s16_a_failed_over_answer_carries_the_fallback_s_model_and_usage_and_bills_only_it(runner):
    metrics_sink.install()  # pytest's capture swaps sys.stdout between phases: tap the EMF lines again
    started = emf_now()
    result = runner.run(BY_ID["S16"])
    answer = result.answer
    assert answer.status == 200 and answer.provider == GOOGLE
    assert answer.model == get_provider_settings().google_model
    usage = answer.usage
    assert usage is not None and usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    # The request's cost and tokens are counted once, on the provider that answered
    billed = [r for r in metrics_sink.STORE.since(started) if "CostUSD" in r.values]
    assert [r.dimensions.get("Provider") for r in billed] == [GOOGLE]
    assert billed[0].values["InputTokens"] == (usage["prompt_tokens"],)
    assert result.primary and all(a.outcome == "503" for a in result.primary)
    assert result.verdict == "pass", result.reason
