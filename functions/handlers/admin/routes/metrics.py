"""The router's metrics as the runbooks read them, and the recommendations that follow from them
(production-operations.md, "Common Issues and Solutions" and "Cost Optimization")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from functions.adapters.dynamodb.schema import TRAFFIC_WEIGHTS_KEY
from functions.domain.reports import metrics as report
from functions.domain.reports.metrics import MetricsSnapshot
from functions.domain.thresholds import METRICS_WINDOW_DEFAULT
from functions.handlers.admin.routes.common import deps

router = Router()


def _snapshot() -> tuple[str, MetricsSnapshot]:
    params = router.current_event.query_string_parameters or {}
    window, seconds = report.parse_window(params.get("window"), METRICS_WINDOW_DEFAULT)
    return window, deps().metrics.query(seconds)


def _answer(build: Callable[[MetricsSnapshot], dict[str, Any]]) -> dict[str, Any]:
    window, snapshot = _snapshot()
    return {"window": window, **build(snapshot)}


@router.get("/admin/metrics/routing-distribution")
def routing_distribution() -> dict[str, Any]:
    return _answer(report.routing_distribution)


@router.get("/admin/metrics/provider-latencies")
def provider_latencies() -> dict[str, Any]:
    return _answer(report.provider_latencies)


@router.get("/admin/metrics/error-breakdown")
def error_breakdown() -> dict[str, Any]:
    return _answer(report.error_breakdown)


@router.get("/admin/metrics/cache-performance")
def cache_performance() -> dict[str, Any]:
    return _answer(report.cache_performance)


@router.get("/admin/metrics/routing-efficiency")
def routing_efficiency() -> dict[str, Any]:
    return _answer(report.routing_efficiency)


@router.get("/admin/metrics/cost-breakdown")
def cost_breakdown() -> dict[str, Any]:
    return _answer(report.cost_breakdown)


@router.get("/admin/recommendations/routing")
def routing_recommendations() -> dict[str, Any]:
    window, snapshot = _snapshot()
    found = report.routing_recommendations(snapshot)
    return {"window": window, "windowSeconds": snapshot.window_s, "recommendations": report.as_dicts(found)}


@router.get("/admin/recommendations/cost-optimization")
def cost_recommendations() -> dict[str, Any]:
    window, snapshot = _snapshot()
    weights = deps().config.get(TRAFFIC_WEIGHTS_KEY).value.get("weights") or {"bedrock": 100}
    found = report.cost_recommendations(snapshot, weights)
    return {"window": window, "windowSeconds": snapshot.window_s, "recommendations": report.as_dicts(found)}
