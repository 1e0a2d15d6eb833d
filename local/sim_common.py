"""Plumbing the provider simulators share: injected faults and the checks of request values."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from local.fault_responses import ConnectionReset, Delayed, Hang, Stalled, Truncated, split_point
from local.faults import ErrorCode, FaultRegistry, FaultSpec
from local.sim_stream import STREAM_FAULT_MODES, StreamedAnswer

# 200 and JSON by its content type, but not JSON: a body no API answers with.
MALFORMED_BODY = b'{"injected": "malformed chunk", "choices": [{"delta": '
# What a model that accepts no assistant prefill answers a conversation ending with an assistant turn (as
# Anthropic's newest models on Bedrock do), in each provider's 400 shape.
PREFILL_REJECTED_MESSAGE = (
    "This model does not support assistant message prefill. The conversation must end with a user message."
)


@dataclass(frozen=True, slots=True)
class InjectedAnswers:
    """How one provider answers the faults that replace its answer."""

    error: Callable[[int, str, float | None], Response]
    """An HTTP status in the provider's error shape, from the status, a message and the seconds to
    wait when the fault says so."""
    refusal: Callable[[ErrorCode, bytes], Response] | None = None
    """The provider's own refusal for an error code, from the code and the request body; None when
    the simulator answers refusals itself."""
    stream_error: Callable[[int, ErrorCode | None], bytes] | None = None
    """The provider's in-stream error event for a status (or an error code); None when it streams not."""


def injected_message(status: int) -> str:
    return f"Injected fault: HTTP {status}."


async def answer_with_faults(
    faults: FaultRegistry,
    provider: str,
    answers: InjectedAnswers,
    request: Request,
    answer: Callable[[], Awaitable[Response]],
    streams: Callable[[bytes], bool] | None = None,
) -> Response:
    """`answer()`, unless a fault of `provider` strikes this request: then what the fault makes of it.
    `streams` tells from the request body whether the answer is a stream (`local.sim_stream`), on which
    the stream fault modes and in-stream errors act event by event."""
    body = await request.body()
    if (fault := await faults.apply(provider, ends_with_assistant_turn(body))) is None:
        return await answer()
    if streams is not None and streams(body) and (fault.mode in STREAM_FAULT_MODES or fault.in_stream):
        streamed = await answer()
        if not isinstance(streamed, StreamedAnswer):
            return streamed  # the request is refused before any stream
        error = answers.stream_error(fault.status, fault.error_code) if answers.stream_error else b""
        return streamed.faulted(fault, error)
    instead = instead_of_answer(fault, answers, body)
    return instead if instead is not None else around_answer(fault, await answer())


def instead_of_answer(fault: FaultSpec, answers: InjectedAnswers, body: bytes) -> Response | None:
    """The response a fault gives in place of the provider's answer; None when it alters that answer."""
    if fault.mode == "error":
        if fault.error_code is not None:
            if answers.refusal is None:
                raise ValueError(f"{fault.provider}'s simulator answers its refusals itself")
            return with_retry_after(answers.refusal(fault.error_code, body), fault)
        message = injected_message(fault.status)
        return with_retry_after(answers.error(fault.status, message, fault.retry_after_s), fault)
    if fault.mode == "rejects_prefill":
        return answers.error(400, PREFILL_REJECTED_MESSAGE, None)
    if fault.mode == "reset":
        return ConnectionReset()
    if fault.mode == "hang":
        return Hang()
    if fault.mode == "malformed_chunk":
        return Response(MALFORMED_BODY, media_type="application/json")
    return None


def ends_with_assistant_turn(body: bytes) -> bool:
    """Whether a chat request's last message is the model's own turn (a prefill): `messages` (Bedrock Converse,
    the Llama API) or `contents` (Gemini) ending with an `assistant` (or Gemini's `model`) role."""
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    turns = (payload.get("messages") or payload.get("contents")) if isinstance(payload, dict) else None
    last = turns[-1] if isinstance(turns, list) and turns else None
    return isinstance(last, dict) and last.get("role") in ("assistant", "model")


def around_answer(fault: FaultSpec, answer: Response) -> Response:
    """The provider's `answer` as a fault of mode slow_first_token, cut, stall or no_done sends it."""
    if fault.mode == "slow_first_token":
        return Delayed(answer, fault.first_token_delay_ms)
    keep = split_point(len(answer.body), fault.after_tokens)
    if fault.mode == "stall":
        return Stalled(answer, keep, fault.stall_ms)
    return Truncated(answer, keep)  # cut; no_done, on an answer that is not a stream


def with_retry_after(response: Response, fault: FaultSpec) -> Response:
    """`response` with the fault's `Retry-After` when it is an error and the fault has one. Whole
    seconds as HTTP has them; a fraction is kept, for drills that compress time."""
    if fault.retry_after_s is not None and response.status_code >= 400:
        response.headers["retry-after"] = f"{fault.retry_after_s:g}"
    return response


def is_number_in(value: Any, low: float, high: float) -> bool:
    """Whether `value` is a number (not a boolean) within [low, high]."""
    return not isinstance(value, bool) and isinstance(value, int | float) and low <= value <= high


def is_positive_int(value: Any) -> bool:
    """Whether `value` is an integer (not a boolean) of at least 1: a valid max tokens."""
    return not isinstance(value, bool) and isinstance(value, int) and value >= 1
