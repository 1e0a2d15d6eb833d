"""What the adapters' `stream()` share: the limits a stream is read under, the tally of its end, and a
reader of server-sent events.

A `StreamGuard` says how long the next read may wait: until the first `TextDelta`, what is left of
`limits.first_token_s`; after it (the stream is committed), `limits.idle_s`. It names the error of a
failure by when it came: before the first delta the same errors as the buffered path, after it
`ProviderStreamCut` or `ProviderStreamStalled`. Reads are timed by the socket's own timeout, set before
each read (`set_read_timeout`), so a silent provider costs no thread and no timer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from functions.domain.completion import FinishReason, StreamEnd, StreamLimits, is_count
from functions.domain.errors import (
    ProviderError,
    ProviderResponseInvalid,
    ProviderStreamCut,
    ProviderStreamStalled,
    ProviderTimeout,
)

_T = TypeVar("_T")
# The shortest socket timeout set: a zero timeout would make the socket non-blocking.
_MIN_READ_TIMEOUT_S = 0.001


class StreamGuard:
    """The limits of one stream, and whether it is committed (its first `TextDelta` was yielded)."""

    def __init__(self, provider: str, limits: StreamLimits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.provider, self.limits, self._clock = provider, limits, clock
        self._deadline = clock() + limits.first_token_s
        self.committed = False

    def commit(self) -> None:
        self.committed = True

    def read_timeout(self) -> float:
        """How long the next read may wait; raises the first-token timeout once it has passed."""
        if self.committed:
            return self.limits.idle_s
        left = self._deadline - self._clock()
        if left <= 0:
            raise self.timeout()
        return max(left, _MIN_READ_TIMEOUT_S)

    def timeout(self) -> ProviderError:
        """A read that timed out: no text in time before the commit, a stall after it."""
        if self.committed:
            message = f"{self.provider} stream sent nothing for {self.limits.idle_s:.2f} s"
            return ProviderStreamStalled(message, provider=self.provider)
        message = f"{self.provider} sent no text within {self.limits.first_token_s:.2f} s"
        return ProviderTimeout(message, provider=self.provider)

    def broken(self, reason: str, before_commit: ProviderError) -> ProviderError:
        """The connection or the stream broke (`reason`); `before_commit` is the error before the commit."""
        if self.committed:
            return ProviderStreamCut(f"{self.provider} stream broke: {reason}", provider=self.provider)
        return before_commit

    def failed(self, error: ProviderError) -> ProviderError:
        """The provider reported `error` inside its stream: itself before the commit, a cut after it."""
        if self.committed:
            message = f"{self.provider} stream failed: {error.message}"
            return ProviderStreamCut(message, provider=self.provider)
        return error


@dataclass(slots=True)
class StreamTally:
    """What a stream said of its end, as its events arrive: the model, the finish reason, the usage,
    and whether the provider's terminator came."""

    model: str
    finish_reason: FinishReason = "stop"
    input_tokens: int | None = None
    output_tokens: int | None = None
    terminated: bool = False

    def usage(self, input_tokens: Any, output_tokens: Any) -> None:
        """Keep the counts a usage event gives, when they are non-negative integers."""
        if is_count(input_tokens):
            self.input_tokens = input_tokens
        if is_count(output_tokens):
            self.output_tokens = output_tokens

    def end(self) -> StreamEnd:
        return StreamEnd(
            model=self.model,
            finish_reason=self.finish_reason,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            terminated=self.terminated,
        )


def end_of(tally: StreamTally, guard: StreamGuard) -> StreamEnd:
    """The `StreamEnd` of a stream that closed cleanly. One that sent no text and not its terminator
    either answered nothing: `ProviderResponseInvalid`, as an empty body is on the buffered path."""
    if not guard.committed and not tally.terminated:
        message = f"{guard.provider} stream ended with no text and no end of its answer"
        raise ProviderResponseInvalid(message, provider=guard.provider)
    return tally.end()


def read_within(
    guard: StreamGuard,
    response: object,
    items: Iterator[_T],
    *,
    timeouts: tuple[type[Exception], ...],
    breaks: tuple[type[Exception], ...],
) -> Iterator[_T]:
    """The items of `items` (chunks, events) read from the urllib3 `response`, each read under the
    guard's timeout: an exception of `timeouts` raises the guard's timeout error, one of `breaks` its
    error for a broken stream (an answer cut short, before the commit)."""
    while True:
        set_read_timeout(response, guard.read_timeout())
        try:
            item = next(items)
        except StopIteration:
            return
        except timeouts as exc:
            raise guard.timeout() from exc
        except breaks as exc:
            cut = ProviderResponseInvalid(f"{guard.provider} cut its answer short", provider=guard.provider)
            raise guard.broken(reason(exc), cut) from exc
        yield item


def reason(exc: BaseException) -> str:
    """The name of what a client library met (IncompleteRead, ConnectionResetError, ...), else of `exc`."""
    met = next((arg for arg in exc.args if isinstance(arg, BaseException)), exc)
    return type(met).__name__


def set_read_timeout(response: object, seconds: float) -> None:
    """Set the read timeout of the socket a urllib3 `response` is read from (no-op once it is closed)."""
    connection = getattr(response, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(seconds)


def sse_data(chunks: Iterable[bytes]) -> Iterator[str]:
    """The `data` of each server-sent event in `chunks` (the event stream format of the HTML standard:
    lines ending in LF or CRLF, `data:` lines joined with LF, a blank line ending an event, comments
    and other fields ignored). An event the stream ends in the middle of is dropped, as the standard says."""
    pending = b""
    data: list[str] = []
    for chunk in chunks:
        *lines, pending = (pending + chunk).split(b"\n")
        for raw in lines:
            line = raw.removesuffix(b"\r").decode("utf-8", "replace")
            if not line:
                if data:
                    yield "\n".join(data)
                    data = []
                continue
            name, _, value = line.partition(":")
            if name == "data":
                data.append(value.removeprefix(" "))
