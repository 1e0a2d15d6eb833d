"""Local provider simulators that speak each provider's real wire protocol, with fault injection.

- `POST /bedrock/model/{modelId}/converse`: the Bedrock Runtime Converse API (JSON in, JSON out,
  AWS JSON errors with `x-amzn-ErrorType`), so a boto3 `bedrock-runtime` client created with
  `endpoint_url="http://HOST:PORT/bedrock"` runs unchanged against it.
- `POST /bedrock/model/{modelId}/converse-stream`: ConverseStream, its answer in the AWS event
  stream (`local.sim_eventstream`), with the exceptions Bedrock sends inside a 200 stream.
- `/mcp`: an MCP server (streamable HTTP, stateless, JSON responses) built with the `mcp` SDK,
  with one tool, `generate`, answering with structured content (`local.sim_mcp`).
- `POST /google/v1beta/models/{model}:generateContent` and `:streamGenerateContent?alt=sse`: the
  Gemini API (`local.sim_google`).
- `POST /meta/chat/completions`, streamed with `stream: true`: the Llama API's OpenAI-compatible
  protocol (`local.sim_meta`).
- `GET /healthz`.

Faults come from a `FaultRegistry` and are read on every request (`local.faults`); each simulator
renders them in its provider's own shapes (`local.sim_common.answer_with_faults`).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from local.faults import ErrorCode, FaultRegistry
from local.sim_common import InjectedAnswers, answer_with_faults, injected_message, is_number_in, is_positive_int
from local.sim_eventstream import event_frame, exception_frame
from local.sim_google import generate_content_route, stream_generate_content_route
from local.sim_mcp import MCP_PATH, McpFaultMiddleware, build_mcp_server
from local.sim_meta import chat_completions_route
from local.sim_stream import StreamedAnswer, StreamEvents, word_pieces
from local.simulated_model import SimCompletion, SimMessage, generate

PROVIDER = "bedrock"

# --- Bedrock Converse ----------------------------------------------------------------------
_AWS_ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"
_AWS_ERROR_NAMES: dict[int, str] = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_BEDROCK_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}
EVENT_STREAM_MEDIA_TYPE = "application/vnd.amazon.eventstream"
# The exceptions ConverseStream sends inside a 200 stream (424's is a model stream error there).
_STREAM_EXCEPTIONS = frozenset(
    {
        "ValidationException",
        "ModelStreamErrorException",
        "ThrottlingException",
        "InternalServerException",
        "ServiceUnavailableException",
    }
)
# A contentBlockDelta frame, well framed, whose payload is not JSON.
_MALFORMED_EVENT = event_frame("contentBlockDelta", b'{"contentBlockIndex": 0, "delta": {"text": ')


_MUST_START_WITH_USER = (
    "A conversation must start with a user message. Try again with a conversation that starts with a user message."
)
_MUST_ALTERNATE = (
    "A conversation must alternate between user and assistant roles. "
    "Make sure the conversation alternates between user and assistant roles and try again."
)
_MALFORMED_INPUT = "Malformed input request, please reformat your input and try again."
_REFUSALS: dict[ErrorCode, str] = {
    "context_length_exceeded": "Input is too long for requested model.",
    "content_filter": "This request has been blocked by our content filters.",
}


class _BedrockValidationError(Exception):
    """The request breaks a Converse rule; answered as a 400 ValidationException."""


def aws_error(status: int, message: str, name: str | None = None) -> Response:
    """An AWS JSON-protocol error response, the shape botocore's rest-json parser reads."""
    name = name or _AWS_ERROR_NAMES.get(status) or ("InternalServerException" if status >= 500 else "BadRequest")
    return JSONResponse(
        {"message": message},
        status_code=status,
        headers={"x-amzn-ErrorType": f"{name}:{_AWS_ERROR_NAMESPACE}", "x-amzn-RequestId": f"sim-{time.time_ns()}"},
    )


def _text_blocks(blocks: Any, where: str) -> list[str]:
    if not isinstance(blocks, list) or not blocks:
        raise _BedrockValidationError(f"{where} must be a non-empty list of content blocks.")
    texts = []
    for block in blocks:
        if not isinstance(block, dict) or not isinstance(block.get("text"), str):
            raise _BedrockValidationError(f"{where}: this model supports text content blocks only.")
        texts.append(block["text"])
    return texts


def _parse_messages(body: dict[str, Any]) -> list[SimMessage]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _BedrockValidationError(_MUST_START_WITH_USER)
    parsed: list[SimMessage] = []
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise _BedrockValidationError(f"messages.{index}.role: must be one of [user, assistant].")
        if index == 0 and role != "user":
            raise _BedrockValidationError(_MUST_START_WITH_USER)
        if parsed and parsed[-1].role == role:
            raise _BedrockValidationError(_MUST_ALTERNATE)
        texts = _text_blocks(message.get("content"), f"messages.{index}.content")
        parsed.append(SimMessage(role=role, text="\n".join(texts)))
    return parsed


def _parse_system(body: dict[str, Any]) -> list[SimMessage]:
    system = body.get("system", [])
    if not system:
        return []
    return [SimMessage(role="system", text=text) for text in _text_blocks(system, "system")]


def _number_in(config: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = config.get(key)
    if value is None:
        return None
    if not is_number_in(value, low, high):
        raise _BedrockValidationError(f"inferenceConfig.{key}: must be a number between {low} and {high}.")
    return float(value)


def _parse_inference_config(body: dict[str, Any]) -> tuple[int | None, list[str]]:
    config = body.get("inferenceConfig") or {}
    if not isinstance(config, dict):
        raise _BedrockValidationError("inferenceConfig must be an object.")
    max_tokens = config.get("maxTokens")
    if max_tokens is not None and not is_positive_int(max_tokens):
        raise _BedrockValidationError("inferenceConfig.maxTokens: must be an integer greater than or equal to 1.")
    _number_in(config, "temperature", 0.0, 1.0)
    _number_in(config, "topP", 0.0, 1.0)
    stop = config.get("stopSequences") or []
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise _BedrockValidationError("inferenceConfig.stopSequences: must be a list of non-empty strings.")
    return max_tokens, stop


def _converse_body(model_id: str, result: SimCompletion, started: float) -> dict[str, Any]:
    stop_reason = "stop_sequence" if result.stop_sequence else _BEDROCK_STOP_REASONS[result.finish_reason]
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": result.text}]}},
        "stopReason": stop_reason,
        "usage": {
            "inputTokens": result.input_tokens,
            "outputTokens": result.output_tokens,
            "totalTokens": result.input_tokens + result.output_tokens,
        },
        "metrics": {"latencyMs": max(1, int((time.perf_counter() - started) * 1000))},
    }


async def _converse_result(request: Request) -> SimCompletion | Response:
    """The simulated model's answer to a Converse request, or the 400 that refuses the request."""
    model_id = request.path_params["model_id"]
    try:
        body = json.loads(await request.body())
        if not isinstance(body, dict):
            raise _BedrockValidationError("The request body must be a JSON object.")
        messages = _parse_system(body) + _parse_messages(body)
        max_tokens, stop = _parse_inference_config(body)
    except json.JSONDecodeError:
        return aws_error(400, _MALFORMED_INPUT, "SerializationException")
    except _BedrockValidationError as exc:
        return aws_error(400, str(exc), "ValidationException")
    return generate(messages, model=model_id, max_tokens=max_tokens, stop=stop)


async def _converse(request: Request, started: float) -> Response:
    result = await _converse_result(request)
    if isinstance(result, Response):
        return result
    return JSONResponse(_converse_body(request.path_params["model_id"], result, started))


async def _converse_stream(request: Request, started: float) -> Response:
    result = await _converse_result(request)
    if isinstance(result, Response):
        return result
    return StreamedAnswer(_converse_events(result, started), EVENT_STREAM_MEDIA_TYPE)


def _converse_events(result: SimCompletion, started: float) -> StreamEvents:
    """ConverseStream's events: messageStart, a contentBlockDelta per word, contentBlockStop, then
    messageStop with the stop reason and metadata with usage and metrics."""
    body = _converse_body("", result, started)
    pieces = [
        event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}})
        for piece in word_pieces(result.text)
    ]
    tail = [
        event_frame("contentBlockStop", {"contentBlockIndex": 0}),
        event_frame("messageStop", {"stopReason": body["stopReason"]}),
        event_frame("metadata", {"usage": body["usage"], "metrics": body["metrics"]}),
    ]
    head = [event_frame("messageStart", {"role": "assistant"})]
    return StreamEvents(head=head, pieces=pieces, tail=tail, malformed=_MALFORMED_EVENT)


def _stream_exception(status: int, code: ErrorCode | None) -> bytes:
    """The exception event ConverseStream sends inside its 200 for `status` (or a refusal's code)."""
    if code is not None:
        return exception_frame("validationException", _REFUSALS[code])
    name = "ModelStreamErrorException" if status == 424 else _AWS_ERROR_NAMES.get(status, "")
    if name not in _STREAM_EXCEPTIONS:
        name = "InternalServerException" if status >= 500 else "ValidationException"
    return exception_frame(name[0].lower() + name[1:], injected_message(status))


def _refusal(code: ErrorCode, _body: bytes) -> Response:
    return aws_error(400, _REFUSALS[code], "ValidationException")


INJECTED_ANSWERS = InjectedAnswers(
    error=lambda status, message, _: aws_error(status, message), refusal=_refusal, stream_error=_stream_exception
)


def _converse_route(faults: FaultRegistry) -> Route:
    async def converse(request: Request) -> Response:
        started = time.perf_counter()
        return await answer_with_faults(
            faults, PROVIDER, INJECTED_ANSWERS, request, lambda: _converse(request, started)
        )

    # botocore percent-encodes the model id (`...-v1%3A0`, ARNs with `/`); the server decodes the
    # path, so the id is matched with the `path` convertor to keep any `/` it holds.
    return Route("/bedrock/model/{model_id:path}/converse", converse, methods=["POST"])


def _converse_stream_route(faults: FaultRegistry) -> Route:
    async def converse_stream(request: Request) -> Response:
        started = time.perf_counter()
        return await answer_with_faults(
            faults,
            PROVIDER,
            INJECTED_ANSWERS,
            request,
            lambda: _converse_stream(request, started),
            streams=lambda _: True,
        )

    return Route("/bedrock/model/{model_id:path}/converse-stream", converse_stream, methods=["POST"])


# --- the app -------------------------------------------------------------------------------
async def _healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


def build_providers_app(faults: FaultRegistry) -> Starlette:
    """The simulators as one ASGI app. Build one per server: the MCP session manager runs once."""
    mcp_server, mcp_streaming_server = build_mcp_server(), build_mcp_server()
    # Stateless and JSON: each tool call is one POST with one JSON answer, as the Lambda client uses it.
    mcp_app = mcp_server.streamable_http_app(streamable_http_path=MCP_PATH, stateless_http=True, json_response=True)
    # The same server in SSE mode, for tool calls that ask for progress (streamed calls).
    mcp_streaming_app = mcp_streaming_server.streamable_http_app(
        streamable_http_path=MCP_PATH, stateless_http=True, json_response=False
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # A mounted app's own lifespan is not run by Starlette, so the MCP session managers' run here.
        async with mcp_server.session_manager.run(), mcp_streaming_server.session_manager.run():
            yield

    app = Starlette(
        routes=[
            Route("/healthz", _healthz, methods=["GET"]),
            _converse_route(faults),
            _converse_stream_route(faults),
            generate_content_route(faults),
            stream_generate_content_route(faults),
            chat_completions_route(faults),
            Mount("/", app=mcp_app),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(McpFaultMiddleware, faults=faults, streaming_app=mcp_streaming_app)
    app.state.faults = faults
    return app
