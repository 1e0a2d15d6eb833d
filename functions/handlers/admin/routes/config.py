"""Versioned configuration documents of the runbooks: routing rules, SLO thresholds, the request
timeout, routing thresholds and cache settings, and a consistency check over the routing config.
Every write is conditional on the version it is based on (409 otherwise) and audited."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, model_validator

from functions.adapters.dynamodb.schema import (
    CACHE_SETTINGS_KEY,
    REQUEST_TIMEOUT_KEY,
    ROUTING_THRESHOLDS_KEY,
    SLO_THRESHOLDS_KEY,
)
from functions.app.admin.config import check_routing, put_document, put_rules, rules_view
from functions.app.admin.documents import change_document
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
from functions.handlers.admin.routes.common import Change, Deps, Who, admin_router, caller, deps

router = admin_router()

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


# --- routing rules and the consistency check ---------------------------------------------------
@router.get("/config/routing-rules")
def get_routing_rules(deps: Deps) -> dict[str, Any]:
    return rules_view(deps)


@router.put("/config/routing-rules")
def put_routing_rules(body: RoutingRules, deps: Deps, who: Who) -> dict[str, Any]:
    return put_rules(deps, body.by(who), {op: rule.model_dump() for op, rule in body.rules.items()})


@router.get("/config/validate-routing")
def validate_routing(deps: Deps) -> dict[str, Any]:
    return check_routing(deps)


# --- thresholds and timeouts ---------------------------------------------------------------------
@router.get("/config/slo-thresholds")
def get_slo_thresholds(deps: Deps) -> dict[str, Any]:
    stored = deps.config.get(SLO_THRESHOLDS_KEY)
    return {**stored.value, "version": stored.version}


@router.put("/config/slo-thresholds")
def put_slo_thresholds(body: SloThresholds, deps: Deps, who: Who) -> dict[str, Any]:
    value = {"p95_latency_ms": body.p95_latency_ms, "error_rate_percent": body.error_rate_percent}
    return put_document(deps, body.by(who), SLO_THRESHOLDS_KEY, value, "config.slo-thresholds")


@router.post("/config/update")
def update_timeout(body: TimeoutUpdate, deps: Deps, who: Who) -> dict[str, Any]:
    return put_document(deps, body.by(who), REQUEST_TIMEOUT_KEY, {"timeout_ms": body.timeout}, "config.timeout")


@router.post("/routing/config")
def routing_config(body: RoutingThresholds, deps: Deps, who: Who) -> dict[str, Any]:
    value = body.model_dump(by_alias=True, exclude={"reason", "version"})
    return put_document(deps, body.by(who), ROUTING_THRESHOLDS_KEY, value, "routing.config")


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


@router.get("/config/cache-settings")
def get_cache_settings() -> dict[str, Any]:
    stored, effective, version = _cache_settings()
    return {
        **_cache_answer(stored, effective, version),
        "lruEntries": CACHE_LRU_ENTRIES,
        "persistent": bool(deps().settings.cache_table),
    }


@router.put("/config/cache-settings")
def put_cache_settings(body: CacheSettingsUpdate) -> dict[str, Any]:
    changes = body.model_dump(by_alias=True, exclude={"reason", "version"}, exclude_none=True)
    # Only what operators set, merged into the settings as read: the rest keeps following the deployment.
    saved = change_document(
        deps().config,
        CACHE_SETTINGS_KEY,
        body.by(caller(router)),
        "config.cache-settings",
        lambda c: {**c.value, **changes},
    )
    return _cache_answer(saved.value, {**CACHE_DEFAULTS, **saved.value}, saved.version)
