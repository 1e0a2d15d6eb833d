"""The runbooks' dashboards and saved Logs Insights queries in the synthesized template."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

import pytest

from functions.app.chat.serve import record_request as record
from functions.domain.alarms import definitions
from functions.domain.routing.matrix import OperationType
from tests.infrastructure.conftest import Synthesized

DASHBOARDS = ("main", "performance", "routing", "cost", "security", "failover")


def _body(synthesized: Synthesized, name: str) -> dict[str, Any]:
    """A dashboard's body, its CloudFormation references rendered as `<logical id>`."""
    (dashboard,) = [
        d["Properties"]
        for d in synthesized.of_type("AWS::CloudWatch::Dashboard").values()
        if d["Properties"]["DashboardName"] == f"{synthesized.config.stack_name}-{name}"
    ]
    body = dashboard["DashboardBody"]
    if isinstance(body, str):
        return json.loads(body)
    _, parts = body["Fn::Join"]
    return json.loads("".join(p if isinstance(p, str) else f"<{_reference(p)}>" for p in parts))


def _reference(part: dict[str, Any]) -> str:
    if "Ref" in part:
        return part["Ref"]
    if "Fn::GetAtt" in part:
        return part["Fn::GetAtt"][0]
    return next(iter(part))


def _widgets(synthesized: Synthesized, name: str) -> dict[str, dict[str, Any]]:
    """The titled widgets by title (text widgets have none)."""
    return {
        w["properties"]["title"]: w["properties"]
        for w in _body(synthesized, name)["widgets"]
        if "title" in w["properties"]
    }


def _metric_rows(widget: dict[str, Any]) -> list[list[Any]]:
    return [row for row in widget.get("metrics", []) if not isinstance(row[0], dict)]


def _annotations(widget: dict[str, Any]) -> set[float]:
    return {a["value"] for a in widget.get("annotations", {}).get("horizontal", [])}


def _expressions(widget: dict[str, Any]) -> list[str]:
    return [row[0]["expression"] for row in widget.get("metrics", []) if isinstance(row[0], dict)]


def test_the_runbook_dashboards_exist(synthesized: Synthesized) -> None:
    names = {d["Properties"]["DashboardName"] for d in synthesized.of_type("AWS::CloudWatch::Dashboard").values()}
    assert names == {f"{synthesized.config.stack_name}-{n}" for n in DASHBOARDS}


def test_the_main_dashboard_shows_health_traffic_errors_and_every_alarm(synthesized: Synthesized) -> None:
    widgets = _widgets(synthesized, "main")
    alarm_ids = {
        *synthesized.of_type("AWS::CloudWatch::Alarm"),
        *synthesized.of_type("AWS::CloudWatch::CompositeAlarm"),
    }
    shown = {re.sub(r"[<>]", "", arn) for arn in widgets["Alarms"]["alarms"]}
    assert shown == alarm_ids
    assert {row[1] for row in _metric_rows(widgets["Health: failed health checks by provider"])} == {
        "HealthCheckFailure"
    }
    assert {row[3] for row in _metric_rows(widgets["Traffic: requests by route"])} == {"direct", "mcp"}
    error_rate = definitions.by_key()["critical-error-rate"]
    assert _expressions(widgets["Errors: error rate %"]) == [error_rate.ratio.expression()]
    assert _annotations(widgets["Errors: error rate %"]) == {error_rate.threshold}


def test_the_performance_dashboard_has_p50_p95_p99_by_route_and_by_provider(synthesized: Synthesized) -> None:
    widgets = _widgets(synthesized, "performance")

    def stats(title: str) -> set[tuple[str, str]]:
        return {(row[3], row[-1]["stat"]) for row in _metric_rows(widgets[title])}

    percentiles = ("p50", "p95", "p99")
    assert stats("Latency by route: P50 / P95 / P99 (ms)") == {(r, s) for r in ("direct", "mcp") for s in percentiles}
    providers = (*definitions.DIRECT_PROVIDERS, definitions.MCP)
    assert stats("Latency by provider: P50 / P95 / P99 (ms)") == {(p, s) for p in providers for s in percentiles}


def test_the_routing_dashboard_draws_fallback_rate_and_efficiency_with_their_alarm_thresholds(
    synthesized: Synthesized,
) -> None:
    widgets = _widgets(synthesized, "routing")
    by_key = definitions.by_key()
    for title, key in (
        ("Fallback rate %", "warning-fallback-rate"),
        ("Routing efficiency %", "info-routing-efficiency"),
    ):
        assert _expressions(widgets[title]) == [by_key[key].ratio.expression()]
        assert _annotations(widgets[title]) == {by_key[key].threshold}
    breakers = {row[1] for row in _metric_rows(widgets["Circuit breaker transitions by provider"])}
    assert breakers == {"BreakerTo_open", "BreakerTo_half_open", "BreakerTo_closed"}


def test_the_cost_dashboard_shows_tokens_cost_and_budget_against_both_budget_alarms(synthesized: Synthesized) -> None:
    widgets = _widgets(synthesized, "cost")
    by_key = definitions.by_key()
    assert {row[1] for row in _metric_rows(widgets["Tokens by provider"])} == {"InputTokens", "OutputTokens"}
    assert {row[1] for row in _metric_rows(widgets["Cost (USD) by provider"])} == {"CostUSD"}
    budget = {by_key["info-cost-budget"].threshold, by_key["critical-cost-budget"].threshold}
    assert _annotations(widgets["Budget utilization %"]) == budget


def _queries(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    prefix = synthesized.config.stack_name
    return {
        q["Properties"]["Name"].removeprefix(f"{prefix}/"): q["Properties"]
        for q in synthesized.of_type("AWS::Logs::QueryDefinition").values()
    }


def test_saved_queries_group_errors_by_type_and_routing_decisions_by_operation_route_and_reason(
    synthesized: Synthesized,
) -> None:
    queries = _queries(synthesized)
    assert set(queries) == {
        "errors-by-type",
        "routing-decisions",
        "breaker-transitions",
        "health-probe-failures",
        "admin-denied-calls",
    }
    assert "by error, provider, operation" in queries["errors-by-type"]["QueryString"]
    assert "by operation, route, provider, reason" in queries["routing-decisions"]["QueryString"]
    router_logs = synthesized.logical_id(synthesized.stack.router.function.log_group)
    assert queries["routing-decisions"]["LogGroupNames"] == [{"Ref": router_logs}]


@pytest.mark.parametrize("name", ["errors-by-type", "routing-decisions"])
def test_the_router_queries_read_fields_the_routing_decision_line_has(
    synthesized: Synthesized, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a failed request's routing-decision line, as the router logs it
    with caplog.at_level(logging.INFO):
        record(OperationType("standard"), "mcp", "mcp", False, "matrix", time.monotonic(), error="provider_timeout")
    (line,) = [r for r in caplog.records if r.getMessage() == "routing-decision"]
    # When the query's filter and grouping fields are read / Then the line has every one of them
    query = _queries(synthesized)[name]["QueryString"]
    grouped = re.search(r" by ([\w, ]+)", query)
    assert grouped is not None
    fields = {f.strip() for f in grouped.group(1).split(",")} | set(re.findall(r"ispresent\((\w+)\)", query))
    assert all(getattr(line, field, None) is not None for field in fields), fields
