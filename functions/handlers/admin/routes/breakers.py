"""Circuit breakers as the runbooks inspect and reset them, and the system status."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from functions.adapters.dynamodb.breakers import SharedBreakers, breaker_key, parse_breaker
from functions.adapters.dynamodb.client import dynamodb_client, from_item
from functions.adapters.dynamodb.schema import BREAKER_SETTINGS_KEY, HEALTH, health_key
from functions.domain.errors import InvalidRequest
from functions.domain.routing.breaker import BreakerPolicy, BreakerStatus
from functions.domain.routing.decision import MCP_TARGET
from functions.handlers.admin.routes.common import Change, deps, entry, operator

router = Router()
TARGETS = ("bedrock", "google", "meta", MCP_TARGET)


class BreakerTarget(Change):
    provider: Literal["bedrock", "google", "meta", "mcp", "all"] = "all"


def _targets() -> tuple[str, ...]:
    return (*deps().settings.direct(), MCP_TARGET)


def _items() -> dict[str, dict[str, Any]]:
    keys = [{HEALTH.partition_key: {"S": k}} for t in TARGETS for k in (breaker_key(t), health_key(t))]
    table = deps().settings.health_table
    response = dynamodb_client().batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
    return {str(i["pk"]): i for i in map(from_item, response.get("Responses", {}).get(table, []))}


@router.get("/admin/health/circuit-breakers")
def circuit_breakers() -> dict[str, Any]:
    items, policy = _items(), BreakerPolicy()
    enabled = deps().config.get(BREAKER_SETTINGS_KEY).value.get("enabled", True) is not False
    breakers = {}
    for target in _targets():
        state = parse_breaker(items.get(breaker_key(target)))
        breakers[target] = {
            "state": state.status.value,
            "reason": state.reason,
            "openedAt": state.opened_at,
            "probesGranted": state.probes_granted,
            "probeBudget": policy.half_open_probes,
            "version": state.version,
        }
    return {
        "enabled": enabled,
        "breakers": breakers,
        "policy": {
            "serverErrorRate": policy.server_error_rate,
            "throttleRate": policy.throttle_rate,
            "p95LatencyMs": policy.p95_latency_ms,
            "minRequests": policy.min_requests,
            "consecutiveFailures": policy.consecutive_failures,
            "cooldownSeconds": policy.cooldown_s,
        },
    }


@router.post("/admin/circuit-breaker/reset")
def reset(body: Annotated[BreakerTarget | None, Body()] = None) -> dict[str, Any]:
    body = body or BreakerTarget()
    who = operator(router)
    targets = _targets() if body.provider == "all" else (body.provider,)
    if not set(targets) <= set(_targets()):
        raise InvalidRequest(f"'{body.provider}' is not configured; configured: {', '.join(_targets())}")
    shared = SharedBreakers(deps().settings.health_table, targets)
    shared.sync({t: parse_breaker(_items().get(breaker_key(t))) for t in targets})
    before = {t: shared.state(t).status.value for t in targets}
    after = {t: shared.reset(t, f"operator reset by {who.principal}").status.value for t in targets}
    deps().config.record(entry(who, "circuit-breaker.reset", body.provider, body.reason, before, after))
    return {"breakers": after}


@router.post("/admin/circuit-breaker/enable")
def enable(body: Annotated[Change | None, Body()] = None) -> dict[str, Any]:
    return _set_enabled(True, body or Change())


@router.post("/admin/circuit-breaker/disable")
def disable(body: Annotated[Change | None, Body()] = None) -> dict[str, Any]:
    return _set_enabled(False, body or Change())


def _set_enabled(enabled: bool, body: Change) -> dict[str, Any]:
    who = operator(router)
    current = deps().config.get(BREAKER_SETTINGS_KEY)
    expected = current.version if body.version is None else body.version
    action = "circuit-breaker.enable" if enabled else "circuit-breaker.disable"
    saved = deps().config.put(
        BREAKER_SETTINGS_KEY, {"enabled": enabled}, expected, entry(who, action, BREAKER_SETTINGS_KEY, body.reason)
    )
    return {"enabled": enabled, "version": saved.version}


@router.get("/admin/health/system-status")
def system_status() -> dict[str, Any]:
    items = _items()
    providers = {}
    for target in _targets():
        health = items.get(health_key(target)) or {}
        breaker = parse_breaker(items.get(breaker_key(target)))
        providers[target] = {"health": health.get("status", "unknown"), "breaker": breaker.status.value}
    open_count = sum(p["breaker"] == BreakerStatus.OPEN.value for p in providers.values())
    unhealthy = sum(p["health"] == "unhealthy" for p in providers.values())
    status = (
        "critical"
        if unhealthy + open_count >= len(providers)
        else ("degraded" if unhealthy or open_count else "healthy")
    )
    return {"status": status, "providers": providers}
