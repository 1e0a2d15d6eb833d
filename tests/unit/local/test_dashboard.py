"""The local dashboard's data: one view over the sources, computed by the metrics reports."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from functions.domain.errors import InvalidRequest
from functions.domain.reports.metrics import Cell, Counts, Latency, MetricsSnapshot
from functions.domain.rollout.plan import Phase, RolloutKind, RolloutLock, RouteState
from functions.domain.routing.cost import BudgetPolicy
from functions.domain.thresholds import (
    BUDGET_WARN_PERCENT,
    CANARY_STEPS,
    DASHBOARD_REFRESH_BOUNDS_SECONDS,
    DASHBOARD_REFRESH_SECONDS,
)
from local.dashboard import Sources, Spend, _spend, build_view, parse_refresh

HEALTH = {"status": "healthy", "components": [], "canServe": True}
BREAKERS = {"enabled": True, "breakers": {"bedrock": {"state": "open"}}}
ALARMS = {"alerts": [{"name": "HybridRouting-critical-p95"}], "count": 1}
NO_SPEND = Spend(None, None, None, None)


def sources(snapshot: MetricsSnapshot, route: RouteState | None = None, spend: Spend = NO_SPEND) -> Sources:
    return Sources(snapshot, HEALTH, BREAKERS, route or RouteState({"bedrock": 100}, 3), ALARMS, spend)


def traffic_snapshot() -> MetricsSnapshot:
    return MetricsSnapshot(
        window_s=300,
        cells=(
            Cell("direct", "bedrock", "emergency", Counts(requests=3, errors=1, cost_usd=0.03)),
            Cell("mcp", "mcp", "standard", Counts(requests=1, cache_hits=1, cache_misses=1)),
        ),
        latency={"all": {"all": Latency(50.0, 40.0, 90.0, 120.0)}, "provider": {"bedrock": Latency(60, 50, 95, 99)}},
        budget_utilization_percent=12.345,
    )


def test_the_view_splits_traffic_by_provider_and_route_with_latency_percentiles_to_p99():
    view = build_view("5m", sources(traffic_snapshot()), 0.0)
    assert view["traffic"]["totalRequests"] == 4
    assert view["traffic"]["byProvider"] == {
        "bedrock": {"requests": 3, "percent": 75.0},
        "mcp": {"requests": 1, "percent": 25.0},
    }
    assert view["latency"]["overall"] == {"avgMs": 50.0, "p50Ms": 40.0, "p95Ms": 90.0, "p99Ms": 120.0}
    assert view["latency"]["providers"]["bedrock"]["p99Ms"] == 99


def test_the_view_carries_error_rate_cache_hit_rate_and_the_sources_as_read():
    view = build_view("5m", sources(traffic_snapshot()), 0.0)
    assert view["errors"]["overall"]["errorRatePercent"] == 25.0
    assert view["cache"]["hitRatePercent"] == 50.0
    assert (view["health"], view["breakers"], view["alarms"]) == (HEALTH, BREAKERS, ALARMS)
    assert (view["window"], view["windowSeconds"], view["generatedAt"]) == ("5m", 300, "1970-01-01T00:00:00.000+00:00")


def test_with_no_rollout_the_route_shows_its_weights_and_no_lock():
    rollout = build_view("5m", sources(MetricsSnapshot(300)), 0.0)["rollout"]
    assert rollout == {"weights": {"bedrock": 100}, "version": 3, "lock": None, "active": False}


def test_a_running_canary_shows_its_kind_step_weights_and_the_runbooks_plan():
    lock = RolloutLock("arn:exec", RolloutKind.CANARY, ("bedrock",), "google", Phase.RUNNING, 1, {"bedrock": 100})
    route = RouteState({"bedrock": 90, "google": 10}, 7, lock)
    rollout = build_view("5m", sources(MetricsSnapshot(300), route), 0.0)["rollout"]
    assert rollout["active"] is True and rollout["weights"] == {"bedrock": 90, "google": 10}
    assert (rollout["lock"]["kind"], rollout["lock"]["step"], rollout["lock"]["target"]) == ("canary", 1, "google")
    assert rollout["lock"]["defaultPlan"]["steps"] == list(CANARY_STEPS)


def test_the_budget_joins_the_reported_utilization_with_the_months_spend():
    spend = Spend(40.0, 50.0, 80.0, "warning")
    budget = build_view("5m", sources(traffic_snapshot(), spend=spend), 0.0)["budget"]
    assert budget["utilizationPercent"] == 12.35 and budget["status"] == "ok"
    assert (budget["spentUsd"], budget["monthlyBudgetUsd"], budget["spendUtilizationPercent"]) == (40.0, 50.0, 80.0)
    assert budget["level"] == "warning" and budget["warnPercent"] == BUDGET_WARN_PERCENT
    assert budget["windowCostUsd"] == 0.03 and budget["costByProvider"] == {"bedrock": 0.03, "mcp": 0.0}


def test_the_months_spend_is_measured_against_the_routers_budget_policy():
    deps = SimpleNamespace(spend=SimpleNamespace(spent_usd=lambda: 81.0), budget=BudgetPolicy(100.0))
    assert _spend(deps) == Spend(81.0, 100.0, 81.0, "warning")


@pytest.mark.parametrize(("spent", "monthly"), [(None, 100.0), (5.0, None)])
def test_without_a_budget_or_a_readable_spend_there_is_no_utilization(spent, monthly):
    deps = SimpleNamespace(spend=SimpleNamespace(spent_usd=lambda: spent), budget=BudgetPolicy(monthly))
    assert _spend(deps) == Spend(spent, monthly, None, None)


def test_refresh_defaults_to_the_runbooks_interval_and_accepts_its_bounds():
    low, high = DASHBOARD_REFRESH_BOUNDS_SECONDS
    assert parse_refresh(None) == DASHBOARD_REFRESH_SECONDS
    assert (parse_refresh(str(low)), parse_refresh(f" {high} ")) == (low, high)


@pytest.mark.parametrize("raw", ["", "0", "-1", "1.5", "soon", "3601", "1e3"])
def test_a_refresh_outside_its_bounds_or_not_whole_seconds_is_invalid(raw):
    with pytest.raises(InvalidRequest, match=r"^refresh must be"):
        parse_refresh(raw)
