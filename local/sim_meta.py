"""The Llama API simulator: `POST /meta/chat/completions`, the OpenAI-compatible protocol.

A `LlamaApiProvider` with `endpoint_url="http://HOST:PORT/meta"` runs unchanged against it. Bodies
are checked as the real API checks them, errors come in the OpenAI shape
`{"error": {"message", "type", "param", "code"}}`, and a bearer key is required. An injected 429
carries `Retry-After: 1` unless the fault says otherwise; an injected error code is the API's own
400 with that code. With `stream: true` the answer is OpenAI-style server-sent events: one
`chat.completion.chunk` per word, the finish reason and usage in the last chunk, then `data: [DONE]`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.faults import ErrorCode, FaultRegistry
from local.sim_common import (
    MALFORMED_BODY,
    InjectedAnswers,
    answer_with_faults,
    injected_message,
    is_number_in,
    is_positive_int,
)
from local.sim_stream import SSE_MEDIA_TYPE, StreamedAnswer, StreamEvents, sse, word_pieces
from local.simulated_model import SimCompletion, SimMessage, generate

PROVIDER = "meta"
INJECTED_RETRY_AFTER = "1"

_ROLES = frozenset({"system", "user", "assistant"})
_MAX_STOP_SEQUENCES = 4
_ERROR_TYPES: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("not_found_error", "model_not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}
_REFUSALS: dict[ErrorCode, str] = {
    "context_length_exceeded": "This model's maximum context length is 128000 tokens.",
    "content_filter": "The response was filtered due to the prompt triggering the content management policy.",
}


class _InvalidRequest(Exception):
    """The request breaks a rule of the API; answered as a 400 invalid_request_error."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def openai_error(status: int, message: str, param: str | None = None, code: str | None = None) -> Response:
    error_type, default_code = _ERROR_TYPES.get(status) or (
        "server_error" if status >= 500 else "invalid_request_error",
        None,
    )
    code = code or default_code
    headers = {"Retry-After": INJECTED_RETRY_AFTER} if status == 429 else None
    return JSONResponse(
        {"error": {"message": message, "type": error_type, "param": param, "code": code}},
        status_code=status,
        headers=headers,
    )


def _content(message: dict[str, Any], index: int) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    # The array form: text parts only.
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        if all(isinstance(p.get("text"), str) for p in content):
            return "\n".join(p["text"] for p in content)
    raise _InvalidRequest("content must be a string or a list of text parts.", f"messages.[{index}].content")


def _messages(body: dict[str, Any]) -> list[SimMessage]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _InvalidRequest("messages must be a non-empty array.", "messages")
    parsed = []
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in _ROLES:
            raise _InvalidRequest(f"role must be one of {sorted(_ROLES)}.", f"messages.[{index}].role")
        parsed.append(SimMessage(role=role, text=_content(message, index)))
    if not any(m.role == "user" for m in parsed):
        raise _InvalidRequest("messages must contain at least one user message.", "messages")
    return parsed


def _in_range(body: dict[str, Any], key: str, low: float, high: float) -> None:
    value = body.get(key)
    if value is not None and not is_number_in(value, low, high):
        raise _InvalidRequest(f"{key} must be a number in [{low}, {high}].", key)


def _options(body: dict[str, Any]) -> tuple[int | None, list[str]]:
    # `max_tokens` is the deprecated name, still accepted.
    key = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    max_tokens = body.get(key)
    if max_tokens is not None and not is_positive_int(max_tokens):
        raise _InvalidRequest(f"{key} must be an integer of at least 1.", key)
    _in_range(body, "temperature", 0.0, 2.0)
    _in_range(body, "top_p", 0.0, 1.0)
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop) or len(stop) > _MAX_STOP_SEQUENCES:
        raise _InvalidRequest(f"stop must be a string or an array of at most {_MAX_STOP_SEQUENCES} strings.", "stop")
    return max_tokens, stop


def _answer(model: str, result: SimCompletion) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-sim-{time.time_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.text},
                "finish_reason": result.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": result.input_tokens,
            "completion_tokens": result.output_tokens,
            "total_tokens": result.input_tokens + result.output_tokens,
        },
    }


async def _chat_completions(request: Request) -> Response:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return openai_error(401, "Missing or malformed bearer API key in the Authorization header.")
    try:
        body = json.loads(await request.body())
        if not isinstance(body, dict):
            raise _InvalidRequest("The request body must be a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _InvalidRequest("model is required.", "model")
        messages = _messages(body)
        max_tokens, stop = _options(body)
        streamed = body.get("stream", False)
        if not isinstance(streamed, bool):
            raise _InvalidRequest("stream must be a boolean.", "stream")
    except ValueError:
        return openai_error(400, "The request body is not valid JSON.")
    except _InvalidRequest as exc:
        return openai_error(400, str(exc), exc.param)
    result = generate(messages, model=model, max_tokens=max_tokens, stop=stop)
    if streamed:
        return StreamedAnswer(_chunks(model, result), SSE_MEDIA_TYPE)
    return JSONResponse(_answer(model, result))


def _chunks(model: str, result: SimCompletion) -> StreamEvents:
    """The answer as `chat.completion.chunk`s: the role, a content delta per word, the finish reason
    with the usage, then `[DONE]`."""
    answer = _answer(model, result)
    common = {"id": answer["id"], "object": "chat.completion.chunk", "created": answer["created"], "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return sse(json.dumps({**common, "choices": [choice], **extra}, separators=(",", ":")))

    return StreamEvents(
        head=[chunk({"role": "assistant", "content": ""})],
        pieces=[chunk({"content": piece}) for piece in word_pieces(result.text)],
        tail=[chunk({}, result.finish_reason, usage=answer["usage"]), sse("[DONE]")],
        malformed=sse(MALFORMED_BODY.decode()),
    )


def _stream_error(status: int, code: ErrorCode | None) -> bytes:
    """An error inside the stream, as OpenAI-compatible APIs send one: an event with an `error` object."""
    message = _REFUSALS[code] if code is not None else injected_message(status)
    error_type, default_code = _ERROR_TYPES.get(status) or ("server_error", None)
    error = {"message": message, "type": error_type, "param": None, "code": code or default_code}
    return sse(json.dumps({"error": error}))


def streams(body: bytes) -> bool:
    """Whether a request body asks for a stream (read leniently: an unreadable body asks for none)."""
    try:
        request = json.loads(body)
    except ValueError:
        return False
    return isinstance(request, dict) and request.get("stream") is True


def _refusal(code: ErrorCode, _body: bytes) -> Response:
    return openai_error(400, _REFUSALS[code], "messages", code)


INJECTED_ANSWERS = InjectedAnswers(
    error=lambda status, message, _: openai_error(status, message), refusal=_refusal, stream_error=_stream_error
)


def chat_completions_route(faults: FaultRegistry) -> Route:
    async def chat_completions(request: Request) -> Response:
        return await answer_with_faults(
            faults, PROVIDER, INJECTED_ANSWERS, request, lambda: _chat_completions(request), streams=streams
        )

    return Route("/meta/chat/completions", chat_completions, methods=["POST"])
