"""A periodic task on a daemon thread: the local stack's stand-in for an EventBridge schedule."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class PeriodicTask:
    """Runs `task` every `interval_s` seconds from construction, the first run one interval later.

    A run that raises is logged and the schedule goes on, as a scheduled Lambda's next invocation
    would. Runs never overlap: the next interval starts when a run ends.
    """

    def __init__(self, task: Callable[[], object], interval_s: float, name: str = "periodic-task") -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._task = task
        self._interval_s = interval_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.runs = 0
        self._thread.start()

    def stop(self, timeout_s: float | None = 5.0) -> None:
        """Stop scheduling; waits up to `timeout_s` for a run in progress to end."""
        self._stopped.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stopped.wait(self._interval_s):
            try:
                self._task()
            except Exception:  # a failed run must not end the schedule
                log.exception("periodic task %s failed", self._thread.name)
            self.runs += 1
