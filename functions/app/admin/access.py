"""Who changes the control plane: the caller the authorizer established, and the operator-only rule."""

from __future__ import annotations

from dataclasses import dataclass

from functions.domain.errors import Forbidden
from functions.domain.names import AUTH_READONLY_REFUSED, AUTHORIZATION_DIMENSION, AUTHORIZATION_METRIC
from functions.shared.observability import emit_count

OPERATOR, READ_ONLY = "operator", "read-only"


@dataclass(frozen=True, slots=True)
class Caller:
    principal: str
    role: str


def require_operator(caller: Caller) -> Caller:
    if caller.role != OPERATOR:
        emit_count(AUTHORIZATION_METRIC, AUTHORIZATION_DIMENSION, AUTH_READONLY_REFUSED)  # security dashboard
        raise Forbidden(f"'{caller.principal}' has the {caller.role} role; this change needs the operator role")
    return caller
