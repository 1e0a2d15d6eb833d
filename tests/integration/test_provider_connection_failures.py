"""The real adapters against a server that breaks its connections: reset or closed before any byte
of an answer, silent, or its answer cut after the headers; each adapter makes one attempt only."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator

import pytest
from mcp_types import CallToolResult, TextContent

from functions.adapters.providers.bedrock import BedrockProvider
from functions.adapters.providers.google import GoogleProvider
from functions.adapters.providers.mcp import McpProvider
from functions.adapters.providers.meta import LlamaApiProvider
from functions.domain.completion import CompletionRequest, Provider, Turn
from functions.domain.errors import (
    ContentFiltered,
    ContextLengthExceeded,
    ProviderConnectionReset,
    ProviderResponseInvalid,
    ProviderThrottled,
    ProviderTimeout,
    ProviderUnavailable,
)

pytestmark = pytest.mark.usefixtures("fake_aws_credentials")

REQUEST = CompletionRequest(turns=(Turn("user", "Hello"),))
Behaviour = Callable[[socket.socket], None]


def read_request(conn: socket.socket) -> None:
    """Read one HTTP request, headers and `Content-Length` body, so that what follows meets a client
    that has sent everything and waits for the answer."""
    data = b""
    while b"\r\n\r\n" not in data:
        if not (chunk := conn.recv(65536)):
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lengths = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    while len(body) < (lengths[0] if lengths else 0) and (chunk := conn.recv(65536)):
        body += chunk


def close_with_reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST, not FIN
    conn.close()


def reset(conn: socket.socket) -> None:
    read_request(conn)
    close_with_reset(conn)


def close(conn: socket.socket) -> None:
    read_request(conn)
    conn.close()


def silent(conn: socket.socket) -> None:
    read_request(conn)
    conn.recv(1)  # until the client gives up and closes
    conn.close()


PARTIAL_ANSWER = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"ans'


def cut_by_reset(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(PARTIAL_ANSWER)
    close_with_reset(conn)


def cut_by_close(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(PARTIAL_ANSWER)
    conn.close()


def throttle_cut(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
    close_with_reset(conn)


def not_json(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\nnot json")
    conn.close()


class BrokenServer:
    """Accepts connections on 127.0.0.1 and does `behaviour` with each; counts the connections."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            self.connections += 1
            conn.settimeout(10)
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        try:
            self.behaviour(conn)
        except OSError:
            conn.close()

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def broken_server(request) -> Iterator[BrokenServer]:
    server = BrokenServer(request.param)
    try:
        yield server
    finally:
        server.close()


# Each with its real client: botocore's, urllib3's process pool, the MCP SDK's httpx2.
def bedrock(url: str) -> BedrockProvider:
    return BedrockProvider("anthropic.claude-3-haiku-20240307-v1:0", region="eu-central-1", endpoint_url=url)


def google(url: str) -> GoogleProvider:
    return GoogleProvider("gemini-2.0-flash", api_key=lambda: "key", endpoint_url=url)


def meta(url: str) -> LlamaApiProvider:
    return LlamaApiProvider("Llama-4-Maverick-17B-128E-Instruct-FP8", api_key=lambda: "key", endpoint_url=url)


def mcp(url: str) -> McpProvider:
    return McpProvider(server_url=f"{url}/mcp")


by_adapter = pytest.mark.parametrize("make_provider", [bedrock, google, meta, mcp], ids=lambda f: f.__name__)


def behaviours(*chosen: Behaviour) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("broken_server", chosen, ids=lambda f: f.__name__, indirect=True)


@by_adapter
@behaviours(reset, close)
def test_a_connection_reset_or_closed_before_any_answer_is_a_connection_reset_tried_once(
    broken_server, make_provider: Callable[[str], Provider]
):
    with pytest.raises(ProviderConnectionReset) as caught:
        make_provider(broken_server.url).complete(REQUEST, timeout_s=5)

    assert caught.value.code == "provider_connection_reset"
    assert caught.value.provider == make_provider.__name__
    assert broken_server.connections == 1  # no retry inside botocore, urllib3 or the SDK: the router's policy owns it


@by_adapter
@behaviours(cut_by_reset, cut_by_close)
def test_an_answer_cut_after_its_headers_is_an_invalid_response_not_a_reset(
    broken_server, make_provider: Callable[[str], Provider]
):
    with pytest.raises(ProviderResponseInvalid):
        make_provider(broken_server.url).complete(REQUEST, timeout_s=5)

    assert broken_server.connections == 1


@by_adapter
@behaviours(silent)
def test_a_silent_server_is_a_timeout_not_a_reset(broken_server, make_provider: Callable[[str], Provider]):
    with pytest.raises(ProviderTimeout) as caught:
        make_provider(broken_server.url).complete(REQUEST, timeout_s=0.5)

    assert type(caught.value) is ProviderTimeout
    assert broken_server.connections == 1


@by_adapter
@behaviours(not_json)
def test_a_200_whose_body_is_not_json_is_an_invalid_response(broken_server, make_provider: Callable[[str], Provider]):
    with pytest.raises(ProviderResponseInvalid):
        make_provider(broken_server.url).complete(REQUEST, timeout_s=5)


@pytest.mark.parametrize("make_provider", [google, meta], ids=lambda f: f.__name__)
@behaviours(throttle_cut)
def test_an_error_answer_cut_after_its_headers_is_still_what_its_status_says(
    broken_server, make_provider: Callable[[str], Provider]
):
    with pytest.raises(ProviderThrottled):
        make_provider(broken_server.url).complete(REQUEST, timeout_s=5)


@by_adapter
def test_a_port_nobody_listens_on_is_unavailable_not_a_reset(make_provider: Callable[[str], Provider]):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    with pytest.raises(ProviderUnavailable) as caught:
        make_provider(f"http://127.0.0.1:{closed_port}").complete(REQUEST, timeout_s=5)

    assert type(caught.value) is ProviderUnavailable


# --- MCP tool errors ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def refusing_mcp_url() -> Iterator[str]:
    """An MCP server whose tools fail with the user's message as their error text: `raises` raises
    it (the SDK writes "Error executing tool raises: " before it), `answers` answers it as is."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    from local.servers import start_uvicorn

    server = MCPServer(name="refusing")

    @server.tool(name="raises")
    def raises(messages: list[dict[str, str]]) -> str:
        raise ToolError(messages[-1]["content"])

    @server.tool(name="answers")
    def answers(messages: list[dict[str, str]]) -> CallToolResult:
        return CallToolResult(content=[TextContent(type="text", text=messages[-1]["content"])], is_error=True)

    handle = start_uvicorn(server.streamable_http_app(stateless_http=True, json_response=True))
    try:
        yield f"{handle.url}/mcp"
    finally:
        handle.stop()


@pytest.mark.parametrize("tool", ["raises", "answers"])
@pytest.mark.parametrize(
    ("tool_error", "expected"),
    [
        ("context_length_exceeded: 9000 tokens, the model takes 8192", ContextLengthExceeded),
        ("content_filter: the prompt was blocked", ContentFiltered),
        ("the model crashed", ProviderUnavailable),
        ("the model said content_filter: no", ProviderUnavailable),
    ],
)
def test_an_mcp_tool_error_is_the_refusal_its_text_starts_with_else_unavailable(
    refusing_mcp_url, tool, tool_error, expected
):
    request = CompletionRequest(turns=(Turn("user", tool_error),))

    with pytest.raises(expected) as caught:
        McpProvider(server_url=refusing_mcp_url, tool_name=tool).complete(request, timeout_s=5)

    assert type(caught.value) is expected
    assert tool_error in caught.value.message
