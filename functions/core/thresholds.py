"""Every number the runbooks give, in one place.

The stack (alarms), the functions (breakers, deadlines, gates), the local stack and the docs all
read these constants; change a number here and every consumer follows.
"""

from __future__ import annotations

from typing import Final

# Routing matrix latency budgets, seconds (operations.md, "Routing Decision Matrix": "< 5s" ...).
LATENCY_BUDGET_SECONDS: Final[dict[str, float]] = {
    "emergency": 5.0,
    "infrastructure": 10.0,
    "meta_monitor": 15.0,
    "implementation": 15.0,
    "kiro_communication": 30.0,
    "standard": 30.0,
    "background": 60.0,
}

# Router data-plane limits.
MAX_REQUEST_BODY_BYTES: Final[int] = 1_048_576  # 1 MiB; larger bodies get 413.
SNAPSHOT_MAX_AGE_SECONDS: Final[float] = 5.0  # flags/overrides/weights/health refresh interval.
CLIENT_KEY_CACHE_SECONDS: Final[float] = 60.0  # how long a verified client key is trusted in memory.

# Health (provider-failover.md: HEALTH_THRESHOLD=3 consecutive failures mark a provider unhealthy).
HEALTH_FAILURE_THRESHOLD: Final[int] = 3

# How long one router instance keeps a target it saw fail HEALTH_FAILURE_THRESHOLD times in a row
# out of its plans before trying it again (the shared circuit breaker replaces this in issue 3).
SUSPECT_TARGET_SECONDS: Final[float] = 30.0
