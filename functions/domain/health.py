"""Health of the runbooks' components, derived from the routing snapshot, the breakers and this
instance's observations, with the same notion of "up" the decision uses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from functions.domain.names import BEDROCK, MCP
from functions.domain.routing.breaker import BreakerState, BreakerStatus, SlidingWindow
from functions.domain.routing.decision import RoutingSnapshot

Status = Literal["healthy", "degraded", "unhealthy"]
Overall = Literal["healthy", "degraded", "critical"]

# The runbooks' components; each configured Direct provider is a component too (direct-<name>).
COMPONENTS: tuple[str, ...] = ("hybrid-router", "direct-bedrock", "mcp-router", "support-manager")


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    name: str
    status: Status
    last_check: str | None
    detail: str
    breaker: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        body = {"name": self.name, "status": self.status, "lastCheck": self.last_check, "detail": self.detail}
        if self.breaker is not None:
            body["circuitBreaker"] = self.breaker
        return body


@dataclass(frozen=True, slots=True)
class SystemHealth:
    status: Overall
    can_serve: bool
    components: tuple[ComponentHealth, ...]

    def component(self, name: str) -> ComponentHealth | None:
        return next((c for c in self.components if c.name == name), None)

    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.components)


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class TargetView:
    """What is known of one target: `up` as the decision sees it, and why."""

    up: bool
    configured: bool
    breaker: BreakerState
    window: SlidingWindow | None
    checked_at: float | None


def _target(component: str, view: TargetView) -> ComponentHealth:
    window = view.window
    times = (window.last_success_at, window.last_failure_at) if window else (None, None)
    last = max(filter(None, (*times, view.checked_at)), default=None)
    breaker = view.breaker.status
    if not view.configured:
        return ComponentHealth(component, "unhealthy", _iso(last), "not configured", breaker.value)
    if not view.up:
        error = (window.last_error if window else None) or view.breaker.reason or "marked unhealthy"
        return ComponentHealth(component, "unhealthy", _iso(last), f"not taking traffic ({error})", breaker.value)
    if breaker is not BreakerStatus.CLOSED:
        return ComponentHealth(component, "degraded", _iso(last), f"recovering: breaker {breaker.value}", breaker.value)
    return ComponentHealth(component, "healthy", _iso(last), "taking traffic", breaker.value)


def assess(snapshot: RoutingSnapshot, views: Mapping[str, TargetView], now: float) -> SystemHealth:
    """`snapshot.healthy` must already merge the health table, configuration and breakers."""
    direct_up = any(snapshot.is_up(p) for p in snapshot.direct)
    mcp_up = snapshot.is_up(MCP) and MCP in views and views[MCP].configured
    routing_on = snapshot.flags.get("ENABLE_INTELLIGENT_ROUTING", True)
    support_on = snapshot.flags.get("ENABLE_BEDROCK_SUPPORT_MODE", True)
    both, either = direct_up and mcp_up, direct_up or mcp_up
    providers = tuple(
        _target(f"direct-{name}", view) for name, view in views.items() if name != MCP and view.configured
    )
    if not any(c.name == f"direct-{BEDROCK}" for c in providers):
        providers = (_target(f"direct-{BEDROCK}", views.get(BEDROCK) or _absent()), *providers)
    components = (
        ComponentHealth(
            "hybrid-router",
            "healthy" if routing_on else "degraded",
            _iso(now),
            "intelligent routing on" if routing_on else "intelligent routing disabled: all traffic on MCP",
        ),
        *providers,
        _target("mcp-router", views.get(MCP) or _absent()),
        ComponentHealth(
            "support-manager",
            "healthy" if both and support_on else ("degraded" if either else "unhealthy"),
            _iso(now),
            "support mode on" if support_on else "support mode disabled",
        ),
    )
    if not either:
        overall: Overall = "critical"
    elif all(c.status == "healthy" for c in components):
        overall = "healthy"
    else:
        overall = "degraded"
    return SystemHealth(overall, either, components)


def _absent() -> TargetView:
    return TargetView(False, False, BreakerState(), None, None)
