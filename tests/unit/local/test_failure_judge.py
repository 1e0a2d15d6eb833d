"""The scorecard's judge on streamed answers the gateway never gives but other routers do: a truncated answer
presented as a success, a prefill rejection behind the final error; and the caller's reading of an SSE stream."""

from __future__ import annotations

from local.failure_scenarios import BY_ID, Answer, Attempt, Roles, _Seen, canonical_answer, judge, read_stream

ROLES = Roles(fallback_model="gemini-2.0-flash", primary_model="anthropic.claude-3-haiku-20240307-v1:0")
WHOLE = canonical_answer(ROLES.primary_model)


def seen(answer: Answer, fallback: tuple[Attempt, ...] = (), alive: Answer | None = None) -> _Seen:
    return _Seen((answer,), (Attempt(0.0, "cut"),), fallback, 1.0, ROLES, None, alive)


def streamed(content: str, **how: object) -> Answer:
    return Answer(200, 1.0, content=content, streamed=True, **how)  # type: ignore[arg-type]


def test_a_cut_stream_presented_as_complete_fails_whatever_else_it_did():
    result = judge(BY_ID["S08"], "other", seen(streamed(WHOLE[:40], done=True, finish_reason="stop")))

    assert result.verdict == "fail" and "truncated" in result.reason
    assert [c.passed for c in result.checks if c.id == "no_truncated_success"] == [False]


def test_a_cut_stream_ended_with_an_error_event_is_safe_and_the_whole_answer_passes():
    cut = judge(BY_ID["S08"], "gw", seen(streamed(WHOLE[:40], error_code="provider_stream_cut")))
    whole = judge(BY_ID["S08"], "gw", seen(streamed(WHOLE, done=True, finish_reason="stop")))

    assert (cut.verdict, whole.verdict) == ("safe", "pass")


def test_an_error_after_the_fallback_rejected_a_prefill_is_prefill_masking():
    answer = Answer(400, 1.0, error_code="invalid_request_error", streamed=True)
    rejected = (Attempt(0.5, "prefill_rejected"),)

    masked = judge(BY_ID["S14"], "other", seen(answer, rejected))
    clean = judge(BY_ID["S14"], "gw", seen(answer))

    assert masked.verdict == "fail" and "no_prefill_masking" in masked.reason
    assert clean.verdict == "safe"


def test_alive_after_needs_a_healthy_answer_after_the_scenario():
    stalled = streamed(WHOLE[:20], error_code="provider_stream_stalled")
    healthy = streamed(WHOLE, done=True)

    assert judge(BY_ID["S09"], "gw", seen(stalled, alive=healthy)).verdict == "safe"
    failed = judge(BY_ID["S09"], "gw", seen(stalled, alive=Answer(503, 1.0, error_code="unavailable")))
    assert failed.verdict == "fail" and "alive_after" in failed.reason


def test_the_caller_s_reading_of_a_stream_reassembles_it_and_notes_how_it_ended():
    text = (
        'data: {"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
        'data: {"model":"m","choices":[{"index":0,"delta":{"content":"Half "}}]}\n\n'
        "data: {not json\n\n"
        'data: {"model":"m","choices":[{"index":0,"delta":{"content":"way"}}]}\n\n'
        'data: {"error":{"type":"server_error","code":"provider_stream_cut","message":"cut"}}\n\n'
    )
    answer = read_stream(200, 1.0, 0.0, text)
    finished = read_stream(
        200,
        1.0,
        0.0,
        text.rsplit('data: {"error', 1)[0]
        + (
            'data: {"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
            'data: {"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n'
            "data: [DONE]\n\n"
        ),
    )

    assert (answer.content, answer.error_code, answer.done, answer.success) == (
        "Half way",
        "provider_stream_cut",
        False,
        False,
    )
    assert answer.clean_error and answer.ending == "error event provider_stream_cut"
    assert (finished.content, finished.done, finished.finish_reason) == ("Half way", True, "stop")
    assert finished.usage == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5} and finished.ok
