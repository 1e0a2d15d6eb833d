"""Feature flags and the emergency switches (production-operations.md)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import StrictBool

from functions.app.admin.flags import change_flags, current_flags
from functions.domain.config.flags import INTELLIGENT_ROUTING, all_off, check_flag
from functions.handlers.admin.routes.common import Change, Deps, Who, admin_router

router = admin_router()
SNAPSHOT_REFRESH_SECONDS = 5  # every router instance re-reads the flags this often


class FlagUpdate(Change):
    flag: str
    enabled: StrictBool


@router.get("/feature-flags/bedrock")
def get_flags(deps: Deps) -> dict[str, Any]:
    flags, version = current_flags(deps.config)
    return {**flags, "version": version}


@router.post("/feature-flags/bedrock/update")
def update_flag(body: FlagUpdate, deps: Deps, who: Who) -> dict[str, Any]:
    check_flag(body.flag)
    return change_flags(deps.config, body.by(who), "feature-flag.update", lambda f: {**f, body.flag: body.enabled})


@router.post("/feature-flags/bedrock/disable-all")
def disable_all(deps: Deps, who: Who, body: Annotated[Change | None, Body()] = None) -> dict[str, Any]:
    edit = (body or Change()).by(who)
    return change_flags(deps.config, edit, "feature-flag.disable-all", lambda _: all_off())


@router.post("/emergency/disable-hybrid-routing")
def disable_hybrid_routing(deps: Deps, who: Who, body: Annotated[Change | None, Body()] = None) -> dict[str, Any]:
    """Every operation onto the MCP path, within one snapshot refresh (5 s) on every instance."""
    edit = (body or Change()).by(who)
    action = "emergency.disable-hybrid-routing"
    result = change_flags(deps.config, edit, action, lambda f: {**f, INTELLIGENT_ROUTING: False})
    return {"status": "hybrid routing disabled", "effectiveWithinSeconds": SNAPSHOT_REFRESH_SECONDS, "flags": result}
