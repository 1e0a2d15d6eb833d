"""A clock for code that takes one: time passes only when the test says so."""

from __future__ import annotations


class FakeClock:
    """`now()` (or the clock called as a function) stays put until `advance` or `sleep` moves it on."""

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    __call__ = now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not go back")
        self._now += seconds

    sleep = advance
