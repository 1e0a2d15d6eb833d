"""The circuit breakers as the runbooks inspect and reset them, their switch, and the system status."""

from __future__ import annotations

from typing import Any

from functions.adapters.dynamodb.breakers import SharedBreakers, breaker_key, parse_breaker
from functions.adapters.dynamodb.schema import BREAKER_SETTINGS_KEY, health_key
from functions.adapters.dynamodb.targets import target_items
from functions.app.admin.access import require_operator
from functions.app.admin.documents import Edit, change_document, record_action
from functions.app.admin.wiring import AdminDependencies
from functions.domain.errors import InvalidRequest, quoted
from functions.domain.names import ALL, MCP, TARGETS
from functions.domain.routing.breaker import BreakerPolicy, BreakerStatus


def configured_targets(deps: AdminDependencies) -> tuple[str, ...]:
    return (*deps.settings.direct(), MCP)


def _items(deps: AdminDependencies) -> dict[str, dict[str, Any]]:
    return target_items(deps.settings.health_table, TARGETS)


def breaker_report(deps: AdminDependencies) -> dict[str, Any]:
    items, policy = _items(deps), BreakerPolicy()
    enabled = deps.config.get(BREAKER_SETTINGS_KEY).value.get("enabled", True) is not False
    breakers = {}
    for target in configured_targets(deps):
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


def reset_breakers(deps: AdminDependencies, edit: Edit, provider: str) -> dict[str, Any]:
    who = require_operator(edit.who)
    configured = configured_targets(deps)
    targets = configured if provider == ALL else (provider,)
    if not set(targets) <= set(configured):
        raise InvalidRequest(f"{quoted(provider)} is not configured; configured: {', '.join(configured)}")
    shared = SharedBreakers(deps.settings.health_table, targets)
    shared.sync({t: parse_breaker(_items(deps).get(breaker_key(t))) for t in targets})
    before = {t: shared.state(t).status.value for t in targets}
    after = {t: shared.reset(t, f"operator reset by {who.principal}").status.value for t in targets}
    record_action(deps.config, edit, "circuit-breaker.reset", provider, before, after)
    return {"breakers": after}


def set_breakers_enabled(deps: AdminDependencies, edit: Edit, enabled: bool) -> dict[str, Any]:
    action = "circuit-breaker.enable" if enabled else "circuit-breaker.disable"
    saved = change_document(deps.config, BREAKER_SETTINGS_KEY, edit, action, lambda _: {"enabled": enabled})
    return {"enabled": enabled, "version": saved.version}


def system_status(deps: AdminDependencies) -> dict[str, Any]:
    items = _items(deps)
    providers = {}
    for target in configured_targets(deps):
        health = items.get(health_key(target)) or {}
        breaker = parse_breaker(items.get(breaker_key(target)))
        providers[target] = {"health": health.get("status", "unknown"), "breaker": breaker.status.value}
    open_count = sum(p["breaker"] == BreakerStatus.OPEN.value for p in providers.values())
    unhealthy = sum(p["health"] == "unhealthy" for p in providers.values())
    if unhealthy + open_count >= len(providers):
        status = "critical"
    else:
        status = "degraded" if unhealthy or open_count else "healthy"
    return {"status": status, "providers": providers}
