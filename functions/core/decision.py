"""The routing decision: a pure function of the operation type and a snapshot of the control plane.

No I/O, no clock, no randomness of its own: `now` and `rand` are arguments, so the decision is
exhaustively testable and benchmarkable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from functions.core.matrix import ROUTING_MATRIX, OperationType, Route

FEATURE_FLAGS: tuple[str, ...] = (
    "ENABLE_BEDROCK_SUPPORT_MODE",
    "ENABLE_INTELLIGENT_ROUTING",
    "ENABLE_DIRECT_BEDROCK_FALLBACK",
    "ENABLE_HYBRID_HEALTH_MONITORING",
    "ENABLE_PERFORMANCE_OPTIMIZATION",
)
DEFAULT_FLAGS: Mapping[str, bool] = {name: True for name in FEATURE_FLAGS}

# provider-failover.md: "bedrock → google → meta, google → bedrock → meta, meta → bedrock → google".
FAILOVER_CHAINS: Mapping[str, tuple[str, ...]] = {
    "bedrock": ("bedrock", "google", "meta"),
    "google": ("google", "bedrock", "meta"),
    "meta": ("meta", "bedrock", "google"),
}
MCP_TARGET = "mcp"


class RoutingMode(StrEnum):
    HYBRID = "hybrid"
    MCP_ONLY = "mcp_only"
    DIRECT_ONLY = "direct_only"


@dataclass(frozen=True, slots=True)
class RoutingOverride:
    mode: RoutingMode
    expires_at: float | None = None  # epoch seconds; None = until cleared
    reason: str = ""

    def active(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True, slots=True)
class RoutingSnapshot:
    """What the decision reads. `healthy` maps a target (a Direct provider or "mcp") to whether
    it can take traffic; a target missing from it is taken as healthy."""

    flags: Mapping[str, bool] = field(default_factory=lambda: dict(DEFAULT_FLAGS))
    override: RoutingOverride | None = None
    weights: Mapping[str, int] = field(default_factory=lambda: {"bedrock": 100})
    healthy: Mapping[str, bool] = field(default_factory=dict)

    def is_up(self, target: str) -> bool:
        return self.healthy.get(target, True)


@dataclass(frozen=True, slots=True)
class Target:
    route: Route
    provider: str


@dataclass(frozen=True, slots=True)
class Decision:
    operation: OperationType
    primary_route: Route
    plan: tuple[Target, ...]  # attempts in order; empty = nothing can serve
    reason: str

    @property
    def chosen(self) -> Target | None:
        return self.plan[0] if self.plan else None

    def is_fallback(self, target: Target) -> bool:
        return target.route is not self.primary_route


def decide(operation: OperationType, snapshot: RoutingSnapshot, *, now: float, rand: float) -> Decision:
    """Choose the route and provider order for one request. `rand` in [0, 1) picks among the
    weighted Direct providers."""
    row = ROUTING_MATRIX[operation]
    primary, fallback, reason = _routes_for(operation, snapshot, now)
    routes = [primary] + ([fallback] if fallback is not None else [])
    up = [route for route in routes if _route_targets(route, snapshot, rand)]
    if not up:
        why = "no-fallback-for-emergency" if row.fallback is None else "no-healthy-route"
        return Decision(operation, primary, (), f"{reason};{why}")
    plan = tuple(target for route in up for target in _route_targets(route, snapshot, rand))
    if up[0] is not primary:
        reason = f"{reason};primary-unhealthy"
    return Decision(operation, primary, plan, reason)


def _routes_for(operation: OperationType, snapshot: RoutingSnapshot, now: float) -> tuple[Route, Route | None, str]:
    row = ROUTING_MATRIX[operation]
    flags = {**DEFAULT_FLAGS, **snapshot.flags}
    override = snapshot.override
    if override is not None and override.active(now) and override.mode is not RoutingMode.HYBRID:
        forced = Route.MCP if override.mode is RoutingMode.MCP_ONLY else Route.DIRECT
        return forced, None, f"override:{override.mode.value}"
    if not (flags["ENABLE_BEDROCK_SUPPORT_MODE"] and flags["ENABLE_INTELLIGENT_ROUTING"]):
        return Route.MCP, None, "hybrid-routing-disabled"
    fallback = row.fallback
    if fallback is Route.DIRECT and not flags["ENABLE_DIRECT_BEDROCK_FALLBACK"]:
        return row.primary, None, "matrix;direct-fallback-disabled"
    return row.primary, fallback, "matrix"


def _route_targets(route: Route, snapshot: RoutingSnapshot, rand: float) -> tuple[Target, ...]:
    if route is Route.MCP:
        return (Target(Route.MCP, MCP_TARGET),) if snapshot.is_up(MCP_TARGET) else ()
    return tuple(Target(Route.DIRECT, p) for p in direct_order(snapshot, rand))


def direct_order(snapshot: RoutingSnapshot, rand: float) -> tuple[str, ...]:
    """Healthy Direct providers with weight > 0: one picked by weight, then its failover chain."""
    weighted = [(p, w) for p, w in snapshot.weights.items() if w > 0 and snapshot.is_up(p)]
    if not weighted:
        return ()
    total = sum(w for _, w in weighted)
    point, picked = rand * total, weighted[-1][0]
    for provider, weight in weighted:
        if point < weight:
            picked = provider
            break
        point -= weight
    candidates = {p for p, _ in weighted}
    chain = FAILOVER_CHAINS.get(picked, (picked,))
    ordered = [p for p in chain if p in candidates]
    ordered += sorted(candidates - set(ordered))
    return tuple(ordered)
