"""PeriodicTask: the local stand-in for the health checker's schedule."""

from __future__ import annotations

import threading
import time

from local.scheduler import PeriodicTask


def test_the_first_run_comes_one_interval_after_start_and_runs_repeat() -> None:
    calls: list[float] = []
    started = time.monotonic()
    task = PeriodicTask(lambda: calls.append(time.monotonic()), interval_s=0.05)
    time.sleep(0.03)
    assert calls == []
    time.sleep(0.2)
    task.stop()
    assert len(calls) >= 2 and calls[0] - started >= 0.05


def test_a_failing_run_is_logged_and_the_schedule_goes_on(caplog) -> None:
    ran = threading.Event()
    attempts = []

    def flaky() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("boom")
        ran.set()

    task = PeriodicTask(flaky, interval_s=0.02, name="flaky")
    assert ran.wait(2.0)
    task.stop()
    assert "periodic task flaky failed" in caplog.text


def test_after_stop_no_further_run_happens() -> None:
    calls: list[int] = []
    task = PeriodicTask(lambda: calls.append(1), interval_s=0.02)
    time.sleep(0.07)
    task.stop()
    count = len(calls)
    time.sleep(0.08)
    assert len(calls) == count and not task.running
