"""Logger and metrics of every function, configured in one place."""

from __future__ import annotations

import functools
import json
import sys
import threading
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, TextIO, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from functions.domain.names import (
    AUDIT_DIMENSION as AUDIT_DIMENSION,
)
from functions.domain.names import (
    AUDIT_METRIC as AUDIT_METRIC,
)
from functions.domain.names import (
    AUTHORIZATION_DIMENSION as AUTHORIZATION_DIMENSION,
)
from functions.domain.names import (
    AUTHORIZATION_METRIC as AUTHORIZATION_METRIC,
)
from functions.domain.names import (
    AUTOMATION_DIMENSION as AUTOMATION_DIMENSION,
)
from functions.domain.names import (
    AUTOMATION_METRIC as AUTOMATION_METRIC,
)
from functions.domain.names import (
    DIM_PROVIDER,
    DIM_SERVICE,
)
from functions.domain.names import (
    NAMESPACE as NAMESPACE,
)
from functions.domain.names import (
    SERVICE as SERVICE,
)

# The names above stay importable from here for the modules that still import them from here;
# new code imports them from functions.domain.names.

# The admin API's authorizations (security dashboard): the authorizer's verdicts, and the admin function's
# refusals of read-only callers.
AUTH_ALLOWED, AUTH_UNAUTHORIZED, AUTH_FORBIDDEN, AUTH_READONLY_REFUSED = (
    "allowed",
    "unauthorized",
    "forbidden",
    "readonly-refused",
)
AUTH_OUTCOMES = (AUTH_ALLOWED, AUTH_UNAUTHORIZED, AUTH_FORBIDDEN, AUTH_READONLY_REFUSED)

# One writer at a time on the process's stdout for metric lines: concurrent writes into one
# TextIOWrapper from several threads (the local gateway serves overlapping requests in threads)
# crashed CPython 3.11 once in a test run (a segmentation fault inside print). Re-entrant: a metric
# line printed under it may reach the local stack's stdout tap, which takes it too.
OUTPUT_LOCK = threading.RLock()

logger = Logger(service=SERVICE)
_process_metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
_request_metrics: ContextVar[EphemeralMetrics | None] = ContextVar("request_metrics", default=None)
_Handler = TypeVar("_Handler", bound=Callable[..., Any])


class _Metrics:
    """Powertools' metrics API, recording into the metrics of the request being served (`log_request_metrics`),
    or outside a request into the process-wide Metrics. Powertools' Metrics keep one metric set per process, which
    is enough on AWS (an instance serves one request at a time) but not in the local gateway, whose overlapping
    requests crossed each other's dimensions and failed flushing ("dictionary changed size during iteration")."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_request_metrics.get() or _process_metrics, name)


metrics: Any = _Metrics()


def log_request_metrics(handler: _Handler) -> _Handler:
    """Like Powertools' `log_metrics`: the metrics recorded while `handler` serves one request make one EMF line,
    flushed when it returns or raises; here they are the request's own, whatever else runs in the process."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        own = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
        token = _request_metrics.set(own)
        try:
            return handler(*args, **kwargs)
        finally:
            _request_metrics.reset(token)
            if own.metric_set:
                with OUTPUT_LOCK:
                    own.flush_metrics()

    return wrapper  # type: ignore[return-value]


def emit_provider_metrics(provider: str, values: Mapping[str, tuple[MetricUnit, float]]) -> None:
    """One EMF line of per-provider metrics, apart from the request's line: its only dimension set is
    {Provider, service}, whatever POWERTOOLS_SERVICE_NAME says (the alarms match on exactly that set).

    Written here rather than by Powertools' EphemeralMetrics, which costs about 110 us a line: one line
    per provider attempt would take a tenth of the router's warm p99 budget (bench/router_overhead.py)."""
    emit_metrics({DIM_PROVIDER: provider}, values)


def emit_metrics(
    dimensions: Mapping[str, str], values: Mapping[str, tuple[MetricUnit, float]], stream: TextIO | None = None
) -> None:
    """One EMF line whose only dimension set is `dimensions` plus `service` (SERVICE, whatever
    POWERTOOLS_SERVICE_NAME says), apart from any Powertools line: dashboards and alarms match on
    exactly that set. No AWS call: CloudWatch Logs turns the line into metrics. Printed to `sys.stdout`
    (the local stack's metrics tap listens there) unless `stream` says otherwise."""
    document = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[*dimensions, DIM_SERVICE]],
                    "Metrics": [{"Name": name, "Unit": unit.value} for name, (unit, _) in values.items()],
                }
            ],
        },
        **dimensions,
        DIM_SERVICE: SERVICE,
        **{name: [float(value)] for name, (_, value) in values.items()},
    }
    line = json.dumps(document, separators=(",", ":"))
    with OUTPUT_LOCK:
        print(line, file=stream or sys.stdout, flush=stream is not None)


def emit_count(metric: str, dimension: str, value: str) -> None:
    """One count of `metric` in the dimension set {`dimension`, service} (an outcome, a category), for the
    dashboards only. Written to the process's own stdout (`sys.__stdout__`; on Lambda the same stream): an
    admin call served in-process by the local gateway must not print into its caller's output (hybridctl's
    --json, captured by tests), and no local consumer reads these counts."""
    emit_metrics({dimension: value}, {metric: (MetricUnit.Count, 1)}, sys.__stdout__ or sys.stdout)
