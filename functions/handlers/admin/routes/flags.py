"""Feature flags and the emergency switches (production-operations.md)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import StrictBool

from functions.adapters.dynamodb.schema import FEATURE_FLAGS_KEY
from functions.domain.errors import InvalidRequest
from functions.domain.routing.decision import DEFAULT_FLAGS, FEATURE_FLAGS
from functions.handlers.admin.routes.common import Change, deps, entry, operator

router = Router()


class FlagUpdate(Change):
    flag: str
    enabled: StrictBool


def _current() -> tuple[dict[str, bool], int]:
    stored = deps().config.get(FEATURE_FLAGS_KEY)
    return {**DEFAULT_FLAGS, **stored.value.get("flags", {})}, stored.version


def _write(flags: dict[str, bool], change: Change, action: str) -> dict[str, Any]:
    who = operator(router)
    current, version = _current()
    expected = version if change.version is None else change.version
    saved = deps().config.put(
        FEATURE_FLAGS_KEY,
        {"flags": flags},
        expected,
        entry(who, action, FEATURE_FLAGS_KEY, change.reason, {"flags": current}),
    )
    return {**flags, "version": saved.version}


@router.get("/admin/feature-flags/bedrock")
def get_flags() -> dict[str, Any]:
    flags, version = _current()
    return {**flags, "version": version}


@router.post("/admin/feature-flags/bedrock/update")
def update_flag(body: FlagUpdate) -> dict[str, Any]:
    if body.flag not in FEATURE_FLAGS:
        raise InvalidRequest(f"unknown flag '{body.flag}'; valid flags: {', '.join(FEATURE_FLAGS)}")
    flags, _ = _current()
    return _write({**flags, body.flag: body.enabled}, body, "feature-flag.update")


@router.post("/admin/feature-flags/bedrock/disable-all")
def disable_all(body: Annotated[Change | None, Body()] = None) -> dict[str, Any]:
    body = body or Change()
    return _write(dict.fromkeys(FEATURE_FLAGS, False), body, "feature-flag.disable-all")


@router.post("/admin/emergency/disable-hybrid-routing")
def disable_hybrid_routing(body: Annotated[Change | None, Body()] = None) -> dict[str, Any]:
    """Every operation onto the MCP path, within one snapshot refresh (5 s) on every instance."""
    body = body or Change()
    flags, _ = _current()
    result = _write({**flags, "ENABLE_INTELLIGENT_ROUTING": False}, body, "emergency.disable-hybrid-routing")
    return {"status": "hybrid routing disabled", "effectiveWithinSeconds": 5, "flags": result}
