"""Routing controls: force-MCP, routing overrides, traffic distribution, Bedrock share, isolation."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictInt

from functions.app.admin import routing
from functions.domain.config.override import MAX_OVERRIDE_SECONDS, MIN_OVERRIDE_SECONDS
from functions.domain.routing.decision import RoutingMode
from functions.handlers.admin.routes.common import Change, Deps, Who, admin_router

router = admin_router()


class ForceMcp(Change):
    reason: str = Field(min_length=1, max_length=500)
    duration: StrictInt = Field(ge=MIN_OVERRIDE_SECONDS, le=MAX_OVERRIDE_SECONDS, description="seconds")


class RoutingOverride(Change):
    routing_mode: Literal["hybrid", "mcp_only", "direct_only"]
    duration: StrictInt | None = Field(default=None, ge=MIN_OVERRIDE_SECONDS, le=MAX_OVERRIDE_SECONDS)


class TrafficDistribution(Change):
    weights: dict[str, StrictInt]


class BedrockPercentage(Change):
    percentage: StrictInt = Field(ge=0, le=100)


class Isolation(Change):
    component: str
    action: Literal["isolate", "restore"]


@router.post("/routing/force-mcp")
def force_mcp(body: ForceMcp, deps: Deps, who: Who) -> dict[str, Any]:
    return routing.set_override(deps, body.by(who), RoutingMode.MCP_ONLY.value, body.duration, "routing.force-mcp")


@router.post("/config/routing-override")
def routing_override(body: RoutingOverride, deps: Deps, who: Who) -> dict[str, Any]:
    return routing.set_override(deps, body.by(who), body.routing_mode, body.duration, "routing.override")


@router.get("/config/routing-override")
def get_routing_override(deps: Deps) -> dict[str, Any]:
    return routing.override_view(deps)


@router.get("/routing/traffic-distribution")
def get_traffic_distribution(deps: Deps) -> dict[str, Any]:
    return routing.weights_view(deps)


@router.put("/routing/traffic-distribution")
def put_traffic_distribution(body: TrafficDistribution, deps: Deps, who: Who) -> dict[str, Any]:
    action = "routing.traffic-distribution"
    return routing.set_weights(deps.config, deps.settings.direct(), body.by(who), body.weights, action)


@router.post("/routing/bedrock-percentage")
def bedrock_percentage(body: BedrockPercentage, deps: Deps, who: Who) -> dict[str, Any]:
    """Bedrock's share of Direct traffic; the rest goes to the other Direct providers in proportion
    to their current weights (equally when they have none)."""
    return routing.set_bedrock_percentage(deps, body.by(who), body.percentage, "routing.bedrock-percentage")


@router.post("/emergency/isolate-component")
def isolate_component(body: Isolation, deps: Deps, who: Who) -> dict[str, Any]:
    return routing.isolate(deps.config, body.by(who), body.component, body.action)
