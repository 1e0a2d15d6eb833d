"""The Lambda Runtime API (`AWS_LAMBDA_RUNTIME_API`), the side a runtime loop speaks: poll the next
invocation, answer it buffered or as a response stream, report errors, and SnapStart's restore step.

A streamed answer follows the contract of API Gateway's and function URLs' streaming integrations:
`POST /invocation/{id}/response` with `Lambda-Runtime-Function-Response-Mode: streaming`, HTTP/1.1
chunked framing, content type `application/vnd.awslambda.http-integration-response`; the body is a
JSON prelude (`statusCode`, `headers`, `multiValueHeaders`, `cookies`), 8 NUL bytes, then the payload.
An error after the first byte cannot change the status any more: it travels in the trailers
`Lambda-Runtime-Function-Error-Type` and `Lambda-Runtime-Function-Error-Body` (base64 JSON), declared
in a `Trailer` header up front as chunked encoding requires.
"""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

API_VERSION = "2018-06-01"
STREAM_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
RESPONSE_MODE_HEADER = "Lambda-Runtime-Function-Response-Mode"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY_TRAILER = "Lambda-Runtime-Function-Error-Body"
DELIMITER = b"\x00" * 8  # between the prelude and the payload


class RuntimeApiError(RuntimeError):
    """The Runtime API refused a call (a status other than the one the call expects)."""


class ClientGone(ConnectionError):
    """The response stream's connection broke while writing: whoever read the stream went away."""


@dataclass(frozen=True)
class Invocation:
    request_id: str
    deadline_ms: int
    function_arn: str
    trace_id: str | None
    body: bytes


@dataclass(frozen=True)
class StreamPrelude:
    status: int
    headers: Mapping[str, str]

    def encode(self) -> bytes:
        """The prelude JSON and its delimiter; `Set-Cookie` goes to `cookies`, as the contract asks."""
        headers = {k: v for k, v in self.headers.items() if k.lower() != "set-cookie"}
        cookies = [v for k, v in self.headers.items() if k.lower() == "set-cookie"]
        metadata = {"statusCode": self.status, "headers": headers, "multiValueHeaders": {}, "cookies": cookies}
        return json.dumps(metadata, separators=(",", ":")).encode("utf-8") + DELIMITER


def error_trailers(error_type: str, message: str) -> dict[str, str]:
    body = json.dumps({"errorType": error_type, "errorMessage": message}).encode("utf-8")
    return {ERROR_TYPE_HEADER: error_type, ERROR_BODY_TRAILER: base64.b64encode(body).decode("ascii")}


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk (never an empty one: a zero-length chunk ends the body)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def last_chunk(trailers: Mapping[str, str]) -> bytes:
    return b"0\r\n" + b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in trailers.items()) + b"\r\n"


class RuntimeApi:
    """One short-lived connection per call: a connection opened before a SnapStart snapshot would not
    survive the restore, and a streamed response must close its connection when it ends."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._host, self._port = host or address, int(port) if host else 80

    def _path(self, tail: str) -> str:
        return f"/{API_VERSION}/runtime/{tail}"

    def _call(
        self, method: str, tail: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        connection = http.client.HTTPConnection(self._host, self._port)
        try:
            connection.request(method, self._path(tail), body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def _expect(self, status: int, expected: int, what: str) -> None:
        if status != expected:
            raise RuntimeApiError(f"the Runtime API answered {status} to {what}")

    def next_invocation(self) -> Invocation:
        status, headers, body = self._call("GET", "invocation/next")
        self._expect(status, 200, "invocation/next")
        return Invocation(
            request_id=headers["Lambda-Runtime-Aws-Request-Id"],
            deadline_ms=int(headers.get("Lambda-Runtime-Deadline-Ms") or 0),
            function_arn=headers.get("Lambda-Runtime-Invoked-Function-Arn") or "",
            trace_id=headers.get("Lambda-Runtime-Trace-Id"),
            body=body,
        )

    def respond(self, request_id: str, result: Mapping[str, Any]) -> None:
        """A buffered answer: the proxy result as one JSON document."""
        body = json.dumps(result).encode("utf-8")
        status, _, _ = self._call(
            "POST", f"invocation/{request_id}/response", body, {"Content-Type": "application/json"}
        )
        self._expect(status, 202, "invocation/response")

    def respond_streamed(self, request_id: str, prelude: StreamPrelude, body: Iterable[bytes]) -> dict[str, str]:
        """Stream `body` after the prelude; returns the trailers sent (empty when the body completed).
        `body` raising mid-stream is reported in the trailers; a broken connection raises `ClientGone`."""
        connection = http.client.HTTPConnection(self._host, self._port)
        try:
            connection.putrequest("POST", self._path(f"invocation/{request_id}/response"), skip_accept_encoding=True)
            for name, value in (
                ("Content-Type", STREAM_CONTENT_TYPE),
                (RESPONSE_MODE_HEADER, "streaming"),
                ("Transfer-Encoding", "chunked"),
                ("Trailer", f"{ERROR_TYPE_HEADER}, {ERROR_BODY_TRAILER}"),
            ):
                connection.putheader(name, value)
            connection.endheaders()
            _send(connection, chunk(prelude.encode()))
            trailers = _send_body(connection, body)
            _send(connection, last_chunk(trailers))
            try:
                response = connection.getresponse()
                response.read()
            except OSError as exc:
                raise ClientGone(str(exc)) from exc
            self._expect(response.status, 202, "a streamed invocation/response")
            return trailers
        finally:
            connection.close()

    def invocation_error(self, request_id: str, error_type: str, message: str) -> None:
        self._post_error(f"invocation/{request_id}/error", error_type, message)

    def init_error(self, error_type: str, message: str) -> None:
        self._post_error("init/error", error_type, message)

    def restore_error(self, error_type: str, message: str) -> None:
        self._post_error("restore/error", error_type, message)

    def restore_next(self) -> None:
        """SnapStart: init is complete, take the snapshot; returns in the environment restored from it."""
        status, _, _ = self._call("GET", "restore/next")
        self._expect(status, 200, "restore/next")

    def _post_error(self, tail: str, error_type: str, message: str) -> None:
        body = json.dumps({"errorMessage": message, "errorType": error_type, "stackTrace": []}).encode("utf-8")
        headers = {"Content-Type": "application/json", ERROR_TYPE_HEADER: error_type}
        status, _, _ = self._call("POST", tail, body, headers)
        self._expect(status, 202, tail)


def _send(connection: http.client.HTTPConnection, data: bytes) -> None:
    try:
        connection.send(data)
    except OSError as exc:
        raise ClientGone(str(exc)) from exc


def _send_body(connection: http.client.HTTPConnection, body: Iterable[bytes]) -> dict[str, str]:
    pieces = iter(body)
    while True:
        try:
            piece = next(pieces)
        except StopIteration:
            return {}
        except Exception as exc:  # whatever broke the body, the stream ends with its trailers
            return error_trailers(f"Function.{type(exc).__name__}", "the response stream failed after it started")
        if piece:
            _send(connection, chunk(piece))
