"""What every admin route needs: its dependencies and caller (Powertools `Depends`), and the fields
every change accepts."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Request
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.depends import Depends
from pydantic import BaseModel, ConfigDict, Field

from functions.app.admin.access import Caller
from functions.app.admin.documents import Edit
from functions.app.admin.wiring import AdminDependencies, get_admin_dependencies
from functions.handlers.admin.auth import caller_from


class Change(BaseModel):
    """Fields every mutation accepts: why (for the audit trail), and the version it is based on
    (omit it to apply the change to whatever is current, re-applied after a lost race; give it to be
    refused with 409 if that moved on)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=500)
    version: int | None = Field(default=None, ge=0)

    def by(self, who: Caller) -> Edit:
        return Edit(who, self.reason, self.version)


def admin_router() -> Router:
    return Router()  # type: ignore[no-untyped-call]  # Powertools' Router.__init__ is unannotated


def request_caller(request: Request) -> Caller:
    return caller_from(request.resolved_event.raw_event.get("requestContext"))


# Route parameters: `deps: Deps, who: Who`. Tests and the local stack replace either through the admin
# app's `dependency_overrides` (keyed by `get_admin_dependencies` and `request_caller`).
Deps = Annotated[AdminDependencies, Depends(get_admin_dependencies)]
Who = Annotated[Caller, Depends(request_caller)]


# For code that runs in a request outside a route's parameters (the cache-settings routes).
def deps() -> AdminDependencies:
    return get_admin_dependencies()


def caller(router: Router) -> Caller:
    return caller_from(router.current_event.raw_event.get("requestContext"))
