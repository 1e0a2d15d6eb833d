"""Who is calling the admin API, as the Lambda authorizer established it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.domain.errors import Forbidden
from functions.shared.observability import (
    AUTH_READONLY_REFUSED,
    AUTHORIZATION_DIMENSION,
    AUTHORIZATION_METRIC,
    emit_count,
)

OPERATOR, READ_ONLY = "operator", "read-only"


@dataclass(frozen=True, slots=True)
class Caller:
    principal: str
    role: str


def caller_from(request_context: dict[str, Any] | None) -> Caller:
    authorizer = (request_context or {}).get("authorizer") or {}
    return Caller(str(authorizer.get("principalId") or "unknown"), str(authorizer.get("role") or READ_ONLY))


def require_operator(caller: Caller) -> Caller:
    if caller.role != OPERATOR:
        emit_count(AUTHORIZATION_METRIC, AUTHORIZATION_DIMENSION, AUTH_READONLY_REFUSED)  # security dashboard
        raise Forbidden(f"'{caller.principal}' has the {caller.role} role; this change needs the operator role")
    return caller
