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
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import cast

from aws_lambda_powertools.metrics import MetricUnit

from functions.app.chat.attempts import Deadline, Runtime, Served, attempt_label, ms_since, outcome_of, walk
from functions.app.chat.serve import (
    CachePolicy,
    ChatCall,
    RequestTrace,
    account,
    begin,
    cached_headers,
    client_quota,
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
    Turn,
)
from functions.domain.errors import (
    NoRouteAvailable,
    ProviderError,
    ProviderResponseInvalid,
    ProviderStreamCut,
    ProviderStreamStalled,
)
from functions.domain.models import ChatCompletionResponse, Choice, ResponseMessage, Usage
from functions.domain.routing.cache import CachedResponse
from functions.domain.routing.decision import RoutingDecision, Target
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
    with client_quota(call.deps, call.trace.client):
        return _open_stream(call)


def _open_stream(call: ChatCall) -> StreamAnswer:
    deps, body, operation, trace, request_id = call.deps, call.body, call.operation, call.trace, call.request_id
    begun = begin(call)
    decision = begun.answer
    encoder = ChunkEncoder(f"chatcmpl-{request_id}", int(time.time()), body.model)
    if isinstance(decision, CachedResponse):
        return _replay(decision, cached_headers(decision, operation, trace, "hit"), encoder, body.include_usage)
    request = body.to_completion_request()
    limit, rules = deadline(decision, trace), runtime(deps, trace, begun.loaded)
    try:
        served = walk(
            decision,
            deps.providers,
            limit,
            deps.breakers,
            rules,
            lambda provider, attempt: gate(provider, request, attempt, operation),
            settle=False,
        )
    except (NoRouteAvailable, ProviderError) as exc:
        if (stale := stale_answer(deps, exc, begun.cache, begun.loaded)) is not None:
            return _replay(stale, cached_headers(stale, operation, trace, "stale"), encoder, body.include_usage)
        raise
    trace.attempts.append(attempt_label(served.target.provider, None))
    continuation = (
        Continuation(decision, limit, rules, deps.settings.prefill_targets)
        if deps.settings.stream_continuation
        else None
    )
    relay = Relay(deps, served, begun.cache, trace, encoder, body.include_usage, request, request_id, continuation)
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


@dataclass(frozen=True, slots=True)
class Continuation:
    """How a stream cut after its first delta may be finished (STREAM_CONTINUE_ON_CUT): on the decision's other
    targets whose models accept an assistant prefill, by the same walk, within what is left of the same budget."""

    decision: RoutingDecision
    deadline: Deadline
    runtime: Runtime
    prefill_targets: frozenset[str]

    def decision_after(self, failed: Target, providers: Mapping[str, Provider]) -> RoutingDecision | None:
        def eligible(targets: tuple[Target, ...]) -> tuple[Target, ...]:
            return tuple(
                t for t in targets if t != failed and t.provider in self.prefill_targets and t.provider in providers
            )

        plan, last_chance = eligible(self.decision.plan), eligible(self.decision.last_chance)
        return replace(self.decision, plan=plan, last_chance=last_chance) if plan or last_chance else None


@dataclass
class Relay:
    """A committed stream relayed to the client, and settled once when it ends, breaks or is abandoned:
    its breaker outcome, its cost (once), its cache entry (complete streams only), its metrics and log.
    With a `continuation`, a cut segment is settled at once and the answer goes on from a fallback."""

    deps: RouterDependencies
    served: Served[Opened]
    cache: CachePolicy
    trace: RequestTrace
    encoder: ChunkEncoder
    include_usage: bool
    request: CompletionRequest
    request_id: str
    continuation: Continuation | None = None
    parts: list[str] = field(default_factory=list)
    end: StreamEnd | None = None
    error: ProviderError | None = None
    ttft_ms: float = 0.0  # the committed attempt's, for its breaker
    request_ttft_ms: float = 0.0  # the request's, from its start: what the client waited for content
    continued: int = 0  # segments a fallback continued
    _segment: _Segment = field(init=False)
    _earlier_output_tokens: int = 0  # billed for the segments before this one
    _settled: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._segment = _Segment(self.served, self.request, 0)

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
            while True:
                try:
                    end = yield from self._relay(opened)
                    break
                except (ProviderStreamCut, ProviderStreamStalled) as exc:
                    if (continued := self._continue(exc)) is None:
                        raise
                    opened = continued
            # A provider stream that closes without its terminator is finalised at once with what arrived.
            self.end = end or StreamEnd(self.request.requested_model or "", terminated=False)
            yield self.encoder.finish(self.end.finish_reason)
            if self.include_usage:
                input_tokens, output_tokens = self._usage()
                yield self.encoder.usage(input_tokens, self._earlier_output_tokens + output_tokens)
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

    def _relay(self, opened: Opened) -> Generator[bytes, None, StreamEnd | None]:
        """One provider's stream from its first delta: its content chunks; its end (None: none came)."""
        if opened.first is not None:
            self.parts.append(opened.first.text)
            yield self.encoder.content(opened.first.text)
        if opened.end is not None:
            return opened.end
        for event in opened.events:
            if isinstance(event, TextDelta):
                self.parts.append(event.text)
                yield self.encoder.content(event.text)
            elif isinstance(event, MalformedEvent):
                opened.malformed += 1
            else:
                return event
        return None

    def _continue(self, exc: ProviderError) -> Opened | None:
        """A cut or stalled segment settled at once, and its answer continued on a prefill-capable fallback:
        the fallback's stream past its own commit gate, or None (no continuation: the stream ends in error)."""
        continuation = self.continuation
        decision = continuation.decision_after(self.served.target, self.deps.providers) if continuation else None
        if continuation is None or decision is None or not self.parts:
            return None
        self._settle_segment(exc)
        emit_metrics(self._dimensions(), {names.STREAM_CUT: (MetricUnit.Count, 1.0)})
        turns = (*self.request.turns, Turn("assistant", "".join(self.parts)))
        request = replace(self.request, turns=turns)
        operation = self.trace.operation
        try:
            served = walk(
                decision,
                self.deps.providers,
                continuation.deadline,
                self.deps.breakers,
                continuation.runtime,
                lambda provider, attempt: gate(provider, request, attempt, operation),
                settle=False,
            )
        except (NoRouteAvailable, ProviderError):
            return None
        self.trace.attempts.append(attempt_label(served.target.provider, None))
        self.served, self.continued = served, self.continued + 1
        self._segment = _Segment(served, request, len(self.parts))
        self.ttft_ms = ms_since(served.started)
        return served.value

    def settle(self) -> None:
        """Once, however the stream ended: the provider's stream closed, the outcome recorded."""
        with self._lock:
            if self._settled:
                return
            self._settled = True
        with request_metrics():
            self._settle_segment(self.error)
            self._record()

    def _settle_segment(self, error: ProviderError | None) -> None:
        """The current provider's stream closed, its breaker told how it ended, its share of the answer billed."""
        segment = self._segment
        if segment.settled:
            return
        segment.settled = True
        _close(segment.served.value.events)
        admission = segment.served.admission
        if error is not None:
            self.deps.breakers.record(admission, outcome_of(error), self.ttft_ms, error.code)
            if self.trace.attempts:  # the log names how the attempt ended
                self.trace.attempts[-1] = attempt_label(segment.served.target.provider, error)
        else:
            self.deps.breakers.record(admission, "ok", self.ttft_ms)
        input_tokens, output_tokens = self._usage()
        model = self._model()
        account(self.deps, segment.served.target.provider, model, input_tokens, output_tokens, self.trace.client)
        self._earlier_output_tokens += output_tokens
        segment.output_tokens = output_tokens

    def _record(self) -> None:
        served, target = self.served, self.served.target
        if self.error is not None:
            outcome = names.STREAM_STALLED if isinstance(self.error, ProviderStreamStalled) else names.STREAM_CUT
        else:
            outcome = names.STREAM_COMPLETED if self.end is not None else names.STREAM_CLIENT_GONE
        if outcome == names.STREAM_COMPLETED and self.end is not None and not self.continued:
            input_tokens, _ = self._usage()
            response = self._response(self._model(), input_tokens, self._segment.output_tokens)
            store(self.deps, self.cache, response, target)
        record_request(
            self.trace.operation,
            target.route.value,
            target.provider,
            served.fallback or self.continued > 0,
            self.trace.decision.reason if self.trace.decision else "stream",
            self.trace.started,
            error=self.error.code if self.error is not None else None,
            attempts=self.trace.attempts,
            latency_ms=self.request_ttft_ms,  # a stream's latency is its wait for content, not its length
        )
        metrics.add_metric(name=names.CACHE_MISSES, unit=MetricUnit.Count, value=1 if self.cache.use else 0)
        values = {outcome: (MetricUnit.Count, 1.0)}
        if self.continued and outcome == names.STREAM_COMPLETED:
            values[names.STREAM_CONTINUED] = (MetricUnit.Count, float(self.continued))
        if self.served.value.malformed:
            values[names.STREAM_MALFORMED_EVENTS] = (MetricUnit.Count, float(self.served.value.malformed))
        emit_metrics(self._dimensions(), values)

    def _model(self) -> str:
        return self.end.model if self.end is not None and self.end.model else self.encoder.model

    def _usage(self) -> tuple[int, int]:
        """The current segment's usage as its provider reported it, else estimated from the text."""
        end, segment = self.end, self._segment
        request = segment.request
        prompt = "".join(request.system) + "".join(turn.text for turn in request.turns)
        input_tokens = end.input_tokens if end is not None and end.input_tokens is not None else None
        output_tokens = end.output_tokens if end is not None and end.output_tokens is not None else None
        return (
            input_tokens if input_tokens is not None else estimated_tokens(prompt),
            output_tokens if output_tokens is not None else estimated_tokens("".join(self.parts[segment.first_part :])),
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


@dataclass
class _Segment:
    """One provider's part of a streamed answer: from `first_part` of the relay's parts on."""

    served: Served[Opened]
    request: CompletionRequest
    first_part: int
    settled: bool = False
    output_tokens: int = 0


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
