"""The MCP simulator: an MCP server (streamable HTTP, stateless, JSON responses) built with the `mcp`
SDK, with one tool, `generate`, answering from the simulated model with structured content. A call
that asks for progress is answered in SSE mode, the answer's words coming first as progress
notifications (`ctx.report_progress`, a word in each message), then the result.

An `mcp` fault strikes tool calls (`tools/call`), one attempt of the router each; the session's own
requests (protocol probe, initialize, notifications, tool listings) pass untouched. An error status
is answered before the MCP layer sees the call, as a gateway or load balancer in front of a real MCP
server would; an error code by the tool itself, as its error result (`isError`), which the middleware
asks for in a request header of its own.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import INTERNAL_ERROR, CallToolResult, TextContent
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from local.faults import ErrorCode, FaultRegistry, FaultSpec
from local.sim_common import InjectedAnswers, around_answer, injected_message, instead_of_answer
from local.sim_stream import SSE_MEDIA_TYPE, STREAM_FAULT_MODES, StreamedAnswer, StreamEvents, word_pieces
from local.simulated_model import SimMessage, generate

PROVIDER = "mcp"
MCP_PATH = "/mcp"
MCP_TOOL_NAME = "generate"
# Set by the middleware only (a client's own is dropped): the refusal the tool answers with.
REFUSAL_HEADER = "x-local-injected-refusal"

_REFUSALS: dict[ErrorCode, str] = {
    "context_length_exceeded": "the conversation is longer than the model's context window",
    "content_filter": "the prompt was blocked by the content policy",
}


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class Usage(BaseModel):
    input_tokens: int
    output_tokens: int


class GenerateResult(BaseModel):
    content: str
    model: str
    usage: Usage
    finish_reason: Literal["stop", "length"]


def build_mcp_server(default_model: str = "mcp-simulated") -> MCPServer:
    """The local MCP server: one `generate` tool answering from the simulated model."""
    server = MCPServer(name="hybrid-routing-local", instructions="Simulated model behind the MCP route.")

    @server.tool(name=MCP_TOOL_NAME, description="Complete a chat conversation.")
    async def generate_tool(
        messages: list[ChatMessage],
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: list[str] | None = None,
        model: str | None = None,
        ctx: Context | None = None,
    ) -> Annotated[CallToolResult, GenerateResult]:  # GenerateResult, or an error result
        if (refusal := _asked_refusal(ctx)) is not None:
            text = f"{refusal}: {_REFUSALS[refusal]}"
            return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
        if not any(m.role == "user" for m in messages):
            raise ToolError("messages must contain at least one user message")
        if max_tokens is not None and max_tokens < 1:
            raise ToolError("max_tokens must be at least 1")
        name = model or default_model
        sim = [SimMessage(role=m.role, text=m.content) for m in messages]
        result = generate(sim, model=name, max_tokens=max_tokens, stop=stop or ())
        if ctx is not None:  # a no-op unless the caller asked for progress (a streamed call)
            pieces = word_pieces(result.text)
            for index, piece in enumerate(pieces, start=1):
                await ctx.report_progress(index, len(pieces), piece)
        answer = GenerateResult(
            content=result.text,
            model=name,
            usage=Usage(input_tokens=result.input_tokens, output_tokens=result.output_tokens),
            finish_reason=result.finish_reason,
        )
        return CallToolResult(
            content=[TextContent(type="text", text=answer.model_dump_json(indent=2))],
            structured_content=answer.model_dump(mode="json"),
        )

    return server


def _http_error(status: int, message: str, _retry_after_s: float | None) -> Response:
    return JSONResponse({"error": message}, status_code=status)


def _asked_refusal(ctx: Context | None) -> ErrorCode | None:
    headers = ctx.headers if ctx is not None else None
    asked = headers.get(REFUSAL_HEADER) if headers is not None else None
    return next((code for code in _REFUSALS if code == asked), None)


INJECTED_ANSWERS = InjectedAnswers(error=_http_error)  # refusals: the tool's own


class McpFaultMiddleware:
    """Applies the `mcp` fault in force to each tool call sent to the MCP server. A tool call that asks
    for progress (a `progressToken` in its `_meta`: a streamed call) goes to `streaming_app`, an MCP
    server answering in SSE mode, where the tool's progress notifications can flow; the stream fault
    modes then act on its events (`local.sim_stream`), a progress notification standing for a token."""

    def __init__(self, app: ASGIApp, faults: FaultRegistry, streaming_app: ASGIApp | None = None) -> None:
        self.app = app
        self.faults = faults
        self.streaming_app = streaming_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_mcp = scope["type"] == "http" and (scope["path"] == MCP_PATH or scope["path"].startswith(MCP_PATH + "/"))
        if not is_mcp:
            await self.app(scope, receive, send)
            return
        scope = _asking_refusal(scope, None)
        body = await _request_body(receive)
        replay = _replaying(body, receive)
        message = _json_rpc(body)
        is_tool_call = message.get("method") == "tools/call"
        app = self.streaming_app if is_tool_call and self.streaming_app and _asks_progress(message) else self.app
        if not is_tool_call or (fault := await self.faults.apply(PROVIDER)) is None:
            await app(scope, replay, send)
            return
        if fault.mode == "error" and fault.error_code is not None:
            await app(_asking_refusal(scope, fault.error_code), replay, send)
            return
        streamed = app is self.streaming_app and (fault.mode in STREAM_FAULT_MODES or fault.in_stream)
        response = None if streamed else instead_of_answer(fault, INJECTED_ANSWERS, body)
        if response is None:
            answer = await _captured(app, scope, replay)
            response = _streamed(answer, fault, message) if streamed else around_answer(fault, answer)
        await response(scope, receive, send)


def _asks_progress(message: dict[str, Any]) -> bool:
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return isinstance(meta, dict) and meta.get("progressToken") is not None


def _streamed(answer: Response, fault: FaultSpec, message: dict[str, Any]) -> Response:
    """The SSE answer of a streamed tool call as `fault` alters it: its progress notifications are the
    stream's pieces, what follows them (the result) its terminator. An error in the stream is the
    JSON-RPC error answer to the call."""
    if answer.status_code != 200 or not answer.headers.get("content-type", "").startswith(SSE_MEDIA_TYPE):
        return around_answer(fault, answer)
    events = [event + b"\n\n" for event in bytes(answer.body).replace(b"\r\n", b"\n").split(b"\n\n") if event]
    progress = [index for index, event in enumerate(events) if b'"notifications/progress"' in event]
    first, last = (progress[0], progress[-1] + 1) if progress else (0, 0)
    error = {"code": INTERNAL_ERROR, "message": injected_message(fault.status)}
    error_event = _sse_message({"jsonrpc": "2.0", "id": message.get("id"), "error": error})
    stream = StreamEvents(
        head=events[:first],
        pieces=events[first:last],
        tail=events[last:],
        malformed=b'event: message\ndata: {"jsonrpc": "2.0", "method": \n\n',
    )
    return StreamedAnswer(stream, SSE_MEDIA_TYPE).faulted(fault, error_event if fault.in_stream else b"")


def _sse_message(message: dict[str, Any]) -> bytes:
    return f"event: message\ndata: {json.dumps(message)}\n\n".encode()


def _asking_refusal(scope: Scope, code: ErrorCode | None) -> Scope:
    """`scope` whose headers ask the tool for `code`'s refusal (None: for none)."""
    headers = [(name, value) for name, value in scope["headers"] if name != REFUSAL_HEADER.encode()]
    if code is not None:
        headers.append((REFUSAL_HEADER.encode(), code.encode()))
    return {**scope, "headers": headers}


def _json_rpc(body: bytes) -> dict[str, Any]:
    """The JSON-RPC message in `body`; empty when there is none."""
    try:
        message = json.loads(body)
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}


async def _request_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body already read, then whatever comes next."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _captured(app: ASGIApp, scope: Scope, receive: Receive) -> Response:
    """The whole response `app` answers with, held back to be sent as a fault alters it."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def keep(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, keep)
    answer = Response(b"".join(chunks), status_code=start.get("status", 500))
    answer.raw_headers = list(start.get("headers", []))
    return answer
