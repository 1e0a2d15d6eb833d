"""Admin Lambda: the runbooks' `/admin/...` API, behind the Lambda authorizer."""

from __future__ import annotations

import uuid
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.app.admin.access import require_operator
from functions.domain.errors import HybridRoutingError, clip
from functions.domain.thresholds import MAX_ADMIN_BODY_BYTES
from functions.handlers.admin.auth import caller_from
from functions.handlers.admin.routes import (
    audit,
    breakers,
    compliance,
    config,
    flags,
    metrics,
    probe,
    rollouts,
    routing,
)
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
from functions.shared.observability import log_function_context, logger
from functions.shared.request_input import check_json_text, check_request
from functions.shared.resolver import RequestScopedResolver

app = RequestScopedResolver(enable_validation=True)  # its requests stay apart in the local gateway's threads
ADMIN = "/admin"
# Each module's routes under its prefix: a module that owns a whole subtree of paths is mounted on it.
for module, prefix in (
    (flags, ADMIN),
    (routing, ADMIN),
    (breakers, ADMIN),
    (metrics, ADMIN),
    (config, ADMIN),
    (audit, f"{ADMIN}/audit"),
    (compliance, f"{ADMIN}/compliance"),
    (probe, f"{ADMIN}/bedrock"),
    (rollouts, f"{ADMIN}/rollouts"),
):
    app.include_router(module.router, prefix=prefix)


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def _invalid(exc: RequestValidationError) -> Response[Any]:
    return from_validation(exc.errors())


@app.exception_handler(HybridRoutingError)  # type: ignore[untyped-decorator]
def _domain_error(exc: HybridRoutingError) -> Response[Any]:
    return from_domain(exc)


@app.not_found
def _not_found(_: Exception) -> Response[Any]:
    event = app.current_event
    return error_response(
        404, "not_found_error", f"no admin route for {clip(event.http_method)} {clip(event.path)}", "not_found"
    )


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def _unexpected(exc: Exception) -> Response[Any]:
    logger.exception("unhandled-error", extra={"error": type(exc).__name__})
    return error_response(500, "server_error", INTERNAL_ERROR, "internal_error")


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _check_before_parsing(event: dict[str, Any]) -> None:
    """Refusals owed before the body is parsed or validated: a change by a caller without the operator role
    (403 first, so a read-only token learns nothing of its body's problems), then a body over
    MAX_ADMIN_BODY_BYTES (413) and input no parser may see (400, see request_input)."""
    if str(event.get("httpMethod") or "GET").upper() not in READ_METHODS:
        require_operator(caller_from(event.get("requestContext")))
    check_json_text(check_request(event, MAX_ADMIN_BODY_BYTES))


@log_function_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request_id = (event.get("requestContext") or {}).get("requestId") or uuid.uuid4().hex
    try:
        _check_before_parsing(event)
        result = app.resolve(as_json_api(event), context)
    except HybridRoutingError as exc:
        result = raw_domain_error(exc)
    except Exception as exc:
        # A bug outside the resolver's handlers: still a JSON answer naming the request, never a trace.
        logger.exception("unhandled-error", extra={"error": type(exc).__name__, "request_id": request_id})
        result = raw_error(500, "server_error", INTERNAL_ERROR, "internal_error")
    result.setdefault("headers", {})
    result["headers"]["x-request-id"] = request_id
    return encodable(result)
