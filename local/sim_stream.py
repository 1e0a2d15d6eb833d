"""A simulator's streamed answer, event by event, and what each stream fault mode makes of it.

A stream is `head` events (Bedrock's messageStart, the Llama API's role chunk), one content event per
token of the answer (`pieces`), and its terminator (`tail`: messageStop and metadata, the chunk with
a finishReason, `[DONE]`). The status and headers go out at once; a fault then alters the events:

- `slow_first_token`: the first content event comes `first_token_delay_ms` late.
- `cut`: the connection is closed after `after_tokens` content events (half of them when None).
- `stall`: a pause of `stall_ms` after `after_tokens` content events, then the rest.
- `malformed_chunk`: one unreadable event after `after_tokens` content events, then the rest.
- `no_done`: every content event, then a clean end without the terminator.
- `error` with `in_stream`: the provider's own in-stream error after `after_tokens` content events,
  then a clean end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from local.fault_responses import pause, required_connection, until_disconnected
from local.faults import FaultSpec
from local.servers import connection_of

SSE_MEDIA_TYPE = "text/event-stream"
STREAM_FAULT_MODES = frozenset({"slow_first_token", "cut", "stall", "malformed_chunk", "no_done"})


@dataclass(frozen=True, slots=True)
class StreamEvents:
    """The events of one streamed answer, encoded in the provider's wire protocol."""

    head: Sequence[bytes]
    pieces: Sequence[bytes]
    tail: Sequence[bytes]
    malformed: bytes  # one event the provider's client cannot read
    error: bytes = b""  # the provider's in-stream error, for an `in_stream` error fault


def fault_point(pieces: int, after_tokens: int | None) -> int:
    """After how many content events a fault strikes: `after_tokens`, half of them when None."""
    wanted = pieces // 2 if after_tokens is None else after_tokens
    return max(0, min(wanted, pieces))


class StreamedAnswer(Response):
    """A 200 streamed event by event, altered by `fault` when one strikes (see the module's doc)."""

    def __init__(self, events: StreamEvents, media_type: str, fault: FaultSpec | None = None) -> None:
        super().__init__(status_code=200, media_type=media_type)
        self.raw_headers = [(b"content-type", media_type.encode())]  # no Content-Length: chunked
        self.events, self.fault = events, fault

    def faulted(self, fault: FaultSpec, error: bytes = b"") -> StreamedAnswer:
        """This answer as `fault` alters it; `error` is the in-stream error an `in_stream` error sends."""
        return StreamedAnswer(replace(self.events, error=error), self.media_type or "", fault)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fault, events = self.fault, self.events
        mode = fault.mode if fault is not None else None
        at = fault_point(len(events.pieces), fault.after_tokens) if fault is not None else -1
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        for event in events.head:
            await _event(send, event)
        for index, piece in enumerate(events.pieces):
            if fault is not None and index == 0 and mode == "slow_first_token":
                await pause(connection_of(scope), fault.first_token_delay_ms)
            if index == at and await self._strike(fault, scope, receive, send):
                return
            await _event(send, piece)
        if at == len(events.pieces) and await self._strike(fault, scope, receive, send):
            return
        if mode != "no_done":
            for event in events.tail:
                await _event(send, event)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _strike(self, fault: FaultSpec | None, scope: Scope, receive: Receive, send: Send) -> bool:
        """Apply `fault` at its point; True when the stream ends there."""
        if fault is None:
            return False
        if fault.mode == "cut":
            connection = required_connection(scope)
            connection.transport.close()  # after what is buffered goes out: a FIN mid-body
            await until_disconnected(receive)
            return True
        if fault.mode == "stall":
            await pause(connection_of(scope), fault.stall_ms)
        elif fault.mode == "malformed_chunk":
            await _event(send, self.events.malformed)
        elif fault.mode == "error":
            await _event(send, self.events.error)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return True
        return False


async def _event(send: Send, event: bytes) -> None:
    await send({"type": "http.response.body", "body": event, "more_body": True})


def sse(data: str) -> bytes:
    """One server-sent event carrying `data` (a single line)."""
    return f"data: {data}\n\n".encode()


def word_pieces(text: str) -> list[str]:
    """`text` in pieces of one word each, the spaces kept: the pieces join back to `text`."""
    words = text.split(" ")
    return [word + " " for word in words[:-1]] + ([words[-1]] if words[-1] else [])
