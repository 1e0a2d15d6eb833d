"""The one place where errors become HTTP responses, in OpenAI's error shape."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aws_lambda_powertools.event_handler import Response

from functions.domain.errors import HybridRoutingError
from functions.domain.models import ErrorBody, ErrorResponse
from functions.domain.thresholds import MAX_ERROR_MESSAGE_CHARS, QUOTED_INPUT_CHARS

# A bug's 500: the trace is in our logs only.
INTERNAL_ERROR = "internal error; the request id names it in our logs"


def error_response(
    status: int,
    error_type: str,
    message: str,
    code: str,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[str]:
    body = _error_body(error_type, message, code, param)
    return Response(
        status_code=status,
        content_type="application/json",
        body=body.model_dump_json(),
        headers=dict(headers or {}),
    )


def _error_body(error_type: str, message: str, code: str, param: str | None) -> ErrorResponse:
    """The error shape, always serializable: a message cut to MAX_ERROR_MESSAGE_CHARS and a field name to
    QUOTED_INPUT_CHARS, both with lone surrogates (which no UTF-8 encoder takes) escaped."""
    short = printable(message)
    if len(short) > MAX_ERROR_MESSAGE_CHARS:
        short = short[: MAX_ERROR_MESSAGE_CHARS - 3] + "..."
    field = None if param is None else printable(param)[:QUOTED_INPUT_CHARS]
    return ErrorResponse(error=ErrorBody(type=error_type, message=short, code=code, param=field))


def printable(text: str) -> str:
    """`text` with every lone surrogate written as its escape (`\\udfff`): encodable as UTF-8."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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
    return error_response(exc.status, exc.error_type, message, exc.code, param=exc.param, headers=extra)


def from_validation(errors: Iterable[Mapping[str, Any]]) -> Response[str]:
    """A 400 that names every offending field, without echoing the input values back."""
    problems: list[str] = []
    first_param: str | None = None
    for error in errors:
        loc = [str(part)[:QUOTED_INPUT_CHARS] for part in error.get("loc", ()) if part != "body"]
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


def raw_error(status: int, error_type: str, message: str, code: str, param: str | None = None) -> dict[str, Any]:
    """An API Gateway proxy result, for answers given before the resolver runs."""
    body = _error_body(error_type, message, code, param)
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body.model_dump()),
        "isBase64Encoded": False,
    }


def raw_domain_error(exc: HybridRoutingError) -> dict[str, Any]:
    """`raw_error` for a typed error raised before the resolver runs."""
    return raw_error(exc.status, exc.error_type, exc.message, exc.code, exc.param)


def encodable(result: dict[str, Any]) -> dict[str, Any]:
    """`result`, a proxy result, with a body every UTF-8 encoder takes: a handler's answer that echoes a lone
    surrogate must still leave the function as the answer it is, not fail in the runtime or the gateway."""
    body = result.get("body")
    if isinstance(body, str) and not result.get("isBase64Encoded"):
        result["body"] = printable(body)
    return result
