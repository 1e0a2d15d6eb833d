"""The local stand-in for the stack's cleanup rule: moto emits no execution-status events, so this poller
emits EventBridge's "Step Functions Execution Status Change" once for each watched execution that ended
FAILED, TIMED_OUT or ABORTED, for the workflow Lambda to release the lock it may still hold."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from functions.shared.event_patterns import CLEANUP_STATUSES, EXECUTION_EVENT_SOURCE, EXECUTION_STATUS_CHANGE
from local.eventbus import envelope

Event = dict[str, Any]
MAX_ATTEMPTS = 5  # the stack's rule target: retry_attempts=4, so five deliveries at most
log = logging.getLogger(__name__)


class ExecutionWatcher:
    """`start()` polls every `interval` seconds on a daemon thread, `stop()` ends it, `poll_once()` runs
    one pass by hand (tests). An event whose callback raised is emitted again at the next poll, up to
    MAX_ATTEMPTS times, as the rule's target retries."""

    def __init__(
        self,
        sfn_client: Any,
        machine_arns: Iterable[str],
        on_event: Callable[[Event], Any],
        interval: float = 2.0,
    ) -> None:
        """`sfn_client`: a boto3 Step Functions client (the local moto's); `machine_arns`: the state
        machines to watch; `on_event`: called with each event; `interval`: seconds between polls."""
        if interval <= 0:
            raise ValueError("the polling interval must be positive")
        self.sfn, self.machine_arns = sfn_client, tuple(machine_arns)
        self.on_event, self.interval = on_event, interval
        self._done: set[str] = set()
        self._attempts: dict[str, int] = {}
        self._poll_lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ExecutionWatcher:
        if self._thread is None:
            self._stopped.clear()
            self._thread = threading.Thread(target=self._run, name="execution-watcher", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def poll_once(self) -> list[Event]:
        """Emit the event of every watched execution that ended FAILED, TIMED_OUT or ABORTED since the
        last pass (or is still owed a delivery after its callback raised)."""
        emitted: list[Event] = []
        with self._poll_lock:
            for execution in self._ended():
                arn = execution["executionArn"]
                event = status_change_event(execution)
                self._attempts[arn] = self._attempts.get(arn, 0) + 1
                try:
                    self.on_event(event)
                except Exception:
                    log.exception("cleanup of %s failed (attempt %d)", arn, self._attempts[arn])
                    if self._attempts[arn] >= MAX_ATTEMPTS:
                        self._done.add(arn)
                    continue
                self._done.add(arn)
                emitted.append(event)
        return emitted

    def _ended(self) -> list[dict[str, Any]]:
        paginator = self.sfn.get_paginator("list_executions")
        found = []
        for machine_arn in self.machine_arns:
            for status in CLEANUP_STATUSES:
                for page in paginator.paginate(stateMachineArn=machine_arn, statusFilter=status):
                    found += [e for e in page["executions"] if e["executionArn"] not in self._done]
        return found

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.poll_once()
            except Exception:  # the poller must outlive a moto hiccup; the next pass tries again
                log.exception("listing the rollout executions failed")


def status_change_event(execution: dict[str, Any]) -> Event:
    """The EventBridge event AWS sends for `execution` (an item of ListExecutions)."""
    arn = execution["executionArn"]
    _, _, _, region, account, *_ = arn.split(":")
    stop = execution.get("stopDate")
    return envelope(
        {
            "detail-type": EXECUTION_STATUS_CHANGE,
            "source": EXECUTION_EVENT_SOURCE,
            "account": account,
            "time": (stop or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region,
            "resources": [arn],
            "detail": {
                "executionArn": arn,
                "stateMachineArn": execution["stateMachineArn"],
                "name": execution["name"],
                "status": execution["status"],
                "startDate": _millis(execution["startDate"]),
                "stopDate": _millis(stop) if stop else None,
            },
        }
    )


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
