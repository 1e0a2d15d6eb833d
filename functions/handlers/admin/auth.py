"""Who is calling the admin API, as the Lambda authorizer established it in the request context."""

from __future__ import annotations

from typing import Any

from functions.app.admin.access import READ_ONLY, Caller


def caller_from(request_context: dict[str, Any] | None) -> Caller:
    authorizer = (request_context or {}).get("authorizer") or {}
    return Caller(str(authorizer.get("principalId") or "unknown"), str(authorizer.get("role") or READ_ONLY))
