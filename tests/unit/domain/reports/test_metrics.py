"""The metrics reports and recommendations: pure functions over a metrics snapshot."""

from __future__ import annotations

import pytest

from functions.domain.errors import InvalidRequest
from functions.domain.reports import metrics as report
from functions.domain.reports.metrics import Cell, Counts, Latency, MetricsSnapshot
from functions.domain.thresholds import (
    CACHE_HIT_TARGET_PERCENT,
    CACHE_HIT_WARN_PERCENT,
    COST_RATIO_RECOMMEND,
    FALLBACK_RATE_WARN_PERCENT,
    RECOMMEND_P95_LATENCY_MS,
    ROUTING_EFFICIENCY_ALARM_PERCENT,
    ROUTING_EFFICIENCY_TARGET_PERCENT,
)
from local.metrics_sink import LocalMetrics, LocalMetricsStore


def cell(route, provider, operation, **counts):
    return Cell(route, provider, operation, Counts(**counts))


def snapshot(*cells, latency=None, budget=None):
    return MetricsSnapshot(window_s=3600, cells=cells, latency=latency or {}, budget_utilization_percent=budget)


# --- window -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "seconds"), [("5m", 300), ("1h", 3600), ("24h", 86_400), (None, 3600), ("7d", 604_800)]
)
def test_a_window_is_parsed_into_seconds(raw, seconds):
    assert report.parse_window(raw, "1h")[1] == seconds


@pytest.mark.parametrize("raw", ["", "5", "h", "5w", "30s", "30d", "1.5h"])
def test_a_malformed_or_out_of_bounds_window_is_invalid(raw):
    with pytest.raises(InvalidRequest):
        report.parse_window(raw, "1h")


# --- reports ----------------------------------------------------------------------------------
def test_the_routing_distribution_gives_each_route_provider_and_operation_its_share():
    given = snapshot(cell("direct", "bedrock", "emergency", requests=3), cell("mcp", "mcp", "standard", requests=1))
    result = report.routing_distribution(given)
    assert result["totalRequests"] == 4
    assert result["byRoute"] == {"direct": {"requests": 3, "percent": 75.0}, "mcp": {"requests": 1, "percent": 25.0}}
    assert result["byProvider"]["mcp"]["percent"] == 25.0


def test_routing_efficiency_counts_primary_route_requests_without_fallback_or_error():
    given = snapshot(
        cell("direct", "bedrock", "infrastructure", requests=10, fallbacks=1, errors=1),  # 8 on primary
        cell("mcp", "mcp", "infrastructure", requests=2, fallbacks=2),  # fell back to MCP
        cell("mcp", "mcp", "standard", requests=8),  # primary of standard
    )
    assert report.routing_efficiency_percent(given) == 80.0
    result = report.routing_efficiency(given)
    assert result["byOperation"]["infrastructure"]["efficiencyPercent"] == pytest.approx(66.67)
    assert result["status"] == "watch"


@pytest.mark.parametrize(
    ("value", "status"),
    [(None, "no-data"), (95.0, "ok"), (85.0, "watch"), (75.0, "below-target"), (50.0, "incident")],
)
def test_routing_efficiency_status_follows_the_runbook_thresholds(value, status):
    assert report.efficiency_status(value) == status


def test_cache_performance_compares_the_hit_rate_with_both_targets():
    given = snapshot(cell("mcp", "mcp", "standard", requests=10, cache_hits=3, cache_misses=7))
    result = report.cache_performance(given)
    assert result["hitRatePercent"] == 30.0 and result["status"] == "warning"
    assert result["targets"] == {"hitRateTargetPercent": CACHE_HIT_TARGET_PERCENT, "hitRateWarnPercent": 70.0}


def test_error_breakdown_sums_codes_per_provider():
    given = snapshot(
        cell("direct", "bedrock", "emergency", requests=10, errors=2, errors_by_code={"provider_timeout": 2}),
        cell("direct", "bedrock", "implementation", requests=10, errors=1, errors_by_code={"provider_timeout": 1}),
    )
    result = report.error_breakdown(given)
    assert result["byProvider"]["bedrock"] == {
        "requests": 20,
        "errors": 3,
        "errorRatePercent": 15.0,
        "byCode": {"provider_timeout": 3},
    }


def test_cost_breakdown_gives_cost_per_request_and_budget_status():
    given = snapshot(cell("direct", "bedrock", "emergency", requests=4, cost_usd=0.02), budget=85.0)
    result = report.cost_breakdown(given)
    assert result["byProvider"]["bedrock"]["costPerRequestUsd"] == 0.005
    assert result["budget"]["status"] == "warning"


def test_the_health_summary_names_no_deployment_detail():
    given = snapshot(cell("direct", "bedrock", "emergency", requests=2), latency={"all": {"all": Latency(5, 4, 9)}})
    assert set(report.health_summary(given)) == {
        "routingEfficiency",
        "requests",
        "errorRatePercent",
        "fallbackRatePercent",
        "cacheHitRatePercent",
        "p95LatencyMs",
        "windowSeconds",
    }


# --- recommendations --------------------------------------------------------------------------
def test_a_high_fallback_rate_recommends_checking_the_primary_with_its_evidence():
    given = snapshot(cell("mcp", "mcp", "infrastructure", requests=40, fallbacks=10))
    found = {r.id: r for r in report.routing_recommendations(given)}
    rec = found["fallback-rate:infrastructure"]
    assert "direct" in rec.action
    assert rec.evidence["fallbackRatePercent"] == 25.0
    assert rec.evidence["thresholdPercent"] == FALLBACK_RATE_WARN_PERCENT


def test_a_slow_provider_recommends_shifting_weight_away():
    given = snapshot(
        cell("direct", "google", "implementation", requests=30),
        latency={"provider": {"google": Latency(2000, 1800, 3500)}},
    )
    found = {r.id: r for r in report.routing_recommendations(given)}
    assert found["p95-latency:google"].evidence == {
        "provider": "google",
        "p95LatencyMs": 3500,
        "thresholdMs": RECOMMEND_P95_LATENCY_MS,
        "requests": 30,
    }


def test_low_routing_efficiency_is_reported_against_both_thresholds():
    given = snapshot(cell("mcp", "mcp", "infrastructure", requests=30, fallbacks=3))
    rec = {r.id: r for r in report.routing_recommendations(given)}["routing-efficiency"]
    assert rec.evidence["alarmBelowPercent"] == ROUTING_EFFICIENCY_ALARM_PERCENT
    assert rec.evidence["targetPercent"] == ROUTING_EFFICIENCY_TARGET_PERCENT


def test_too_few_requests_give_no_recommendation():
    given = snapshot(cell("mcp", "mcp", "infrastructure", requests=3, fallbacks=3))
    assert report.routing_recommendations(given) == []


def test_a_healthy_efficient_system_gets_no_routing_recommendation():
    given = snapshot(cell("direct", "bedrock", "emergency", requests=100))
    assert report.routing_recommendations(given) == []


def test_an_expensive_provider_with_a_cheaper_healthy_one_gets_suggested_weights():
    given = snapshot(
        cell("direct", "bedrock", "implementation", requests=50, cost_usd=1.0),
        cell("direct", "google", "implementation", requests=50, cost_usd=0.1),
    )
    rec = {r.id: r for r in report.cost_recommendations(given, {"bedrock": 80, "google": 20})}[
        "expensive-provider:bedrock"
    ]
    assert rec.evidence["ratio"] == 10.0 and rec.evidence["thresholdRatio"] == COST_RATIO_RECOMMEND
    assert rec.evidence["suggestedWeights"] == {"bedrock": 40, "google": 60}


def test_a_cheaper_but_failing_provider_is_not_recommended():
    given = snapshot(
        cell("direct", "bedrock", "implementation", requests=50, cost_usd=1.0),
        cell("direct", "google", "implementation", requests=50, errors=10, cost_usd=0.1),
    )
    assert [r.id for r in report.cost_recommendations(given, {"bedrock": 100})] == []


def test_a_low_cache_hit_rate_recommends_caching_deterministic_operations():
    given = snapshot(cell("mcp", "mcp", "standard", requests=40, cache_hits=10, cache_misses=30))
    rec = {r.id: r for r in report.cost_recommendations(given, {"bedrock": 100})}["cache-hit-rate"]
    assert "deterministic" in rec.action
    assert (rec.evidence["hitRatePercent"], rec.evidence["warnPercent"]) == (25.0, CACHE_HIT_WARN_PERCENT)


def test_suggested_weights_still_sum_to_100():
    assert sum(report.suggest_weights({"bedrock": 75, "google": 25}, "bedrock", "meta").values()) == 100


# --- the local sink ---------------------------------------------------------------------------
EMF = (
    '{"_aws":{"Timestamp":%d,"CloudWatchMetrics":[{"Namespace":"HybridRouting","Dimensions":[["service"],'
    '["Route","Provider","OperationType"]],"Metrics":[{"Name":"Requests","Unit":"Count"},{"Name":"Latency",'
    '"Unit":"Milliseconds"},{"Name":"Errors_provider_timeout","Unit":"Count"}]}]},"service":"hybrid-router",'
    '"Route":"direct","Provider":"bedrock","OperationType":"emergency","Requests":[1.0],"Latency":[%f],'
    '"Errors_provider_timeout":[1.0]}'
)


def test_the_local_sink_reads_emf_lines_back_as_a_snapshot():
    store = LocalMetricsStore(clock=lambda: 1000.0)
    for latency in (10.0, 20.0, 30.0):
        assert store.ingest_line(EMF % (1_000_000, latency))
    assert not store.ingest_line('{"level":"INFO","message":"routing-decision"}')
    result = LocalMetrics(store, clock=lambda: 1001.0).query(60)
    assert result.total().requests == 3 and result.total().errors_by_code == {"provider_timeout": 3.0}
    assert result.latency["provider"]["bedrock"] == Latency(20.0, 20.0, 30.0, 30.0)


def test_the_local_sink_is_bounded_and_forgets_old_records():
    store = LocalMetricsStore(max_records=2)
    for stamp in (1_000_000, 2_000_000, 3_000_000):
        store.ingest_line(EMF % (stamp, 1.0))
    assert len(store) == 2
    assert LocalMetrics(store, clock=lambda: 3000.0).query(60).total().requests == 1
