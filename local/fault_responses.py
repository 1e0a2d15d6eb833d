"""Answers that misbehave on the wire, for the simulators' fault modes: a connection reset before any
byte, a request held and never answered, and a provider's own answer sent late, cut, or stalled
halfway. Each is a Starlette `Response`, so a simulator returns it like any other. A reset and a cut
need the request's TCP connection: a server started by `local.servers.start_uvicorn`.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from local.faults import BODY_BYTES_PER_TOKEN
from local.servers import Connection, connection_of


def split_point(body_length: int, after_tokens: int | None) -> int:
    """How many bytes of a body go out before a cut or a stall: `after_tokens` tokens' worth, half
    the body when None, and never the whole body."""
    wanted = body_length // 2 if after_tokens is None else after_tokens * BODY_BYTES_PER_TOKEN
    return max(0, min(wanted, body_length - 1))


class ConnectionReset(Response):
    """A TCP RST before any response byte: the client sees "connection reset by peer"."""

    def __init__(self) -> None:
        super().__init__(status_code=500)  # never sent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        required_connection(scope).reset()
        await until_disconnected(receive)


class Hang(Response):
    """No answer at all: held until the client gives up, or reset when the server shuts down."""

    def __init__(self) -> None:
        super().__init__(status_code=500)  # never sent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (connection := connection_of(scope)) is not None:
            await connection.closing.wait()
            connection.reset()  # the server is shutting down; a no-op when the client has left
        await until_disconnected(receive)


class Delayed(Response):
    """`answer`, its first byte `delay_ms` late (sooner when the client leaves or the server shuts down)."""

    def __init__(self, answer: Response, delay_ms: int) -> None:
        super().__init__(status_code=answer.status_code)
        self.answer, self.delay_ms = answer, delay_ms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await pause(connection_of(scope), self.delay_ms)
        await self.answer(scope, receive, send)


class Truncated(Response):
    """`answer`'s status, headers (its full Content-Length among them) and its first `keep` bytes,
    then the connection closed."""

    def __init__(self, answer: Response, keep: int) -> None:
        super().__init__(status_code=answer.status_code)
        self.answer, self.keep = answer, keep

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = required_connection(scope)
        await _start(self.answer, bytes(self.answer.body[: self.keep]), send)
        connection.transport.close()  # after what is buffered goes out: a FIN, not a RST
        await until_disconnected(receive)


class Stalled(Response):
    """`answer`'s first `keep` bytes, a pause of `stall_ms`, then the rest."""

    def __init__(self, answer: Response, keep: int, stall_ms: int) -> None:
        super().__init__(status_code=answer.status_code)
        self.answer, self.keep, self.stall_ms = answer, keep, stall_ms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _start(self.answer, bytes(self.answer.body[: self.keep]), send)
        await pause(connection_of(scope), self.stall_ms)
        await send({"type": "http.response.body", "body": bytes(self.answer.body[self.keep :]), "more_body": False})


async def _start(answer: Response, first_bytes: bytes, send: Send) -> None:
    await send({"type": "http.response.start", "status": answer.status_code, "headers": answer.raw_headers})
    await send({"type": "http.response.body", "body": first_bytes, "more_body": True})


def required_connection(scope: Scope) -> Connection:
    connection = connection_of(scope)
    if connection is None:
        raise RuntimeError("this fault mode needs a server started by local.servers.start_uvicorn")
    return connection


async def until_disconnected(receive: Receive) -> None:
    """Reads (and drops) the rest of the request until the client is gone."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def pause(connection: Connection | None, milliseconds: int) -> None:
    """Sleeps `milliseconds`, cut short when the client leaves or the server shuts down."""
    if connection is None:
        await asyncio.sleep(milliseconds / 1000.0)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(connection.closing.wait(), milliseconds / 1000.0)
