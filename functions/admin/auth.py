"""Who is calling the admin API, as the Lambda authorizer established it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.core.errors import Forbidden

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
        raise Forbidden(f"'{caller.principal}' has the {caller.role} role; this change needs the operator role")
    return caller
