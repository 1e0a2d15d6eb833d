"""The router's runtime loop on the Lambda Runtime API, so that the function can stream its answer:
the managed Python runtime only returns buffered payloads. `streaming_bootstrap` (the function's
`AWS_LAMBDA_EXEC_WRAPPER`) starts this module in place of the managed runtime's loop, on the same
python3.12 runtime, so SnapStart still applies.

Each invocation runs the function's handler (`_HANDLER`, `functions.handlers.router.stream_handler`),
which gives an `HttpStream`. The routes whose API integration streams (`STREAMED_ROUTES`; API
Gateway invokes them with InvokeWithResponseStream) get a response stream: the prelude as soon as
the status and headers are known, then each chunk as it comes. Every other invocation (the buffered
routes, a direct invoke) gets the same answer as one proxy-result JSON document.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from functions.adapters.lambda_runtime_api import ClientGone, Invocation, RuntimeApi, StreamPrelude
from functions.domain.names import STREAMED_ROUTES
from functions.shared.http_errors import INTERNAL_ERROR, raw_error
from functions.shared.http_stream import HttpStream
from functions.shared.observability import logger

StreamHandler = Callable[[dict[str, Any], Any], HttpStream]
DEFAULT_HANDLER = "functions.handlers.router.stream_handler"
SNAPSTART_INIT = "snap-start"  # AWS_LAMBDA_INITIALIZATION_TYPE of an init that ends in a snapshot


class InvocationContext:
    """The `context` Lambda's Python runtime passes, built from the invocation and the environment."""

    def __init__(self, invocation: Invocation, env: Mapping[str, str]) -> None:
        self.aws_request_id = invocation.request_id
        self.invoked_function_arn = invocation.function_arn
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or 0)
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = invocation.deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def is_streamed(event: Mapping[str, Any]) -> bool:
    """Whether API Gateway invoked this event through a streaming integration (the method and the
    resource are those of a route the stack gives `ResponseTransferMode.STREAM`)."""
    return (str(event.get("httpMethod") or "").upper(), str(event.get("resource") or "")) in STREAMED_ROUTES


def handle(handler: StreamHandler, api: RuntimeApi, invocation: Invocation, env: Mapping[str, str]) -> None:
    try:
        event = _event(invocation.body)
    except ValueError:
        api.invocation_error(
            invocation.request_id, "Runtime.UnmarshalError", "the invocation event is not a JSON object"
        )
        return
    stream = _run(handler, event, InvocationContext(invocation, env))
    if not is_streamed(event):
        api.respond(invocation.request_id, proxy_result(stream))
        return
    try:
        api.respond_streamed(invocation.request_id, StreamPrelude(stream.status, stream.headers), _logged(stream))
    except ClientGone:
        logger.info("client-gone", extra={"request_id": invocation.request_id})
    finally:
        stream.close()  # stops the provider call when the reader went away mid-stream


def serve(handler: StreamHandler, api: RuntimeApi, env: Mapping[str, str], invocations: int | None = None) -> None:
    """Poll and answer invocations, forever unless `invocations` bounds them (tests, benchmarks)."""
    served = 0
    while invocations is None or served < invocations:
        invocation = api.next_invocation()
        _set_trace(invocation.trace_id)
        handle(handler, api, invocation, env)
        served += 1


def proxy_result(stream: HttpStream) -> dict[str, Any]:
    """A buffered answer from the stream: its chunks joined into one proxy-result body."""
    try:
        content = b"".join(stream.chunks)
    except Exception as exc:
        logger.exception("unhandled-error", extra={"error": type(exc).__name__})
        return raw_error(500, "server_error", INTERNAL_ERROR, "internal_error")
    finally:
        stream.close()
    try:
        return {"statusCode": stream.status, "headers": stream.headers, "body": content.decode("utf-8")}
    except UnicodeDecodeError:
        body = base64.b64encode(content).decode("ascii")
        return {"statusCode": stream.status, "headers": stream.headers, "body": body, "isBase64Encoded": True}


def load_handler(name: str) -> StreamHandler:
    module, _, function = name.rpartition(".")
    handler: StreamHandler = getattr(importlib.import_module(module), function)
    return handler


def snapshot(api: RuntimeApi) -> None:
    """SnapStart: the before-snapshot hooks (last registered first, as the managed runtime runs them),
    the snapshot itself (`restore/next` returns in a restored environment), then the after-restore hooks."""
    import snapshot_restore_py

    try:
        hooks = snapshot_restore_py.get_before_snapshot()
        while hooks:
            func, args, kwargs = hooks.pop()
            func(*args, **kwargs)
        api.restore_next()
    except Exception as exc:
        logger.exception("before-snapshot-failed", extra={"error": type(exc).__name__})
        api.init_error("Runtime.BeforeSnapshotError", type(exc).__name__)
        sys.exit(64)
    try:
        for func, args, kwargs in snapshot_restore_py.get_after_restore():
            func(*args, **kwargs)
    except Exception as exc:
        logger.exception("after-restore-failed", extra={"error": type(exc).__name__})
        api.restore_error("Runtime.AfterRestoreError", type(exc).__name__)
        sys.exit(65)


def main(env: Mapping[str, str] = os.environ) -> int:
    api = RuntimeApi(env["AWS_LAMBDA_RUNTIME_API"])
    try:
        handler = load_handler(env.get("_HANDLER") or DEFAULT_HANDLER)
    except Exception as exc:
        logger.exception("init-failed", extra={"error": type(exc).__name__})
        api.init_error("Runtime.ImportModuleError", f"cannot load the handler: {type(exc).__name__}")
        return 1
    if env.get("AWS_LAMBDA_INITIALIZATION_TYPE") == SNAPSTART_INIT:
        snapshot(api)
    serve(handler, api, env)
    return 0


def _event(body: bytes) -> dict[str, Any]:
    event = json.loads(body)
    if not isinstance(event, dict):
        raise ValueError("not an object")
    return event


def _run(handler: StreamHandler, event: dict[str, Any], context: InvocationContext) -> HttpStream:
    """The handler's stream; a bug that escapes it still answers a JSON 500 naming no internals."""
    try:
        return handler(event, context)
    except Exception as exc:
        logger.exception("unhandled-error", extra={"error": type(exc).__name__, "request_id": context.aws_request_id})
        result = raw_error(500, "server_error", INTERNAL_ERROR, "internal_error")
        result["headers"]["x-request-id"] = context.aws_request_id
        return HttpStream.buffered(result)


def _logged(stream: HttpStream) -> Iterator[bytes]:
    """The stream's chunks; a failure after the first byte is logged here with its trace, then re-raised
    for the Runtime API client to report in the trailers."""
    try:
        yield from stream.chunks
    except Exception as exc:
        logger.exception("stream-failed", extra={"error": type(exc).__name__})
        raise


def _set_trace(trace_id: str | None) -> None:
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)


if __name__ == "__main__":
    sys.exit(main())
