"""HTTP plumbing of the adapters that speak JSON over HTTPS: the Gemini API and the Llama API.

urllib3 rather than an SDK or httpx: botocore imports it already, so these adapters add nothing to
a cold start. One pool manager per process, made on first use, keeps connections alive across the
invocations of a warm Lambda. One attempt, no redirects: the router owns retries and failover.

Errors are mapped by each API's error code when the adapter knows it, else by HTTP status; by
message text only for the refusals an API gives no code of its own (`refusals.py`).
"""

from __future__ import annotations

import functools
import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, ProtocolError, ReadTimeoutError

from functions.adapters.providers.streaming import (
    StreamGuard,
    StreamTally,
    end_of,
    read_within,
    reason,
    sse_data,
)
from functions.domain.completion import (
    Completion,
    CompletionRequest,
    MalformedEvent,
    StreamEvent,
    StreamLimits,
    TextDelta,
    require_budget,
)
from functions.domain.errors import (
    ProviderBadRequest,
    ProviderConnectionReset,
    ProviderError,
    ProviderResponseInvalid,
    ProviderThrottled,
    ProviderTimeout,
    ProviderUnavailable,
)

CONNECT_TIMEOUT_S = 2.0
ERROR_MESSAGE_MAX_CHARS = 300
_BAD_REQUEST_STATUSES = frozenset({400, 413, 422})
# OpenAI-style error types, for an in-stream error that carries no HTTP status.
_STATUS_BY_ERROR_TYPE: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
}

_pool: urllib3.PoolManager | None = None
_pool_lock = threading.Lock()


def pool_manager() -> urllib3.PoolManager:
    """The process's pool manager, made on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = urllib3.PoolManager(retries=False, maxsize=32)  # per host; drills run many threads
        return _pool


def api_key(getter: Callable[[], str], provider: str) -> str:
    """The key from `getter`; a key that cannot be had makes the provider unavailable."""
    try:
        return getter()
    except ProviderError as exc:
        raise ProviderUnavailable(exc.message, provider=provider) from exc


def _no_codes(_: Mapping[str, Any]) -> Iterable[object]:
    return ()


def _no_retry_after(_: Mapping[str, Any]) -> float | None:
    return None


def _no_refusal(_: Mapping[str, Any]) -> type[ProviderBadRequest] | None:
    return None


@dataclass(frozen=True, slots=True)
class ErrorDialect:
    """How one API writes its errors: the codes an `error` object carries (most specific first),
    what those codes mean here, where it says when to retry besides `Retry-After`, and which bad
    request an error is that the API names only in its message (`refusal_of`)."""

    error_by_code: Mapping[str, type[ProviderError]] = field(default_factory=dict)
    codes_of: Callable[[Mapping[str, Any]], Iterable[object]] = _no_codes
    retry_after_of: Callable[[Mapping[str, Any]], float | None] = _no_retry_after
    refusal_of: Callable[[Mapping[str, Any]], type[ProviderBadRequest] | None] = _no_refusal


@dataclass(frozen=True, slots=True)
class JsonAnswer:
    body: Mapping[str, Any]
    elapsed_ms: float


class JsonApi:
    """POSTs JSON to one provider's API and gives back the decoded answer or a typed error."""

    def __init__(self, provider: str, dialect: ErrorDialect, http: urllib3.PoolManager | None = None) -> None:
        self.provider = provider
        self.dialect = dialect
        self._http = http

    def post(self, url: str, payload: Mapping[str, Any], headers: Mapping[str, str], timeout_s: float) -> JsonAnswer:
        """The decoded answer. A connection reset or closed before the status line is a
        `ProviderConnectionReset`; a body cut after the headers (IncompleteRead, a reset mid-body, a
        bad chunk) a `ProviderResponseInvalid`, since the provider did answer, truncated; unless the
        status is an error's, which says what went wrong better."""
        started = time.perf_counter()
        response = self._send(url, payload, headers, timeout_s)
        data = self._body(response, timeout_s)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if not 200 <= response.status < 300:
            raise self._error(response.status, response.headers, data)
        return JsonAnswer(body=self._decode(data), elapsed_ms=elapsed_ms)

    def open_stream(
        self, url: str, payload: Mapping[str, Any], headers: Mapping[str, str], timeout_s: float
    ) -> urllib3.BaseHTTPResponse:
        """A 200 whose body is a stream of server-sent events, its body not read yet; an error status
        raises its typed error, as `post` does."""
        response = self._send(url, payload, headers, timeout_s, accept="text/event-stream")
        if not 200 <= response.status < 300:
            raise self._error(response.status, response.headers, self._body(response, timeout_s))
        content_type = response.headers.get("content-type", "")
        if not content_type.startswith("text/event-stream"):
            self._body(response, timeout_s)  # read, so that the connection can be reused
            message = f"{self.provider} answered a stream request with {content_type[:60] or 'no content type'}"
            raise ProviderResponseInvalid(message, provider=self.provider)
        return response

    def read_chunks(self, response: urllib3.BaseHTTPResponse, guard: StreamGuard) -> Iterator[bytes]:
        """The body of a streamed `response` as it arrives, each read under the guard's timeout; a read
        timeout or a broken connection raises the guard's error for it."""
        chunked = getattr(response, "chunked", False)
        pieces = response.read_chunked() if chunked else iter(functools.partial(response.read1, 65536), b"")
        for chunk in read_within(guard, response, pieces, timeouts=(ReadTimeoutError,), breaks=(HTTPError,)):
            if chunk:
                yield chunk

    def in_stream_error(self, error: Mapping[str, Any]) -> ProviderError:
        """The typed error of an `error` object a provider sent inside its stream: by its codes, else by
        its HTTP `code` (Gemini) or its `type` (OpenAI-style), as `post` maps an error answer."""
        status = error.get("code")
        if not (isinstance(status, int) and 400 <= status <= 599):
            error_type = error.get("type")
            status = _STATUS_BY_ERROR_TYPE.get(error_type, 500) if isinstance(error_type, str) else 500
        return self._error(status, {}, json.dumps({"error": dict(error)}).encode())

    def _send(
        self,
        url: str,
        payload: Mapping[str, Any],
        headers: Mapping[str, str],
        timeout_s: float,
        accept: str = "application/json",
    ) -> urllib3.BaseHTTPResponse:
        """The response up to its headers; its body is read apart, so that a failure tells which it cut."""
        http = self._http or pool_manager()
        try:
            return http.request(
                "POST",
                url,
                body=json.dumps(payload, separators=(",", ":")).encode(),
                headers={"Content-Type": "application/json", "Accept": accept, **headers},
                timeout=urllib3.Timeout(connect=min(CONNECT_TIMEOUT_S, timeout_s), read=timeout_s),
                retries=False,
                redirect=False,
                preload_content=False,
            )
        # NewConnectionError subclasses ConnectTimeoutError: a refused connection is not a timeout.
        except NewConnectionError as exc:
            raise ProviderUnavailable(
                f"{self.provider} unreachable: {type(exc).__name__}", provider=self.provider
            ) from exc
        except (ConnectTimeoutError, ReadTimeoutError) as exc:
            raise self._timeout(timeout_s) from exc
        except ProtocolError as exc:
            if is_connection_reset(exc):
                message = f"{self.provider} reset the connection before answering"
                raise ProviderConnectionReset(message, provider=self.provider) from exc
            raise ProviderUnavailable(f"{self.provider} unreachable: {reason(exc)}", provider=self.provider) from exc
        except HTTPError as exc:
            # TLS failures, malformed URLs: the provider cannot be reached.
            raise ProviderUnavailable(
                f"{self.provider} unreachable: {type(exc).__name__}", provider=self.provider
            ) from exc

    def _body(self, response: urllib3.BaseHTTPResponse, timeout_s: float) -> bytes:
        try:
            return response.data
        except ReadTimeoutError as exc:
            raise self._timeout(timeout_s) from exc
        except HTTPError as exc:
            if not 200 <= response.status < 300:
                raise self._error(response.status, response.headers, b"") from exc
            message = f"{self.provider} cut its answer short: {reason(exc)}"
            raise ProviderResponseInvalid(message, provider=self.provider) from exc
        finally:
            response.release_conn()

    def _timeout(self, timeout_s: float) -> ProviderTimeout:
        return ProviderTimeout(f"{self.provider} did not answer within {timeout_s:.2f} s", provider=self.provider)

    def _decode(self, data: bytes) -> Mapping[str, Any]:
        try:
            body = json.loads(data)
        except ValueError as exc:  # UnicodeDecodeError is a ValueError too
            raise ProviderResponseInvalid(f"{self.provider} answered with no JSON", provider=self.provider) from exc
        if not isinstance(body, Mapping):
            raise ProviderResponseInvalid(
                f"{self.provider} answered JSON that is not an object", provider=self.provider
            )
        return body

    def _error(self, status: int, headers: Mapping[str, str], data: bytes) -> ProviderError:
        error = _error_object(data)
        codes = [code for code in self.dialect.codes_of(error) if isinstance(code, str) and code]
        known = next((code for code in codes if code in self.dialect.error_by_code), None)
        error_class = self.dialect.error_by_code[known] if known else error_class_for_status(status)
        if error_class is ProviderBadRequest:
            error_class = self.dialect.refusal_of(error) or error_class
        code = known or next(iter(codes), None)
        message = f"{self.provider} answered HTTP {status}" + (f" {code}" if code else "")
        if issubclass(error_class, ProviderBadRequest) and isinstance(error.get("message"), str):
            message = f"{message}: {error['message'][:ERROR_MESSAGE_MAX_CHARS]}"
        if error_class is ProviderThrottled:
            retry_after = retry_after_header(headers)
            if retry_after is None:
                retry_after = self.dialect.retry_after_of(error)
            return ProviderThrottled(message, provider=self.provider, retry_after=retry_after)
        return error_class(message, provider=self.provider)


class JsonApiProvider:
    """A `Provider` that POSTs one JSON request for each completion, with an API key in a header.

    A subclass names its provider, its API's `errors` and `default_endpoint_url`, and gives the `url`
    to post to, the key's headers, the request body and the reading of the answer. A model named with
    `model_prefix` is kept without it."""

    name: ClassVar[str]
    errors: ClassVar[ErrorDialect]
    default_endpoint_url: ClassVar[str]
    model_prefix: ClassVar[str] = ""

    def __init__(
        self,
        model: str,
        api_key: Callable[[], str],
        endpoint_url: str | None = None,
        *,
        http: urllib3.PoolManager | None = None,
    ) -> None:
        self.model = model.removeprefix(self.model_prefix)
        self.endpoint_url = (self.default_endpoint_url if endpoint_url is None else endpoint_url).rstrip("/")
        self._api_key = api_key
        self._api = JsonApi(self.name, self.errors, http)

    @property
    def url(self) -> str:
        raise NotImplementedError

    def complete(self, request: CompletionRequest, timeout_s: float) -> Completion:
        require_budget(timeout_s, self.name)
        headers = self._key_headers(api_key(self._api_key, self.name))
        answer = self._api.post(self.url, self.request_body(request), headers, timeout_s)
        return self._completion(answer.body, answer.elapsed_ms)

    @property
    def stream_url(self) -> str:
        raise NotImplementedError

    def stream(self, request: CompletionRequest, limits: StreamLimits) -> Iterator[StreamEvent]:
        """The provider's stream of server-sent events as `StreamEvent`s (see `StreamingProvider`)."""
        require_budget(limits.first_token_s, self.name)
        guard = StreamGuard(self.name, limits)
        headers = self._key_headers(api_key(self._api_key, self.name))
        response = self._api.open_stream(self.stream_url, self.stream_body(request), headers, limits.first_token_s)
        tally = StreamTally(model=self.model)
        read_to_the_end = False
        try:
            for data in sse_data(self._api.read_chunks(response, guard)):
                for event in self._stream_data(data, tally, guard):
                    if isinstance(event, TextDelta):
                        guard.commit()
                    yield event
            read_to_the_end = True
            yield end_of(tally, guard)
        finally:
            if not read_to_the_end:
                response.close()  # a stream left mid-way: its connection is not reused
            response.release_conn()

    def _stream_data(self, data: str, tally: StreamTally, guard: StreamGuard) -> Iterator[StreamEvent]:
        """The events of one server-sent event's `data`: a JSON chunk, or an `error` object."""
        try:
            chunk = json.loads(data)
        except ValueError:
            yield MalformedEvent(f"{self.name} sent an event that is not JSON")
            return
        if not isinstance(chunk, Mapping):
            yield MalformedEvent(f"{self.name} sent an event that is not a JSON object")
            return
        if isinstance(error := chunk.get("error"), Mapping):
            raise guard.failed(self._api.in_stream_error(error))
        yield from self._stream_chunk(chunk, tally, guard)

    def stream_body(self, request: CompletionRequest) -> dict[str, Any]:
        return self.request_body(request)

    def _stream_chunk(self, chunk: Mapping[str, Any], tally: StreamTally, guard: StreamGuard) -> Iterator[StreamEvent]:
        raise NotImplementedError

    def _key_headers(self, key: str) -> dict[str, str]:
        raise NotImplementedError

    def request_body(self, request: CompletionRequest) -> dict[str, Any]:
        raise NotImplementedError

    def _completion(self, body: Mapping[str, Any], elapsed_ms: float) -> Completion:
        raise NotImplementedError


def is_connection_reset(exc: ProtocolError) -> bool:
    """Whether urllib3's `exc` says the connection was reset or closed before any byte of an answer:
    it wraps the socket's ConnectionResetError or BrokenPipeError (http.client's RemoteDisconnected,
    a clean close before the status line, is a ConnectionResetError) and was not met reading a body."""
    reason = next((arg for arg in exc.args if isinstance(arg, BaseException)), None)
    return isinstance(reason, ConnectionResetError | BrokenPipeError) and not is_body_cut(exc)


def is_body_cut(exc: ProtocolError) -> bool:
    """Whether urllib3 met `exc` reading a response's body, after its headers: it raises those `from`
    the error it met, where the pool re-raises a failure before the status line with no cause.
    `JsonApi` reads the body apart and needs no such test; botocore reads it inside its send."""
    return exc.__cause__ is not None


def error_class_for_status(status: int) -> type[ProviderError]:
    if status == 429:
        return ProviderThrottled
    if status == 408:
        return ProviderTimeout
    if status in _BAD_REQUEST_STATUSES:
        return ProviderBadRequest
    # 5xx, and the 4xx that mean our configuration is wrong (401, 403, 404, 405, ...).
    return ProviderUnavailable


def _error_object(data: bytes) -> Mapping[str, Any]:
    """The `{"error": {...}}` object both APIs answer errors with; empty when the body is not one
    (a load balancer's HTML page, say)."""
    try:
        body = json.loads(data)
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, Mapping) else None
    return error if isinstance(error, Mapping) else {}


def retry_after_header(headers: Mapping[str, str]) -> float | None:
    """Seconds from a `Retry-After` header in delta-seconds form; None when absent or a date."""
    return seconds(headers.get("retry-after"))


def seconds(value: object) -> float | None:
    """A non-negative number of seconds from a number or its text (a trailing "s" allowed)."""
    if isinstance(value, str):
        value = value.strip().removesuffix("s")
    try:
        result = float(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else None
    except ValueError:
        return None
    return result if result is not None and math.isfinite(result) and result >= 0 else None
