"""What every admin route needs: the caller, request bodies parsed into models, audit entries."""

from __future__ import annotations

from typing import Any, TypeVar

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, ConfigDict, Field

from functions.app.admin.wiring import AdminDependencies, get_admin_dependencies
from functions.domain.audit import AuditEntry
from functions.handlers.admin.auth import Caller, caller_from, require_operator

Model = TypeVar("Model", bound=BaseModel)


class Change(BaseModel):
    """Fields every mutation accepts: why (for the audit trail), and the version it is based on
    (omit it to change whatever is current; give it to be refused with 409 if that moved on)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=500)
    version: int | None = Field(default=None, ge=0)


def deps() -> AdminDependencies:
    return get_admin_dependencies()


def caller(router: Router) -> Caller:
    return caller_from(router.current_event.raw_event.get("requestContext"))


def operator(router: Router) -> Caller:
    return require_operator(caller(router))


def entry(who: Caller, action: str, target: str, reason: str, before: Any = None, after: Any = None) -> AuditEntry:
    return AuditEntry(
        actor=who.principal, role=who.role, action=action, target=target, reason=reason, before=before, after=after
    )
