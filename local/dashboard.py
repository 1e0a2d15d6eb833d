"""The local dashboard page: the main dashboard's widgets on one page, refreshing live, computed by the same
functions as the health and admin routes. Served only by the local gateway on 127.0.0.1, without a token: a
read-only view that holds no client key, token or secret."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from functions.domain.errors import HybridRoutingError, InvalidRequest
from functions.domain.reports import metrics as report
from functions.domain.reports.metrics import MetricsSnapshot
from functions.domain.rollout.plan import RouteState, plan_for
from functions.domain.thresholds import DASHBOARD_REFRESH_BOUNDS_SECONDS, DASHBOARD_REFRESH_SECONDS, DASHBOARD_WINDOW
from functions.shared.http_errors import from_domain

STATIC = Path(__file__).with_name("dashboard_static")
# The page loads only its own files: no CDN, no inline script.
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:", "Cache-Control": "no-store"}


@dataclass(frozen=True, slots=True)
class Spend:
    """The month's spend as the router's budget check sees it."""

    spent_usd: float | None  # None: the spend table could not be read
    monthly_budget_usd: float | None  # None: no budget configured
    utilization_percent: float | None
    level: str | None


@dataclass(frozen=True, slots=True)
class Sources:
    """What one refresh reads."""

    snapshot: MetricsSnapshot
    health: dict[str, Any]  # /health/detailed's body, plus canServe
    breakers: dict[str, Any]  # /admin/health/circuit-breakers' body
    route: RouteState  # weights and rollout lock of traffic-weights#direct
    alarms: dict[str, Any]  # /health/alerts' data
    spend: Spend


# --- the view (pure) ---------------------------------------------------------------------------
def build_view(window: str, sources: Sources, now: float) -> dict[str, Any]:
    snapshot = sources.snapshot
    return {
        "generatedAt": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
        "window": window,
        "windowSeconds": snapshot.window_s,
        "health": sources.health,
        "summary": report.health_summary(snapshot),
        "traffic": report.routing_distribution(snapshot),
        "latency": report.provider_latencies(snapshot),
        "errors": report.error_breakdown(snapshot),
        "cache": report.cache_performance(snapshot),
        "breakers": sources.breakers,
        "rollout": rollout_view(sources.route),
        "alarms": sources.alarms,
        "budget": budget_view(report.cost_breakdown(snapshot), sources.spend),
    }


def rollout_view(route: RouteState) -> dict[str, Any]:
    """The route's weights and its rollout, if one holds the lock (at most one per route), with the
    runbook's default plan of its kind; `step` is the index of the step it is on (-1: none yet)."""
    body = route.as_dict()
    body["active"] = route.lock is not None
    if route.lock is not None:
        body["lock"]["defaultPlan"] = plan_for(route.lock.kind).as_dict()
    return body


def budget_view(cost: dict[str, Any], spend: Spend) -> dict[str, Any]:
    """BudgetUtilizationPercent over the window (the metric the router emits per admitted request),
    the month's spend behind it, and what the window's requests cost."""
    return {
        **cost["budget"],
        "spentUsd": None if spend.spent_usd is None else round(spend.spent_usd, 6),
        "monthlyBudgetUsd": spend.monthly_budget_usd,
        "spendUtilizationPercent": None if spend.utilization_percent is None else round(spend.utilization_percent, 2),
        "level": spend.level,
        "windowCostUsd": cost["total"]["costUsd"],
        "costByProvider": {name: entry["costUsd"] for name, entry in cost["byProvider"].items()},
    }


# --- the sources (I/O) -------------------------------------------------------------------------
def gather(window_s: int) -> Sources:
    from functions.adapters.cloudwatch import get_metrics_source
    from functions.adapters.dynamodb.rollouts import RolloutStore
    from functions.app.admin.breakers import breaker_report
    from functions.app.admin.wiring import get_admin_dependencies
    from functions.app.chat.wiring import get_dependencies
    from functions.handlers import router

    detailed = router.health_detailed()
    return Sources(
        snapshot=get_metrics_source().query(window_s),
        health={**(detailed.body or {}), "canServe": detailed.status_code == 200},
        breakers=breaker_report(get_admin_dependencies()),
        route=RolloutStore(get_admin_dependencies().config).get(),
        alarms=router.health_alerts()["data"],
        spend=_spend(get_dependencies()),
    )


def _spend(deps: Any) -> Spend:
    spent, budget = deps.spend.spent_usd(), deps.budget
    if spent is None or budget.monthly_budget_usd is None:
        return Spend(spent, budget.monthly_budget_usd, None, None)
    return Spend(spent, budget.monthly_budget_usd, budget.utilization(spent), budget.level(spent))


def parse_refresh(raw: str | None) -> int:
    low, high = DASHBOARD_REFRESH_BOUNDS_SECONDS
    if raw is None:
        return DASHBOARD_REFRESH_SECONDS
    text = raw.strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidRequest(f"refresh must be a whole number of seconds from {low} to {high}, not {text[:20]!r}")
    return int(text)


# --- HTTP --------------------------------------------------------------------------------------
def _error(exc: HybridRoutingError) -> Response:
    answer = from_domain(exc)
    return Response(answer.body, status_code=answer.status_code, media_type="application/json")


async def page(request: Request) -> Response:
    """The page, with its refresh interval (`?refresh=` seconds) written in; the script passes the
    window (`?window=`, checked here first) on to the data route."""
    try:
        refresh = parse_refresh(request.query_params.get("refresh"))
        report.parse_window(request.query_params.get("window"), DASHBOARD_WINDOW)
    except InvalidRequest as exc:
        return _error(exc)
    html = (STATIC / "index.html").read_text(encoding="utf-8").replace("{{refresh_seconds}}", str(refresh))
    return HTMLResponse(html, headers=PAGE_HEADERS)


async def data(request: Request) -> Response:
    try:
        window, seconds = report.parse_window(request.query_params.get("window"), DASHBOARD_WINDOW)
        sources = await run_in_threadpool(gather, seconds)
    except HybridRoutingError as exc:
        return _error(exc)
    return JSONResponse(build_view(window, sources, time.time()), headers={"Cache-Control": "no-store"})


def routes() -> list[BaseRoute]:
    return [
        Route("/local/dashboard", page, methods=["GET"]),
        Route("/local/dashboard/data", data, methods=["GET"]),
        Mount("/local/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static"),
    ]
