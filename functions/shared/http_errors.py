"""The one place where errors become HTTP responses, in OpenAI's error shape."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aws_lambda_powertools.event_handler import Response

from functions.domain.errors import HybridRoutingError
from functions.domain.models import ErrorBody, ErrorResponse


def error_response(
    status: int,
    error_type: str,
    message: str,
    code: str,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[str]:
    body = ErrorResponse(error=ErrorBody(type=error_type, message=message, code=code, param=param))
    return Response(
        status_code=status,
        content_type="application/json",
        body=body.model_dump_json(),
        headers=dict(headers or {}),
    )


# What a 429 or 503 asks a client to wait when no provider said how long: one breaker probe interval.
DEFAULT_RETRY_AFTER_S = 1


def from_domain(
    exc: HybridRoutingError, headers: Mapping[str, str] | None = None, *, attempts: Sequence[str] = ()
) -> Response[str]:
    """The error answer; `attempts` ("provider:outcome") are named in its message. A 429 or a 503
    always carries `Retry-After`: the provider's when it gave one, else `DEFAULT_RETRY_AFTER_S`."""
    extra = dict(headers or {})
    if exc.retry_after is not None:
        extra["retry-after"] = str(max(1, round(exc.retry_after)))
    elif exc.status in (429, 503):
        extra["retry-after"] = str(DEFAULT_RETRY_AFTER_S)
    message = f"{exc.message} (attempts: {', '.join(attempts)})" if attempts else exc.message
    return error_response(exc.status, exc.error_type, message, exc.code, headers=extra)


def from_validation(errors: Iterable[Mapping[str, Any]]) -> Response[str]:
    """A 400 that names every offending field, without echoing the input values back."""
    problems: list[str] = []
    first_param: str | None = None
    for error in errors:
        loc = [str(part) for part in error.get("loc", ()) if part != "body"]
        param = ".".join(loc) or None
        first_param = first_param or param
        if error.get("type") == "json_invalid":
            problems.append("the request body is not valid JSON")
        elif param:
            problems.append(f"{param}: {error.get('msg', 'invalid')}")
        else:
            problems.append(f"the request body must be a JSON object ({error.get('msg', 'invalid')})")
    message = "; ".join(dict.fromkeys(problems)) or "invalid request body"
    return error_response(400, "invalid_request_error", message, "invalid_request", param=first_param)


def raw_error(status: int, error_type: str, message: str, code: str) -> dict[str, Any]:
    """An API Gateway proxy result, for answers given before the resolver runs."""
    body = ErrorResponse(error=ErrorBody(type=error_type, message=message, code=code))
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body.model_dump()),
        "isBase64Encoded": False,
    }
