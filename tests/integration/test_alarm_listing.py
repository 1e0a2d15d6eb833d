"""Active alarms are listed with composite alarms included: CloudWatch's DescribeAlarms returns metric
alarms only unless `AlarmTypes` asks for both, so the "complete system outage" composite would be
missing from /health/alerts and from the gates. moto returns both kinds whatever is asked, so the
request itself is checked, as botocore sends it to the local moto server."""

from __future__ import annotations

from typing import Any

import pytest

from functions.adapters.aws import client as aws_client
from functions.adapters.cloudwatch import active_alarms, alarm_states
from tests.support import put_alarm_in_state, unique_prefix, use_local_moto


@pytest.fixture
def sent(monkeypatch, local_stack) -> list[dict[str, Any]]:
    """The parameters of every DescribeAlarms call made through the shared CloudWatch client."""
    use_local_moto(monkeypatch, local_stack)
    calls: list[dict[str, Any]] = []
    cloudwatch = aws_client("cloudwatch")
    cloudwatch.meta.events.register(
        "provide-client-params.cloudwatch.DescribeAlarms", lambda params, **_: calls.append(dict(params))
    )
    return calls


def test_active_alarms_ask_for_composite_and_metric_alarms(sent):
    prefix = f"HybridRouting-{unique_prefix()}"
    put_alarm_in_state(f"{prefix}-critical-error-rate")

    listed = active_alarms(prefix)

    assert [a["name"] for a in listed] == [f"{prefix}-critical-error-rate"]
    assert sent and all(sorted(call["AlarmTypes"]) == ["CompositeAlarm", "MetricAlarm"] for call in sent)
    aws_client("cloudwatch").delete_alarms(AlarmNames=[f"{prefix}-critical-error-rate"])


def test_gate_alarm_states_ask_for_both_kinds_by_name_and_by_prefix(sent):
    prefix = f"HybridRouting-{unique_prefix()}"
    named, watching = f"{prefix}-named", f"{prefix}-provider-failover-bedrock-server-errors"
    put_alarm_in_state(named, "OK")
    put_alarm_in_state(watching, "ALARM")

    states = alarm_states([named], prefix, "bedrock")

    assert states == {named: "OK", watching: "ALARM"}
    assert len(sent) == 2 and all(sorted(call["AlarmTypes"]) == ["CompositeAlarm", "MetricAlarm"] for call in sent)
    aws_client("cloudwatch").delete_alarms(AlarmNames=[named, watching])
