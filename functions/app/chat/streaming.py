"""One chat completion as OpenAI's stream, behind a commit gate.

Nothing is sent before the first content delta: until then the attempt policy's walk (attempts.walk, the
same as a buffered request's) retries or fails over on every failure, an HTTP error, an exception inside
the stream, or no delta within the time-to-first-token limit. The first delta commits the answer: its
status and headers are final, and from then on a cut or a stalled provider stream ends the client's stream
with an error event, never a finish reason or `[DONE]`, and counts against the provider's breaker.
A provider without `stream()` is served by `complete()`, its answer replayed as one delta."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import cast

from aws_lambda_powertools.metrics import MetricUnit

from functions.app.chat.attempts import Served, attempt_label, ms_since, outcome_of, walk
from functions.app.chat.serve import (
    CachePolicy,
    ChatCall,
    RequestTrace,
    account,
    begin,
    cached_headers,
    deadline,
    record_request,
    runtime,
    served_headers,
    stale_answer,
    store,
)
from functions.app.chat.wiring import RouterDependencies
from functions.domain import names
from functions.domain.completion import (
    Completion,
    CompletionRequest,
    MalformedEvent,
    Provider,
    StreamEnd,
    StreamEvent,
    StreamingProvider,
    StreamLimits,
    TextDelta,
)
from functions.domain.errors import NoRouteAvailable, ProviderError, ProviderResponseInvalid, ProviderStreamStalled
from functions.domain.models import ChatCompletionResponse, Choice, ResponseMessage, Usage
from functions.domain.routing.cache import CachedResponse
from functions.domain.routing.matrix import OperationType
from functions.domain.routing.retry import Attempt
from functions.domain.sse import DONE, ChunkEncoder, error_event
from functions.domain.thresholds import (
    STREAM_CHARS_PER_TOKEN_ESTIMATE,
    STREAM_FIRST_TOKEN_SECONDS,
    STREAM_STALL_SECONDS,
)
from functions.shared.observability import emit_metrics, logger, metrics, request_metrics


@dataclass(frozen=True, slots=True)
class StreamAnswer:
    """A streamed answer, committed: its headers are final; `chunks` yields its SSE bytes and `close()`
    on them (the client went away) stops the provider's stream."""

    headers: dict[str, str]
    chunks: Iterator[bytes]


@dataclass(slots=True)
class Opened:
    """A provider stream past the commit gate: its first delta (None: it ended before any, an empty
    answer), the end when it already came, the events still to read, and the malformed events skipped."""

    first: TextDelta | None
    events: Iterator[StreamEvent]
    end: StreamEnd | None = None
    malformed: int = 0


def open_stream(call: ChatCall) -> StreamAnswer:
    """The request's stream once committed. Raises like `serve.complete` when every attempt fails before
    the first delta (the caller answers the buffered path's JSON error; nothing was sent)."""
    deps, body, operation, trace, request_id = call.deps, call.body, call.operation, call.trace, call.request_id
    begun = begin(call)
    decision = begun.answer
    encoder = ChunkEncoder(f"chatcmpl-{request_id}", int(time.time()), body.model)
    if isinstance(decision, CachedResponse):
        return _replay(decision, cached_headers(decision, operation, trace, "hit"), encoder, body.include_usage)
    request = body.to_completion_request()
    try:
        served = walk(
            decision,
            deps.providers,
            deadline(decision, trace),
            deps.breakers,
            runtime(deps, trace, begun.loaded),
            lambda provider, attempt: gate(provider, request, attempt, operation),
            settle=False,
        )
    except (NoRouteAvailable, ProviderError) as exc:
        if (stale := stale_answer(deps, exc, begun.cache, begun.loaded)) is not None:
            return _replay(stale, cached_headers(stale, operation, trace, "stale"), encoder, body.include_usage)
        raise
    trace.attempts.append(attempt_label(served.target.provider, None))
    relay = Relay(deps, served, begun.cache, trace, encoder, body.include_usage, request, request_id)
    relay.committed()
    return StreamAnswer(served_headers(served.target, served.fallback, operation, trace), SseBody(relay))


def limits_for(operation: OperationType, attempt: Attempt) -> StreamLimits:
    """The commit gate's limits of one attempt: its first token within the operation's limit and the
    attempt's timeout (what the planner gives it of the budget), then no silence longer than the stall limit."""
    return StreamLimits(
        first_token_s=min(STREAM_FIRST_TOKEN_SECONDS[operation.value], attempt.timeout_s),
        idle_s=STREAM_STALL_SECONDS,
    )


def gate(provider: Provider, request: CompletionRequest, attempt: Attempt, operation: OperationType) -> Opened:
    """One attempt up to its first content delta, or its end. Every failure before it raises (the walk
    retries or fails over); the provider's stream is closed when it does."""
    if hasattr(provider, "stream"):
        events = iter(cast(StreamingProvider, provider).stream(request, limits_for(operation, attempt)))
    else:
        events = replayed(provider.complete(request, timeout_s=attempt.timeout_s))
    malformed = 0
    try:
        for event in events:
            if isinstance(event, TextDelta):
                return Opened(event, events, malformed=malformed)
            if isinstance(event, MalformedEvent):
                malformed += 1
            else:
                return Opened(None, events, event, malformed)
    except BaseException:
        _close(events)
        raise
    raise ProviderResponseInvalid(f"the {provider.name} stream ended with no event", provider=provider.name)


def replayed(done: Completion) -> Iterator[StreamEvent]:
    """A buffered completion as a stream: its text as one delta, then its end with its usage."""
    if done.text:
        yield TextDelta(done.text)
    yield StreamEnd(done.model, done.finish_reason, done.input_tokens, done.output_tokens)


def _close(events: Iterator[StreamEvent]) -> None:
    close = getattr(events, "close", None)
    if close is not None:
        close()


def _replay(entry: CachedResponse, headers: dict[str, str], encoder: ChunkEncoder, usage: bool) -> StreamAnswer:
    """A cached answer as a stream: the role, its text as one delta, its finish reason, usage, `[DONE]`."""
    response = entry.response()
    choice = response.choices[0]
    chunks = [encoder.role()]
    if choice.message.content:
        chunks.append(encoder.content(choice.message.content))
    chunks.append(encoder.finish(choice.finish_reason))
    if usage:
        chunks.append(encoder.usage(response.usage.prompt_tokens, response.usage.completion_tokens))
    chunks.append(DONE)
    return StreamAnswer(headers, iter(chunks))


def estimated_tokens(text: str) -> int:
    return math.ceil(len(text) / STREAM_CHARS_PER_TOKEN_ESTIMATE)


@dataclass
class Relay:
    """A committed stream relayed to the client, and settled once when it ends, breaks or is abandoned:
    its breaker outcome, its cost (once), its cache entry (complete streams only), its metrics and log."""

    deps: RouterDependencies
    served: Served[Opened]
    cache: CachePolicy
    trace: RequestTrace
    encoder: ChunkEncoder
    include_usage: bool
    request: CompletionRequest
    request_id: str
    parts: list[str] = field(default_factory=list)
    end: StreamEnd | None = None
    error: ProviderError | None = None
    ttft_ms: float = 0.0  # the committed attempt's, for its breaker
    request_ttft_ms: float = 0.0  # the request's, from its start: what the client waited for content
    _settled: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def committed(self) -> None:
        """The first delta (or the end) arrived: its time to first token, and a failover before it, counted."""
        self.ttft_ms = ms_since(self.served.started)
        self.request_ttft_ms = round((time.monotonic() - self.trace.started) * 1000, 2)
        values = {names.TIME_TO_FIRST_TOKEN: (MetricUnit.Milliseconds, self.request_ttft_ms)}
        if self.served.attempts > 1:
            values[names.STREAM_FAILED_OVER] = (MetricUnit.Count, 1.0)
        emit_metrics(self._dimensions(), values, rollups=[[]])  # by provider and operation, and service-wide

    def run(self) -> Generator[bytes, None, None]:
        opened = self.served.value
        try:
            yield self.encoder.role()
            if opened.first is not None:
                self.parts.append(opened.first.text)
                yield self.encoder.content(opened.first.text)
            end = opened.end
            if end is None:
                for event in opened.events:
                    if isinstance(event, TextDelta):
                        self.parts.append(event.text)
                        yield self.encoder.content(event.text)
                    elif isinstance(event, MalformedEvent):
                        opened.malformed += 1
                    else:
                        end = event
                        break
            # A provider stream that closes without its terminator is finalised at once with what arrived.
            self.end = end or StreamEnd(self.request.requested_model or "", terminated=False)
            yield self.encoder.finish(self.end.finish_reason)
            if self.include_usage:
                yield self.encoder.usage(*self._usage())
            yield DONE
        except ProviderError as exc:
            self.error = exc
            yield self._error_event(exc)
        except Exception as exc:  # a bug of ours or an adapter's, after the commit: still no complete-looking end
            logger.exception("stream-error", extra={"error": type(exc).__name__, "request_id": self.request_id})
            self.error = ProviderError("the stream broke", provider=self.served.target.provider)
            yield self._error_event(self.error)
        finally:
            self.settle()

    def settle(self) -> None:
        """Once, however the stream ended: the provider's stream closed, the outcome recorded."""
        with self._lock:
            if self._settled:
                return
            self._settled = True
        _close(self.served.value.events)
        with request_metrics():
            self._record()

    def _record(self) -> None:
        served, target = self.served, self.served.target
        operation = self.trace.operation
        if self.error is not None:
            outcome = names.STREAM_STALLED if isinstance(self.error, ProviderStreamStalled) else names.STREAM_CUT
            self.deps.breakers.record(served.admission, outcome_of(self.error), self.ttft_ms, self.error.code)
        else:
            outcome = names.STREAM_COMPLETED if self.end is not None else names.STREAM_CLIENT_GONE
            self.deps.breakers.record(served.admission, "ok", self.ttft_ms)
        input_tokens, output_tokens = self._usage()
        model = self.end.model if self.end is not None and self.end.model else self.encoder.model
        account(self.deps, target.provider, model, input_tokens, output_tokens)
        if outcome == names.STREAM_COMPLETED and self.end is not None:
            store(self.deps, self.cache, self._response(model, input_tokens, output_tokens), target)
        error = self.error.code if self.error is not None else None
        if self.error is not None and self.trace.attempts:  # the log names how the committed attempt ended
            self.trace.attempts[-1] = attempt_label(target.provider, self.error)
        record_request(
            operation,
            target.route.value,
            target.provider,
            served.fallback,
            self.trace.decision.reason if self.trace.decision else "stream",
            self.trace.started,
            error=error,
            attempts=self.trace.attempts,
            latency_ms=self.request_ttft_ms,  # a stream's latency is its wait for content, not its length
        )
        metrics.add_metric(name=names.CACHE_MISSES, unit=MetricUnit.Count, value=1 if self.cache.use else 0)
        values = {outcome: (MetricUnit.Count, 1.0)}
        if self.served.value.malformed:
            values[names.STREAM_MALFORMED_EVENTS] = (MetricUnit.Count, float(self.served.value.malformed))
        emit_metrics(self._dimensions(), values)

    def _usage(self) -> tuple[int, int]:
        """The stream's usage as its provider reported it, else estimated from the text."""
        end = self.end
        prompt = "".join(self.request.system) + "".join(turn.text for turn in self.request.turns)
        input_tokens = end.input_tokens if end is not None and end.input_tokens is not None else None
        output_tokens = end.output_tokens if end is not None and end.output_tokens is not None else None
        return (
            input_tokens if input_tokens is not None else estimated_tokens(prompt),
            output_tokens if output_tokens is not None else estimated_tokens("".join(self.parts)),
        )

    def _response(self, model: str, input_tokens: int, output_tokens: int) -> ChatCompletionResponse:
        """The completed stream as the buffered answer it is, for the cache."""
        return ChatCompletionResponse(
            id=self.encoder.id,
            created=self.encoder.created,
            model=model,
            choices=[
                Choice(
                    message=ResponseMessage(content="".join(self.parts)),
                    finish_reason=self.end.finish_reason if self.end else "stop",
                )
            ],
            usage=Usage(
                prompt_tokens=input_tokens, completion_tokens=output_tokens, total_tokens=input_tokens + output_tokens
            ),
        )

    def _error_event(self, exc: ProviderError) -> bytes:
        provider = self.served.target.provider
        what = "stalled" if isinstance(exc, ProviderStreamStalled) else "was cut"
        message = f"the {provider} stream {what} after {sum(map(len, self.parts))} characters; the answer is incomplete"
        return error_event(exc.error_type, message, exc.code)

    def _dimensions(self) -> dict[str, str]:
        return {names.DIM_PROVIDER: self.served.target.provider, names.DIM_OPERATION: self.trace.operation.value}


class SseBody(Iterator[bytes]):
    """A committed stream's bytes. `close()` (the client went away) stops the provider's stream and settles
    it, even when no chunk was read yet (a generator never started runs no `finally` when closed)."""

    def __init__(self, relay: Relay) -> None:
        self._relay = relay
        self._chunks = relay.run()

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        self._chunks.close()
        self._relay.settle()
