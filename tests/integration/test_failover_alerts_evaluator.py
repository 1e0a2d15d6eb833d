"""The failover dashboard's alerts on the local alarm evaluator: `extended_outage` judged on the health
checker's EMF metrics with CloudWatch's semantics, and `failover_failure` (AWS/States metrics, which the
local stack does not emit) created in CloudWatch and left in INSUFFICIENT_DATA, never evaluated, without
an error. Time compressed 60 times (a 60 s period lasts a second) on a metrics store of the test's own."""

from __future__ import annotations

import json

import pytest

from functions.adapters.aws import client as aws_client
from functions.domain.alarms.definitions import extended_outage, failover_failure
from functions.shared.observability import NAMESPACE, SERVICE
from local.alarm_eval import ALARM, INSUFFICIENT_DATA, OK
from local.alarm_evaluator import AlarmEvaluator
from local.metrics_sink import LocalMetricsStore
from tests.support import unique_prefix

COMPRESSION = 60.0
T0 = 1_699_999_980.0  # a whole minute, so real second k is compressed period k
ARNS = {
    kind: f"arn:aws:states:us-east-1:123456789012:stateMachine:local-{kind}"
    for kind in ("immediate_failover", "gradual_failover", "failback")
}


def _probe(store: LocalMetricsStore, at: float, ok: bool) -> None:
    """One health probe's EMF line, as functions/handlers/health_check.py prints it."""
    metric = "HealthCheckSuccess" if ok else "HealthCheckFailure"
    line = {
        "_aws": {
            "Timestamp": int(at * 1000),
            "CloudWatchMetrics": [
                {"Namespace": NAMESPACE, "Dimensions": [["Provider", "service"]], "Metrics": [{"Name": metric}]}
            ],
        },
        "Provider": "bedrock",
        "service": SERVICE,
        metric: [1.0],
    }
    assert store.ingest_line(json.dumps(line))


@pytest.fixture
def evaluator(local_stack):
    transitions: list[dict] = []
    evaluator = AlarmEvaluator(
        (extended_outage("bedrock"), failover_failure(ARNS)),
        prefix=f"HybridRouting-{unique_prefix()}",
        composites=(),
        time_scale=COMPRESSION,
        store=LocalMetricsStore(),
        listeners=[transitions.append],
    )
    evaluator.install()
    evaluator.events = transitions  # type: ignore[attr-defined]
    yield evaluator
    aws_client("cloudwatch").delete_alarms(AlarmNames=list(evaluator.states()))


def test_failover_failure_is_created_but_left_insufficient_data_with_its_reason(evaluator: AlarmEvaluator) -> None:
    name = f"{evaluator.prefix}-critical-failover-failure"
    # When the evaluator runs over periods with and without data
    for k in range(5):
        _probe(evaluator.store, T0 + k + 0.5, ok=True)
    for k in range(1, 6):
        evaluator.evaluate_once(T0 + k + 0.1)
    # Then failover_failure never changed state, in the evaluator and in CloudWatch, and says why
    assert evaluator.states()[name] == INSUFFICIENT_DATA
    assert [t for t in evaluator.transitions() if t.name == name] == []
    (described,) = aws_client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert described["StateValue"] == INSUFFICIENT_DATA
    assert "AWS/States" in described["StateReason"] and "evaluated on AWS only" in described["StateReason"]
    assert [m["Expression"] for m in described["Metrics"] if "Expression" in m] == [
        failover_failure(ARNS).ratio.expression()
    ]
    listed = {a["name"]: a for a in evaluator.describe()["alarms"]}
    assert listed[name]["evaluated_locally"] is False
    assert listed[f"{evaluator.prefix}-critical-extended-outage-bedrock"]["evaluated_locally"] is True


def test_extended_outage_goes_to_alarm_after_fifteen_failed_periods_and_back_to_ok(evaluator: AlarmEvaluator) -> None:
    name = f"{evaluator.prefix}-critical-extended-outage-bedrock"
    # Given two healthy probes, then Bedrock failing every probe (one per compressed minute)
    for k in range(2):
        _probe(evaluator.store, T0 + k + 0.5, ok=True)
    for k in range(2, 18):
        _probe(evaluator.store, T0 + k + 0.5, ok=False)
    # When evaluated after 14 failed periods: OK; after 15: ALARM, published as CloudWatch's event
    evaluator.evaluate_once(T0 + 2 + 0.1)
    assert evaluator.states()[name] == OK
    evaluator.evaluate_once(T0 + 2 + 14 + 0.1)
    assert evaluator.states()[name] == OK
    evaluator.evaluate_once(T0 + 2 + 15 + 0.1)
    assert evaluator.states()[name] == ALARM
    (event,) = [e for e in evaluator.events if e["detail"]["state"]["value"] == ALARM]  # type: ignore[attr-defined]
    assert event["detail"]["alarmName"] == name
    # And the first good probe after it returns the alarm to OK
    _probe(evaluator.store, T0 + 18 + 0.5, ok=True)
    evaluator.evaluate_once(T0 + 19 + 0.1)
    assert [(t.old, t.new) for t in evaluator.transitions() if t.name == name] == [
        (INSUFFICIENT_DATA, OK),
        (OK, ALARM),
        (ALARM, OK),
    ]
