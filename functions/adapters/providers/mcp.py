"""The MCP adapter: one tool call over streamable HTTP with the official `mcp` SDK client.

The SDK is imported inside `complete`, never at module import: requests on the Direct route must
not pay for loading it on a cold start.

How the SDK reports failures (mcp 2.x): an HTTP error status without a JSON-RPC body becomes an
`MCPError(INTERNAL_ERROR)` with the status lost, and transport errors escape the SDK's task
groups wrapped in `ExceptionGroup`s. So the adapter watches the HTTP responses itself (an httpx2
response hook records every failed POST's status and `Retry-After`) and maps by that status, or
by the leaf exception's type, never by message text.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import ssl
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from functions.domain.completion import (
    Completion,
    CompletionRequest,
    FinishReason,
    counted_completion,
    require_budget,
    retry_after_seconds,
)
from functions.domain.errors import (
    ProviderBadRequest,
    ProviderError,
    ProviderResponseInvalid,
    ProviderThrottled,
    ProviderTimeout,
    ProviderUnavailable,
)

if TYPE_CHECKING:
    import httpx2
    from mcp.types import CallToolResult

_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "content_filter": "content_filter",
}
_TOOL_ERROR_MAX_CHARS = 300
CONNECT_TIMEOUT_S = 2.0

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _HttpFailure:
    status: int
    retry_after: float | None


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

    async def _call_tool(self, arguments: dict[str, Any], timeout_s: float) -> CallToolResult:
        import anyio
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        failures: list[_HttpFailure] = []

        async def record_failure(response: httpx2.Response) -> None:
            # GET (event stream) and DELETE (session end) answers say nothing about the call.
            if response.request.method == "POST" and response.status_code >= 400:
                retry_after = retry_after_seconds(response.headers.get("retry-after"))
                failures.append(_HttpFailure(response.status_code, retry_after))

        timeout = httpx2.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s))
        try:
            with anyio.fail_after(timeout_s):
                async with httpx2.AsyncClient(
                    timeout=timeout, verify=_tls_context(), event_hooks={"response": [record_failure]}
                ) as http:
                    transport = streamable_http_client(self.server_url, http_client=http)
                    async with Client(transport, mode=self.mode) as client:
                        failures.clear()  # a refused protocol probe the SDK fell back from is not the call's failure
                        return await client.call_tool(self.tool_name, arguments)
        except TimeoutError as exc:
            raise ProviderTimeout(f"mcp did not answer within {timeout_s:.2f} s", provider=self.name) from exc
        # The SDK raises from inside its task groups whatever its transport met (httpx2 errors,
        # MCPError, pydantic errors), wrapped in exception groups: every one is converted here.
        except Exception as exc:
            raise self._failure(exc, failures) from exc

    def _failure(self, exc: Exception, failures: list[_HttpFailure]) -> ProviderError:
        import httpx2
        from mcp.shared.exceptions import MCPError
        from mcp.types import INVALID_PARAMS, INVALID_REQUEST
        from pydantic import ValidationError

        if failures:
            return self._http_failure(failures[-1])
        leaf = _first_leaf(exc)
        if isinstance(leaf, httpx2.TimeoutException | TimeoutError):
            return ProviderTimeout(f"mcp timed out: {type(leaf).__name__}", provider=self.name)
        if isinstance(leaf, httpx2.TransportError | OSError):
            return ProviderUnavailable(f"mcp unreachable: {type(leaf).__name__}", provider=self.name)
        if isinstance(leaf, MCPError) and leaf.code in (INVALID_PARAMS, INVALID_REQUEST):
            return ProviderBadRequest(f"mcp rejected the call (JSON-RPC {leaf.code})", provider=self.name)
        if isinstance(leaf, ValidationError):
            return ProviderResponseInvalid("mcp answered outside the protocol's shape", provider=self.name)
        return ProviderUnavailable(f"mcp call failed: {type(leaf).__name__}", provider=self.name)

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
            raise ProviderUnavailable(f"mcp tool {self.tool_name} failed: {_tool_text(result)}", provider=self.name)
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


def _tool_text(result: CallToolResult) -> str:
    text = " ".join(getattr(block, "text", "") for block in result.content).strip()
    return text[:_TOOL_ERROR_MAX_CHARS] or "no error text"
