"""How long the CLI waits: every duration and interval it waits out itself is multiplied by
HYBRIDCTL_TIME_SCALE (default 1; drills and the runbook replay set e.g. 0.001), and a live view with no
--count stops after HYBRIDCTL_REFRESH_COUNT refreshes when that is set. Durations sent to the API (a
rollout's bake time) are never scaled: the workflows keep their own clocks."""

from __future__ import annotations

import os

from cli.hybridctl.client import USAGE, CliError

SCALE_VARIABLE = "HYBRIDCTL_TIME_SCALE"
COUNT_VARIABLE = "HYBRIDCTL_REFRESH_COUNT"


def _number(name: str) -> float | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise CliError(USAGE, f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise CliError(USAGE, f"{name}={raw!r} must be greater than 0")
    return value


def scaled(seconds: float) -> float:
    """`seconds` as the CLI waits them out (HYBRIDCTL_TIME_SCALE)."""
    return seconds * (_number(SCALE_VARIABLE) or 1.0)


def default_count(given: int | None) -> int | None:
    """--count, else HYBRIDCTL_REFRESH_COUNT, else None (until Ctrl-C)."""
    if given is not None:
        return given
    value = _number(COUNT_VARIABLE)
    return None if value is None else max(1, int(value))
