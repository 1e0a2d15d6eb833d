"""Routing controls: force-MCP, routing overrides, traffic distribution, Bedrock share, isolation."""

from __future__ import annotations

import time
from typing import Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import Field, StrictInt

from functions.adapters.dynamodb.schema import ISOLATION_KEY, ROUTING_OVERRIDE_KEY, TRAFFIC_WEIGHTS_KEY
from functions.domain.errors import InvalidRequest, VersionConflict
from functions.domain.routing.decision import MCP_TARGET, RoutingMode
from functions.handlers.admin.routes.common import Change, deps, entry, operator

router = Router()

MIN_OVERRIDE_SECONDS, MAX_OVERRIDE_SECONDS = 60, 7 * 86_400
COMPONENTS = {"direct-bedrock": "bedrock", "direct-google": "google", "direct-meta": "meta", "mcp-router": MCP_TARGET}


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


def _override(mode: str, duration: int | None, change: Change, action: str) -> dict[str, Any]:
    who = operator(router)
    current = deps().config.get(ROUTING_OVERRIDE_KEY)
    expires_at = round(time.time() + duration) if duration else None
    value = {"mode": mode, "reason": change.reason or action, "expires_at": expires_at}
    expected = current.version if change.version is None else change.version
    saved = deps().config.put(
        ROUTING_OVERRIDE_KEY, value, expected, entry(who, action, ROUTING_OVERRIDE_KEY, change.reason, current.value)
    )
    return {"routing_mode": mode, "expires_at": expires_at, "version": saved.version}


@router.post("/admin/routing/force-mcp")
def force_mcp(body: ForceMcp) -> dict[str, Any]:
    return _override(RoutingMode.MCP_ONLY.value, body.duration, body, "routing.force-mcp")


@router.post("/admin/config/routing-override")
def routing_override(body: RoutingOverride) -> dict[str, Any]:
    return _override(body.routing_mode, body.duration, body, "routing.override")


@router.get("/admin/config/routing-override")
def get_routing_override() -> dict[str, Any]:
    current = deps().config.get(ROUTING_OVERRIDE_KEY)
    expires = current.value.get("expires_at")
    active = (
        bool(current.value) and current.value.get("mode") != "hybrid" and (expires is None or expires > time.time())
    )
    return {**current.value, "active": active, "version": current.version}


def _weights() -> tuple[dict[str, int], int]:
    stored = deps().config.get(TRAFFIC_WEIGHTS_KEY)
    return dict(stored.value.get("weights") or {"bedrock": 100}), stored.version


def _put_weights(weights: dict[str, int], change: Change, action: str) -> dict[str, Any]:
    known = deps().settings.direct()
    unknown = sorted(set(weights) - set(known))
    if unknown:
        raise InvalidRequest(f"unknown provider(s) {', '.join(unknown)}; configured: {', '.join(known)}")
    if any(w < 0 for w in weights.values()) or sum(weights.values()) != 100:
        raise InvalidRequest(f"weights must be non-negative and sum to 100 (got {sum(weights.values())})")
    who = operator(router)
    stored = deps().config.get(TRAFFIC_WEIGHTS_KEY)
    if stored.value.get("lock_owner"):
        raise VersionConflict(
            f"a {stored.value.get('lock_kind', 'rollout')} holds the traffic weights "
            f"({stored.value['lock_owner']}); abort it before setting weights by hand"
        )
    current, version = _weights()
    expected = version if change.version is None else change.version
    saved = deps().config.put(
        TRAFFIC_WEIGHTS_KEY,
        {"weights": weights},
        expected,
        entry(who, action, TRAFFIC_WEIGHTS_KEY, change.reason, current),
    )
    return {"weights": weights, "version": saved.version}


@router.get("/admin/routing/traffic-distribution")
def get_traffic_distribution() -> dict[str, Any]:
    weights, version = _weights()
    return {"weights": weights, "version": version, "providers": list(deps().settings.direct())}


@router.put("/admin/routing/traffic-distribution")
def put_traffic_distribution(body: TrafficDistribution) -> dict[str, Any]:
    return _put_weights(body.weights, body, "routing.traffic-distribution")


@router.post("/admin/routing/bedrock-percentage")
def bedrock_percentage(body: BedrockPercentage) -> dict[str, Any]:
    """Bedrock's share of Direct traffic; the rest goes to the other Direct providers in proportion
    to their current weights (equally when they have none)."""
    others = [p for p in deps().settings.direct() if p != "bedrock"]
    if body.percentage < 100 and not others:
        raise InvalidRequest("no other Direct provider is configured to take the rest of the traffic")
    current, _ = _weights()
    weights = {"bedrock": body.percentage} | _split(100 - body.percentage, {p: current.get(p, 0) for p in others})
    return _put_weights(weights, body, "routing.bedrock-percentage")


def _split(total: int, current: dict[str, int]) -> dict[str, int]:
    if not current:
        return {}
    basis = current if sum(current.values()) > 0 else dict.fromkeys(current, 1)
    shares = {p: total * w // sum(basis.values()) for p, w in basis.items()}
    first = next(iter(shares))
    shares[first] += total - sum(shares.values())
    return shares


@router.post("/admin/emergency/isolate-component")
def isolate_component(body: Isolation) -> dict[str, Any]:
    target = COMPONENTS.get(body.component)
    if target is None:
        raise InvalidRequest(f"unknown component '{body.component}'; valid: {', '.join(COMPONENTS)}")
    who = operator(router)
    current = deps().config.get(ISOLATION_KEY)
    isolated = set(current.value.get("targets") or [])
    isolated = isolated | {target} if body.action == "isolate" else isolated - {target}
    expected = current.version if body.version is None else body.version
    saved = deps().config.put(
        ISOLATION_KEY,
        {"targets": sorted(isolated)},
        expected,
        entry(who, f"emergency.{body.action}-component", body.component, body.reason, current.value),
    )
    return {"component": body.component, "action": body.action, "isolated": sorted(isolated), "version": saved.version}
