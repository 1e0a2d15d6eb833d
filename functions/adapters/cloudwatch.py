"""Where the router's metrics are read back: CloudWatch in AWS, the local stack's EMF sink locally.

Both implement `MetricsSource.query(window_s) -> MetricsSnapshot`. The active alarms come from
CloudWatch's DescribeAlarms (moto locally).
"""

from __future__ import annotations

import importlib
import math
import os
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field

from functions.adapters.aws import client as aws_client
from functions.domain.errors import DependencyUnavailable
from functions.domain.reports.metrics import Cell, Counts, Latency, MetricsSnapshot
from functions.shared.observability import NAMESPACE

CELL_DIMENSIONS = ("Route", "Provider", "OperationType")
COUNT_METRICS = {
    "Requests": "requests",
    "Errors": "errors",
    "Fallbacks": "fallbacks",
    "CacheHits": "cache_hits",
    "CacheMisses": "cache_misses",
    "InputTokens": "input_tokens",
    "OutputTokens": "output_tokens",
    "CostUSD": "cost_usd",
}
ERROR_CODE_PREFIX = "Errors_"
LATENCY_DIMENSIONS = {"Provider": "provider", "Route": "route", "OperationType": "operation"}
LATENCY_STATS = ("Average", "p50", "p95", "p99")
MAX_QUERIES_PER_CALL = 500  # GetMetricData's limit


class MetricsSource(Protocol):
    def query(self, window_s: int) -> MetricsSnapshot: ...


class MetricsSettings(BaseModel):
    """Which source to read (`local` only on the local stack), and our alarms' name prefix."""

    source: Literal["cloudwatch", "local"] = Field(default="cloudwatch", alias="METRICS_SOURCE")
    namespace: str = Field(default=NAMESPACE, alias="METRICS_NAMESPACE")
    alarm_prefix: str = Field(default="HybridRouting", alias="ALARM_PREFIX")

    model_config = {"populate_by_name": True, "extra": "ignore"}


@lru_cache(maxsize=1)
def get_metrics_settings() -> MetricsSettings:
    return MetricsSettings.model_validate(dict(os.environ))


@lru_cache(maxsize=1)
def get_metrics_source() -> MetricsSource:
    settings = get_metrics_settings()
    if settings.source == "local":
        # Imported only on the local stack: the Lambda package has no `local` module.
        sink = importlib.import_module("local.metrics_sink")
        return sink.LocalMetrics(sink.STORE)
    return CloudWatchMetrics(settings.namespace)


def _cloudwatch() -> Any:
    return aws_client("cloudwatch")


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class CloudWatchMetrics:
    """GetMetricData over the metrics the router emits: Sum of the counts per (Route, Provider,
    OperationType) cell, Average/p50/p95/p99 of Latency per Provider, Route, OperationType and overall,
    Maximum of BudgetUtilizationPercent. The cells present come from ListMetrics."""

    def __init__(self, namespace: str = NAMESPACE, clock: Any = time.time) -> None:
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
            elif name == "Latency" and len(keys) == 1 and (key := next(iter(keys))) in LATENCY_DIMENSIONS:
                for stat in LATENCY_STATS:
                    meaning = ("latency", LATENCY_DIMENSIONS[key], dims[key], stat)
                    queries.append((meaning, self._stat(name, dims, stat, window_s)))
            elif keys == {"service"} and name == "Latency":
                for stat in LATENCY_STATS:
                    queries.append((("latency", "all", "all", stat), self._stat(name, dims, stat, window_s)))
            elif keys == {"service"} and name == "BudgetUtilizationPercent":
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
    )


# --- alarms ----------------------------------------------------------------------------------
ALARM_TYPES = ["CompositeAlarm", "MetricAlarm"]


def active_alarms(prefix: str) -> list[dict[str, Any]]:
    """Our alarms (names starting with `prefix`) in state ALARM: name, reason, since, metric."""
    alarms: list[dict[str, Any]] = []
    token: str | None = None
    try:
        while True:
            kwargs: dict[str, Any] = {
                "StateValue": "ALARM",
                "AlarmNamePrefix": prefix,
                "AlarmTypes": ALARM_TYPES,  # without it CloudWatch lists metric alarms only
                "MaxRecords": 100,
            }
            if token:
                kwargs["NextToken"] = token
            page = _cloudwatch().describe_alarms(**kwargs)
            for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                since = alarm.get("StateUpdatedTimestamp")
                alarms.append(
                    {
                        "name": alarm["AlarmName"],
                        "description": alarm.get("AlarmDescription"),
                        "reason": alarm.get("StateReason"),
                        "since": since.isoformat() if isinstance(since, datetime) else since,
                        "metric": alarm.get("MetricName"),
                        "threshold": alarm.get("Threshold"),
                    }
                )
            token = page.get("NextToken")
            if not token:
                return alarms
    except (ClientError, BotoCoreError) as exc:
        raise DependencyUnavailable("CloudWatch alarms cannot be read right now") from exc
