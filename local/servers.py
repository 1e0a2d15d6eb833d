"""Run an ASGI app with uvicorn on a background thread: for the local stack and the tests."""

from __future__ import annotations

import asyncio
import math
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Scope
from uvicorn.protocols.http.h11_impl import H11Protocol

CONNECTION_STATE_KEY = "local.connection"


@dataclass(frozen=True)
class Connection:
    """The TCP connection a request came on, for what ASGI has no message for: a reset, and
    noticing at once that the client left or the server is shutting down (`closing` is set)."""

    transport: asyncio.Transport
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    def reset(self) -> None:
        """Close with a TCP RST (SO_LINGER 0), dropping whatever is not yet sent."""
        if self.transport.is_closing():
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()


def connection_of(scope: Scope) -> Connection | None:
    """The request's connection, when a server started by `start_uvicorn` serves it."""
    connection = scope.get("state", {}).get(CONNECTION_STATE_KEY)
    return connection if isinstance(connection, Connection) else None


class _ConnectionInScope(H11Protocol):
    """uvicorn's h11 protocol, with each request's `scope["state"]` holding its `Connection`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Copied into every request's scope; a dict of this connection's own, not the server's.
        self.app_state: dict[str, Any] = {**self.app_state, CONNECTION_STATE_KEY: Connection(transport)}

    def connection_lost(self, exc: Exception | None) -> None:
        self.app_state[CONNECTION_STATE_KEY].closing.set()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        self.app_state[CONNECTION_STATE_KEY].closing.set()
        super().shutdown()


@dataclass
class ServerHandle:
    """A running server: where it listens, and how to stop it."""

    host: str
    port: int
    _server: uvicorn.Server
    _thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)


def start_uvicorn(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    startup_timeout_s: float = 10.0,
    graceful_shutdown_s: float = 1.0,
) -> ServerHandle:
    """Serve `app` on a daemon thread and return once it accepts connections. Each request's scope
    holds its `Connection` (`connection_of`), for the simulators' fault modes.

    Port 0 picks a free port: the socket is bound here and handed to uvicorn, so there is no race
    between choosing the port and listening on it.
    """
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only for that proto, and
    # without it keep-alive responses wait out a 40 ms delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host=host,
        port=bound_port,
        log_level="warning",
        lifespan="on",
        http=_ConnectionInScope,
        timeout_graceful_shutdown=math.ceil(graceful_shutdown_s),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{bound_port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive():
            sock.close()
            raise RuntimeError(f"uvicorn on {host}:{bound_port} exited during startup")
        if time.monotonic() > deadline:
            server.should_exit = True
            thread.join(startup_timeout_s)
            raise TimeoutError(f"uvicorn on {host}:{bound_port} did not start within {startup_timeout_s} s")
        time.sleep(0.01)
    return ServerHandle(host=host, port=bound_port, _server=server, _thread=thread)
