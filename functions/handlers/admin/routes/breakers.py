"""Circuit breakers as the runbooks inspect and reset them, and the system status."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body

from functions.app.admin import breakers
from functions.domain.names import ALL, TargetSelection
from functions.handlers.admin.routes.common import Change, Deps, Who, admin_router

router = admin_router()


class BreakerTarget(Change):
    provider: TargetSelection = ALL


@router.get("/health/circuit-breakers")
def circuit_breakers(deps: Deps) -> dict[str, Any]:
    return breakers.breaker_report(deps)


@router.post("/circuit-breaker/reset")
def reset(deps: Deps, who: Who, body: Annotated[BreakerTarget | None, Body()] = None) -> dict[str, Any]:
    body = body or BreakerTarget()
    return breakers.reset_breakers(deps, body.by(who), body.provider)


@router.post("/circuit-breaker/enable")
def enable(deps: Deps, who: Who, body: Annotated[Change | None, Body()] = None) -> dict[str, Any]:
    return breakers.set_breakers_enabled(deps, (body or Change()).by(who), True)


@router.post("/circuit-breaker/disable")
def disable(deps: Deps, who: Who, body: Annotated[Change | None, Body()] = None) -> dict[str, Any]:
    return breakers.set_breakers_enabled(deps, (body or Change()).by(who), False)


@router.get("/health/system-status")
def system_status(deps: Deps) -> dict[str, Any]:
    return breakers.system_status(deps)
