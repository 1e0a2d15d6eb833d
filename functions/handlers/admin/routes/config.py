"""Versioned configuration documents of the runbooks: routing rules, SLO thresholds, the request
timeout, routing thresholds and cache settings, and a consistency check over the routing config.

Every write is conditional on the version it is based on (409 otherwise) and audited. The router
does not read these documents yet (the routing matrix, latency budgets and cache TTLs still come from
code and environment): they are the operators' recorded intent until it does.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, model_validator

from functions.adapters.dynamodb.schema import (
    CACHE_SETTINGS_KEY,
    FEATURE_FLAGS_KEY,
    ISOLATION_KEY,
    REQUEST_TIMEOUT_KEY,
    ROUTING_OVERRIDE_KEY,
    ROUTING_RULES_KEY,
    ROUTING_THRESHOLDS_KEY,
    SLO_THRESHOLDS_KEY,
    TRAFFIC_WEIGHTS_KEY,
)
from functions.domain.errors import InvalidRequest
from functions.domain.routing.decision import DEFAULT_FLAGS, FEATURE_FLAGS, MCP_TARGET
from functions.domain.routing.matrix import OPERATION_NAMES, ROUTING_MATRIX, OperationType, Route
from functions.domain.thresholds import (
    CACHE_FRESH_SECONDS,
    CACHE_FRESH_SECONDS_BOUNDS,
    CACHE_LRU_ENTRIES,
    CACHE_STALE_SECONDS,
    CACHE_STALE_SECONDS_BOUNDS,
    REQUEST_TIMEOUT_MS_BOUNDS,
    ROUTE_LATENCY_THRESHOLD_MS_BOUNDS,
    SLO_ERROR_RATE_PERCENT_BOUNDS,
    SLO_P95_LATENCY_MS_BOUNDS,
)
from functions.handlers.admin.routes.common import Change, deps, entry, operator

router = Router()

# Item keys in the flags table.

RouteName = Literal["direct", "mcp"]
Number = StrictInt | StrictFloat


# --- models ----------------------------------------------------------------------------------
class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    primary: RouteName
    fallback: RouteName | None = None
    # Read-only fields of the GET answer, accepted and dropped so a document can round-trip.
    latency_budget_seconds: float | None = Field(default=None, alias="latencyBudgetSeconds", exclude=True)
    source: str | None = Field(default=None, exclude=True)


class RoutingRules(Change):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    rules: dict[str, Rule]
    overrides: dict[str, Any] | None = Field(default=None, exclude=True)  # read-only, from GET
    applied_by_router: bool | None = Field(default=None, alias="appliedByRouter", exclude=True)  # read-only


class SloThresholds(Change):
    p95_latency_ms: Number = Field(ge=SLO_P95_LATENCY_MS_BOUNDS[0], le=SLO_P95_LATENCY_MS_BOUNDS[1])
    error_rate_percent: Number = Field(ge=SLO_ERROR_RATE_PERCENT_BOUNDS[0], le=SLO_ERROR_RATE_PERCENT_BOUNDS[1])


class TimeoutUpdate(Change):
    timeout: StrictInt = Field(ge=REQUEST_TIMEOUT_MS_BOUNDS[0], le=REQUEST_TIMEOUT_MS_BOUNDS[1], description="ms")


class RoutingThresholds(Change):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    direct_bedrock_latency_threshold: StrictInt = Field(
        alias="directBedrockLatencyThreshold",
        ge=ROUTE_LATENCY_THRESHOLD_MS_BOUNDS[0],
        le=ROUTE_LATENCY_THRESHOLD_MS_BOUNDS[1],
    )
    mcp_latency_threshold: StrictInt | None = Field(
        default=None,
        alias="mcpLatencyThreshold",
        ge=ROUTE_LATENCY_THRESHOLD_MS_BOUNDS[0],
        le=ROUTE_LATENCY_THRESHOLD_MS_BOUNDS[1],
    )
    # The runbook sends a number (incident-response.md: 0.7); named levels are accepted too.
    fallback_aggressiveness: Literal["conservative", "balanced", "aggressive"] | Annotated[float, Field(ge=0, le=1)] = (
        Field(alias="fallbackAggressiveness")
    )


class CacheSettingsUpdate(Change):
    mode: Literal["deterministic", "off"] | None = None
    fresh_ttl_seconds: Number | None = Field(
        default=None, alias="freshTtlSeconds", ge=CACHE_FRESH_SECONDS_BOUNDS[0], le=CACHE_FRESH_SECONDS_BOUNDS[1]
    )
    stale_ttl_seconds: Number | None = Field(
        default=None, alias="staleTtlSeconds", ge=CACHE_STALE_SECONDS_BOUNDS[0], le=CACHE_STALE_SECONDS_BOUNDS[1]
    )
    serve_stale: StrictBool | None = Field(default=None, alias="serveStale")
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _names_at_least_one_setting(self) -> CacheSettingsUpdate:
        if self.mode is None and self.fresh_ttl_seconds is None and self.stale_ttl_seconds is None:
            if self.serve_stale is None:
                raise ValueError("give at least one of mode, freshTtlSeconds, staleTtlSeconds, serveStale")
        return self


# --- shared write ------------------------------------------------------------------------------
# What every router instance applies within one snapshot refresh (5 s). SLO and routing thresholds
# are read by the alarms and the workflows' health gates (issues 5 and 6), not by the router.
ROUTER_READS = frozenset({ROUTING_RULES_KEY, REQUEST_TIMEOUT_KEY, CACHE_SETTINGS_KEY})


def _put(key: str, value: dict[str, Any], change: Change, action: str) -> dict[str, Any]:
    who = operator(router)
    current = deps().config.get(key)
    expected = current.version if change.version is None else change.version
    saved = deps().config.put(key, value, expected, entry(who, action, key, change.reason, current.value))
    return {**value, "version": saved.version, "appliedByRouter": key in ROUTER_READS}


# --- routing rules -----------------------------------------------------------------------------
def rule_problems(rules: dict[str, Any]) -> list[str]:
    """What is wrong with a rules document: unknown operations, a fallback equal to the primary,
    and any fallback for emergency operations (the matrix never allows one)."""
    problems = []
    for operation, rule in rules.items():
        if operation not in OPERATION_NAMES:
            problems.append(f"unknown operation type '{operation}'; valid: {', '.join(OPERATION_NAMES)}")
            continue
        primary, fallback = rule.get("primary"), rule.get("fallback")
        if primary not in ("direct", "mcp") or fallback not in ("direct", "mcp", None):
            problems.append(f"{operation}: primary must be direct or mcp, fallback direct, mcp or null")
        elif fallback == primary:
            problems.append(f"{operation}: the fallback route must differ from the primary")
        if operation == OperationType.EMERGENCY.value and fallback is not None:
            problems.append("emergency: no fallback is allowed for emergency operations (< 5 s budget, Direct only)")
    return problems


def _effective(overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    effective = {}
    for operation, row in ROUTING_MATRIX.items():
        override = overrides.get(operation.value)
        effective[operation.value] = {
            "primary": (override or {}).get("primary", row.primary.value),
            "fallback": (override or {}).get("fallback")
            if override
            else (row.fallback.value if row.fallback else None),
            "latencyBudgetSeconds": row.latency_budget_s,
            "source": "override" if override else "matrix",
        }
    return effective


@router.get("/admin/config/routing-rules")
def get_routing_rules() -> dict[str, Any]:
    stored = deps().config.get(ROUTING_RULES_KEY)
    overrides = stored.value.get("rules") or {}
    return {"rules": _effective(overrides), "overrides": overrides, "version": stored.version, "appliedByRouter": True}


@router.put("/admin/config/routing-rules")
def put_routing_rules(body: RoutingRules) -> dict[str, Any]:
    rules = {op: rule.model_dump() for op, rule in body.rules.items()}
    problems = rule_problems(rules)
    if problems:
        raise InvalidRequest("; ".join(problems))
    saved = _put(ROUTING_RULES_KEY, {"rules": rules}, body, "config.routing-rules")
    return {**saved, "effective": _effective(rules)}


# --- consistency check -------------------------------------------------------------------------
def _problem(severity: str, item: str, message: str) -> dict[str, str]:
    return {"severity": severity, "item": item, "message": message}


@router.get("/admin/config/validate-routing")
def validate_routing() -> dict[str, Any]:
    config, direct = deps().config, deps().settings.direct()
    rules = config.get(ROUTING_RULES_KEY).value.get("rules") or {}
    weights = config.get(TRAFFIC_WEIGHTS_KEY).value.get("weights") or {"bedrock": 100}
    flags = {**DEFAULT_FLAGS, **(config.get(FEATURE_FLAGS_KEY).value.get("flags") or {})}
    override = config.get(ROUTING_OVERRIDE_KEY).value
    isolated = set(config.get(ISOLATION_KEY).value.get("targets") or [])
    problems = [_problem("error", ROUTING_RULES_KEY, p) for p in rule_problems(rules)]
    problems += _weight_problems(weights, direct, isolated)
    unknown_flags = sorted(set(flags) - set(FEATURE_FLAGS))
    if unknown_flags:
        problems.append(_problem("warning", FEATURE_FLAGS_KEY, f"unknown flags stored: {', '.join(unknown_flags)}"))
    if not (flags["ENABLE_BEDROCK_SUPPORT_MODE"] and flags["ENABLE_INTELLIGENT_ROUTING"]):
        problems.append(
            _problem("warning", FEATURE_FLAGS_KEY, "hybrid routing is disabled: every operation goes to MCP")
        )
    if not flags["ENABLE_DIRECT_BEDROCK_FALLBACK"]:
        mcp_first = [op for op, row in ROUTING_MATRIX.items() if row.fallback is Route.DIRECT]
        problems.append(
            _problem("info", FEATURE_FLAGS_KEY, f"no Direct fallback for {', '.join(o.value for o in mcp_first)}")
        )
    problems += _override_problems(override, direct, isolated)
    if MCP_TARGET in isolated:
        problems.append(_problem("warning", ISOLATION_KEY, "MCP is isolated: MCP-primary operations rely on fallback"))
    errors = sum(p["severity"] == "error" for p in problems)
    return {
        "valid": errors == 0,
        "problems": problems,
        "checked": [ROUTING_RULES_KEY, TRAFFIC_WEIGHTS_KEY, FEATURE_FLAGS_KEY, ROUTING_OVERRIDE_KEY, ISOLATION_KEY],
    }


def _weight_problems(weights: dict[str, Any], direct: tuple[str, ...], isolated: set[str]) -> list[dict[str, str]]:
    problems = []
    unknown = sorted(set(weights) - set(direct))
    if unknown:
        problems.append(
            _problem("error", TRAFFIC_WEIGHTS_KEY, f"weights for unconfigured providers: {', '.join(unknown)}")
        )
    if sum(weights.values()) != 100 or any(w < 0 for w in weights.values()):
        problems.append(_problem("error", TRAFFIC_WEIGHTS_KEY, f"weights sum to {sum(weights.values())}, not 100"))
    live = [p for p, w in weights.items() if w > 0 and p in direct and p not in isolated]
    if not live:
        problems.append(_problem("error", TRAFFIC_WEIGHTS_KEY, "no configured, non-isolated provider has weight"))
    return problems


def _override_problems(override: dict[str, Any], direct: tuple[str, ...], isolated: set[str]) -> list[dict[str, str]]:
    if not override or override.get("mode") in (None, "hybrid"):
        return []
    expires = override.get("expires_at")
    if expires is not None and expires <= time.time():
        return [_problem("info", ROUTING_OVERRIDE_KEY, f"an expired '{override['mode']}' override is still stored")]
    problems = [
        _problem("warning", ROUTING_OVERRIDE_KEY, f"override '{override['mode']}' is active: rules are bypassed")
    ]
    if override.get("mode") == "direct_only" and set(direct) <= isolated:
        problems.append(
            _problem("error", ROUTING_OVERRIDE_KEY, "direct_only is active but every Direct provider is isolated")
        )
    if override.get("mode") == "mcp_only" and MCP_TARGET in isolated:
        problems.append(_problem("error", ROUTING_OVERRIDE_KEY, "mcp_only is active but MCP is isolated"))
    return problems


# --- thresholds and timeouts ---------------------------------------------------------------------
@router.get("/admin/config/slo-thresholds")
def get_slo_thresholds() -> dict[str, Any]:
    stored = deps().config.get(SLO_THRESHOLDS_KEY)
    return {**stored.value, "version": stored.version}


@router.put("/admin/config/slo-thresholds")
def put_slo_thresholds(body: SloThresholds) -> dict[str, Any]:
    value = {"p95_latency_ms": body.p95_latency_ms, "error_rate_percent": body.error_rate_percent}
    return _put(SLO_THRESHOLDS_KEY, value, body, "config.slo-thresholds")


@router.post("/admin/config/update")
def update_timeout(body: TimeoutUpdate) -> dict[str, Any]:
    return _put(REQUEST_TIMEOUT_KEY, {"timeout_ms": body.timeout}, body, "config.timeout")


@router.post("/admin/routing/config")
def routing_config(body: RoutingThresholds) -> dict[str, Any]:
    value = body.model_dump(by_alias=True, exclude={"reason", "version"})
    return _put(ROUTING_THRESHOLDS_KEY, value, body, "routing.config")


# --- cache settings ------------------------------------------------------------------------------
# The router applies every one of these from its snapshot. A TTL no operator set is the router's own
# (CACHE_FRESH_TTL_SECONDS / CACHE_STALE_TTL_SECONDS of its deployment), shown here as the code default.
CACHE_TTL_FIELDS = ("freshTtlSeconds", "staleTtlSeconds")
CACHE_DEFAULTS: dict[str, Any] = {
    "mode": "deterministic",
    "freshTtlSeconds": CACHE_FRESH_SECONDS,
    "staleTtlSeconds": CACHE_STALE_SECONDS,
    "serveStale": True,
}


def _cache_settings() -> tuple[dict[str, Any], dict[str, Any], int]:
    """The stored settings, the effective ones (stored over the defaults), and the version."""
    stored = deps().config.get(CACHE_SETTINGS_KEY)
    return stored.value, {**CACHE_DEFAULTS, **stored.value}, stored.version


def _cache_answer(stored: dict[str, Any], effective: dict[str, Any], version: int) -> dict[str, Any]:
    return {
        **effective,
        "version": version,
        "appliedByRouter": True,
        # TTLs no operator set: the router uses its deployment's, which the values above may not show.
        "ttlsFromDeployment": [name for name in CACHE_TTL_FIELDS if name not in stored],
    }


@router.get("/admin/config/cache-settings")
def get_cache_settings() -> dict[str, Any]:
    stored, effective, version = _cache_settings()
    return {
        **_cache_answer(stored, effective, version),
        "lruEntries": CACHE_LRU_ENTRIES,
        "persistent": bool(deps().settings.cache_table),
    }


@router.put("/admin/config/cache-settings")
def put_cache_settings(body: CacheSettingsUpdate) -> dict[str, Any]:
    stored, _, _ = _cache_settings()
    changes = body.model_dump(by_alias=True, exclude={"reason", "version"}, exclude_none=True)
    value = {**stored, **changes}  # only what operators set: the rest keeps following the deployment
    saved = _put(CACHE_SETTINGS_KEY, value, body, "config.cache-settings")
    return _cache_answer(value, {**CACHE_DEFAULTS, **value}, saved["version"])
