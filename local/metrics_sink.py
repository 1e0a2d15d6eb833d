"""The local stack's CloudWatch metrics: the EMF lines the handlers print are tapped from stdout (every line still
reaches it) into a bounded in-memory store, read back through the same `MetricsSource` protocol as CloudWatch."""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from functions.adapters.cloudwatch import ATTEMPT_METRICS, COUNT_METRICS, ERROR_CODE_PREFIX, LATENCY_DIMENSIONS
from functions.domain.names import (
    BUDGET_UTILIZATION,
    CELL_DIMENSIONS,
    DIM_PROVIDER,
    LATENCY,
    NAMESPACE,
    PROVIDER_LATENCY,
)
from functions.domain.reports.metrics import AttemptCounts, Cell, Counts, Latency, MetricsSnapshot
from functions.domain.thresholds import LOCAL_METRICS_MAX_RECORDS
from functions.shared.observability import OUTPUT_LOCK


@dataclass(frozen=True, slots=True)
class EmfRecord:
    at: float  # epoch seconds
    dimensions: dict[str, str]
    values: dict[str, tuple[float, ...]]


class LocalMetricsStore:
    """Thread-safe, bounded (oldest records dropped first) store of EMF records of one namespace."""

    def __init__(
        self,
        max_records: int = LOCAL_METRICS_MAX_RECORDS,
        namespace: str = NAMESPACE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._records: deque[EmfRecord] = deque(maxlen=max_records)
        self._lock = threading.Lock()
        self.namespace, self._clock = namespace, clock

    def ingest_line(self, line: str) -> bool:
        """Store `line` if it is an EMF document of our namespace; True when stored."""
        try:
            document = json.loads(line)
        except ValueError:
            return False
        record = self._record(document) if isinstance(document, dict) else None
        if record is None:
            return False
        with self._lock:
            self._records.append(record)
        return True

    def _record(self, document: dict[str, Any]) -> EmfRecord | None:
        meta = document.get("_aws")
        if not isinstance(meta, dict):
            return None
        directives = [d for d in meta.get("CloudWatchMetrics") or [] if d.get("Namespace") == self.namespace]
        if not directives:
            return None
        names = {m["Name"] for d in directives for m in d.get("Metrics", []) if isinstance(m, dict) and "Name" in m}
        dimension_names = {n for d in directives for dims in d.get("Dimensions", []) for n in dims}
        values = {n: _floats(document.get(n)) for n in names}
        stamp = meta.get("Timestamp")
        at = stamp / 1000.0 if isinstance(stamp, int | float) else self._clock()
        return EmfRecord(at, {n: str(document[n]) for n in dimension_names if n in document}, values)

    def since(self, epoch: float) -> list[EmfRecord]:
        with self._lock:
            return [r for r in self._records if r.at >= epoch]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)


def _floats(value: Any) -> tuple[float, ...]:
    if isinstance(value, list):
        return tuple(float(v) for v in value if isinstance(v, int | float))
    return (float(value),) if isinstance(value, int | float) and not isinstance(value, bool) else ()


class LocalMetrics:
    """`MetricsSource` over a `LocalMetricsStore`: exact sums and percentiles over the window."""

    def __init__(self, store: LocalMetricsStore, clock: Callable[[], float] = time.time) -> None:
        self.store, self._clock = store, clock

    def query(self, window_s: int) -> MetricsSnapshot:
        records = self.store.since(self._clock() - window_s)
        cells: dict[tuple[str, str, str], Counts] = {}
        samples: dict[str, dict[str, list[float]]] = {}
        budget: list[float] = []
        attempts: dict[str, dict[str, float]] = {}
        attempt_latency: dict[str, list[float]] = {}
        for record in records:
            budget.extend(record.values.get(BUDGET_UTILIZATION, ()))
            if DIM_PROVIDER in record.dimensions and any(name in record.values for name in ATTEMPT_METRICS):
                per = attempts.setdefault(record.dimensions[DIM_PROVIDER], {})
                for name, field_name in ATTEMPT_METRICS.items():
                    per[field_name] = per.get(field_name, 0.0) + sum(record.values.get(name, ()))
                attempt_latency.setdefault(record.dimensions[DIM_PROVIDER], []).extend(
                    record.values.get(PROVIDER_LATENCY, ())
                )
                continue
            if not all(d in record.dimensions for d in CELL_DIMENSIONS):
                continue
            route, provider, operation = (record.dimensions[d] for d in CELL_DIMENSIONS)
            key = (route, provider, operation)
            cells[key] = cells.get(key, Counts()) + _counts(record)
            latencies = record.values.get(LATENCY, ())
            for dimension, name in LATENCY_DIMENSIONS.items():
                samples.setdefault(name, {}).setdefault(record.dimensions[dimension], []).extend(latencies)
            samples.setdefault("all", {}).setdefault("all", []).extend(latencies)
        return MetricsSnapshot(
            window_s=window_s,
            cells=tuple(Cell(r, p, o, c) for (r, p, o), c in sorted(cells.items())),
            latency={dim: {v: _latency(s) for v, s in per.items() if s} for dim, per in samples.items()},
            budget_utilization_percent=max(budget) if budget else None,
            attempts={
                provider: AttemptCounts(
                    **fields,
                    p95_ms=_percentile(sorted(attempt_latency[provider]), 95) if attempt_latency[provider] else None,
                )
                for provider, fields in sorted(attempts.items())
            },
        )


def _counts(record: EmfRecord) -> Counts:
    fields = {field: sum(record.values.get(name, ())) for name, field in COUNT_METRICS.items()}
    codes = {
        name.removeprefix(ERROR_CODE_PREFIX): sum(v)
        for name, v in record.values.items()
        if name.startswith(ERROR_CODE_PREFIX)
    }
    return Counts(**fields, errors_by_code=codes)


def _latency(samples: list[float]) -> Latency:
    ordered = sorted(samples)
    return Latency(
        statistics.fmean(ordered), _percentile(ordered, 50), _percentile(ordered, 95), _percentile(ordered, 99)
    )


def _percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile, as CloudWatch reports it for small samples."""
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


class StdoutTap:
    """A stdout stand-in that writes everything through and feeds complete lines containing
    "_aws" to the store. Lines are assembled per thread: `print` writes text and newline apart."""

    def __init__(self, stream: TextIO, store: LocalMetricsStore) -> None:
        self._stream, self._store = stream, store
        self._pending = threading.local()

    def write(self, text: str) -> int:
        with OUTPUT_LOCK:  # one writer at a time into the stream underneath (see OUTPUT_LOCK)
            written = self._stream.write(text)
        buffered = getattr(self._pending, "text", "") + text
        *lines, rest = buffered.split("\n")
        self._pending.text = rest if len(rest) < 1_000_000 else ""
        for line in lines:
            if "_aws" in line:
                self._store.ingest_line(line)
        return written

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


STORE = LocalMetricsStore()
_install_lock = threading.Lock()


def install(store: LocalMetricsStore = STORE) -> StdoutTap:
    """Wrap the current `sys.stdout` (idempotent). Whoever replaces sys.stdout later (pytest's output
    capture does, between test phases) removes the tap: call this again after them."""
    with _install_lock:
        current = sys.stdout
        if isinstance(current, StdoutTap):
            return current
        tap = StdoutTap(current, store)
        sys.stdout = tap
        return tap
