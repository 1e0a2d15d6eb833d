"""The Gemini API simulator: `POST /google/v1beta/models/{model}:generateContent`, and
`:streamGenerateContent?alt=sse`, its answer in server-sent events (`local.sim_stream`).

A `GoogleProvider` with `endpoint_url="http://HOST:PORT/google"` runs unchanged against it. Bodies
are checked as the real API checks them (field names in camelCase only; the real API also takes
snake_case), errors come in Google's shape `{"error": {"code", "message", "status"}}`, and a key is
required in `x-goog-api-key` (or the `key` query parameter). An injected 429 carries a RetryInfo
(the fault's `retry_after_s`, else one second), as Google's do; an injected content filter is
Google's blocked prompt: a 200 with `promptFeedback.blockReason` and no candidates.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.faults import ErrorCode, FaultRegistry
from local.sim_common import InjectedAnswers, answer_with_faults, injected_message, is_number_in, is_positive_int
from local.sim_stream import SSE_MEDIA_TYPE, StreamedAnswer, StreamEvents, sse, word_pieces
from local.simulated_model import SimCompletion, SimMessage, count_tokens, generate

PROVIDER = "google"
INJECTED_RETRY_DELAY_S = 1.0
# The window of the Gemini 2.x models, and a prompt over it, as Google words the refusal.
_CONTEXT_WINDOW_TOKENS = 1_048_576
_TOO_LONG = f"The input token count (1200000) exceeds the maximum number of tokens allowed ({_CONTEXT_WINDOW_TOKENS})."

_STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_REQUEST_FIELDS = frozenset(
    {"contents", "systemInstruction", "generationConfig", "safetySettings", "tools", "toolConfig", "cachedContent"}
)
_CONFIG_FIELDS = frozenset(
    {
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "stopSequences",
        "candidateCount",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseMimeType",
        "responseSchema",
        "thinkingConfig",
    }
)
_MAX_STOP_SEQUENCES = 5
_NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
_FINISH_REASONS = {"stop": "STOP", "length": "MAX_TOKENS"}


class _InvalidArgument(Exception):
    """The request breaks a rule of the API; answered as a 400 INVALID_ARGUMENT."""


def google_error(status: int, message: str, details: list[dict[str, Any]] | None = None) -> Response:
    name = _STATUS_NAMES.get(status) or ("INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    error: dict[str, Any] = {"code": status, "message": message, "status": name}
    if details:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=status)


def _injected(status: int, message: str, retry_after_s: float | None) -> Response:
    details = None
    if status == 429:
        delay = INJECTED_RETRY_DELAY_S if retry_after_s is None else retry_after_s
        details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{delay:g}s"}]
    return google_error(status, message, details)


def _refusal(code: ErrorCode, body: bytes) -> Response:
    if code == "context_length_exceeded":
        return google_error(400, _TOO_LONG)
    tokens = _prompt_tokens(body)
    return JSONResponse(
        {
            "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": tokens, "totalTokenCount": tokens},
        }
    )


def _prompt_tokens(body: bytes) -> int:
    """The prompt's tokens as the simulated model counts them, read leniently: a blocked prompt is
    not checked first."""
    try:
        request = json.loads(body)
    except ValueError:
        request = None
    if not isinstance(request, dict):
        return 1
    contents = request.get("contents")
    blocks: list[Any] = [request.get("systemInstruction"), *(contents if isinstance(contents, list) else [])]
    parts = [part for block in blocks if isinstance(block, dict) for part in block.get("parts") or ()]
    texts = [part["text"] for part in parts if isinstance(part, dict) and isinstance(part.get("text"), str)]
    return max(1, sum(count_tokens(text) for text in texts))


INJECTED_ANSWERS = InjectedAnswers(error=_injected, refusal=_refusal)


def _unknown_fields(given: dict[str, Any], known: frozenset[str], where: str) -> None:
    for name in given:
        if name not in known:
            raise _InvalidArgument(f'Invalid JSON payload received. Unknown name "{name}"{where}: Cannot find field.')


def _texts(content: Any, where: str) -> list[str]:
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list) or not parts:
        raise _InvalidArgument(f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.")
    if not all(isinstance(part, dict) and isinstance(part.get("text"), str) for part in parts):
        raise _InvalidArgument(f"* GenerateContentRequest.{where}.parts: this simulator takes text parts only.")
    return [part["text"] for part in parts]


def _messages(body: dict[str, Any]) -> list[SimMessage]:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise _InvalidArgument("* GenerateContentRequest.contents: contents is not specified")
    messages = []
    if "systemInstruction" in body:
        texts = _texts(body["systemInstruction"], "system_instruction")
        messages.append(SimMessage(role="system", text="\n".join(texts)))
    for index, content in enumerate(contents):
        role = content.get("role", "user") if isinstance(content, dict) else None
        if role not in ("user", "model"):
            raise _InvalidArgument("Please use a valid role: user, model.")
        text = "\n".join(_texts(content, f"contents[{index}]"))
        messages.append(SimMessage(role="user" if role == "user" else "assistant", text=text))
    return messages


def _in_range(config: dict[str, Any], key: str, low: float, high: float) -> None:
    value = config.get(key)
    if value is not None and not is_number_in(value, low, high):
        raise _InvalidArgument(f"* GenerateContentRequest.generation_config.{key}: must be in [{low}, {high}].")


def _generation_config(body: dict[str, Any]) -> tuple[int | None, list[str]]:
    config = body.get("generationConfig", {})
    if not isinstance(config, dict):
        raise _InvalidArgument('Invalid value at "generation_config": expected an object.')
    _unknown_fields(config, _CONFIG_FIELDS, ' at "generation_config"')
    max_tokens = config.get("maxOutputTokens")
    if max_tokens is not None and not is_positive_int(max_tokens):
        raise _InvalidArgument("* GenerateContentRequest.generation_config.max_output_tokens: must be positive.")
    _in_range(config, "temperature", 0.0, 2.0)
    _in_range(config, "topP", 0.0, 1.0)
    stop = config.get("stopSequences", [])
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise _InvalidArgument('Invalid value at "generation_config.stop_sequences": expected a list of strings.')
    if len(stop) > _MAX_STOP_SEQUENCES:
        raise _InvalidArgument(
            f"* GenerateContentRequest.generation_config.stop_sequences: at most {_MAX_STOP_SEQUENCES} allowed."
        )
    return max_tokens, stop


def _answer(model: str, result: SimCompletion) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {"parts": [{"text": result.text}], "role": "model"},
                "finishReason": _FINISH_REASONS[result.finish_reason],
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": result.input_tokens,
            "candidatesTokenCount": result.output_tokens,
            "totalTokenCount": result.input_tokens + result.output_tokens,
        },
        "modelVersion": model,
        "responseId": f"sim-{time.time_ns()}",
    }


async def _generated(request: Request) -> tuple[str, SimCompletion] | Response:
    """The model and the simulated model's answer to a request, or the error that refuses it."""
    if not (request.headers.get("x-goog-api-key") or request.query_params.get("key")):
        return google_error(403, _NO_KEY)
    model = request.path_params["model"]
    try:
        body = json.loads(await request.body())
        if not isinstance(body, dict):
            raise _InvalidArgument("Invalid JSON payload received. Expected an object.")
        _unknown_fields(body, _REQUEST_FIELDS, "")
        messages = _messages(body)
        max_tokens, stop = _generation_config(body)
    except ValueError:  # not JSON, or not UTF-8
        return google_error(400, "Invalid JSON payload received. Unexpected token.")
    except _InvalidArgument as exc:
        return google_error(400, str(exc))
    return model, generate(messages, model=model, max_tokens=max_tokens, stop=stop)


async def _generate_content(request: Request) -> Response:
    generated = await _generated(request)
    if isinstance(generated, Response):
        return generated
    return JSONResponse(_answer(*generated))


async def _stream_generate_content(request: Request) -> Response:
    if request.query_params.get("alt") != "sse":
        return google_error(400, "This simulator streams with alt=sse only.")
    generated = await _generated(request)
    if isinstance(generated, Response):
        return generated
    return StreamedAnswer(_chunks(*generated), SSE_MEDIA_TYPE)


def _chunks(model: str, result: SimCompletion) -> StreamEvents:
    """The answer as `GenerateContentResponse` events: a word each, then the last one with the
    finishReason and the usageMetadata."""
    answer = _answer(model, result)
    common = {"modelVersion": model, "responseId": answer["responseId"]}

    def chunk(text: str, finish: dict[str, Any] | None = None, usage: dict[str, Any] | None = None) -> bytes:
        candidate = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0, **(finish or {})}
        last = {"usageMetadata": usage} if usage else {}
        return sse(json.dumps({"candidates": [candidate], **last, **common}, separators=(",", ":")))

    finish = {"finishReason": answer["candidates"][0]["finishReason"]}
    return StreamEvents(
        head=[],
        pieces=[chunk(piece) for piece in word_pieces(result.text)],
        tail=[chunk("", finish, answer["usageMetadata"])],
        malformed=sse('{"candidates": [{"content": {"parts": [{"text": '),
    )


def _stream_error(status: int, code: ErrorCode | None) -> bytes:
    """An error inside the stream, as the Gemini API ends an SSE stream that fails: an `error` event."""
    message = _TOO_LONG if code == "context_length_exceeded" else injected_message(status)
    if code == "content_filter":  # Google's filter stops the candidate rather than erroring
        return sse(json.dumps({"candidates": [{"finishReason": "SAFETY", "index": 0}]}))
    name = _STATUS_NAMES.get(400 if code else status) or ("INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    return sse(json.dumps({"error": {"code": 400 if code else status, "message": message, "status": name}}))


def _stream_refusal(code: ErrorCode, body: bytes) -> Response:
    """A refusal on a stream: a blocked prompt comes as the stream's one event."""
    answer = _refusal(code, body)
    if answer.status_code != 200:
        return answer
    return Response(sse(bytes(answer.body).decode()), media_type=SSE_MEDIA_TYPE)


STREAM_INJECTED_ANSWERS = InjectedAnswers(error=_injected, refusal=_stream_refusal, stream_error=_stream_error)


def generate_content_route(faults: FaultRegistry) -> Route:
    async def generate_content(request: Request) -> Response:
        return await answer_with_faults(faults, PROVIDER, INJECTED_ANSWERS, request, lambda: _generate_content(request))

    return Route("/google/v1beta/models/{model}:generateContent", generate_content, methods=["POST"])


def stream_generate_content_route(faults: FaultRegistry) -> Route:
    async def stream_generate_content(request: Request) -> Response:
        return await answer_with_faults(
            faults,
            PROVIDER,
            STREAM_INJECTED_ANSWERS,
            request,
            lambda: _stream_generate_content(request),
            streams=lambda _: True,
        )

    return Route("/google/v1beta/models/{model}:streamGenerateContent", stream_generate_content, methods=["POST"])
