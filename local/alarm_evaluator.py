"""The local stack's CloudWatch alarms: the stack's alarm definitions created on the local moto, evaluated on
the tapped EMF records with CloudWatch's semantics, each state change written back (SetAlarmState) and published
as the EventBridge "CloudWatch Alarm State Change" event; `time_scale` compresses time for drills."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from pydantic import BaseModel, Field

from functions.adapters.aws import client as aws_client
from functions.adapters.cloudwatch import get_metrics_settings
from functions.domain.alarms.definitions import AlarmDefinition, CompositeDefinition, alarm_definitions, system_outage
from functions.shared.event_patterns import ALARM_EVENT_DETAIL_TYPE, ALARM_EVENT_SOURCE
from local.alarm_eval import (
    ALARM,
    INITIAL_REASON,
    INSUFFICIENT_DATA,
    OK,
    AlarmRule,
    Samples,
    evaluate,
    rule_of,
)
from local.eventbus import LOCAL_ACCOUNT, envelope
from local.metrics_sink import STORE, EmfRecord, LocalMetricsStore

log = logging.getLogger(__name__)

CLOUDWATCH_EVALUATION_SECONDS = 60.0  # standard-resolution alarms are evaluated once a minute
EXPRESSION_ID = "e1"
# An alarm on AWS's own metrics (failover_failure reads AWS/States) has no data on the local stack: it is created
# and stays INSUFFICIENT_DATA, never evaluated (an OK from an empty series would claim what nobody measured).
NOT_EVALUATED_LOCALLY = "Insufficient Data: the local stack emits no {namespace} metrics; evaluated on AWS only."

Listener = Callable[[dict[str, Any]], object]


class Transition(NamedTuple):
    at: float  # epoch seconds
    name: str
    old: str
    new: str
    reason: str


class AlarmEvaluatorSettings(BaseModel):
    """ALARM_EVALUATION_INTERVAL_SECONDS: how often the local stack evaluates (0: only when called;
    default CloudWatch's 60 s, divided by the compression). ALARM_TIME_COMPRESSION: how many times
    faster than configured every period runs (drills; 1 = real time)."""

    interval_s: float | None = Field(default=None, alias="ALARM_EVALUATION_INTERVAL_SECONDS", ge=0)
    time_compression: float = Field(default=1.0, alias="ALARM_TIME_COMPRESSION", gt=0)

    model_config = {"populate_by_name": True, "extra": "ignore"}

    @property
    def effective_interval_s(self) -> float:
        return CLOUDWATCH_EVALUATION_SECONDS / self.time_compression if self.interval_s is None else self.interval_s


class _Alarm:
    """One metric alarm as the evaluator tracks it."""

    def __init__(self, definition: AlarmDefinition, rule: AlarmRule, created_at: float, namespace: str) -> None:
        self.definition, self.rule = definition, rule
        self.state, self.reason, self.reason_data, self.since = INSUFFICIENT_DATA, INITIAL_REASON, "{}", created_at
        foreign = sorted({q.namespace for q in definition.queries} - {namespace})
        self.local = not foreign
        if foreign:
            self.reason = NOT_EVALUATED_LOCALLY.format(namespace=", ".join(foreign))


class AlarmEvaluator:
    """Evaluates the alarm definitions on the local metrics; `evaluate_once()` is one CloudWatch
    evaluation of every alarm, `start(interval_s)` runs it on a timer."""

    def __init__(
        self,
        definitions: Iterable[AlarmDefinition] | None = None,
        *,
        prefix: str | None = None,
        composites: Iterable[CompositeDefinition] | None = None,
        time_scale: float = 1.0,
        store: LocalMetricsStore = STORE,
        listeners: Iterable[Listener] = (),
        clock: Callable[[], float] = time.time,
        cloudwatch: Callable[[], Any] = lambda: aws_client("cloudwatch"),
        region: str | None = None,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.prefix = prefix or get_metrics_settings().alarm_prefix
        self.time_scale, self.store, self._clock, self._cloudwatch = time_scale, store, clock, cloudwatch
        self.region = region
        now = clock()
        chosen = alarm_definitions() if definitions is None else tuple(definitions)
        self._alarms = {d.name(self.prefix): _Alarm(d, rule_of(d, self.prefix), now, store.namespace) for d in chosen}
        self._composites = {
            c.name(self.prefix): c for c in ((system_outage(),) if composites is None else tuple(composites))
        }
        self._composite_states = dict.fromkeys(self._composites, INSUFFICIENT_DATA)
        self._listeners: list[Listener] = list(listeners)
        self._transitions: list[Transition] = []
        self._lock = threading.RLock()
        self._task: Any = None
        self.interval_s: float | None = None
        self.evaluations = 0

    # --- setup -----------------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        """`listener(event)` gets every state-change event (e.g. the local event bus's publish)."""
        with self._lock:
            self._listeners.append(listener)

    @property
    def listeners(self) -> tuple[Listener, ...]:
        with self._lock:
            return tuple(self._listeners)

    def install(self) -> None:
        """Create every alarm in CloudWatch (moto), in INSUFFICIENT_DATA as CloudWatch creates them."""
        _moto_alarms_as_cloudwatch()
        cloudwatch = self._cloudwatch()
        for name, alarm in self._alarms.items():
            cloudwatch.put_metric_alarm(**put_metric_alarm_request(name, alarm.definition))
            self._write_state(name, alarm.state, alarm.reason, alarm.reason_data)
        for name, composite in self._composites.items():
            if all(f"{self.prefix}-{key}" in self._alarms for key in composite.all_of):
                cloudwatch.put_composite_alarm(
                    AlarmName=name,
                    AlarmRule=composite.rule(self.prefix),
                    AlarmDescription=composite.summary,
                    ActionsEnabled=False,
                    Tags=[{"Key": "severity", "Value": composite.severity}],
                )
                self._write_state(name, INSUFFICIENT_DATA, INITIAL_REASON, "{}")
            else:
                self._composite_states.pop(name, None)

    def start(self, interval_s: float) -> AlarmEvaluator:
        """Evaluate every `interval_s` seconds on a daemon thread (first run one interval from now)."""
        from local.scheduler import PeriodicTask

        self.interval_s = interval_s
        self._task = PeriodicTask(self.evaluate_once, interval_s, name="alarm-evaluator")
        return self

    def stop(self) -> None:
        if self._task is not None:
            self._task.stop()
            self._task = None

    def configure(self, time_scale: float | None = None, interval_s: float | None = None) -> None:
        """Change the compression and/or the evaluation interval of a running evaluator (drills);
        states and history are kept. `interval_s` 0 stops the timer."""
        with self._lock:
            if time_scale is not None:
                if time_scale <= 0:
                    raise ValueError("time_scale must be positive")
                self.time_scale = time_scale
        if interval_s is not None:
            self.stop()
            if interval_s > 0:
                self.start(interval_s)
            else:
                self.interval_s = None

    # --- evaluation ------------------------------------------------------------------------------
    def evaluate_once(self, now: float | None = None) -> list[Transition]:
        """One evaluation of every alarm at `now`; returns the transitions it made."""
        with self._lock:
            now = self._clock() if now is None else now
            by_metric = self._records_by_metric(now)
            changes: list[Transition] = []
            for name, alarm in self._alarms.items():
                if not alarm.local:
                    continue
                samples = {
                    q.id: _samples(by_metric.get(q.metric, []), q.metric, q.dimensions) for q in alarm.rule.metrics
                }
                verdict = evaluate(alarm.rule, samples, now, alarm.state, self.time_scale)
                if verdict.changed:
                    changes.append(
                        self._transition(name, alarm, verdict.state, verdict.reason, verdict.reason_data, now)
                    )
            changes.extend(self._evaluate_composites(now))
            self.evaluations += 1
            return changes

    def _records_by_metric(self, now: float) -> dict[str, list[EmfRecord]]:
        lookback = max((a.rule.range_periods + 1) * a.rule.period_s / self.time_scale for a in self._alarms.values())
        by_metric: dict[str, list[EmfRecord]] = {}
        for record in self.store.since(now - lookback):
            for metric in record.values:
                by_metric.setdefault(metric, []).append(record)
        return by_metric

    def _transition(self, name: str, alarm: _Alarm, new: str, reason: str, reason_data: str, now: float) -> Transition:
        previous = {"value": alarm.state, "reason": alarm.reason, "reasonData": alarm.reason_data, "since": alarm.since}
        alarm.state, alarm.reason, alarm.reason_data, alarm.since = new, reason, reason_data, now
        self._write_state(name, new, reason, reason_data)
        self._publish(state_change_event(name, alarm.definition, previous, new, reason, reason_data, now, self.region))
        transition = Transition(now, name, str(previous["value"]), new, reason)
        self._transitions.append(transition)
        log.info("alarm %s: %s -> %s (%s)", name, previous["value"], new, reason)
        return transition

    def _evaluate_composites(self, now: float) -> list[Transition]:
        """ALARM("x") AND ...: ALARM when every member is in ALARM, OK otherwise."""
        changes = []
        for name, composite in self._composites.items():
            if name not in self._composite_states:
                continue
            members = [f"{self.prefix}-{key}" for key in composite.all_of]
            new = ALARM if all(self._alarms[m].state == ALARM for m in members) else OK
            old = self._composite_states[name]
            if new == old:
                continue
            in_alarm = [m for m in members if self._alarms[m].state == ALARM]
            reason = f"{len(in_alarm)} of {len(members)} member alarms in ALARM: {', '.join(in_alarm) or 'none'}"
            self._composite_states[name] = new
            self._write_state(name, new, reason, "{}")
            transition = Transition(now, name, old, new, reason)
            self._transitions.append(transition)
            changes.append(transition)
        return changes

    def _write_state(self, name: str, state: str, reason: str, reason_data: str) -> None:
        self._cloudwatch().set_alarm_state(
            AlarmName=name, StateValue=state, StateReason=reason[:1023], StateReasonData=reason_data
        )

    def _publish(self, event: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a failing subscriber must not stop the evaluation of the other alarms
                log.exception("alarm state-change listener failed")

    # --- reading ---------------------------------------------------------------------------------
    def states(self) -> dict[str, str]:
        with self._lock:
            return {name: a.state for name, a in self._alarms.items()} | dict(self._composite_states)

    def transitions(self) -> list[Transition]:
        with self._lock:
            return list(self._transitions)

    def describe(self) -> dict[str, Any]:
        """What is evaluated and how fast: the compression, the interval, each alarm's periods."""
        with self._lock:
            return {
                "prefix": self.prefix,
                "time_compression": self.time_scale,
                "evaluation_interval_s": self.interval_s,
                "evaluations": self.evaluations,
                "alarms": [
                    {
                        "name": name,
                        "state": a.state,
                        "evaluated_locally": a.local,
                        "since": _iso(a.since),
                        "period_s": a.rule.period_s,
                        "effective_period_s": a.rule.period_s / self.time_scale,
                        "evaluation_periods": a.rule.evaluation_periods,
                        "datapoints_to_alarm": a.rule.datapoints_to_alarm,
                        "treat_missing_data": a.rule.treat_missing_data,
                        "threshold": a.rule.threshold,
                        "comparison": a.rule.comparison,
                    }
                    for name, a in self._alarms.items()
                ],
                "composites": dict(self._composite_states),
            }


def _samples(records: Sequence[EmfRecord], metric: str, dimensions: Sequence[tuple[str, str]]) -> Samples:
    """The values of `metric` in the query's dimension set. A record keeps the union of its
    dimension sets, so a query matches when each of its dimensions has the query's value."""
    return [(r.at, r.values[metric]) for r in records if all(r.dimensions.get(k) == v for k, v in dimensions)]


def _moto_alarms_as_cloudwatch() -> None:
    """Two gaps of moto 5's CloudWatch, closed in the local moto server (which runs in this process):
    - it stores composite alarms (PutMetricAlarm reads `AlarmRule` "to re-use this method for
      composite alarms") but routes no PutCompositeAlarm action: route it there, as LocalStack does;
    - DescribeAlarms applies only the first of AlarmNamePrefix / AlarmNames / StateValue, where
      CloudWatch applies them all: `AlarmNamePrefix=..., StateValue="ALARM"` (GET /health/alerts,
      the rollout gates) listed every alarm of ours, whatever its state."""
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import ActionResult

    if not hasattr(CloudWatchResponse, "put_composite_alarm"):
        CloudWatchResponse.put_composite_alarm = CloudWatchResponse.put_metric_alarm  # type: ignore[attr-defined]
    original = CloudWatchResponse.describe_alarms
    if getattr(original, "filters_every_parameter", False):
        return

    def describe_alarms(self: Any) -> Any:
        listed = cast(dict[str, list[Any]], original(self).result)
        state, names = self._get_param("StateValue"), self._get_param("AlarmNames", [])
        prefix = self._get_param("AlarmNamePrefix") or ""

        def wanted(alarm: Any) -> bool:
            in_state = not state or alarm.state_value == state
            return in_state and alarm.name.startswith(prefix) and (not names or alarm.name in names)

        return ActionResult({kind: [a for a in alarms if wanted(a)] for kind, alarms in listed.items()})

    describe_alarms.filters_every_parameter = True  # type: ignore[attr-defined]
    CloudWatchResponse.describe_alarms = describe_alarms  # type: ignore[method-assign]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- the CloudWatch shapes ------------------------------------------------------------------------
def put_metric_alarm_request(name: str, definition: AlarmDefinition) -> dict[str, Any]:
    """PutMetricAlarm's parameters for one definition: a MetricStat alarm, or metric math."""
    request: dict[str, Any] = {
        "AlarmName": name,
        "AlarmDescription": f"{definition.summary} ({definition.runbook})"[:1024],
        "ActionsEnabled": False,
        "Threshold": definition.threshold,
        "ComparisonOperator": definition.comparison,
        "EvaluationPeriods": definition.evaluation_periods,
        "DatapointsToAlarm": definition.datapoints_to_alarm,
        "TreatMissingData": definition.treat_missing_data,
        "Tags": [{"Key": "severity", "Value": definition.severity}],
    }
    if definition.ratio is None:
        query = definition.queries[0]
        stat = {"ExtendedStatistic": query.statistic} if query.extended else {"Statistic": query.statistic}
        return (
            request
            | stat
            | {
                "Namespace": query.namespace,
                "MetricName": query.metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in query.dimensions],
                "Period": definition.period_s,
            }
        )
    metrics: list[dict[str, Any]] = [
        {
            "Id": q.id,
            "MetricStat": {
                "Metric": {
                    "Namespace": q.namespace,
                    "MetricName": q.metric,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in q.dimensions],
                },
                "Period": definition.period_s,
                "Stat": q.statistic,
            },
            "ReturnData": False,
        }
        for q in definition.queries
    ]
    metrics.append({"Id": EXPRESSION_ID, "Expression": definition.ratio.expression(), "ReturnData": True})
    return request | {"Metrics": metrics}


def state_change_event(
    name: str,
    definition: AlarmDefinition,
    previous: Mapping[str, Any],
    new: str,
    reason: str,
    reason_data: str,
    now: float,
    region: str | None = None,
) -> dict[str, Any]:
    """The EventBridge event CloudWatch sends on a state change (source aws.cloudwatch)."""
    region = region or _region()
    return envelope(
        {
            "detail-type": ALARM_EVENT_DETAIL_TYPE,
            "source": ALARM_EVENT_SOURCE,
            "account": LOCAL_ACCOUNT,
            "time": _iso(now)[:19] + "Z",
            "region": region,
            "resources": [f"arn:aws:cloudwatch:{region}:{LOCAL_ACCOUNT}:alarm:{name}"],
            "detail": {
                "alarmName": name,
                "state": {"value": new, "reason": reason, "reasonData": reason_data, "timestamp": _iso(now)},
                "previousState": {
                    "value": previous["value"],
                    "reason": previous["reason"],
                    "reasonData": previous["reasonData"],
                    "timestamp": _iso(float(previous["since"])),
                },
                "configuration": _configuration(definition),
            },
        }
    )


def _configuration(definition: AlarmDefinition) -> dict[str, Any]:
    metrics: list[dict[str, Any]] = [
        {
            "id": q.id,
            "metricStat": {
                "metric": {"namespace": q.namespace, "name": q.metric, "dimensions": dict(q.dimensions)},
                "period": definition.period_s,
                "stat": q.statistic,
            },
            "returnData": definition.ratio is None,
        }
        for q in definition.queries
    ]
    if definition.ratio is not None:
        metrics.append({"id": EXPRESSION_ID, "expression": definition.ratio.expression(), "returnData": True})
    return {"description": definition.summary, "metrics": metrics}


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


# --- on the local stack ---------------------------------------------------------------------------
def start_alarm_evaluator(listeners: Iterable[Listener] = (), env: Mapping[str, str] | None = None) -> AlarmEvaluator:
    """The stack's evaluator: every alarm created in moto, evaluated every
    ALARM_EVALUATION_INTERVAL_SECONDS (0: only when `evaluate_once` is called), with periods
    compressed ALARM_TIME_COMPRESSION times."""
    settings = AlarmEvaluatorSettings.model_validate(dict(os.environ if env is None else env))
    evaluator = AlarmEvaluator(time_scale=settings.time_compression, listeners=listeners)
    evaluator.install()
    if settings.effective_interval_s > 0:
        evaluator.start(settings.effective_interval_s)
    return evaluator
