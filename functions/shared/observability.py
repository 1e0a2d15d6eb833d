"""Logger and metrics of every function, configured in one place."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, TextIO, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

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

# One writer at a time on the process's stdout, for log lines and metric lines alike: every line is one
# write() under this lock (see `write_line`), so a log record and an EMF document never interleave, and
# CloudWatch Logs reads each as the JSON it is. Re-entrant: a line written under it may reach the local
# stack's stdout tap, which takes it too.
OUTPUT_LOCK = threading.RLock()


def write_line(line: str, stream: TextIO | None = None, *, flush: bool = False) -> None:
    """`line` and its newline in one write on `stream` (`sys.stdout` when None, as it is at the call),
    under OUTPUT_LOCK; a lone surrogate (which no UTF-8 stream takes) is written as its escape."""
    text = line if line.isascii() else line.encode("utf-8", "backslashreplace").decode("utf-8")
    with OUTPUT_LOCK:
        target = stream or sys.stdout
        target.write(text + "\n")
        if flush:
            target.flush()


class _LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Powertools' log records, each written as one line by `write_line`."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            write_line(self.format(record), self.stream, flush=True)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


logger = Logger(service=SERVICE, logger_handler=_LineHandler(sys.stdout))
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
        with request_metrics():
            return handler(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def request_metrics() -> Iterator[None]:
    """The metrics recorded inside make one EMF line of their own, flushed on the way out: a request's, or
    what a stream records when it ends, after its handler has returned. Enter and leave it in one call: a
    context variable set in one step of a generator is not there in the next when a host steps it from
    another thread."""
    own = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    token = _request_metrics.set(own)
    try:
        yield
    finally:
        _request_metrics.reset(token)
        if own.metric_set and not is_metrics_disabled():
            write_line(json.dumps(own.serialize_metric_set(), separators=(",", ":")))
        own.clear_metrics()


def log_function_context(handler: _Handler) -> _Handler:
    """Like Powertools' `inject_lambda_context`: every record logged while `handler` serves one invocation
    names its function (function_name, function_arn, function_request_id, function_memory_size, cold_start).
    Here the keys belong to that invocation only, whatever else the process runs: the local stack serves
    every function from one process and one logger, where a function's keys set on the shared logger
    named it in the records of the others."""

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        previous = logger.thread_safe_get_current_keys()
        logger.thread_safe_append_keys(**_function_keys(context))
        try:
            return handler(event, context, *args, **kwargs)
        finally:
            logger.thread_safe_clear_keys()
            logger.thread_safe_append_keys(**previous)

    return wrapper  # type: ignore[return-value]


_started_functions: set[str] = set()


def _function_keys(context: Any) -> dict[str, Any]:
    name = getattr(context, "function_name", None)
    cold = (name or "") not in _started_functions
    _started_functions.add(name or "")
    keys = {
        "function_name": name,
        "function_arn": getattr(context, "invoked_function_arn", None),
        "function_request_id": getattr(context, "aws_request_id", None),
        "function_memory_size": getattr(context, "memory_limit_in_mb", None),
        "cold_start": cold,
    }
    return {key: value for key, value in keys.items() if value is not None}


def emit_provider_metrics(provider: str, values: Mapping[str, tuple[MetricUnit, float]]) -> None:
    """One EMF line of per-provider metrics, apart from the request's line: its only dimension set is
    {Provider, service}, whatever POWERTOOLS_SERVICE_NAME says (the alarms match on exactly that set).

    Written here rather than by Powertools' EphemeralMetrics, which costs about 110 us a line: one line
    per provider attempt would take a tenth of the router's warm p99 budget (bench/router_overhead.py)."""
    emit_metrics({DIM_PROVIDER: provider}, values)


def emit_metrics(
    dimensions: Mapping[str, str],
    values: Mapping[str, tuple[MetricUnit, float]],
    stream: TextIO | None = None,
    *,
    rollups: Sequence[Sequence[str]] = (),
) -> None:
    """One EMF line whose only dimension set is `dimensions` plus `service` (SERVICE, whatever
    POWERTOOLS_SERVICE_NAME says), apart from any Powertools line: dashboards and alarms match on
    exactly that set; `rollups` adds coarser sets of those dimensions (each with `service`; `[]`: `service`
    alone, what a service-wide alarm reads). No AWS call: CloudWatch Logs turns the line into metrics.
    Printed to `sys.stdout` (the local stack's metrics tap listens there) unless `stream` says otherwise."""
    document = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[*dimensions, DIM_SERVICE], *([*rollup, DIM_SERVICE] for rollup in rollups)],
                    "Metrics": [{"Name": name, "Unit": unit.value} for name, (unit, _) in values.items()],
                }
            ],
        },
        **dimensions,
        DIM_SERVICE: SERVICE,
        **{name: [float(value)] for name, (_, value) in values.items()},
    }
    write_line(json.dumps(document, separators=(",", ":")), stream, flush=stream is not None)


def emit_count(metric: str, dimension: str, value: str) -> None:
    """One count of `metric` in the dimension set {`dimension`, service} (an outcome, a category), for the
    dashboards only. Written to the process's own stdout (`sys.__stdout__`; on Lambda the same stream): an
    admin call served in-process by the local gateway must not print into its caller's output (hybridctl's
    --json, captured by tests), and no local consumer reads these counts."""
    emit_metrics({dimension: value}, {metric: (MetricUnit.Count, 1)}, sys.__stdout__ or sys.stdout)
