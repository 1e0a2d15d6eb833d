"""The alarm definitions: one per runbook line, numbers from the thresholds module, and dimensions
exactly as the functions emit them (an alarm on a dimension set nobody emits never fires)."""

from __future__ import annotations

import ast
import json
import time
from itertools import product
from pathlib import Path
from types import SimpleNamespace

import pytest

from functions.adapters.dynamodb.breakers import record_attempt
from functions.app.chat.serve import record_request as record
from functions.app.health.checks import CheckResult
from functions.domain import thresholds
from functions.domain.alarms import definitions as alarms
from functions.domain.health_check import HealthRecord, ProbeOutcome
from functions.domain.reports.metrics import routing_efficiency_percent
from functions.domain.routing.matrix import OperationType
from functions.handlers.health_check import _report
from functions.shared.observability import metrics
from local.metrics_sink import LocalMetrics, LocalMetricsStore
from tests.paths import REPO_ROOT
from tests.runbook_alarm_lines import RUNBOOK_LINES, SYMBOL, RunbookLine

PREFIX = "HybridRouting"
DEFINITIONS = alarms.by_key()


def _emf_lines(out: str) -> list[dict]:
    return [doc for line in out.splitlines() if line.startswith("{") and "_aws" in (doc := json.loads(line))]


def _dimension_sets(document: dict) -> list[dict[str, str]]:
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    return [{name: document[name] for name in names} for names in directive["Dimensions"]]


def _metric_names(document: dict) -> set[str]:
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    return {m["Name"] for m in directive["Metrics"]}


# --- catalogue ---------------------------------------------------------------------------------
@pytest.mark.parametrize("line", RUNBOOK_LINES, ids=[line.key for line in RUNBOOK_LINES])
def test_each_runbook_line_is_an_alarm_with_the_thresholds_modules_numbers(line: RunbookLine):
    definition = DEFINITIONS[line.key]
    assert definition.severity == line.severity
    assert tuple(q.metric for q in definition.queries) == line.metrics
    assert {q.statistic for q in definition.queries} == {line.statistic}
    assert SYMBOL[definition.comparison] == line.comparison
    assert definition.threshold == line.threshold
    assert definition.window_s == line.window_s
    assert definition.datapoints_to_alarm == definition.evaluation_periods  # "for N minutes": every period breaches


def test_the_alarm_modules_hold_no_number_of_their_own():
    # Every threshold, period and count comes from functions/domain/thresholds.py: the only literals allowed are
    # the percent scale (100), "one failure" (1) and zero.
    for path in (Path(alarms.__file__), REPO_ROOT / "stacks" / "constructs" / "alarms.py"):
        numbers = {
            node.value
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and type(node.value) in (int, float)
        }
        assert numbers <= {0, 1, 100}, path


def test_the_catalogue_is_the_runbook_lines_plus_mcps_share_of_the_outage():
    assert set(DEFINITIONS) == {line.key for line in RUNBOOK_LINES} | {"warning-mcp-server-errors"}


def test_alarm_names_follow_the_shared_convention():
    for definition in DEFINITIONS.values():
        name = definition.name(PREFIX)
        if definition.trigger is not None:
            assert name == f"{PREFIX}-provider-failover-{definition.provider}-{definition.trigger}"
            assert definition.trigger in alarms.TRIGGERS
        else:
            assert name == f"{PREFIX}-{definition.severity}-{definition.slug}"


def test_p95_alarms_use_the_extended_statistic_and_rates_use_metric_math():
    assert DEFINITIONS["critical-p95-latency"].queries[0].statistic == "p95"
    assert DEFINITIONS["provider-failover-google-latency"].queries[0].statistic == "p95"
    assert DEFINITIONS["critical-error-rate"].ratio.expression() == "100 * errors / requests"
    assert DEFINITIONS["warning-cache-hit-rate"].ratio.expression() == (
        "IF((hits + misses) > 0, 100 * hits / (hits + misses), 100)"
    )


def test_a_ratio_evaluates_like_its_expression_reads():
    cache = DEFINITIONS["warning-cache-hit-rate"].ratio
    assert cache.evaluate({"hits": 3.0, "misses": 1.0}) == 75.0
    assert cache.evaluate({"hits": 0.0, "misses": 0.0}) == 100.0  # no lookup in the period: nothing missed
    assert cache.evaluate({"hits": 3.0, "misses": None}) is None  # a missing operand: no datapoint


def test_the_outage_composite_needs_every_direct_provider_and_mcp():
    composite = alarms.system_outage(("bedrock", "google"))
    assert composite.name(PREFIX) == f"{PREFIX}-critical-complete-system-outage"
    assert composite.rule(PREFIX) == (
        f'ALARM("{PREFIX}-provider-failover-bedrock-server-errors") AND '
        f'ALARM("{PREFIX}-provider-failover-google-server-errors") AND ALARM("{PREFIX}-warning-mcp-server-errors")'
    )
    assert set(composite.all_of) <= set(DEFINITIONS)


def test_breaches_compares_like_cloudwatch():
    latency = DEFINITIONS["critical-p95-latency"]
    assert latency.breaches(thresholds.CRITICAL_P95_LATENCY_MS + 1) and not latency.breaches(
        thresholds.CRITICAL_P95_LATENCY_MS
    )
    budget = DEFINITIONS["critical-cost-budget"]
    assert budget.breaches(thresholds.BUDGET_REFUSE_PERCENT)


# --- the emitted metrics match the alarms ---------------------------------------------------------
def test_an_attempt_emits_the_failover_alarms_metrics_with_their_exact_dimensions(capsys):
    record_attempt("bedrock", "server_error", 42.0)
    record_attempt("bedrock", "throttled", 7.0)
    first, second = _emf_lines(capsys.readouterr().out)
    for key in ("provider-failover-bedrock-server-errors", "provider-failover-bedrock-throttling"):
        for query in DEFINITIONS[key].queries:
            assert _dimension_sets(first) == [query.dimension_map]
            assert query.metric in _metric_names(first)
    assert (first["ProviderServerErrors"], first["ProviderThrottles"], first["ProviderLatency"]) == (
        [1.0],
        [0.0],
        [42.0],
    )
    assert (second["ProviderServerErrors"], second["ProviderThrottles"]) == ([0.0], [1.0])
    (latency,) = DEFINITIONS["provider-failover-bedrock-latency"].queries
    assert latency.metric in _metric_names(first) and _dimension_sets(first) == [latency.dimension_map]


def test_a_request_emits_the_service_wide_alarms_metrics_under_the_service_dimension_set(capsys):
    record(OperationType("standard"), "mcp", "mcp", False, "matrix", time.monotonic())
    metrics.flush_metrics()
    (document,) = _emf_lines(capsys.readouterr().out)
    service_wide = [d for d in DEFINITIONS.values() if d.queries[0].dimensions == alarms.service_dimensions()]
    others = {"BudgetUtilizationPercent", "CacheMisses", "TimeToFirstToken"}  # a stream emits TimeToFirstToken
    emitted = {q.metric for d in service_wide for q in d.queries} - others
    assert emitted <= _metric_names(document)
    assert dict(alarms.service_dimensions()) in _dimension_sets(document)


def test_a_committed_stream_emits_the_time_to_first_token_alarms_metric_service_wide_and_by_cell(capsys):
    from functions.app.chat.serve import RequestTrace
    from functions.app.chat.streaming import Relay

    served = SimpleNamespace(started=time.perf_counter(), attempts=1, target=SimpleNamespace(provider="google"))
    relay = Relay(None, served, None, RequestTrace(OperationType("standard"), time.monotonic()), None, False, None, "r")  # type: ignore[arg-type]
    relay.committed()
    (document,) = _emf_lines(capsys.readouterr().out)
    for key in ("critical-p95-time-to-first-token", "warning-p95-time-to-first-token"):
        (query,) = DEFINITIONS[key].queries
        assert query.metric in _metric_names(document)
        assert query.dimension_map in _dimension_sets(document)
    assert {"Provider": "google", "OperationType": "standard", "service": "hybrid-router"} in _dimension_sets(document)


def test_a_failed_health_probe_emits_the_bedrock_connection_alarms_metric(capsys, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "health-check")  # as the health checker's function is deployed
    outcome = ProbeOutcome("bedrock", ok=False, latency_ms=5000, checked_at=0, error_code="provider_timeout")
    _report(CheckResult(outcome, HealthRecord("bedrock"), None))
    (document,) = _emf_lines(capsys.readouterr().out)
    (query,) = DEFINITIONS["critical-bedrock-connection"].queries
    assert query.metric in _metric_names(document)
    assert _dimension_sets(document) == [query.dimension_map]


def test_routing_efficiency_from_the_emitted_metrics_equals_the_metrics_reports(capsys):
    # A failed request is never a fallback (the error handler records fallback False).
    every = product(("emergency", "standard", "background"), ("direct", "mcp"), (False, True), (None, "x"))
    outcomes = [(o, r, fallback, error) for o, r, fallback, error in every if not (fallback and error)]
    for operation, route, fallback, error in outcomes:
        record(OperationType(operation), route, "bedrock" if route == "direct" else "mcp", fallback, "r", 0.0, error)
        metrics.flush_metrics()
    store = LocalMetricsStore()
    lines = capsys.readouterr().out.splitlines()
    assert sum(store.ingest_line(line) for line in lines) == len(outcomes)
    documents = _emf_lines("\n".join(lines))
    values = {"primary": sum(d["PrimaryServed"][0] for d in documents), "requests": float(len(documents))}
    expected = routing_efficiency_percent(LocalMetrics(store).query(3600))
    assert DEFINITIONS["info-routing-efficiency"].ratio.evaluate(values) == pytest.approx(
        expected, abs=0.01
    )  # the report rounds
