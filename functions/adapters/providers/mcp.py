"""The MCP adapter: one tool call over streamable HTTP with the official `mcp` SDK's client session.

The SDK is imported inside `complete`, never at module import: requests on the Direct route must
not pay for loading it on a cold start. Only its client modules are loaded (`import_sdk_client`).

How the SDK reports failures (mcp 2.x): an HTTP error status without a JSON-RPC body becomes an
`MCPError(INTERNAL_ERROR)` with the status lost, and transport errors escape the SDK's task
groups wrapped in `ExceptionGroup`s. So the adapter watches the HTTP responses itself (an httpx2
response hook records every failed POST's status and `Retry-After`, and every request whose
headers came back) and maps by that status, or by the leaf exception's type and whether its
request had been answered: a reset or close before any byte of the answer is a
`ProviderConnectionReset`, a transport error after the headers a `ProviderResponseInvalid` (the
answer was cut). Tool errors carry no code: a refusal's text starts with its code
(`context_length_exceeded:`, `content_filter:`), as the MCP servers of this system write them; any
other tool error makes the provider unavailable.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import importlib.util
import queue
import ssl
import sys
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from functions.adapters.providers.streaming import StreamGuard
from functions.domain.completion import (
    Completion,
    CompletionRequest,
    FinishReason,
    StreamEnd,
    StreamEvent,
    StreamLimits,
    TextDelta,
    counted_completion,
    require_budget,
    retry_after_seconds,
)
from functions.domain.errors import (
    ContentFiltered,
    ContextLengthExceeded,
    ProviderBadRequest,
    ProviderConnectionReset,
    ProviderError,
    ProviderResponseInvalid,
    ProviderThrottled,
    ProviderTimeout,
    ProviderUnavailable,
)

if TYPE_CHECKING:
    import httpx2
    from mcp.client._transport import Transport
    from mcp.client.session import ClientSession
    from mcp.shared.dispatcher import ProgressFnT
    from mcp_types import CallToolResult

_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "content_filter": "content_filter",
}
_TOOL_ERROR_MAX_CHARS = 300
_TOOL_REFUSALS: dict[str, type[ProviderBadRequest]] = {
    "context_length_exceeded:": ContextLengthExceeded,
    "content_filter:": ContentFiltered,
}
CONNECT_TIMEOUT_S = 2.0
# The SDK `Client`'s bound on the pages it reads when it re-lists a tool after HEADER_MISMATCH.
_RELIST_PAGE_CAP = 100
# `mcp/__init__` and `mcp/client/__init__` import the SDK's server side as well (its low-level and
# high-level servers, starlette, uvicorn, sse-starlette): about half of the SDK's import time.
_CLIENT_PACKAGES = ("mcp", "mcp.client")
# Every module a call can import, in the order a call first needs them. httpx2 imports its HTTP
# stack (httpcore2, h11, truststore) when a client is built, anyio its asyncio backend when a loop
# first uses it, and the session jsonschema when it validates a result against an output schema.
_CALL_MODULES = (
    "anyio",
    "httpx2",
    "httpcore2",
    "h11",
    "truststore",
    "anyio._backends._asyncio",
    "anyio.streams.stapled",
    "anyio.streams.tls",
    "anyio.to_thread",
    "certifi",
    "pydantic",
    "mcp_types",
    "mcp.client.streamable_http",
    "mcp.client.session",
    "mcp.client._probe",
    "mcp.shared.exceptions",
    "jsonschema",
    "jsonschema.validators",
    "referencing",
)
_SDK_LOCK = threading.RLock()

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _HttpFailure:
    status: int
    retry_after: float | None


@dataclass(slots=True)
class _Exchanges:
    """What the adapter saw of one call's HTTP exchanges: the POSTs that failed, and the requests
    whose answer's headers came back (an httpx2 response hook runs before the body is read)."""

    failures: list[_HttpFailure] = field(default_factory=list)
    answered: list[httpx2.Request] = field(default_factory=list)

    async def record(self, response: httpx2.Response) -> None:
        self.answered.append(response.request)
        # GET (event stream) and DELETE (session end) answers say nothing about the call.
        if response.request.method == "POST" and response.status_code >= 400:
            retry_after = retry_after_seconds(response.headers.get("retry-after"))
            self.failures.append(_HttpFailure(response.status_code, retry_after))

    def was_answered(self, request: httpx2.Request | None) -> bool:
        return any(seen is request for seen in self.answered)


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """One TLS context per process: building one loads the CA bundle (about 20 ms), and the SDK
    needs a fresh HTTP client for each call's event loop."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class McpProvider:
    """`Provider` that calls one tool of an MCP server for each completion."""

    name = "mcp"

    def __init__(self, server_url: str, tool_name: str = "generate", *, mode: str = "auto") -> None:
        """`mode` is the SDK's connect mode: "auto" probes for the modern protocol and falls back to
        the initialize handshake; pin a protocol version to save the probe's round trip."""
        self.server_url = server_url
        self.tool_name = tool_name
        self.mode = mode

    def complete(self, request: CompletionRequest, timeout_s: float) -> Completion:
        require_budget(timeout_s, self.name)
        result = _run_sync(self._call_tool(self.tool_arguments(request), timeout_s))
        return self._completion(result)

    @staticmethod
    def tool_arguments(request: CompletionRequest) -> dict[str, Any]:
        messages = [{"role": "system", "content": text} for text in request.system]
        messages += [{"role": turn.role, "content": turn.text} for turn in request.turns]
        return {
            "messages": messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "stop": list(request.stop) or None,
            "model": request.requested_model,
        }

    def stream(self, request: CompletionRequest, limits: StreamLimits) -> Iterator[StreamEvent]:
        """The tool call's progress notifications as `TextDelta`s, then its result's end (see
        `StreamingProvider`). The call runs on a thread of its own, its progress callback handing each
        message over; when no progress came, the result's text is the one delta. The SDK reports a stream
        that ended without its result like one that was cut (`CONNECTION_CLOSED`), and a malformed event
        ends the call (`PARSE_ERROR`): after the first delta, both are `ProviderStreamCut`."""
        require_budget(limits.first_token_s, self.name)
        guard = StreamGuard(self.name, limits)
        call = _StreamedCall(self, self.tool_arguments(request), max(limits.first_token_s, limits.idle_s))
        sent: list[str] = []
        try:
            while True:
                try:
                    kind, value = call.items.get(timeout=guard.read_timeout())
                except queue.Empty:
                    raise guard.timeout() from None
                if isinstance(value, ProviderError):
                    raise guard.failed(value)
                if kind == "result":
                    yield from self._stream_result(value, "".join(sent), guard)
                    return
                guard.commit()
                sent.append(value)
                yield TextDelta(value)
        finally:
            call.cancel()

    def _stream_result(self, result: CallToolResult, sent: str, guard: StreamGuard) -> Iterator[StreamEvent]:
        try:
            completion = self._completion(result)
        except ProviderError as exc:
            raise guard.failed(exc) from exc
        rest = completion.text.removeprefix(sent) if completion.text.startswith(sent) else ""
        if rest:
            yield TextDelta(rest)
        yield StreamEnd(
            model=completion.model,
            finish_reason=completion.finish_reason,
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
        )

    async def _call_tool(
        self, arguments: dict[str, Any], timeout_s: float, progress: ProgressFnT | None = None
    ) -> CallToolResult:
        _load_client_sdk()
        import anyio
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        exchanges = _Exchanges()
        timeout = httpx2.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s))
        try:
            # A streamed call has no deadline of its own: each read is bounded (`timeout`), and the
            # stream's reader cancels the call when its limits pass.
            with anyio.fail_after(None if progress else timeout_s):
                async with httpx2.AsyncClient(
                    timeout=timeout, verify=_tls_context(), event_hooks={"response": [exchanges.record]}
                ) as http:
                    transport = streamable_http_client(self.server_url, http_client=http)
                    async with _session(transport, self.mode) as session:
                        # A refused protocol probe the SDK fell back from is not the call's failure.
                        exchanges.failures.clear()
                        return await _call_tool(session, self.tool_name, arguments, progress)
        except TimeoutError as exc:
            raise ProviderTimeout(f"mcp did not answer within {timeout_s:.2f} s", provider=self.name) from exc
        # The SDK raises from inside its task groups whatever its transport met (httpx2 errors,
        # MCPError, pydantic errors), wrapped in exception groups: every one is converted here.
        except Exception as exc:
            raise self._failure(exc, exchanges) from exc

    def _failure(self, exc: Exception, exchanges: _Exchanges) -> ProviderError:
        import httpx2
        from mcp.shared.exceptions import MCPError
        from mcp_types import INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR
        from pydantic import ValidationError

        if exchanges.failures:
            return self._http_failure(exchanges.failures[-1])
        leaf = _first_leaf(exc)
        if isinstance(leaf, httpx2.TimeoutException | TimeoutError):
            return ProviderTimeout(f"mcp timed out: {type(leaf).__name__}", provider=self.name)
        if isinstance(leaf, httpx2.TransportError):
            return self._transport_failure(leaf, exchanges)
        if isinstance(leaf, OSError):
            return ProviderUnavailable(f"mcp unreachable: {type(leaf).__name__}", provider=self.name)
        if isinstance(leaf, MCPError) and leaf.code in (INVALID_PARAMS, INVALID_REQUEST):
            return ProviderBadRequest(f"mcp rejected the call (JSON-RPC {leaf.code})", provider=self.name)
        # The SDK answers a response body it cannot read as JSON-RPC with a PARSE_ERROR of its own.
        if isinstance(leaf, ValidationError) or (isinstance(leaf, MCPError) and leaf.code == PARSE_ERROR):
            return ProviderResponseInvalid("mcp answered outside the protocol's shape", provider=self.name)
        return ProviderUnavailable(f"mcp call failed: {type(leaf).__name__}", provider=self.name)

    def _transport_failure(self, leaf: httpx2.TransportError, exchanges: _Exchanges) -> ProviderError:
        try:
            request: httpx2.Request | None = leaf.request
        except RuntimeError:  # httpx2 raised it outside any request
            request = None
        if exchanges.was_answered(request):
            return ProviderResponseInvalid(f"mcp cut its answer short: {type(leaf).__name__}", provider=self.name)
        if _is_reset(leaf):
            return ProviderConnectionReset("mcp reset the connection before answering", provider=self.name)
        return ProviderUnavailable(f"mcp unreachable: {type(leaf).__name__}", provider=self.name)

    def _http_failure(self, failure: _HttpFailure) -> ProviderError:
        message = f"mcp server answered HTTP {failure.status}"
        if failure.status == 429:
            return ProviderThrottled(message, provider=self.name, retry_after=failure.retry_after)
        if failure.status == 408 or failure.status == 504:
            return ProviderTimeout(message, provider=self.name)
        if failure.status in (400, 413, 422):
            return ProviderBadRequest(message, provider=self.name)
        # 5xx, and the 4xx that mean our configuration is wrong (401, 403, 404, 405, ...).
        return ProviderUnavailable(message, provider=self.name)

    def _completion(self, result: CallToolResult) -> Completion:
        if result.is_error:
            text = _tool_text(result)
            # The SDK's MCPServer writes a tool's error after "Error executing tool <name>: ".
            said = text.removeprefix(f"Error executing tool {self.tool_name}: ")
            refusal = next((error for prefix, error in _TOOL_REFUSALS.items() if said.startswith(prefix)), None)
            if refusal is not None:
                raise refusal(f"mcp tool {self.tool_name} refused: {text}", provider=self.name)
            raise ProviderUnavailable(f"mcp tool {self.tool_name} failed: {text}", provider=self.name)
        data = result.structured_content
        if not isinstance(data, Mapping):
            raise ProviderResponseInvalid("mcp tool result has no structured content", provider=self.name)
        content, model, usage = data.get("content"), data.get("model"), data.get("usage")
        reason = data.get("finish_reason")
        finish = _FINISH_REASONS.get(reason) if isinstance(reason, str) else None
        if not (isinstance(content, str) and isinstance(model, str) and finish and isinstance(usage, Mapping)):
            raise ProviderResponseInvalid("mcp result lacks content, model, usage or finish_reason", provider=self.name)
        return counted_completion(
            self.name,
            text=content,
            model=model,
            input_tokens=usage.get("input_tokens"),
            output_tokens=usage.get("output_tokens"),
            finish_reason=finish,
        )


def import_sdk_client() -> None:
    """Import every SDK module an MCP call needs; idempotent. An init phase that a snapshot captures
    (Lambda SnapStart) can call it so that the first MCP request after a restore does not pay for it."""
    _load_client_sdk()
    for name in _CALL_MODULES:
        importlib.import_module(name)


def _load_client_sdk() -> None:
    """Make the SDK's client modules importable without running the `_CLIENT_PACKAGES` __init__s.

    Each package not yet imported gets a module built from its own spec but not executed; its
    __init__ runs the first time anyone reads a name only that __init__ defines (`from mcp import
    Client`), so other code in the process still sees the whole SDK.
    """
    with _SDK_LOCK:
        for name in _CLIENT_PACKAGES:
            if name not in sys.modules:
                _install_deferred_package(name)


def _install_deferred_package(name: str) -> None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = spec.loader
    package = importlib.util.module_from_spec(spec)

    def run_init(attribute: str) -> Any:
        with _SDK_LOCK:
            if vars(package).pop("__getattr__", None) is not None:
                loader.exec_module(package)
        try:
            return vars(package)[attribute]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}") from None

    package.__getattr__ = run_init  # type: ignore[method-assign]
    sys.modules[name] = package
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, package)


@contextlib.asynccontextmanager
async def _session(transport: Transport, mode: str) -> AsyncIterator[ClientSession]:
    """An SDK client session over `transport`, connected the way the SDK `Client` connects in
    `mode`: "legacy" (initialize handshake), "auto" (discover, falling back to initialize) or a
    modern protocol version adopted without a round trip."""
    import mcp_types
    from mcp.client._probe import negotiate_auto
    from mcp.client.session import ClientSession
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    if mode not in ("legacy", "auto", *MODERN_PROTOCOL_VERSIONS):
        raise ValueError(f"mode must be 'legacy', 'auto' or one of {list(MODERN_PROTOCOL_VERSIONS)}; got {mode!r}")
    async with transport as (read_stream, write_stream), ClientSession(read_stream, write_stream) as session:
        if mode == "legacy":
            await session.initialize()
        elif mode == "auto":
            await negotiate_auto(session)
        else:
            pinned = mcp_types.DiscoverResult(
                supported_versions=[mode],
                capabilities=mcp_types.ServerCapabilities(),
                result_type="complete",
                ttl_ms=0,
                cache_scope="public",
            )
            session.adopt(pinned)
        yield session


async def _call_tool(
    session: ClientSession, name: str, arguments: dict[str, Any], progress: ProgressFnT | None = None
) -> CallToolResult:
    """`tools/call`, resent once after re-listing the tool when a modern server answers
    HEADER_MISMATCH (its listed schema is missing or stale), as the SDK `Client` does."""
    from mcp.shared.exceptions import MCPError
    from mcp_types import HEADER_MISMATCH, PaginatedRequestParams
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS
    from pydantic import ValidationError

    try:
        return await session.call_tool(name, arguments, progress_callback=progress)
    except MCPError as mismatch:
        if mismatch.code != HEADER_MISMATCH or session.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            raise
        try:
            cursor: str | None = None
            for _ in range(_RELIST_PAGE_CAP):
                page = await session.list_tools(params=PaginatedRequestParams(cursor=cursor))
                cursor = page.next_cursor
                if cursor is None or any(tool.name == name for tool in page.tools):
                    break
        except (MCPError, TimeoutError, ValidationError) as relist_error:
            raise mismatch from relist_error
    return await session.call_tool(name, arguments, progress_callback=progress)


class _StreamedCall:
    """A streamed tool call on a thread of its own, with its own event loop. `items` receives
    ("delta", text) for each progress message, then ("result", CallToolResult) or ("error", ProviderError)."""

    def __init__(self, provider: McpProvider, arguments: dict[str, Any], read_timeout_s: float) -> None:
        self.items: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._provider, self._arguments, self._read_timeout_s = provider, arguments, read_timeout_s
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(),), name="mcp-stream", daemon=True)
        self._thread.start()
        self._started.wait(CONNECT_TIMEOUT_S)

    async def _run(self) -> None:
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        self._started.set()

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            if message:  # the piece of the answer; `progress` and `total` count the pieces
                self.items.put(("delta", message))

        try:
            result = await self._provider._call_tool(self._arguments, self._read_timeout_s, on_progress)
        except asyncio.CancelledError:  # the reader left: nothing more is wanted
            return
        except ProviderError as exc:
            self.items.put(("error", exc))
        except Exception as exc:  # the call converts its failures; this is a last resort
            self.items.put(("error", ProviderUnavailable(f"mcp call failed: {type(exc).__name__}", provider="mcp")))
        else:
            self.items.put(("result", result))

    def cancel(self) -> None:
        """Stop the call (a no-op once it has ended) and wait a moment for its connection to close."""
        if self._loop is not None and self._task is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._task.cancel)
            self._thread.join(CONNECT_TIMEOUT_S)


def _run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run `coro` to completion from synchronous code, also when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _is_reset(leaf: httpx2.TransportError) -> bool:
    """Whether a transport error met before any answer is the connection reset or closed: the socket
    said ECONNRESET or EPIPE (on connect, write or read), or the server closed it before a status line
    (a RemoteProtocolError httpcore raises itself; one raised from h11's is a malformed answer)."""
    import h11
    import httpx2

    causes = list(_causes(leaf))
    if any(isinstance(cause, ConnectionResetError | BrokenPipeError) for cause in causes):
        return True
    return isinstance(leaf, httpx2.RemoteProtocolError) and not any(
        isinstance(cause, h11.RemoteProtocolError) for cause in causes
    )


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what it was raised from or while handling, and so on."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _tool_text(result: CallToolResult) -> str:
    text = " ".join(getattr(block, "text", "") for block in result.content).strip()
    return text[:_TOOL_ERROR_MAX_CHARS] or "no error text"
