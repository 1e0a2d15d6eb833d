"""The local API Gateway: each HTTP request becomes a REST API proxy event for the same Lambda
handler the stack deploys. `/local/faults` exists only here, never in the deployed API."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from functions.shared.http_stream import HttpStream
from local.dashboard import routes as dashboard_routes
from local.faults import FAULT_PROVIDERS, FaultRegistry, FaultSpec

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
# A handler as a streaming host runs it (functions.handlers.router.stream_handler): its answer may stream.
StreamHandler = Callable[[dict[str, Any], Any], HttpStream]
# `/local/*` answers only requests that carry this header (a browser sends it cross-origin only after a
# CORS preflight, which this gateway never grants) and name 127.0.0.1 or localhost with the gateway's
# port as Host (a DNS-rebound name is refused). The dashboard page and its files are exempt from the
# header (a browser's navigation cannot carry one); their data route is not.
LOCAL_HEADER, LOCAL_HEADER_VALUE = "X-Hybrid-Local", "1"
LOCAL_HEADERS = {LOCAL_HEADER: LOCAL_HEADER_VALUE}
LOCAL_HOSTS = ("127.0.0.1", "localhost")
NAVIGATION_PATHS = ("/local/dashboard", "/local/dashboard/static/")


class LocalGuard:
    """ASGI middleware: the Host and header checks of `/local/*` (403 JSON when either fails)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/local/"):
            refusal = local_refusal(scope)
            if refusal is not None:
                response = JSONResponse(
                    {"error": {"type": "forbidden", "message": refusal, "code": "forbidden"}}, status_code=403
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def local_refusal(scope: Any) -> str | None:
    """Why a `/local/*` request is refused; None when it may pass."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    port = (scope.get("server") or ("", 80))[1]
    allowed = {f"{host}:{port}" for host in LOCAL_HOSTS} | (set(LOCAL_HOSTS) if port == 80 else set())
    if headers.get("host", "").lower() not in allowed:
        return f"Host must be 127.0.0.1:{port} or localhost:{port}"
    path = scope["path"]
    navigation = scope["method"] in ("GET", "HEAD") and (
        path == NAVIGATION_PATHS[0] or path.startswith(NAVIGATION_PATHS[1])
    )
    if not navigation and headers.get(LOCAL_HEADER.lower()) != LOCAL_HEADER_VALUE:
        return f"/local routes need the header {LOCAL_HEADER}: {LOCAL_HEADER_VALUE}"
    return None


@dataclass
class LocalLambdaContext:
    """The attributes of a Lambda context object the handlers read."""

    function_name: str
    timeout_s: float = 90.0
    memory_limit_in_mb: int = 1024
    aws_request_id: str = ""
    started: float = 0.0

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


async def to_proxy_event(request: Request, stage: str = "local") -> dict[str, Any]:
    raw = await request.body()
    try:
        body, encoded = raw.decode("utf-8"), False
    except UnicodeDecodeError:
        body, encoded = base64.b64encode(raw).decode("ascii"), True
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for key, value in request.headers.items():
        headers[key] = value
        multi_headers.setdefault(key, []).append(value)
    query = dict(request.query_params) or None
    multi_query = {k: request.query_params.getlist(k) for k in request.query_params} or None
    now = datetime.now(UTC)
    return {
        "resource": "/{proxy+}",
        "path": request.url.path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": {"proxy": request.url.path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": request.method,
            "path": f"/{stage}{request.url.path}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "identity": {"sourceIp": request.client.host if request.client else "127.0.0.1"},
        },
        "body": body or None,
        "isBase64Encoded": encoded,
    }


def from_proxy_result(result: dict[str, Any]) -> Response:
    body = result.get("body") or ""
    content = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    headers = {k: v for k, v in (result.get("headers") or {}).items()}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers[key] = ", ".join(values)
    return Response(content=content, status_code=int(result.get("statusCode", 500)), headers=headers)


def to_streaming_response(stream: HttpStream) -> Response:
    """A handler's `HttpStream` as Starlette's answer. A streamed one is relayed chunk by chunk, each read
    on a worker thread (the chunks block on the provider); when the client goes away, Starlette cancels the
    relay and `stream.close()` stops the provider's stream. A buffered one is a plain response."""
    if not stream.streamed:
        return Response(content=b"".join(stream.chunks), status_code=stream.status, headers=stream.headers)

    async def relay() -> AsyncIterator[bytes]:
        try:
            while (chunk := await run_in_threadpool(next, stream.chunks, None)) is not None:
                yield chunk
        finally:
            await run_in_threadpool(stream.close)

    return StreamingResponse(relay(), status_code=stream.status, headers=stream.headers)


def build_gateway_app(
    handler: Handler | StreamHandler,
    faults: FaultRegistry,
    admin_handler: Handler | None = None,
    authorizer: Handler | None = None,
    local_state: Callable[[], dict[str, Any]] | None = None,
) -> Starlette:
    """`/admin/...` goes through the authorizer to the admin function, as in the stack; `/local/...`
    (faults, the dashboard page) exists only here; the rest goes to the router function, a streaming
    host's `stream_handler` (its SSE answers streamed) or a buffered `lambda_handler`."""

    async def invoke(request: Request) -> Response:
        event = await to_proxy_event(request)
        is_admin = admin_handler is not None and request.url.path.startswith("/admin")
        name = "admin" if is_admin else "router"
        context = LocalLambdaContext(
            name, aws_request_id=event["requestContext"]["requestId"], started=time.monotonic()
        )
        if is_admin:
            denied = await run_in_threadpool(_authorize, authorizer, event, context)
            if denied is not None:
                return denied
        target: Callable[[dict[str, Any], Any], dict[str, Any] | HttpStream] = (
            admin_handler if is_admin and admin_handler is not None else handler
        )
        result = await run_in_threadpool(target, event, context)
        if isinstance(result, HttpStream):
            return to_streaming_response(result)
        return from_proxy_result(result)

    async def state(_: Request) -> Response:
        return JSONResponse(local_state() if local_state is not None else {"directory": None})

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    return Starlette(
        routes=[
            *fault_routes(faults),
            *dashboard_routes(),
            Route("/local/state", state, methods=["GET"]),
            Route("/{path:path}", invoke, methods=methods),
        ],
        middleware=[Middleware(LocalGuard)],
    )


def fault_routes(faults: FaultRegistry) -> list[Route]:
    """`/local/faults`: POST sets a provider's fault, GET lists them, DELETE clears them (`?provider=X`
    one, with its attempts); `GET /local/faults/attempts` (`?provider=X`) is the simulators' request log."""

    async def set_fault(request: Request) -> Response:
        try:
            spec = FaultSpec.model_validate_json(await request.body())
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
            return _invalid_fault(problems)
        faults.set(spec)
        return JSONResponse({"faults": _faults_json(faults)})

    async def clear_faults(request: Request) -> Response:
        provider = request.query_params.get("provider")
        if (refused := _refused_provider(provider)) is not None:
            return refused
        faults.clear(provider)
        return JSONResponse({"faults": _faults_json(faults)})

    async def list_faults(_: Request) -> Response:
        return JSONResponse({"faults": _faults_json(faults)})

    async def list_attempts(request: Request) -> Response:
        provider = request.query_params.get("provider")
        if (refused := _refused_provider(provider)) is not None:
            return refused
        return JSONResponse({"attempts": [asdict(attempt) for attempt in faults.attempts(provider)]})

    return [
        Route("/local/faults", set_fault, methods=["POST"]),
        Route("/local/faults", clear_faults, methods=["DELETE"]),
        Route("/local/faults", list_faults, methods=["GET"]),
        Route("/local/faults/attempts", list_attempts, methods=["GET"]),
    ]


def _authorize(authorizer: Handler | None, event: dict[str, Any], context: Any) -> Response | None:
    """API Gateway's TOKEN authorizer contract: 401 on a missing token or an 'Unauthorized' error,
    403 on a Deny policy, the policy's context on `requestContext.authorizer` otherwise."""
    if authorizer is None:
        return None
    token = event["headers"].get("authorization")
    if not token:
        return JSONResponse({"message": "Unauthorized"}, status_code=401)
    try:
        result = authorizer({"type": "TOKEN", "authorizationToken": token, "methodArn": _method_arn(event)}, context)
    except Exception as exc:
        if str(exc) == "Unauthorized":
            return JSONResponse({"message": "Unauthorized"}, status_code=401)
        return JSONResponse({"message": "AuthorizerConfigurationException"}, status_code=500)
    effect = result["policyDocument"]["Statement"][0]["Effect"]
    if effect != "Allow":
        return JSONResponse({"message": "User is not authorized to access this resource"}, status_code=403)
    event["requestContext"]["authorizer"] = {"principalId": result["principalId"], **result.get("context", {})}
    return None


def _method_arn(event: dict[str, Any]) -> str:
    stage = event["requestContext"]["stage"]
    return f"arn:aws:execute-api:local:000000000000:local/{stage}/{event['httpMethod']}{event['path']}"


def _invalid_fault(message: str) -> Response:
    return JSONResponse(
        {"error": {"type": "invalid_request_error", "message": message, "code": "invalid_fault"}}, status_code=400
    )


def _refused_provider(provider: str | None) -> Response | None:
    """The 400 for a `provider` parameter that names no provider; None when absent or known."""
    if provider is None or provider in FAULT_PROVIDERS:
        return None
    return _invalid_fault(f"provider: must be one of {', '.join(FAULT_PROVIDERS)}; got {provider!r}")


def _faults_json(faults: FaultRegistry) -> list[dict[str, Any]]:
    return [spec.model_dump() for spec in faults.snapshot().values()]
