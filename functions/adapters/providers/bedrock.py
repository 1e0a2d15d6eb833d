"""The Amazon Bedrock adapter: the Converse API of `bedrock-runtime`, and ConverseStream for streams.

Clients are made lazily and cached, one per (region, endpoint, timeout bucket): botocore's read
timeout is fixed per client, so a request whose remaining budget is short gets a client whose
read timeout fits it. botocore makes one attempt only: the router owns retries.

botocore reads the answer's body inside its send and reports a connection closed before or while
it read it alike (`ConnectionClosedError`): a reset before the status line is a
`ProviderConnectionReset`, a body cut after the headers a `ProviderResponseInvalid` (Bedrock did
answer, truncated), as for the JSON APIs (`http.py`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.eventstream import EventStreamError, ParserError
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.exceptions import ProtocolError
from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeoutError

from functions.adapters.aws import client as aws_client
from functions.adapters.providers.http import ERROR_MESSAGE_MAX_CHARS, is_body_cut, is_connection_reset
from functions.adapters.providers.refusals import says_content_filtered, says_context_length_exceeded
from functions.adapters.providers.streaming import StreamGuard, StreamTally, end_of, read_within
from functions.domain.completion import (
    Completion,
    CompletionRequest,
    FinishReason,
    MalformedEvent,
    StreamEvent,
    StreamLimits,
    TextDelta,
    counted_completion,
    finish_reason,
    is_count,
    require_budget,
    retry_after_seconds,
    sampling_options,
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
from functions.domain.names import BEDROCK

if TYPE_CHECKING:
    from botocore.client import BaseClient

ClientFactory = Callable[[float], "BaseClient"]
"""Gives a `bedrock-runtime` client whose read timeout is at most the argument, in seconds."""

MAX_READ_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 2.0
_MIN_READ_TIMEOUT_S = 0.5

_FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
}
# A 200 whose answer a guardrail or the content filters stopped is a refusal, not an answer.
_REFUSED_STOP_REASONS = frozenset({"guardrail_intervened", "content_filtered"})
# A stream a guardrail stopped after text was sent ends as filtered.
_STREAM_FINISH_REASONS: dict[str, FinishReason] = {
    **_FINISH_REASONS,
    **dict.fromkeys(_REFUSED_STOP_REASONS, "content_filter"),
}
# ConverseStream events that carry neither text nor the answer's end.
_STREAM_FRAMING_EVENTS = frozenset({"messageStart", "contentBlockStart", "contentBlockStop"})

# The error code decides; the HTTP status only when the code is unknown (ModelNotReady is a 429).
_ERROR_BY_CODE: dict[str, type[ProviderError]] = {
    "ThrottlingException": ProviderThrottled,
    "ServiceQuotaExceededException": ProviderThrottled,
    "TooManyRequestsException": ProviderThrottled,
    "ServiceUnavailableException": ProviderUnavailable,
    "InternalServerException": ProviderUnavailable,
    "InternalFailure": ProviderUnavailable,
    "ModelNotReadyException": ProviderUnavailable,
    "ModelErrorException": ProviderUnavailable,
    "ModelStreamErrorException": ProviderUnavailable,
    # Configuration problems on our side (role, model access, model id): not the caller's fault.
    "AccessDeniedException": ProviderUnavailable,
    "ResourceNotFoundException": ProviderUnavailable,
    "UnrecognizedClientException": ProviderUnavailable,
    "ExpiredTokenException": ProviderUnavailable,
    "ModelTimeoutException": ProviderTimeout,
    "RequestTimeoutException": ProviderTimeout,
    "ValidationException": ProviderBadRequest,
    "SerializationException": ProviderBadRequest,
}


def _error_for_status(status: int) -> type[ProviderError]:
    if status == 429:
        return ProviderThrottled
    if status == 408:
        return ProviderTimeout
    if 400 <= status < 500:
        return ProviderBadRequest
    return ProviderUnavailable


def timeout_bucket(timeout_s: float) -> float:
    """The read timeout for a remaining budget: rounded up to 0.5 s, within [0.5, 60] s.

    Rounding keeps the client cache small; rounding up never cuts a request short of its budget.
    """
    return min(MAX_READ_TIMEOUT_S, max(_MIN_READ_TIMEOUT_S, math.ceil(timeout_s * 2) / 2))


_client_lock = threading.Lock()


@lru_cache(maxsize=32)
def _cached_client(region: str | None, endpoint_url: str | None, read_timeout_s: float) -> BaseClient:
    config = Config(
        # One attempt in all: botocore's `max_attempts` counts retries (1 would mean two tries).
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=min(CONNECT_TIMEOUT_S, read_timeout_s),
        read_timeout=read_timeout_s,
        tcp_keepalive=True,
    )
    return aws_client("bedrock-runtime", region, endpoint_url, config)


def bedrock_runtime_client(region: str | None, endpoint_url: str | None, read_timeout_s: float) -> BaseClient:
    """The cached client for these settings. Creation is locked: botocore sessions are not thread-safe."""
    with _client_lock:
        return _cached_client(region, endpoint_url, timeout_bucket(read_timeout_s))


class BedrockProvider:
    """`Provider` over Bedrock's Converse API."""

    name = BEDROCK

    def __init__(
        self,
        model_id: str,
        region: str | None = None,
        endpoint_url: str | None = None,
        *,
        name: str = BEDROCK,
        client_factory: ClientFactory | None = None,
    ) -> None:
        self.name = name  # "meta" when Llama models are served through Bedrock
        self.model_id = model_id
        self.region = region
        self.endpoint_url = endpoint_url
        self._client_factory = client_factory or (lambda t: bedrock_runtime_client(region, endpoint_url, t))

    def complete(self, request: CompletionRequest, timeout_s: float) -> Completion:
        require_budget(timeout_s, self.name, api="bedrock")
        client = self._client_factory(timeout_s)
        started = time.perf_counter()
        try:
            response = client.converse(**self.converse_params(request))
        except (ClientError, BotoCoreError) as exc:
            raise self._call_failure(exc, timeout_s) from exc
        return self._completion(response, elapsed_ms=(time.perf_counter() - started) * 1000)

    def stream(self, request: CompletionRequest, limits: StreamLimits) -> Iterator[StreamEvent]:
        """ConverseStream's events as `StreamEvent`s (see `StreamingProvider`). The client's read
        timeout fits `limits.first_token_s`; once the stream is open, its socket's timeout is set before
        each read (`StreamGuard`). An exception Bedrock sends inside the stream maps as its error code
        does on `converse` (throttlingException is `ProviderThrottled`, ...)."""
        require_budget(limits.first_token_s, self.name, api="bedrock")
        guard = StreamGuard(self.name, limits)
        client = self._client_factory(limits.first_token_s)
        try:
            response = client.converse_stream(**self.converse_params(request))
        except (ClientError, BotoCoreError) as exc:
            raise self._call_failure(exc, limits.first_token_s) from exc
        events = response["stream"]
        try:
            yield from self._stream_events(events, guard)
        finally:
            events.close()

    def _stream_events(self, events: Any, guard: StreamGuard) -> Iterator[StreamEvent]:
        raw = getattr(events, "_raw_stream", None)  # the urllib3 response botocore reads the frames from
        tally = StreamTally(model=self.model_id)
        read = read_within(
            guard,
            raw,
            iter(events),
            timeouts=(ReadTimeoutError, Urllib3ReadTimeoutError),
            breaks=(Urllib3HTTPError, BotoCoreError, ParserError),
        )
        try:
            for event in read:
                for item in self._stream_event(event, tally, guard):
                    if isinstance(item, TextDelta):
                        guard.commit()
                    yield item
        except EventStreamError as exc:  # an exception Bedrock sent inside the stream
            raise guard.failed(self._client_error(exc)) from exc
        yield end_of(tally, guard)

    def _stream_event(self, event: object, tally: StreamTally, guard: StreamGuard) -> Iterator[StreamEvent]:
        """One ConverseStream event: a text delta, or what it says of the answer's end."""
        kind, body = next(iter(event.items())) if isinstance(event, Mapping) and len(event) == 1 else ("", None)
        if not isinstance(body, Mapping):
            yield MalformedEvent("bedrock sent an event of no known shape")
        elif kind == "contentBlockDelta":
            yield from _text_delta(body.get("delta"))
        elif kind == "messageStop":
            stop_reason = body.get("stopReason")
            if stop_reason in _REFUSED_STOP_REASONS and not guard.committed:
                raise ContentFiltered(f"bedrock stopped the answer ({stop_reason})", provider=self.name)
            tally.finish_reason = finish_reason(stop_reason, _STREAM_FINISH_REASONS)
            tally.terminated = True
        elif kind == "metadata":
            usage = body.get("usage")
            if isinstance(usage, Mapping):
                tally.usage(usage.get("inputTokens"), usage.get("outputTokens"))
        elif kind not in _STREAM_FRAMING_EVENTS:
            yield MalformedEvent(f"bedrock sent an unknown event {kind[:40]!r}")

    def _call_failure(self, exc: ClientError | BotoCoreError, timeout_s: float) -> ProviderError:
        """The typed error of a failed `converse` or `converse_stream` call."""
        if isinstance(exc, ClientError):
            return self._client_error(exc)
        if isinstance(exc, ParamValidationError):
            return ProviderBadRequest(f"bedrock rejected the request shape: {exc}", provider=self.name)
        if isinstance(exc, ReadTimeoutError | ConnectTimeoutError):
            return ProviderTimeout(f"bedrock did not answer within {timeout_s:.2f} s", provider=self.name)
        if isinstance(exc, ConnectionClosedError):
            return self._connection_closed(exc)
        if isinstance(exc, NoCredentialsError):
            return ProviderUnavailable("no AWS credentials for bedrock", provider=self.name)
        # Connection refused/closed, endpoint unreachable, TLS failures: the provider is unreachable.
        return ProviderUnavailable(f"bedrock unreachable: {type(exc).__name__}", provider=self.name)

    def converse_params(self, request: CompletionRequest) -> dict[str, Any]:
        """The Converse request for `request`; optional settings only when set."""
        params: dict[str, Any] = {
            "modelId": self.model_id,
            "messages": [{"role": turn.role, "content": [{"text": turn.text}]} for turn in request.turns],
        }
        if request.system:
            params["system"] = [{"text": text} for text in request.system]
        inference = sampling_options(request, max_tokens="maxTokens", top_p="topP", stop="stopSequences")
        if inference:
            params["inferenceConfig"] = inference
        return params

    def _client_error(self, exc: ClientError) -> ProviderError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        code = code[:1].upper() + code[1:]  # an in-stream exception's type is camelCase: throttlingException
        message = f"bedrock {code or 'error'}: {error.get('Message', '')}".rstrip(": ")
        metadata = exc.response.get("ResponseMetadata", {})
        status = int(metadata.get("HTTPStatusCode") or 0)
        error_class = _ERROR_BY_CODE.get(code) or _error_for_status(status)
        if code == "ValidationException":
            error_class = _refusal(error.get("Message")) or error_class
        if error_class is ProviderThrottled:
            retry_after = _retry_after(metadata.get("HTTPHeaders", {}))
            return ProviderThrottled(message, provider=self.name, retry_after=retry_after)
        return error_class(message, provider=self.name)

    def _connection_closed(self, exc: ConnectionClosedError) -> ProviderError:
        error = exc.kwargs.get("error")
        if isinstance(error, ProtocolError) and is_connection_reset(error):
            return ProviderConnectionReset("bedrock reset the connection before answering", provider=self.name)
        if isinstance(error, ProtocolError) and is_body_cut(error):
            return ProviderResponseInvalid("bedrock cut its answer short", provider=self.name)
        return ProviderUnavailable("bedrock unreachable: ConnectionClosedError", provider=self.name)

    def _completion(self, response: Mapping[str, Any], elapsed_ms: float) -> Completion:
        """The completion of a Converse answer; one a guardrail or the content filters stopped is
        `ContentFiltered`, carrying its stop reason and the text Bedrock answered instead, if any."""
        try:
            content = response["output"]["message"]["content"]
            texts = [block["text"] for block in content if isinstance(block, Mapping) and "text" in block]
            usage = response["usage"]
            input_tokens, output_tokens = usage["inputTokens"], usage["outputTokens"]
        except (KeyError, TypeError) as exc:
            raise ProviderResponseInvalid("bedrock response lacks output text or usage", provider=self.name) from exc
        if not all(isinstance(text, str) for text in texts):
            raise ProviderResponseInvalid("bedrock response text is not a string", provider=self.name)
        if (stop_reason := response.get("stopReason")) in _REFUSED_STOP_REASONS:
            said = "".join(texts)[:ERROR_MESSAGE_MAX_CHARS]
            message = f"bedrock stopped the answer ({stop_reason})" + (f": {said}" if said else "")
            raise ContentFiltered(message, provider=self.name)
        if not texts:
            raise ProviderResponseInvalid("bedrock response has no text content", provider=self.name)
        latency = response.get("metrics", {}).get("latencyMs") if isinstance(response.get("metrics"), Mapping) else None
        return counted_completion(
            self.name,
            text="".join(texts),
            model=self.model_id,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            finish_reason=finish_reason(response.get("stopReason"), _FINISH_REASONS),
            latency_ms=float(latency) if is_count(latency) else elapsed_ms,
            api="bedrock",
        )


def _text_delta(delta: object) -> Iterator[StreamEvent]:
    """A contentBlockDelta's text; other deltas (toolUse, reasoningContent) are not the answer's text."""
    text = delta.get("text") if isinstance(delta, Mapping) else None
    if isinstance(text, str):
        if text:
            yield TextDelta(text)
    elif not isinstance(delta, Mapping) or not delta:
        yield MalformedEvent("bedrock contentBlockDelta has no delta")


def _refusal(message: object) -> type[ProviderBadRequest] | None:
    """The refusal a ValidationException's message names, if any ("Input is too long for requested
    model.", "This request has been blocked by our content filters."): see `refusals.py`."""
    if says_context_length_exceeded(message):
        return ContextLengthExceeded
    if says_content_filtered(message):
        return ContentFiltered
    return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a `Retry-After` header in delta-seconds form; None when absent or a date."""
    return retry_after_seconds(next((v for k, v in headers.items() if k.lower() == "retry-after"), None))
