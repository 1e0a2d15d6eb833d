"""The routing override: a mode (hybrid, mcp_only, direct_only) forced on every operation, until it expires."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from functions.domain.routing.decision import RoutingMode

MIN_OVERRIDE_SECONDS, MAX_OVERRIDE_SECONDS = 60, 7 * 86_400


def override_document(mode: str, reason: str, duration_s: int | None, now: float) -> dict[str, Any]:
    """The stored override: `mode` for `duration_s` from `now`, or until changed when no duration is given."""
    return {"mode": mode, "reason": reason, "expires_at": round(now + duration_s) if duration_s else None}


def override_active(document: Mapping[str, Any], now: float) -> bool:
    """Whether a stored override bypasses the rules at `now`: a non-hybrid mode that has not expired."""
    expires = document.get("expires_at")
    forced = bool(document) and document.get("mode") != RoutingMode.HYBRID.value
    return forced and (expires is None or expires > now)
