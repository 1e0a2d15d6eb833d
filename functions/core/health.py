"""Health of the runbooks' components, derived from the routing snapshot and this instance's
observations, with the same notion of "up" the decision uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from functions.core.decision import MCP_TARGET, RoutingSnapshot, direct_order
from functions.core.outcomes import OutcomeTracker

Status = Literal["healthy", "degraded", "unhealthy"]
Overall = Literal["healthy", "degraded", "critical"]

COMPONENTS: tuple[str, ...] = ("hybrid-router", "direct-bedrock", "mcp-router", "support-manager")


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    name: str
    status: Status
    last_check: str | None
    detail: str

    def as_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "status": self.status, "lastCheck": self.last_check, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class SystemHealth:
    status: Overall
    can_serve: bool
    components: tuple[ComponentHealth, ...]

    def component(self, name: str) -> ComponentHealth | None:
        return next((c for c in self.components if c.name == name), None)


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def assess(
    snapshot: RoutingSnapshot, outcomes: OutcomeTracker, checked_at: dict[str, float], now: float
) -> SystemHealth:
    """`snapshot.healthy` must already merge the health table with this instance's suspects."""
    direct_up = bool(direct_order(snapshot, 0.0))
    mcp_up = snapshot.is_up(MCP_TARGET)
    routing_on = snapshot.flags.get("ENABLE_INTELLIGENT_ROUTING", True)
    support_on = snapshot.flags.get("ENABLE_BEDROCK_SUPPORT_MODE", True)

    def target(name: str, component: str, up: bool) -> ComponentHealth:
        record = outcomes.record(name)
        last = max(filter(None, (record.last_success_at, record.last_failure_at, checked_at.get(name))), default=None)
        detail = (
            "taking traffic" if up else f"not taking traffic (last error: {record.last_error or 'marked unhealthy'})"
        )
        return ComponentHealth(component, "healthy" if up else "unhealthy", _iso(last), detail)

    both, either = direct_up and mcp_up, direct_up or mcp_up
    components = (
        ComponentHealth(
            "hybrid-router",
            "healthy" if routing_on else "degraded",
            _iso(now),
            "intelligent routing on" if routing_on else "intelligent routing disabled: all traffic on MCP",
        ),
        target("bedrock", "direct-bedrock", direct_up),
        target(MCP_TARGET, "mcp-router", mcp_up),
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
