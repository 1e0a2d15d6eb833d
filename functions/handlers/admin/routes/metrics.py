"""The router's metrics as the runbooks read them, and the recommendations that follow from them
(production-operations.md, "Common Issues and Solutions" and "Cost Optimization")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from functions.adapters.dynamodb.schema import TRAFFIC_WEIGHTS_KEY
from functions.app.admin import outcomes
from functions.app.admin.wiring import AdminDependencies
from functions.domain.config.traffic import stored_weights
from functions.domain.reports import metrics as report
from functions.domain.reports.metrics import MetricsSnapshot
from functions.domain.thresholds import METRICS_WINDOW_DEFAULT
from functions.handlers.admin.routes.common import Deps, admin_router

router = admin_router()


def _snapshot(deps: AdminDependencies) -> tuple[str, MetricsSnapshot]:
    params = router.current_event.query_string_parameters or {}
    window, seconds = report.parse_window(params.get("window"), METRICS_WINDOW_DEFAULT)
    return window, deps.metrics.query(seconds)


def _answer(deps: AdminDependencies, build: Callable[[MetricsSnapshot], dict[str, Any]]) -> dict[str, Any]:
    window, snapshot = _snapshot(deps)
    return {"window": window, **build(snapshot)}


@router.get("/metrics/routing-distribution")
def routing_distribution(deps: Deps) -> dict[str, Any]:
    return _answer(deps, report.routing_distribution)


@router.get("/metrics/provider-latencies")
def provider_latencies(deps: Deps) -> dict[str, Any]:
    return _answer(deps, report.provider_latencies)


@router.get("/metrics/error-breakdown")
def error_breakdown(deps: Deps) -> dict[str, Any]:
    return _answer(deps, report.error_breakdown)


@router.get("/metrics/cache-performance")
def cache_performance(deps: Deps) -> dict[str, Any]:
    return _answer(deps, report.cache_performance)


@router.get("/metrics/routing-efficiency")
def routing_efficiency(deps: Deps) -> dict[str, Any]:
    return _answer(deps, report.routing_efficiency)


@router.get("/metrics/cost-breakdown")
def cost_breakdown(deps: Deps) -> dict[str, Any]:
    return _answer(deps, report.cost_breakdown)


def _param(name: str) -> str | None:
    return (router.current_event.query_string_parameters or {}).get(name)


@router.get("/metrics/provider-outcomes")
def provider_outcomes(deps: Deps) -> dict[str, Any]:
    """Each Direct provider's own attempts (failures the failover chain hid included), its p95 and the
    rollout gate's verdict on them (`window`, default 5m)."""
    return outcomes.provider_outcomes(deps, _param("window"))


@router.get("/metrics/recovery/<provider>")
def provider_recovery(provider: str, deps: Deps) -> dict[str, Any]:
    """The provider's health probes and traffic against the failback's recovery thresholds (`window`, default
    the failback check's 60 s)."""
    return outcomes.recovery(deps, provider, _param("window"))


@router.get("/metrics/slo-report")
def slo_report(deps: Deps) -> dict[str, Any]:
    """Error rate and p95, client-facing and per provider (`providers`: all or a list), against the SLO
    thresholds, and the p95 against a `baseline` window (default 24h; none for no comparison)."""
    return outcomes.slo_report(deps, _param("window"), _param("baseline"), _param("providers"))


@router.get("/recommendations/routing")
def routing_recommendations(deps: Deps) -> dict[str, Any]:
    window, snapshot = _snapshot(deps)
    found = report.routing_recommendations(snapshot)
    return {"window": window, "windowSeconds": snapshot.window_s, "recommendations": report.as_dicts(found)}


@router.get("/recommendations/cost-optimization")
def cost_recommendations(deps: Deps) -> dict[str, Any]:
    window, snapshot = _snapshot(deps)
    weights = stored_weights(deps.config.get(TRAFFIC_WEIGHTS_KEY).value)
    found = report.cost_recommendations(snapshot, weights)
    return {"window": window, "windowSeconds": snapshot.window_s, "recommendations": report.as_dicts(found)}
