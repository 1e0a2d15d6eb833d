"""Plumbing the provider simulators share: injected faults and the checks of request values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from local.faults import FaultRegistry

ErrorResponse = Callable[[int, str], Response]
"""Builds a provider's error response from an HTTP status and a message."""


def injected_message(status: int) -> str:
    return f"Injected fault: HTTP {status}."


async def injected_fault(faults: FaultRegistry, provider: str, error: ErrorResponse) -> Response | None:
    """Waits out `provider`'s fault, if one strikes, and answers its status in the provider's error shape."""
    if (fault := await faults.apply(provider)) is None:
        return None
    return error(fault.status, injected_message(fault.status))


def is_number_in(value: Any, low: float, high: float) -> bool:
    """Whether `value` is a number (not a boolean) within [low, high]."""
    return not isinstance(value, bool) and isinstance(value, int | float) and low <= value <= high


def is_positive_int(value: Any) -> bool:
    """Whether `value` is an integer (not a boolean) of at least 1: a valid max tokens."""
    return not isinstance(value, bool) and isinstance(value, int) and value >= 1
