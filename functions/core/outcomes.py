"""What this instance has seen of each target: consecutive failures and last checks."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from functions.core.thresholds import HEALTH_FAILURE_THRESHOLD, SUSPECT_TARGET_SECONDS


@dataclass(slots=True)
class TargetRecord:
    consecutive_failures: int = 0
    last_success_at: float | None = None
    last_failure_at: float | None = None
    last_error: str | None = None  # an error code, never provider text


class OutcomeTracker:
    def __init__(self) -> None:
        self._records: dict[str, TargetRecord] = {}
        self._lock = threading.Lock()

    def success(self, target: str, now: float) -> None:
        with self._lock:
            record = self._records.setdefault(target, TargetRecord())
            record.consecutive_failures, record.last_success_at = 0, now

    def failure(self, target: str, now: float, code: str) -> None:
        with self._lock:
            record = self._records.setdefault(target, TargetRecord())
            record.consecutive_failures += 1
            record.last_failure_at, record.last_error = now, code

    def record(self, target: str) -> TargetRecord:
        with self._lock:
            found = self._records.get(target)
            return TargetRecord(**{k: getattr(found, k) for k in TargetRecord.__slots__}) if found else TargetRecord()

    def is_suspect(self, target: str, now: float) -> bool:
        record = self._records.get(target)
        if record is None or record.consecutive_failures < HEALTH_FAILURE_THRESHOLD:
            return False
        return record.last_failure_at is not None and now - record.last_failure_at < SUSPECT_TARGET_SECONDS
