"""CloudWatch: the router's metrics read back (GetMetricData) and our alarms' states (DescribeAlarms).

Every source implements `MetricsSource.query(window_s)`; METRICS_SOURCE picks one among the registered.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field

from functions.adapters.aws import client as aws_client
from functions.domain import names
from functions.domain.errors import DependencyUnavailable
from functions.domain.names import CELL_DIMENSIONS, NAMESPACE
from functions.domain.reports.metrics import AttemptCounts, Cell, Counts, Latency, MetricsSnapshot

COUNT_METRICS = {
    names.REQUESTS: "requests",
    names.ERRORS: "errors",
    names.FALLBACKS: "fallbacks",
    names.CACHE_HITS: "cache_hits",
    names.CACHE_MISSES: "cache_misses",
    names.INPUT_TOKENS: "input_tokens",
    names.OUTPUT_TOKENS: "output_tokens",
    names.COST_USD: "cost_usd",
}
ERROR_CODE_PREFIX = names.ERRORS_BY_TYPE_PREFIX
LATENCY_DIMENSIONS = {names.DIM_PROVIDER: "provider", names.DIM_ROUTE: "route", names.DIM_OPERATION: "operation"}
LATENCY_STATS = ("Average", "p50", "p95", "p99")
# Each provider's own attempts ({Provider, service}): ProviderAttempts and its failures, and their p95.
ATTEMPT_METRICS = {
    names.PROVIDER_ATTEMPTS: "attempts",
    names.PROVIDER_SERVER_ERRORS: "server_errors",
    names.PROVIDER_THROTTLES: "throttles",
}
MAX_QUERIES_PER_CALL = 500  # GetMetricData's limit


class MetricsSource(Protocol):
    def query(self, window_s: int) -> MetricsSnapshot: ...


class MetricsSettings(BaseModel):
    """Which source to read (`local` only on the local stack), and our alarms' name prefix."""

    source: Literal["cloudwatch", "local"] = Field(default="cloudwatch", alias="METRICS_SOURCE")
    namespace: str = Field(default=NAMESPACE, alias="METRICS_NAMESPACE")
    alarm_prefix: str = Field(default=names.DEFAULT_STACK_NAME, alias="ALARM_PREFIX")

    model_config = {"populate_by_name": True, "extra": "ignore"}


@lru_cache(maxsize=1)
def get_metrics_settings() -> MetricsSettings:
    return MetricsSettings.model_validate(dict(os.environ))


# METRICS_SOURCE -> a factory of that source. CloudWatch is built in; the local stack registers its
# in-memory sink at startup (register_metrics_source), so no Lambda code depends on the local stack.
_SOURCES: dict[str, Callable[[MetricsSettings], MetricsSource]] = {}


def register_metrics_source(name: str, factory: Callable[[MetricsSettings], MetricsSource]) -> None:
    """Make METRICS_SOURCE=`name` read from `factory(settings)`; the cached source is built again."""
    _SOURCES[name] = factory
    get_metrics_source.cache_clear()


@lru_cache(maxsize=1)
def get_metrics_source() -> MetricsSource:
    settings = get_metrics_settings()
    factory = _SOURCES.get(settings.source)
    if factory is None:
        raise DependencyUnavailable(f"no metrics source {settings.source!r} is registered (METRICS_SOURCE)")
    return factory(settings)


def _cloudwatch() -> Any:
    return aws_client("cloudwatch")


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class CloudWatchMetrics:
    """GetMetricData over the metrics the router emits: Sum of the counts per (Route, Provider,
    OperationType) cell, Average/p50/p95/p99 of Latency per Provider, Route, OperationType and overall,
    Maximum of BudgetUtilizationPercent. The cells present come from ListMetrics."""

    def __init__(self, namespace: str = NAMESPACE, clock: Callable[[], float] = time.time) -> None:
        self.namespace, self._clock = namespace, clock

    def query(self, window_s: int) -> MetricsSnapshot:
        try:
            return self._query(window_s)
        except (ClientError, BotoCoreError) as exc:
            raise DependencyUnavailable("CloudWatch metrics cannot be read right now") from exc

    def _query(self, window_s: int) -> MetricsSnapshot:
        listed = list(self._list_metrics())
        queries: list[tuple[tuple[str, ...], dict[str, Any]]] = []  # (meaning, MetricStat)
        for name, dims in listed:
            keys = set(dims)
            if keys == {*CELL_DIMENSIONS} and (name in COUNT_METRICS or name.startswith(ERROR_CODE_PREFIX)):
                cell = tuple(dims[d] for d in CELL_DIMENSIONS)
                queries.append((("cell", *cell, name), self._stat(name, dims, "Sum", window_s)))
            elif name == names.LATENCY and len(keys) == 1 and (key := next(iter(keys))) in LATENCY_DIMENSIONS:
                for stat in LATENCY_STATS:
                    meaning = ("latency", LATENCY_DIMENSIONS[key], dims[key], stat)
                    queries.append((meaning, self._stat(name, dims, stat, window_s)))
            elif keys == {names.DIM_SERVICE} and name == names.LATENCY:
                for stat in LATENCY_STATS:
                    queries.append((("latency", "all", "all", stat), self._stat(name, dims, stat, window_s)))
            elif keys == {names.DIM_PROVIDER, names.DIM_SERVICE} and name in ATTEMPT_METRICS:
                queries.append((("attempt", dims[names.DIM_PROVIDER], name), self._stat(name, dims, "Sum", window_s)))
            elif keys == {names.DIM_PROVIDER, names.DIM_SERVICE} and name == names.PROVIDER_LATENCY:
                queries.append((("attempt", dims[names.DIM_PROVIDER], "p95"), self._stat(name, dims, "p95", window_s)))
            elif keys == {names.DIM_SERVICE} and name == names.BUDGET_UTILIZATION:
                queries.append((("budget",), self._stat(name, dims, "Maximum", window_s)))
        values = self._fetch(queries, window_s)
        return _snapshot(window_s, values)

    def _list_metrics(self) -> Iterator[tuple[str, dict[str, str]]]:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Namespace": self.namespace, "RecentlyActive": "PT3H"}
            if token:
                kwargs["NextToken"] = token
            page = _cloudwatch().list_metrics(**kwargs)
            for metric in page.get("Metrics", []):
                yield metric["MetricName"], {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            token = page.get("NextToken")
            if not token:
                return

    def _stat(self, name: str, dims: dict[str, str], stat: str, window_s: int) -> dict[str, Any]:
        return {
            "Metric": {
                "Namespace": self.namespace,
                "MetricName": name,
                # As ListMetrics gave them: CloudWatch takes dimensions as a set, moto in their stored order.
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
            },
            "Period": _period(window_s),
            "Stat": stat,
        }

    def _fetch(
        self, queries: list[tuple[tuple[str, ...], dict[str, Any]]], window_s: int
    ) -> list[tuple[tuple[str, ...], list[float]]]:
        now = self._clock()
        results: list[tuple[tuple[str, ...], list[float]]] = []
        for start in range(0, len(queries), MAX_QUERIES_PER_CALL):
            chunk = queries[start : start + MAX_QUERIES_PER_CALL]
            by_id = {f"m{i}": meaning for i, (meaning, _) in enumerate(chunk)}
            request = [{"Id": f"m{i}", "MetricStat": stat, "ReturnData": True} for i, (_, stat) in enumerate(chunk)]
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {
                    "MetricDataQueries": request,
                    "StartTime": _utc(now - window_s),
                    "EndTime": _utc(now),
                }
                if token:
                    kwargs["NextToken"] = token
                page = _cloudwatch().get_metric_data(**kwargs)
                for result in page.get("MetricDataResults", []):
                    results.append((by_id[result["Id"]], [float(v) for v in result.get("Values", [])]))
                token = page.get("NextToken")
                if not token:
                    break
        return results


def _period(window_s: int) -> int:
    """One period covering the window, as CloudWatch wants it: a multiple of 60 seconds."""
    return max(60, math.ceil(window_s / 60) * 60)


def _snapshot(window_s: int, values: Iterable[tuple[tuple[str, ...], list[float]]]) -> MetricsSnapshot:
    """A window can straddle two periods: sums add up, averages are averaged, a percentile takes the worse."""
    cells: dict[tuple[str, str, str], dict[str, Any]] = {}
    latency: dict[str, dict[str, dict[str, float]]] = {}
    budget: float | None = None
    attempts: dict[str, dict[str, float]] = {}
    for meaning, points in values:
        if not points:
            continue
        if meaning[0] == "cell":
            route, provider, operation, name = meaning[1:]
            fields = cells.setdefault((route, provider, operation), {"errors_by_code": {}})
            if name.startswith(ERROR_CODE_PREFIX):
                code = name.removeprefix(ERROR_CODE_PREFIX)
                fields["errors_by_code"][code] = fields["errors_by_code"].get(code, 0.0) + sum(points)
            else:
                fields[COUNT_METRICS[name]] = fields.get(COUNT_METRICS[name], 0.0) + sum(points)
        elif meaning[0] == "latency":
            _, dimension, value, stat = meaning
            combined = max(points) if stat.startswith("p") else sum(points) / len(points)
            latency.setdefault(dimension, {}).setdefault(value, {})[stat] = combined
        elif meaning[0] == "attempt":
            _, provider, name = meaning
            per = attempts.setdefault(provider, {})
            if name == "p95":
                per["p95_ms"] = max(points)
            else:
                per[ATTEMPT_METRICS[name]] = per.get(ATTEMPT_METRICS[name], 0.0) + sum(points)
        elif meaning[0] == "budget":
            budget = max(points)
    return MetricsSnapshot(
        window_s=window_s,
        cells=tuple(Cell(r, p, o, Counts(**f)) for (r, p, o), f in sorted(cells.items())),
        latency={
            dim: {v: Latency(s.get("Average"), s.get("p50"), s.get("p95"), s.get("p99")) for v, s in per.items()}
            for dim, per in latency.items()
        },
        budget_utilization_percent=budget,
        attempts={provider: AttemptCounts(**fields) for provider, fields in sorted(attempts.items())},
    )


register_metrics_source("cloudwatch", lambda settings: CloudWatchMetrics(settings.namespace))


# --- alarms ----------------------------------------------------------------------------------
ALARM_TYPES = ["CompositeAlarm", "MetricAlarm"]
PAGE_SIZE = 100  # DescribeAlarms' MaxRecords and AlarmNames limits


def active_alarms(prefix: str) -> list[dict[str, Any]]:
    """Our alarms (names starting with `prefix`) in state ALARM: name, reason, since, metric."""
    with _alarms_unavailable():
        return [_alarm_view(alarm) for alarm in _alarms_in_alarm(prefix)]


def alarm_states(alarm_names: Sequence[str], prefix: str, target: str) -> dict[str, str]:
    """State of each alarm in `alarm_names`, plus every alarm of ours (name starting with `prefix`) in
    ALARM whose name mentions `target`: what a health gate or a failback check reads."""
    states: dict[str, str] = {}
    with _alarms_unavailable():
        for start in range(0, len(alarm_names), PAGE_SIZE):
            chunk = list(alarm_names[start : start + PAGE_SIZE])
            page = _cloudwatch().describe_alarms(AlarmNames=chunk, AlarmTypes=ALARM_TYPES, MaxRecords=PAGE_SIZE)
            states |= {alarm["AlarmName"]: alarm["StateValue"] for alarm in _both_kinds(page)}
        for alarm in _alarms_in_alarm(prefix):
            if target.lower() in alarm["AlarmName"].lower():
                states[alarm["AlarmName"]] = alarm["StateValue"]
    return states


def _alarms_in_alarm(prefix: str) -> Iterator[dict[str, Any]]:
    """Every alarm (metric or composite) whose name starts with `prefix` and whose state is ALARM."""
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {
            "StateValue": "ALARM",
            "AlarmNamePrefix": prefix,
            "AlarmTypes": ALARM_TYPES,  # without it CloudWatch lists metric alarms only
            "MaxRecords": PAGE_SIZE,
        }
        if token:
            kwargs["NextToken"] = token
        page = _cloudwatch().describe_alarms(**kwargs)
        yield from _both_kinds(page)
        token = page.get("NextToken")
        if not token:
            return


def _both_kinds(page: dict[str, Any]) -> list[dict[str, Any]]:
    return [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]


def _alarm_view(alarm: dict[str, Any]) -> dict[str, Any]:
    since = alarm.get("StateUpdatedTimestamp")
    return {
        "name": alarm["AlarmName"],
        "description": alarm.get("AlarmDescription"),
        "reason": alarm.get("StateReason"),
        "since": since.isoformat() if isinstance(since, datetime) else since,
        "metric": alarm.get("MetricName"),
        "threshold": alarm.get("Threshold"),
    }


@contextmanager
def _alarms_unavailable() -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise DependencyUnavailable("CloudWatch alarms cannot be read right now") from exc
