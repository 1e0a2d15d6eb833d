"""The local alarm evaluator on the local stack: the stack's alarms in moto's CloudWatch, a fault that
drives the error-rate alarm to ALARM under compressed time, the alarm seen by GET /health/alerts and by
the rollout gates, the EventBridge event published, and the way back to OK when the fault is lifted."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from functions.adapters.aws import client as aws_client
from functions.adapters.cloudwatch import alarm_states
from functions.domain.alarms.definitions import alarm_definitions, system_outage
from functions.shared.event_patterns import ALARM_EVENT_DETAIL_TYPE, ALARM_EVENT_SOURCE
from functions.shared.observability import NAMESPACE
from local import metrics_sink
from local.alarm_eval import ALARM, INSUFFICIENT_DATA, OK
from local.alarm_evaluator import AlarmEvaluator, AlarmEvaluatorSettings
from local.faults import FaultSpec
from tests.polling import eventually
from tests.support import reset_routing_state, unique_prefix

COMPRESSION = 120.0  # a 60 s period lasts half a second
BODY = {"model": "any", "messages": [{"role": "user", "content": "Is checkout healthy?"}], "temperature": 0.7}
EMERGENCY = {"X-Operation-Type": "emergency"}  # Direct only, no route fallback: a Direct outage is an error
DIRECT = ("bedrock", "google", "meta")


@pytest.fixture
def evaluator(local_stack):
    """An evaluator of the stack's alarms under a prefix of its own ("HybridRouting-t..."), so
    /health/alerts lists its alarms, compressed COMPRESSION times; its alarms deleted afterwards."""
    reset_routing_state(local_stack)
    events: list[dict] = []
    evaluator = AlarmEvaluator(prefix=f"HybridRouting-{unique_prefix()}", time_scale=COMPRESSION)
    evaluator.add_listener(events.append)
    evaluator.add_listener(local_stack.eventbus.publish)  # as the stack's evaluator publishes
    evaluator.events = events  # type: ignore[attr-defined]
    evaluator.install()
    yield evaluator
    reset_routing_state(local_stack)
    metrics_sink.STORE.clear()  # the faulted traffic's metrics must not reach the next test's windows
    cloudwatch = aws_client("cloudwatch")
    names = list(evaluator.states())
    cloudwatch.delete_alarms(AlarmNames=[n for n in names if "complete-system-outage" in n])
    for start in range(0, len(names), 100):
        cloudwatch.delete_alarms(AlarmNames=names[start : start + 100])


def _until(client, evaluator: AlarmEvaluator, name: str, state: str, timeout_s: float = 8.0) -> tuple[float, list[int]]:
    """Emergency traffic and an evaluation every tenth of a second until `name` is in `state`."""
    metrics_sink.install()  # pytest's output capture swaps sys.stdout between test phases, removing the tap
    started, statuses = time.monotonic(), []

    def traffic_then_state() -> str:
        statuses.extend(client.post("/v1/chat/completions", json=BODY, headers=EMERGENCY).status_code for _ in range(5))
        evaluator.evaluate_once()
        return evaluator.states()[name]

    try:
        eventually(
            traffic_then_state, lambda now: now == state, timeout=timeout_s, interval=0.05, what=f"{name} {state}"
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {evaluator.describe()}") from None
    return time.monotonic() - started, statuses


def _described(name: str) -> dict:
    return aws_client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


def test_the_stack_creates_every_alarm_in_cloudwatch_with_its_definition(local_stack):
    prefix = local_stack.alarms.prefix
    cloudwatch = aws_client("cloudwatch")
    states = local_stack.alarms.states()
    for definition in alarm_definitions():
        alarm = _described(definition.name(prefix))
        assert alarm["StateValue"] == states[alarm["AlarmName"]]
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (definition.threshold, definition.comparison)
        assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (
            definition.evaluation_periods,
            definition.datapoints_to_alarm,
        )
        assert alarm["TreatMissingData"] == definition.treat_missing_data
        if definition.ratio is not None:
            expressions = [m["Expression"] for m in alarm["Metrics"] if "Expression" in m]
            assert expressions == [definition.ratio.expression()]
        elif definition.queries[0].extended:
            assert alarm["ExtendedStatistic"] == definition.queries[0].statistic
        else:
            assert alarm["Statistic"] == definition.queries[0].statistic
    outage = cloudwatch.describe_alarms(AlarmNames=[system_outage().name(prefix)], AlarmTypes=["CompositeAlarm"])
    assert outage["CompositeAlarms"][0]["AlarmRule"] == system_outage().rule(prefix)


def test_a_direct_outage_raises_the_error_rate_alarm_everywhere_and_lifting_it_returns_to_ok(
    local_stack, client, http, evaluator
):
    name = f"{evaluator.prefix}-critical-error-rate"
    delivered: list[dict] = []
    rule = {"source": [ALARM_EVENT_SOURCE], "detail": {"alarmName": [name], "state": {"value": [ALARM]}}}
    subscription = local_stack.eventbus.subscribe(rule, delivered.append, name="test-alarm-evaluator")
    try:
        _outage_and_recovery(local_stack, client, http, evaluator, name)
    finally:
        local_stack.eventbus.unsubscribe(subscription)
    # The event reached a rule on the local event bus, matched by EventBridge's pattern matcher.
    assert [e["detail"]["state"]["value"] for e in delivered] == [ALARM]


def _outage_and_recovery(local_stack, client, http, evaluator: AlarmEvaluator, name: str) -> None:
    # Given steady healthy traffic: the alarm leaves INSUFFICIENT_DATA for OK.
    _until(client, evaluator, name, OK)

    # When every Direct provider fails every request, then within two compressed periods the alarm is in ALARM ...
    for provider in DIRECT:
        local_stack.faults.set(FaultSpec(provider=provider, error_rate=1.0, status=503))
    took, statuses = _until(client, evaluator, name, ALARM)
    assert 503 in statuses and took < 4 * 60 / COMPRESSION + 1.0
    # ... in CloudWatch, with CloudWatch's reason ...
    described = _described(name)
    assert described["StateValue"] == ALARM
    assert described["StateReason"].startswith("Threshold Crossed: 2 out of the last 2 datapoints")
    # ... listed by GET /health/alerts and seen by the rollout gates ...
    alerts = http.get("/health/alerts").json()["data"]["alerts"]
    assert name in [a["name"] for a in alerts]
    assert alarm_states([name], evaluator.prefix, "bedrock")[name] == ALARM
    # ... and published as CloudWatch's EventBridge event.
    event = next(
        e for e in evaluator.events if e["detail"]["alarmName"] == name and e["detail"]["state"]["value"] == ALARM
    )
    assert (event["source"], event["detail-type"]) == (ALARM_EVENT_SOURCE, ALARM_EVENT_DETAIL_TYPE)
    assert event["resources"] == [f"arn:aws:cloudwatch:{event['region']}:{event['account']}:alarm:{name}"]
    assert event["detail"]["previousState"]["value"] == OK
    assert event["detail"]["state"]["reason"] == described["StateReason"]
    assert {"id": "e1", "expression": "100 * errors / requests", "returnData": True} in event["detail"][
        "configuration"
    ]["metrics"]

    # When the fault is lifted (and the breakers closed), the next healthy period returns it to OK.
    reset_routing_state(local_stack)
    _until(client, evaluator, name, OK)
    assert name not in [a["name"] for a in http.get("/health/alerts").json()["data"]["alerts"]]
    history = [(t.old, t.new) for t in evaluator.transitions() if t.name == name]
    assert history == [(INSUFFICIENT_DATA, OK), (OK, ALARM), (ALARM, OK)]
    assert [e["detail"]["state"]["value"] for e in evaluator.events if e["detail"]["alarmName"] == name] == [
        OK,
        ALARM,
        OK,
    ]
    # `ignore` with no datapoint ever: the budget alarm keeps its initial state.
    assert evaluator.states()[f"{evaluator.prefix}-critical-cost-budget"] == INSUFFICIENT_DATA
    local_stack.eventbus.flush()


def test_the_stacks_evaluator_publishes_to_the_stacks_event_bus(local_stack):
    assert local_stack.eventbus.publish in local_stack.alarms.listeners


def test_alarms_start_in_insufficient_data_as_cloudwatch_creates_them(evaluator):
    described = aws_client("cloudwatch").describe_alarms(AlarmNamePrefix=evaluator.prefix)
    alarms = described["MetricAlarms"] + described["CompositeAlarms"]
    assert len(alarms) == len(evaluator.states()) == len(alarm_definitions()) + 1
    assert {a["StateValue"] for a in alarms} == {INSUFFICIENT_DATA}
    local = {d.name(evaluator.prefix) for d in alarm_definitions() if {q.namespace for q in d.queries} == {NAMESPACE}}
    assert {a["StateReason"] for a in alarms if a["AlarmName"] in local} == {"Unchecked: Initial alarm creation"}


def test_describe_reports_the_compression_and_each_alarms_effective_period(evaluator):
    described = evaluator.describe()
    assert described["time_compression"] == COMPRESSION
    error_rate = next(a for a in described["alarms"] if a["name"].endswith("-critical-error-rate"))
    assert (error_rate["period_s"], error_rate["effective_period_s"]) == (60, 60 / COMPRESSION)


@pytest.mark.parametrize(
    ("env", "interval", "scale"),
    [
        ({}, 60.0, 1.0),  # CloudWatch evaluates standard alarms once a minute
        ({"ALARM_TIME_COMPRESSION": "60"}, 1.0, 60.0),
        ({"ALARM_TIME_COMPRESSION": "60", "ALARM_EVALUATION_INTERVAL_SECONDS": "0.25"}, 0.25, 60.0),
        ({"ALARM_EVALUATION_INTERVAL_SECONDS": "0"}, 0.0, 1.0),  # only when called
    ],
)
def test_the_evaluation_interval_follows_the_compression_unless_set(env, interval, scale):
    settings = AlarmEvaluatorSettings.model_validate(env)
    assert (settings.effective_interval_s, settings.time_compression) == (interval, scale)


def test_a_failing_listener_does_not_stop_the_other_listeners(evaluator: AlarmEvaluator):
    seen: list[str] = []
    failing: Callable[[dict], None] = lambda _event: 1 / 0  # noqa: E731
    evaluator.add_listener(failing)
    evaluator.add_listener(lambda event: seen.append(event["detail"]["alarmName"]))
    evaluator.evaluate_once()  # no recent traffic: the notBreaching alarms go INSUFFICIENT_DATA -> OK
    assert seen and set(seen) <= set(evaluator.states())
