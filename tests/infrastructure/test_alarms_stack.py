"""The runbooks' alarms in the synthesized template: one parametrized case per runbook threshold line
(metric, statistic, threshold, period x evaluation periods, comparison, severity topic), the SNS topics,
and the "complete system outage" composite."""

from __future__ import annotations

from typing import Any

import pytest

from functions.domain import thresholds
from functions.domain.alarms import definitions
from stacks.constructs.alarms import rollout_kind
from tests.infrastructure.conftest import Synthesized
from tests.runbook_alarm_lines import RUNBOOK_LINES, SYMBOL, RunbookLine


def _alarms(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    """Metric alarms by name."""
    return {
        r["Properties"]["AlarmName"]: r["Properties"] for r in synthesized.of_type("AWS::CloudWatch::Alarm").values()
    }


def _topic_severity(synthesized: Synthesized, reference: dict[str, str]) -> str:
    topic = synthesized.resources[reference["Ref"]]["Properties"]
    return topic["TopicName"].removeprefix(f"{synthesized.config.stack_name}-alarms-")


def _watched(alarm: dict[str, Any]) -> tuple[tuple[str, ...], set[str], set[frozenset[tuple[str, str]]], int]:
    """(metric names, statistics, dimension sets, period) of a single-metric or a metric-math alarm."""
    if "Metrics" not in alarm:
        statistic = alarm.get("ExtendedStatistic") or alarm["Statistic"]
        dims = frozenset((d["Name"], d["Value"]) for d in alarm["Dimensions"])
        return (alarm["MetricName"],), {statistic}, {dims}, alarm["Period"]
    stats = [q["MetricStat"] for q in alarm["Metrics"] if "MetricStat" in q]
    (period,) = {s["Period"] for s in stats}
    return (
        tuple(s["Metric"]["MetricName"] for s in stats),
        {s["Stat"] for s in stats},
        {frozenset((d["Name"], d["Value"]) for d in s["Metric"]["Dimensions"]) for s in stats},
        period,
    )


@pytest.mark.parametrize("line", RUNBOOK_LINES, ids=[line.key for line in RUNBOOK_LINES])
def test_each_runbook_threshold_line_is_an_alarm_in_the_template(synthesized: Synthesized, line: RunbookLine) -> None:
    # Given the runbook line, stated with the thresholds module's names
    # When its alarm is read from the template
    alarm = _alarms(synthesized)[f"{synthesized.config.stack_name}-{line.key}"]
    metrics, statistics, _, period = _watched(alarm)
    # Then it watches the line's metric with its statistic, threshold, comparison and duration
    assert metrics == line.metrics
    assert statistics == {line.statistic}
    assert alarm["Threshold"] == line.threshold
    assert SYMBOL[alarm["ComparisonOperator"]] == line.comparison
    assert period * alarm["EvaluationPeriods"] == line.window_s
    assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"]
    assert alarm["TreatMissingData"] in {"breaching", "notBreaching", "ignore", "missing"}
    # And it pages the line's severity topic when it fires and when it recovers, tagged with the severity
    assert [_topic_severity(synthesized, a) for a in alarm["AlarmActions"]] == [line.severity]
    assert [_topic_severity(synthesized, a) for a in alarm["OKActions"]] == [line.severity]
    assert {"Key": "severity", "Value": line.severity} in alarm["Tags"]


def test_every_alarm_is_one_definition_with_its_exact_dimensions_and_metric_math(synthesized: Synthesized) -> None:
    # Given the definitions / When the template's alarms are compared with them
    alarms = _alarms(synthesized)
    prefix = synthesized.config.stack_name
    expected = definitions.alarm_definitions()
    assert expected
    # Then each definition is one alarm, on the dimension sets the functions emit, with its expression
    # (and failover_failure, on the state machines' own metrics: test_failover_failure_...)
    assert set(alarms) == {d.name(prefix) for d in expected} | {f"{prefix}-critical-failover-failure"}
    for definition in expected:
        alarm = alarms[definition.name(prefix)]
        _, _, dimension_sets, _ = _watched(alarm)
        assert dimension_sets == {frozenset(q.dimensions) for q in definition.queries}
        assert alarm["TreatMissingData"] == definition.treat_missing_data
        if definition.ratio is not None:
            (returned,) = [q for q in alarm["Metrics"] if q.get("ReturnData", True) and "Expression" in q]
            assert returned["Expression"] == definition.ratio.expression()


def test_the_failover_alarms_carry_the_name_the_workflows_rules_match(synthesized: Synthesized) -> None:
    prefix = synthesized.config.stack_name
    failover = sorted(n for n in _alarms(synthesized) if n.startswith(f"{prefix}-provider-failover-"))
    assert failover == sorted(
        f"{prefix}-provider-failover-{p}-{trigger}"
        for p in definitions.DIRECT_PROVIDERS
        for trigger in definitions.TRIGGERS
    )


def test_one_encrypted_tls_only_topic_per_severity_that_cloudwatch_may_publish_to(synthesized: Synthesized) -> None:
    topics = synthesized.of_type("AWS::SNS::Topic")
    prefix = synthesized.config.stack_name
    assert sorted(t["Properties"]["TopicName"] for t in topics.values()) == sorted(
        f"{prefix}-alarms-{s}" for s in definitions.SEVERITIES
    )
    (key_id,) = {t["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0] for t in topics.values()}
    key_policy = synthesized.resources[key_id]["Properties"]["KeyPolicy"]["Statement"]
    assert any(s.get("Principal", {}).get("Service") == "cloudwatch.amazonaws.com" for s in key_policy)
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"] for p in synthesized.of_type("AWS::SNS::TopicPolicy").values()
    ]
    assert len(policies) == len(topics)
    assert all(any(s["Effect"] == "Deny" and "aws:SecureTransport" in str(s) for s in p) for p in policies)


def test_complete_system_outage_is_every_configured_direct_provider_and_mcp_failing(synthesized: Synthesized) -> None:
    # Given the configured Direct providers
    prefix = synthesized.config.stack_name
    (composite,) = [c["Properties"] for c in synthesized.of_type("AWS::CloudWatch::CompositeAlarm").values()]
    alarm_ids = {
        r["Properties"]["AlarmName"]: name for name, r in synthesized.of_type("AWS::CloudWatch::Alarm").items()
    }
    # When the composite's rule is read / Then it is ALARM of each member, joined with AND
    members = [alarm_ids[f"{prefix}-{key}"] for key in definitions.system_outage(synthesized.config.direct).all_of]
    _, parts = composite["AlarmRule"]["Fn::Join"]
    referenced = [p["Fn::GetAtt"][0] for p in parts if isinstance(p, dict)]
    assert referenced == members
    assert {p for p in parts if isinstance(p, str)} >= {'") AND ALARM("'}
    assert composite["AlarmName"] == f"{prefix}-critical-complete-system-outage"
    assert [_topic_severity(synthesized, a) for a in composite["AlarmActions"]] == ["critical"]


def test_failover_failure_pages_critical_on_any_failed_or_timed_out_failover_or_failback_execution(
    synthesized: Synthesized,
) -> None:
    # Given the failover and failback state machines of the template (not the canary)
    prefix = synthesized.config.stack_name
    machines = {
        kind: synthesized.logical_id(machine)
        for name, machine in synthesized.stack.workflows.state_machines.items()
        if (kind := rollout_kind(name)) in definitions.FAILOVER_WORKFLOWS
    }
    assert sorted(machines) == sorted(definitions.FAILOVER_WORKFLOWS)
    # When the failover_failure alarm is read
    alarm = _alarms(synthesized)[f"{prefix}-critical-failover-failure"]
    stats = {q["Id"]: q["MetricStat"] for q in alarm["Metrics"] if "MetricStat" in q}
    # Then it sums ExecutionsFailed and ExecutionsTimedOut of exactly those machines, by their ARN (Ref)
    assert {
        (s["Metric"]["Namespace"], s["Metric"]["MetricName"], s["Metric"]["Dimensions"][0]["Value"]["Ref"], s["Stat"])
        for s in stats.values()
    } == {
        ("AWS/States", metric, machine, "Sum")
        for machine in machines.values()
        for metric in ("ExecutionsFailed", "ExecutionsTimedOut")
    }
    assert {s["Metric"]["Dimensions"][0]["Name"] for s in stats.values()} == {"StateMachineArn"}
    (expression,) = [q["Expression"] for q in alarm["Metrics"] if "Expression" in q]
    assert expression == f"SUM([{', '.join(stats)}])"
    # And one such execution in one period pages the critical topic; no execution ended is not breaching
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (
        thresholds.FAILOVER_FAILURE_EXECUTIONS,
        "GreaterThanOrEqualToThreshold",
    )
    assert {s["Period"] for s in stats.values()} == {thresholds.ALARM_PERIOD_SECONDS}
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"], alarm["TreatMissingData"]) == (
        1,
        1,
        "notBreaching",
    )
    assert [_topic_severity(synthesized, a) for a in alarm["AlarmActions"]] == ["critical"]
