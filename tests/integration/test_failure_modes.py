"""The failoverbench catalogue's failure modes, buffered and streamed, end to end through the local gateway: each
scenario's faults set with `POST /local/faults` on the primary (bedrock for infrastructure operations) and the
fallback (google), the request sent to `/v1/chat/completions` (with `stream: true` for S07-S11 and S14), and its
conduct read from the answer (a stream's reassembled text and how it ended), its `x-hybrid-*` headers and the
simulators' attempts log (`GET /local/faults/attempts`). Each test asserts the catalogue's correct conduct and
the scenario's verdict (local/failure_scenarios.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions.adapters.providers.settings import get_provider_settings
from functions.app.chat.wiring import get_dependencies
from functions.domain.names import BEDROCK, GOOGLE
from functions.domain.routing.breaker import BreakerPolicy
from functions.domain.thresholds import LATENCY_BUDGET_SECONDS
from local import metrics_sink
from local.failure_scenarios import (
    BY_ID,
    CUT_AT,
    OPERATION,
    RECOVERY_WITHIN_S,
    STALL_AT,
    Answer,
    GatewaySystem,
    Result,
    Roles,
    Runner,
    canonical_answer,
)
from local.sim_stream import word_pieces
from tests.support import emf_now, reset_routing_state

# Breakers as shipped but for a short cooldown: a flapping primary recovers in seconds, not minutes.
FAST = BreakerPolicy(cooldown_s=0.5)
BUDGET_S = LATENCY_BUDGET_SECONDS[OPERATION]


@pytest.fixture
def runner(client, local_stack) -> Iterator[Runner]:
    """Scenarios against the gateway, each from closed breakers and no fault; the routing state reset after.
    The faults are set through a client whose Host `/local/*` accepts."""
    from starlette.testclient import TestClient

    settings = get_provider_settings()
    roles = Roles(BEDROCK, GOOGLE, settings.google_model, settings.bedrock_model_id)
    with TestClient(local_stack.app, base_url="http://127.0.0.1") as control:
        yield Runner(
            control,
            GatewaySystem(client, per_call_timeout=False, settings=get_dependencies().settings),
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


# --- the streamed scenarios ----------------------------------------------------------------------------
def bedrock_answer() -> str:
    return canonical_answer(get_provider_settings().bedrock_model_id)


def check(result: Result, check_id: str) -> bool:
    (found,) = [c for c in result.checks if c.id == check_id]
    return found.passed


def assert_ended_in_error_after_a_partial_answer(result: Result, code: str, tokens: int) -> None:
    """The caller got the first `tokens` words of bedrock's answer, then an error event: no finish reason,
    no `[DONE]`, nothing that reads as a complete answer."""
    answer = result.answer
    assert answer.status == 200 and answer.streamed and answer.provider == BEDROCK
    assert answer.content == "".join(word_pieces(bedrock_answer())[:tokens])
    assert 0 < len(answer.content) < len(bedrock_answer())
    assert answer.error_code == code
    assert not answer.done and answer.finish_reason is None and not answer.success
    assert check(result, "no_truncated_success")


def test_s07_a_slow_first_token_is_failed_over_before_commit_and_the_fallback_answers_within_the_budget(runner):
    result = runner.run(BY_ID["S07"])
    answer = result.answer
    assert answer.streamed and answer.done and answer.finish_reason == "stop"
    assert answer.provider == GOOGLE and answer.content == canonical_answer(get_provider_settings().google_model)
    assert [a.outcome for a in result.primary] == ["slow_first_token"]
    assert [a.outcome for a in result.fallback] == ["ok"]
    assert attempts_header(result)[-1] == "google:ok"
    # bedrock's first token was due 20 s in; google was asked, and answered, inside the 10 s budget
    assert result.fallback[0].at - result.primary[0].at < BUDGET_S
    assert answer.elapsed_s < BUDGET_S
    assert check(result, "ttft_limit")
    assert result.verdict == "pass", result.reason


def test_s08_a_stream_cut_mid_answer_ends_with_an_error_event_never_a_truncated_success(runner):
    result = runner.run(BY_ID["S08"])
    assert_ended_in_error_after_a_partial_answer(result, "provider_stream_cut", CUT_AT)
    assert [a.outcome for a in result.primary] == ["cut"]
    assert result.fallback == ()  # continuation is off as shipped: nothing is resent after the commit
    assert result.verdict == "safe", result.reason


def test_s09_a_stalled_stream_is_ended_within_the_bounded_window_and_the_gateway_answers_after(runner):
    result = runner.run(BY_ID["S09"])
    assert_ended_in_error_after_a_partial_answer(result, "provider_stream_stalled", STALL_AT)
    assert [a.outcome for a in result.primary] == ["stall"]
    assert check(result, "bounded")  # well before the 30 s of silence end
    alive = result.alive
    assert alive is not None and alive.ok and alive.done
    assert alive.content in result.canonical
    assert result.verdict == "safe", result.reason


def assert_answered_in_full_by_bedrock(result: Result, fault: str) -> Answer:
    """Bedrock's faulted stream reassembled into its whole answer, ended with finish reason stop and `[DONE]`."""
    answer = result.answer
    assert answer.provider == BEDROCK and [a.outcome for a in result.primary] == [fault]
    assert answer.content == bedrock_answer()
    assert answer.done and answer.finish_reason == "stop" and answer.error_code is None
    return answer


def test_s10_a_malformed_event_is_skipped_and_the_full_answer_reassembled(runner):
    result = runner.run(BY_ID["S10"])
    assert_answered_in_full_by_bedrock(result, "malformed_chunk")
    assert check(result, "recovered_in_place") and check(result, "alive_after")
    assert result.verdict == "pass", result.reason


def test_s11_a_stream_without_its_terminator_is_finalised_with_usage(runner):
    result = runner.run(BY_ID["S11"])
    usage = assert_answered_in_full_by_bedrock(result, "no_done").usage
    assert usage is not None and usage["completion_tokens"] > 0 and usage["prompt_tokens"] > 0
    assert check(result, "prompt_finalise")
    assert result.verdict == "pass", result.reason


@pytest.mark.parametrize("scenario_id", ["S14", "S14b"], ids=["continuation-off", "continuation-on"])
def test_s14_a_cut_stream_is_never_continued_on_a_fallback_that_rejects_prefill(runner, scenario_id):
    scenario = BY_ID[scenario_id]
    result = runner.run(scenario)
    # The caller's error is the cut, not the fallback's prefill 400, and the fallback never saw a prefill
    assert_ended_in_error_after_a_partial_answer(result, "provider_stream_cut", CUT_AT)
    assert [a.outcome for a in result.primary] == ["cut"]
    assert result.fallback == ()
    assert check(result, "no_prefill_masking")
    assert result.verdict == "safe", result.reason
    assert get_dependencies().settings.stream_continuation is False  # the run's settings are restored
