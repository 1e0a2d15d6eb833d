"""Router Lambda: the OpenAI-compatible data plane and the health API."""

from __future__ import annotations

import gc
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.typing import LambdaContext
from snapshot_restore_py import register_before_snapshot

from functions.adapters.cloudwatch import active_alarms, get_metrics_settings, get_metrics_source
from functions.adapters.dynamodb.client import dynamodb_client
from functions.adapters.dynamodb.client_keys import ClientIdentity
from functions.adapters.providers.mcp import import_sdk_client
from functions.app.chat import serve as chat
from functions.app.chat import streaming
from functions.app.chat.serve import RequestTrace
from functions.app.chat.streaming import StreamAnswer
from functions.app.chat.wiring import get_dependencies
from functions.domain import sse
from functions.domain.errors import HybridRoutingError, NotFound, UnknownOperationType, clip, quoted
from functions.domain.health import SystemHealth, TargetView, assess
from functions.domain.models import ChatCompletionRequest, ChatCompletionResponse
from functions.domain.names import TARGETS
from functions.domain.reports.metrics import health_summary, parse_window
from functions.domain.routing.matrix import OPERATION_NAMES, OperationType, parse_operation
from functions.domain.thresholds import HEALTH_METRICS_WINDOW, MAX_REQUEST_BODY_BYTES
from functions.shared.events import as_json_api
from functions.shared.http_errors import (
    INTERNAL_ERROR,
    encodable,
    error_response,
    from_domain,
    from_validation,
    raw_domain_error,
    raw_error,
)
from functions.shared.http_stream import HttpStream
from functions.shared.observability import log_function_context, log_request_metrics, logger
from functions.shared.request_input import check_json_text, check_request
from functions.shared.resolver import RequestScopedResolver

app = RequestScopedResolver(enable_validation=True)

# Routes and their methods, for 405 versus 404 on requests the resolver does not match.
KNOWN_ROUTES: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = (
    (re.compile(r"^/v1/chat/completions/?$"), frozenset({"POST"})),
    (re.compile(r"^/health/?$"), frozenset({"GET"})),
    (re.compile(r"^/health/detailed/?$"), frozenset({"GET"})),
    (re.compile(r"^/health/component/[^/]+/?$"), frozenset({"GET"})),
    (re.compile(r"^/health/metrics/?$"), frozenset({"GET"})),
    (re.compile(r"^/health/alerts/?$"), frozenset({"GET"})),
    (re.compile(r"^/openapi\.json$"), frozenset({"GET"})),
)


# Set by `stream_handler` for the request it serves: where the chat route leaves a committed stream for a host
# that streams. Unset (`lambda_handler` alone, a buffered host): the route answers the whole stream as its body.
_streaming_host: ContextVar[list[StreamAnswer] | None] = ContextVar("streaming_host", default=None)
SSE_HEADERS = {"Cache-Control": "no-cache"}


@app.post("/v1/chat/completions")
def chat_completions(body: ChatCompletionRequest) -> Response[ChatCompletionResponse | str]:
    operation = _operation(body)
    trace = RequestTrace(operation, time.monotonic(), client=app.context.get("client"))
    app.context.update(trace=trace)
    cache_header = app.current_event.headers.get("x-hybrid-cache") or app.current_event.headers.get("X-Hybrid-Cache")
    call = chat.ChatCall(get_dependencies(), body, operation, cache_header, app.context["request_id"], trace)
    if body.stream:
        answer = streaming.open_stream(call)
        headers = answer.headers | SSE_HEADERS
        host = _streaming_host.get()
        if host is not None:
            host.append(answer)
            return Response(200, sse.CONTENT_TYPE, "", headers=headers)
        return Response(200, sse.CONTENT_TYPE, b"".join(answer.chunks).decode("utf-8"), headers=headers)
    result = chat.complete(call)
    return Response(200, "application/json", result.response, headers=result.headers)


def _operation(body: ChatCompletionRequest) -> OperationType:
    header = app.current_event.headers.get("x-operation-type") or app.current_event.headers.get("X-Operation-Type")
    raw = header if header is not None else (body.metadata or {}).get("operation_type")
    operation = parse_operation(raw)
    if operation is None:
        raise UnknownOperationType(f"unknown operation type {quoted(raw)}; valid ones: {', '.join(OPERATION_NAMES)}")
    return operation


@app.get("/health")
def health() -> Response[dict[str, Any]]:
    system = _assess()
    return Response(200 if system.can_serve else 503, "application/json", {"status": system.status})


@app.get("/health/detailed")
def health_detailed() -> Response[dict[str, Any]]:
    system = _assess()
    body = {"status": system.status, "components": [c.as_dict() for c in system.components]}
    return Response(200 if system.can_serve else 503, "application/json", body)


@app.get("/openapi.json", include_in_schema=False)
def openapi() -> Response[str]:
    from functions.handlers.openapi import document  # the admin routes load only for this document

    return Response(200, "application/json", document())


@app.get("/health/metrics")
def health_metrics() -> dict[str, Any]:
    """Rates and latencies of the last minutes (incident-response.md: `jq .data.routingEfficiency`)."""
    params = app.current_event.query_string_parameters or {}
    window, seconds = parse_window(params.get("window"), HEALTH_METRICS_WINDOW)
    return {"data": health_summary(get_metrics_source().query(seconds)), "window": window}


@app.get("/health/alerts")
def health_alerts() -> dict[str, Any]:
    alarms = active_alarms(get_metrics_settings().alarm_prefix)
    return {"data": {"alerts": alarms, "count": len(alarms)}}


@app.get("/health/component/<name>")
def health_component(name: str) -> Response[dict[str, Any]]:
    system = _assess()
    component = system.component(name)
    if component is None:
        raise NotFound(f"unknown component {quoted(name)}; known components: {', '.join(system.names())}")
    return Response(200, "application/json", component.as_dict())


def _assess() -> SystemHealth:
    deps = get_dependencies()
    snapshot, loaded = deps.current()
    views = {
        target: TargetView(
            up=snapshot.is_up(target),
            configured=target in deps.providers,
            breaker=deps.breakers.state(target),
            window=deps.breakers.windows.get(target),
            checked_at=loaded.checked_at.get(target),
        )
        for target in TARGETS
    }
    return assess(snapshot, views, time.time())


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def _invalid(exc: RequestValidationError) -> Response[str]:
    return from_validation(exc.errors())


@app.exception_handler(HybridRoutingError)  # type: ignore[untyped-decorator]
def _domain_error(exc: HybridRoutingError) -> Response[str]:
    trace = app.context.get("trace")
    if trace is not None:
        target = trace.decision.chosen if trace.decision else None
        chat.record_request(
            trace.operation,
            target.route.value if target else "none",
            exc.provider or (target.provider if target else "none"),
            False,
            trace.decision.reason if trace.decision else "refused",
            trace.started,
            error=exc.code,
            attempts=trace.attempts,
        )
        return from_domain(exc, trace.headers(), attempts=trace.attempts)
    return from_domain(exc)


@app.not_found
def _not_found(_: Exception) -> Response[str]:
    path, method = app.current_event.path, app.current_event.http_method.upper()
    for pattern, methods in KNOWN_ROUTES:
        if pattern.match(path):
            allowed = ", ".join(sorted(methods))
            return error_response(
                405,
                "invalid_request_error",
                f"method {clip(method)} not allowed on {clip(path)}; use {allowed}",
                "method_not_allowed",
                headers={"Allow": allowed},
            )
    return error_response(404, "not_found_error", f"no route for {clip(method)} {clip(path)}", "not_found")


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def _unexpected(exc: Exception) -> Response[str]:
    # A bug of ours: logged with its trace, answered without one.
    request_id = app.context.get("request_id")
    logger.exception("unhandled-error", extra={"error": type(exc).__name__, "request_id": request_id})
    return error_response(500, "server_error", INTERNAL_ERROR, "internal_error")


@log_function_context
@log_request_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request_id = (event.get("requestContext") or {}).get("requestId") or uuid.uuid4().hex
    try:
        result, client = _pre_checks(event)
        if result is None:
            app.context.update(request_id=request_id, client=client)
            result = app.resolve(as_json_api(event), context)
    except Exception as exc:
        # A bug outside the resolver's handlers: still a JSON answer naming the request, never a trace.
        logger.exception("unhandled-error", extra={"error": type(exc).__name__, "request_id": request_id})
        result = raw_error(500, "server_error", INTERNAL_ERROR, "internal_error")
    result.setdefault("headers", {})
    result["headers"]["x-request-id"] = request_id
    _freeze_heap_once()
    return encodable(result)


def stream_handler(event: dict[str, Any], context: LambdaContext) -> HttpStream:
    """The router for a host that can stream its answer (the local gateway, the Lambda response-streaming
    loop): a `stream: true` chat request's SSE stream once committed, every other answer as one chunk.
    The same checks and answers as `lambda_handler`, which it runs: a request whose every attempt fails
    before the first delta gets the buffered path's JSON error."""
    slot: list[StreamAnswer] = []
    token = _streaming_host.set(slot)
    try:
        result = lambda_handler(event, context)
    finally:
        _streaming_host.reset(token)
    answer = HttpStream.buffered(result)
    if not slot:
        return answer
    stream = HttpStream(answer.status, answer.headers, slot[0].chunks, streamed=True)
    if answer.status != 200:  # committed, then the answer failed on its way out: stop the provider's stream
        stream.close()
        return answer
    return stream


_heap_frozen = False


def _freeze_heap_once() -> None:
    """After the first request has built every lazy structure (clients, schemas, snapshot), move
    the long-lived heap out of the collector's sight: full collections over it were the warm p99.

    No collection first: over a heap holding the MCP SDK one costs about 80 ms, all of it on the
    first request's latency, to free a few kilobytes of import-time cycles."""
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.freeze()


def prime_for_snapshot() -> None:
    """Lambda SnapStart's init, before the snapshot: load what a first request would build
    (the MCP SDK client, the DynamoDB client) and freeze that heap, so that an environment
    restored from the snapshot serves its first request, on either route, without loading them.
    No connection is opened and nothing stored is read: a snapshot outlives the data it would hold."""
    import_sdk_client()
    dynamodb_client()
    _freeze_heap_once()


register_before_snapshot(prime_for_snapshot)


def _pre_checks(event: dict[str, Any]) -> tuple[dict[str, Any] | None, ClientIdentity | None]:
    """Answers owed before any parsing: an oversized body (413), input no parser may see (400, see
    request_input), and a missing or unknown client key on the data plane (401), before the body is read.
    With no answer owed: the data plane's client (its quotas are checked once the request is parsed)."""
    client = None
    try:
        text = check_request(event, MAX_REQUEST_BODY_BYTES)
        if str(event.get("path", "")).startswith("/v1/"):
            headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
            client = get_dependencies().client_keys.authenticate(headers.get("authorization"))
        check_json_text(text)
    except HybridRoutingError as exc:
        return raw_domain_error(exc), None
    return None, client
