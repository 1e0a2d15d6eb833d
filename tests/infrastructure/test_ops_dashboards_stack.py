"""The security dashboard (production-operations.md, "Dashboard URLs": "Compliance and Security Metrics") and
the failover dashboard (provider-failover.md, "Monitoring Dashboard": "AI Provider Failover") in the
synthesized template, against the resources and the metrics the functions emit."""

from __future__ import annotations

import json
import re
from typing import Any

from cli.hybridctl import dashboard as cli
from functions.domain import thresholds as t
from functions.domain.alarms import definitions
from functions.domain.automation.rules import Outcome
from functions.shared import observability as o
from stacks.constructs.alarms import rollout_kind
from stacks.constructs.ops_dashboards import DENIED_ADMIN_FIELDS, RUNBOOK_ALERTS, RUNBOOK_METRICS
from tests.infrastructure.conftest import Synthesized
from tests.infrastructure.test_dashboards_stack import _annotations, _body, _expressions, _metric_rows, _widgets


def _text(synthesized: Synthesized, name: str) -> str:
    (text,) = [w["properties"]["markdown"] for w in _body(synthesized, name)["widgets"] if w["type"] == "text"]
    return text


def _stage(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    ((stage_id, stage),) = synthesized.of_type("AWS::ApiGateway::Stage").items()
    return stage_id, stage["Properties"]


# --- security --------------------------------------------------------------------------------------------
def test_security_api_graphs_read_the_router_apis_stage_and_both_route_families(synthesized: Synthesized) -> None:
    widgets = _widgets(synthesized, "security")
    ((_, api),) = synthesized.of_type("AWS::ApiGateway::RestApi").items()
    stage_id, _ = _stage(synthesized)
    # Then the whole-API graph is by ApiName and Stage (the deployed stage)
    whole = _metric_rows(widgets["API Gateway: requests, 4XX and 5XX (whole API)"])
    assert {(r[0], r[1]) for r in whole} == {("AWS/ApiGateway", m) for m in ("Count", "4XXError", "5XXError")}
    assert all(r[2:6] == ["ApiName", api["Properties"]["Name"], "Stage", f"<{stage_id}>"] for r in whole)
    # And the router's data plane is its declared method; the admin routes are searched by their resource
    latency = widgets["API Gateway: P95 latency, router vs admin (ms)"]
    (router,) = _metric_rows(latency)
    assert router[1:8] == [
        "Latency",
        "ApiName",
        api["Properties"]["Name"],
        "Method",
        "POST",
        "Resource",
        "/v1/chat/completions",
    ]
    (admin,) = _expressions(latency)
    assert admin.startswith('SEARCH(\'{AWS/ApiGateway,ApiName,Method,Resource,Stage} MetricName="Latency"')
    assert "Resource=admin" in admin and f'Stage="<{stage_id}>"' in admin and "'p95'" in admin


def test_security_counts_admin_authorizations_by_every_outcome_and_audited_changes_by_category(
    synthesized: Synthesized,
) -> None:
    widgets = _widgets(synthesized, "security")
    rows = _metric_rows(widgets["Admin authorizations by outcome"])
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in rows] == [
        (o.AUTHORIZATION_METRIC, o.AUTHORIZATION_DIMENSION, outcome, "service", o.SERVICE)
        for outcome in o.AUTH_OUTCOMES
    ]
    (search,) = _expressions(widgets["Admin changes: audited changes by category"])
    assert search == (
        f"SEARCH('{{{o.NAMESPACE},{o.AUDIT_DIMENSION},service}} MetricName=\"{o.AUDIT_METRIC}\"', 'Sum', "
        f"{t.ALARM_PERIOD_SECONDS})"
    )


def test_security_graphs_the_client_quota_refusals_and_the_requests_served_unchecked(synthesized: Synthesized) -> None:
    widgets = _widgets(synthesized, "security")
    (title,) = [t for t in widgets if t.startswith("Client keys: requests refused over a quota")]
    rows = _metric_rows(widgets[title])
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (o.NAMESPACE, metric, "service", o.SERVICE) for metric in ("ClientQuotaRejected", "ClientQuotaUnavailable")
    ]


def test_denied_admin_calls_are_queried_from_the_access_log_fields_the_stage_writes(synthesized: Synthesized) -> None:
    # Given the stage's access log: its group and the JSON fields of each line
    _, stage = _stage(synthesized)
    log_group = stage["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][0]
    written = set(json.loads(stage["AccessLogSetting"]["Format"])) | {"@timestamp"}
    # When the dashboard's query widget and the saved query are read
    (widget,) = [w["properties"] for w in _body(synthesized, "security")["widgets"] if w["type"] == "log"]
    (saved,) = [
        q["Properties"]
        for q in synthesized.of_type("AWS::Logs::QueryDefinition").values()
        if q["Properties"]["Name"] == f"{synthesized.config.stack_name}/admin-denied-calls"
    ]
    # Then both read that log group, every field they use is written, and they keep /admin 401s and 403s only
    assert widget["query"].startswith(f"SOURCE '<{log_group}>' | ")
    assert saved["LogGroupNames"] == [{"Ref": log_group}]
    for query in (widget["query"], saved["QueryString"]):
        assert "filter resourcePath like /^\\/admin/ and status like /^40[13]$/" in query
        (fields,) = re.findall(r"fields ([^\n|]+)", query)
        assert {f.strip() for f in fields.split(",")} == set(DENIED_ADMIN_FIELDS) <= written


def test_security_text_points_to_the_compliance_routes_and_names_the_waf(synthesized: Synthesized) -> None:
    text = _text(synthesized, "security")
    assert "GET /admin/compliance/gdpr-status" in text and "GET /admin/compliance/data-residency" in text
    assert "WAF" in text and "per-IP rate limit" in text and synthesized.of_type("AWS::WAFv2::WebACLAssociation")


# --- failover --------------------------------------------------------------------------------------------
def test_the_failover_alerts_widget_shows_failover_failure_every_extended_outage_and_the_failover_triggers(
    synthesized: Synthesized,
) -> None:
    widgets = _widgets(synthesized, "failover")
    shown = {
        re.sub(r"[<>]", "", arn)
        for arn in widgets["Alerts: failover_failure, extended_outage, failover triggers"]["alarms"]
    }
    alarm_ids = {
        r["Properties"]["AlarmName"]: name for name, r in synthesized.of_type("AWS::CloudWatch::Alarm").items()
    }
    prefix = synthesized.config.stack_name
    expected = {f"{prefix}-critical-failover-failure"}
    expected |= {f"{prefix}-critical-extended-outage-{p}" for p in (*definitions.DIRECT_PROVIDERS, definitions.MCP)}
    expected |= {
        f"{prefix}-provider-failover-{p}-{trigger}"
        for p in definitions.DIRECT_PROVIDERS
        for trigger in definitions.TRIGGERS
    }
    assert shown == {alarm_ids[name] for name in expected}


def test_provider_health_draws_each_targets_failed_probe_share_against_the_extended_outage_threshold(
    synthesized: Synthesized,
) -> None:
    widget = _widgets(synthesized, "failover")["provider_health: failed health probes % (extended_outage)"]
    targets = (*definitions.DIRECT_PROVIDERS, definitions.MCP)
    assert _expressions(widget) == [f"100 * {p}_failed / ({p}_failed + {p}_ok)" for p in targets]
    assert {(r[1], r[3]) for r in _metric_rows(widget)} == {
        (metric, p) for p in targets for metric in ("HealthCheckFailure", "HealthCheckSuccess")
    }
    assert _annotations(widget) == {t.EXTENDED_OUTAGE_FAILED_PROBES_PERCENT}


def test_failover_events_show_every_state_machines_executions_and_the_automations_decisions(
    synthesized: Synthesized,
) -> None:
    widgets = _widgets(synthesized, "failover")
    assert synthesized.stack.workflows.state_machines
    for name, machine in synthesized.stack.workflows.state_machines.items():
        rows = _metric_rows(widgets[f"failover_events: {name} executions"])
        assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
            ("AWS/States", f"Executions{status}", "StateMachineArn", f"<{synthesized.logical_id(machine)}>")
            for status in ("Started", "Succeeded", "Failed", "Aborted", "TimedOut")
        ]
    decisions = _metric_rows(widgets["failover_events: automation decisions"])
    assert [(r[1], r[2], r[3]) for r in decisions] == [
        (o.AUTOMATION_METRIC, o.AUTOMATION_DIMENSION, d.value) for d in Outcome
    ]


def test_recovery_time_is_the_failover_and_failback_machines_execution_time(synthesized: Synthesized) -> None:
    widgets = _widgets(synthesized, "failover")
    machines = {
        rollout_kind(n): f"<{synthesized.logical_id(m)}>" for n, m in synthesized.stack.workflows.state_machines.items()
    }
    immediate = widgets["recovery_time: immediate failover execution time (ms)"]
    assert {(r[1], r[3]) for r in _metric_rows(immediate)} == {("ExecutionTime", machines["immediate_failover"])}
    assert _annotations(immediate) == {t.KPI_FAILOVER_EXECUTION_SECONDS * 1000}
    paced = _metric_rows(widgets["recovery_time: gradual failover and failback execution time (ms)"])
    assert {(r[1], r[3]) for r in paced} == {("ExecutionTime", machines[k]) for k in ("gradual_failover", "failback")}


def test_the_failover_dashboard_names_the_runbooks_metrics_and_alerts(synthesized: Synthesized) -> None:
    text = _text(synthesized, "failover")
    assert all(f"`{name}`" in text for name in (*RUNBOOK_METRICS, *RUNBOOK_ALERTS))
    titles = set(_widgets(synthesized, "failover"))
    for metric in RUNBOOK_METRICS:
        assert any(title.startswith(f"{metric}:") for title in titles), metric
    assert "Circuit breaker transitions by provider" in titles


def test_hybridctl_dashboard_create_names_what_the_stack_deploys(synthesized: Synthesized) -> None:
    # Given hybridctl's catalogue of the stack's dashboards, the failover widgets and the alerts' alarms
    prefix = synthesized.config.stack_name
    deployed = {d["Properties"]["DashboardName"] for d in synthesized.of_type("AWS::CloudWatch::Dashboard").values()}
    # Then every dashboard it names is deployed, and every one deployed can be named
    assert {f"{prefix}-{key}" for key in cli.DASHBOARDS} == deployed
    # And the widgets it lists for the runbook's metrics and the alarms for its alerts are in the template
    titles = set(_widgets(synthesized, "failover"))
    machines = synthesized.stack.workflows.state_machines
    assert cli.FAILOVER_METRICS and all(cli.FAILOVER_METRICS.values())
    for widgets in cli.FAILOVER_METRICS.values():
        for title in widgets:
            expanded = {title.replace("<state machine>", name) for name in machines} if "<" in title else {title}
            assert expanded <= titles, title
    alarms = {r["Properties"]["AlarmName"] for r in synthesized.of_type("AWS::CloudWatch::Alarm").values()}
    assert set(cli.FAILOVER_ALERTS) == set(RUNBOOK_ALERTS)
    for alert in cli.FAILOVER_ALERTS:
        assert set(cli.alert_alarms(prefix, alert)) <= alarms
        assert cli.alert_alarms(prefix, alert), alert
