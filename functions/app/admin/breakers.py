"""The circuit breakers as the runbooks inspect and reset them, their switch, and the system status."""

from __future__ import annotations

from typing import Any

from functions.adapters.dynamodb.breakers import SharedBreakers, breaker_key, parse_breaker
from functions.adapters.dynamodb.config import Prepared
from functions.adapters.dynamodb.schema import BREAKER_SETTINGS_KEY, health_key
from functions.adapters.dynamodb.targets import target_items
from functions.app.admin.access import require_operator
from functions.app.admin.documents import Edit, change_document
from functions.app.admin.wiring import AdminDependencies
from functions.domain.errors import InvalidRequest, VersionConflict, quoted
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
    """Close the breakers as read, each write conditional on the version read, with the audit record in the
    same transaction: a reset that lost a race reads again (a versioned one, of one provider, is a 409)."""
    who = require_operator(edit.who)
    configured = configured_targets(deps)
    targets = configured if provider == ALL else (provider,)
    if not set(targets) <= set(configured):
        raise InvalidRequest(f"{quoted(provider)} is not configured; configured: {', '.join(configured)}")
    if edit.version is not None and provider == ALL:
        raise InvalidRequest("version is one breaker's version: name its provider to reset it at that version")
    shared = SharedBreakers(deps.settings.health_table, targets)
    reason = f"operator reset by {who.principal}"

    def prepare() -> Prepared:
        items = _items(deps)
        read = {t: parse_breaker(items.get(breaker_key(t))) for t in targets}
        if edit.version is not None and read[provider].version != edit.version:
            raise VersionConflict(
                f"the {provider} breaker is at version {read[provider].version}, not {edit.version}; re-read it"
            )
        resets = {t: shared.reset_write(t, state, reason) for t, state in read.items()}
        before = {t: state.status.value for t, state in read.items()}
        after = {t: new.status.value for t, (new, _) in resets.items()}
        entry = edit.entry("circuit-breaker.reset", provider, before, after)
        return Prepared(tuple(write for _, write in resets.values()), entry, (read, resets))

    done = deps.config.audited(prepare, f"the {provider} breaker", versioned=edit.version is not None)
    assert done is not None  # prepare always writes
    read, resets = done[0]
    for target, (new, _) in resets.items():
        shared.applied(target, read[target], new)
    return {
        "breakers": {t: new.status.value for t, (new, _) in resets.items()},
        "versions": {t: new.version for t, (new, _) in resets.items()},
    }


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
