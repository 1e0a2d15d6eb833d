"""The failover dashboard's alerts (provider-failover.md, "Monitoring Dashboard": --alerts
"failover_failure,extended_outage") as alarm definitions, and the metrics they read as the functions emit them."""

from __future__ import annotations

import json

import pytest

from functions.app.health.checks import CheckResult
from functions.domain import thresholds
from functions.domain.alarms import definitions as alarms
from functions.domain.health_check import HealthRecord, ProbeOutcome
from functions.domain.rollout.plan import RolloutKind
from functions.handlers.health_check import _report
from local import alarm_eval as ae
from tests.paths import REPO_ROOT

ARNS = {
    kind.value: f"arn:aws:states:us-east-1:123456789012:stateMachine:HybridRouting-{kind.value}" for kind in RolloutKind
}
NOW = 1_699_999_980.0  # a whole minute: period k is [NOW + 60 k, NOW + 60 (k + 1))


def test_failover_failure_watches_failed_and_timed_out_executions_of_the_failover_and_failback_machines_only():
    definition = alarms.failover_failure(ARNS)
    # Then: Step Functions' own metrics, by state machine ARN, for the three failover kinds (no canary)
    assert definition.name("HybridRouting") == "HybridRouting-critical-failover-failure"
    watched = {(q.namespace, q.metric, q.dimensions) for q in definition.queries}
    assert watched == {
        ("AWS/States", metric, (("StateMachineArn", ARNS[kind]),))
        for kind in ("immediate_failover", "gradual_failover", "failback")
        for metric in ("ExecutionsFailed", "ExecutionsTimedOut")
    }
    assert {q.statistic for q in definition.queries} == {"Sum"}
    # And one execution in one period is enough; a period without any ended execution is not breaching
    assert (definition.threshold, definition.comparison) == (
        thresholds.FAILOVER_FAILURE_EXECUTIONS,
        "GreaterThanOrEqualToThreshold",
    )
    assert (definition.period_s, definition.evaluation_periods, definition.datapoints_to_alarm) == (
        thresholds.ALARM_PERIOD_SECONDS,
        1,
        1,
    )
    assert (definition.severity, definition.treat_missing_data) == ("critical", "notBreaching")


def test_failover_failure_names_machines_that_exist_as_asl_files():
    for kind in alarms.FAILOVER_WORKFLOWS:
        assert RolloutKind(kind).value == kind
        assert (REPO_ROOT / "statemachines" / f"{kind}.asl.json").is_file()


def test_failover_failure_without_any_failover_machine_is_refused():
    with pytest.raises(ValueError, match="failover_failure needs"):
        alarms.failover_failure({"canary": ARNS["canary"]})


def test_failover_failures_sum_evaluates_like_cloudwatchs_sum_of_an_array():
    definition = alarms.failover_failure(ARNS)
    rule = ae.rule_of(definition, "HybridRouting")
    ids = [q.id for q in definition.queries]
    # One failed failback in period 0, nothing ended in period 1
    series = {i: ({0: 1.0} if i == "failed_failback" else {}) for i in ids}
    values = ae.evaluate_expression(rule.expression, ae.MathContext(series, [0, 1], definition.period_s))
    assert values == {0: 1.0}
    assert definition.ratio.evaluate({"failed_failback": 1.0}) == 1.0
    assert definition.ratio.evaluate({}) is None  # no execution ended: no datapoint
    # When the alarm is evaluated after that period / Then ALARM; and OK once the failure has left the evaluation
    # range (N + 2 periods: CloudWatch decides on the most recent real datapoint while there is one)
    samples = {"failed_failback": [(NOW + 1, [1.0])]}
    assert ae.evaluate(rule, samples, NOW + 60 + 1).state == ae.ALARM
    leaves = 60 * (rule.range_periods + 1) + 1
    assert ae.evaluate(rule, samples, NOW + leaves - 60, ae.ALARM).state == ae.ALARM
    assert ae.evaluate(rule, samples, NOW + leaves, ae.ALARM).state == ae.OK


def _probes(failed_periods: range, ok_periods: range) -> dict[str, list[tuple[float, list[float]]]]:
    return {
        "failed": [(NOW + 60 * k + 5, [1.0]) for k in failed_periods],
        "ok": [(NOW + 60 * k + 5, [1.0]) for k in ok_periods],
    }


def test_extended_outage_fires_only_after_every_probe_failed_for_fifteen_minutes():
    definition = alarms.by_key()["critical-extended-outage-bedrock"]
    rule = ae.rule_of(definition, "HybridRouting")
    periods = thresholds.EXTENDED_OUTAGE_SECONDS // thresholds.HEALTH_CHECK_INTERVAL_SECONDS
    assert periods == 15 and definition.evaluation_periods == definition.datapoints_to_alarm == periods
    # Given healthy probes, then failed probes from period 3 on
    samples = _probes(range(3, 40), range(0, 3))
    # When 14 failed periods are complete: still OK; when 15 are: ALARM
    assert ae.evaluate(rule, samples, NOW + 60 * (3 + 14) + 1, ae.OK).state == ae.OK
    assert ae.evaluate(rule, samples, NOW + 60 * (3 + 15) + 1, ae.OK).state == ae.ALARM


def test_extended_outage_survives_a_skipped_probe_and_clears_on_the_first_good_one():
    rule = ae.rule_of(alarms.by_key()["critical-extended-outage-google"], "HybridRouting")
    # Given 16 failed periods with period 8's probe missing (scheduler jitter)
    failed = [k for k in range(0, 17) if k != 8]
    samples = {"failed": [(NOW + 60 * k + 5, [1.0]) for k in failed], "ok": []}
    assert ae.evaluate(rule, samples, NOW + 60 * 17 + 1, ae.OK).state == ae.ALARM
    # When the next probe succeeds / Then the alarm is OK at the next evaluation
    samples["ok"] = [(NOW + 60 * 17 + 5, [1.0])]
    assert ae.evaluate(rule, samples, NOW + 60 * 18 + 1, ae.ALARM).state == ae.OK


def test_extended_outage_without_any_probe_is_insufficient_data_not_healthy():
    rule = ae.rule_of(alarms.by_key()["critical-extended-outage-mcp"], "HybridRouting")
    assert ae.evaluate(rule, {"failed": [], "ok": []}, NOW + 60 * 20 + 1, ae.OK).state == ae.INSUFFICIENT_DATA


@pytest.mark.parametrize("ok", [True, False], ids=["healthy-probe", "failed-probe"])
def test_every_probe_emits_one_of_the_extended_outage_metrics_with_the_alarms_dimensions(capsys, monkeypatch, ok):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "health-check")  # as the health checker's function is deployed
    outcome = ProbeOutcome("meta", ok=ok, latency_ms=120, checked_at=0, error_code=None if ok else "provider_timeout")
    _report(CheckResult(outcome, HealthRecord("meta"), None))
    (document,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    failed, succeeded = alarms.by_key()["critical-extended-outage-meta"].queries
    emitted = succeeded if ok else failed
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert emitted.metric in {m["Name"] for m in directive["Metrics"]}
    assert [{n: document[n] for n in names} for names in directive["Dimensions"]] == [emitted.dimension_map]
