"""The routing decision: a pure function of the operation type and a snapshot of the control plane.

No I/O, no clock, no randomness of its own: `now` and `rand` are arguments, so the decision is
exhaustively testable and benchmarkable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from functions.domain.names import BEDROCK, DIRECT_PROVIDERS, GOOGLE, MCP, META, default_weights
from functions.domain.routing.matrix import ROUTING_MATRIX, OperationType, Route

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
    BEDROCK: (BEDROCK, GOOGLE, META),
    GOOGLE: (GOOGLE, BEDROCK, META),
    META: (META, BEDROCK, GOOGLE),
}


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
    it can take traffic; a target missing from it is taken as healthy. `direct` lists the Direct
    providers this deployment has configured."""

    flags: Mapping[str, bool] = field(default_factory=lambda: dict(DEFAULT_FLAGS))
    override: RoutingOverride | None = None
    weights: Mapping[str, int] = field(default_factory=default_weights)
    healthy: Mapping[str, bool] = field(default_factory=dict)
    direct: tuple[str, ...] = DIRECT_PROVIDERS
    rules: Mapping[str, tuple[Route, Route | None]] = field(default_factory=dict)  # operator's routing rules

    def is_up(self, target: str) -> bool:
        return self.healthy.get(target, True)


@dataclass(frozen=True, slots=True)
class Target:
    route: Route
    provider: str


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    operation: OperationType
    primary_route: Route
    plan: tuple[Target, ...]  # attempts in order; empty = nothing can serve
    reason: str
    primary: Target | None = None  # the target the matrix and weights prescribe, when it is up
    last_resort: bool = False  # attempts skip the breakers' admission (breakers off, or panic mode: plan.py)
    last_chance: tuple[Target, ...] = ()  # targets with open breakers, tried after the plan (plan.py)

    @property
    def may_fail_over(self) -> bool:
        """Whether the matrix gives the operation a route fallback (emergency operations have none;
        they still fail over between Direct providers)."""
        return ROUTING_MATRIX[self.operation].fallback is not None

    @property
    def chosen(self) -> Target | None:
        return self.plan[0] if self.plan else None

    def is_fallback(self, target: Target) -> bool:
        """Anything but the prescribed target: another route, or another provider of the chain."""
        return target != self.primary


def decide_route(operation: OperationType, snapshot: RoutingSnapshot, *, now: float, rand: float) -> RoutingDecision:
    """Choose the targets to try, in order, for one request. `rand` in [0, 1) picks among the
    weighted Direct providers; the rest of the picked provider's failover chain follows. Emergency
    operations have no route fallback (never MCP) but fail over along the Direct chain."""
    row = ROUTING_MATRIX[operation]
    primary_route, fallback_route, reason = _routes_for(operation, snapshot, now)
    may_fail_over = row.fallback is not None
    plan: list[Target] = []
    primary: Target | None = None
    for route in (primary_route, fallback_route):
        if route is None:
            continue
        if route is Route.MCP:
            up = snapshot.is_up(MCP)
            prescribed, targets = (MCP if up else None), ([MCP] if up else [])
        else:
            prescribed, chain = direct_plan(snapshot, rand)
            targets = ([prescribed] if prescribed else []) + chain
        if route is primary_route and prescribed:
            primary = Target(route, prescribed)
        plan.extend(Target(route, t) for t in targets)
    if not plan:
        why = "no-fallback-for-emergency" if not may_fail_over else "no-healthy-route"
        return RoutingDecision(operation, primary_route, (), f"{reason};{why}")
    if primary is None:
        reason = f"{reason};primary-unhealthy"
    return RoutingDecision(operation, primary_route, tuple(plan), reason, primary)


def _routes_for(operation: OperationType, snapshot: RoutingSnapshot, now: float) -> tuple[Route, Route | None, str]:
    row = ROUTING_MATRIX[operation]
    flags = {**DEFAULT_FLAGS, **snapshot.flags}
    override = snapshot.override
    if override is not None and override.active(now) and override.mode is not RoutingMode.HYBRID:
        forced = Route.MCP if override.mode is RoutingMode.MCP_ONLY else Route.DIRECT
        return forced, None, f"override:{override.mode.value}"
    if not (flags["ENABLE_BEDROCK_SUPPORT_MODE"] and flags["ENABLE_INTELLIGENT_ROUTING"]):
        return Route.MCP, None, "hybrid-routing-disabled"
    primary, fallback, source = row.primary, row.fallback, "matrix"
    if operation.value in snapshot.rules:
        primary, fallback = snapshot.rules[operation.value]
        fallback, source = (None if row.fallback is None else fallback), "rules"  # emergency never gains one
    if fallback is Route.DIRECT and not flags["ENABLE_DIRECT_BEDROCK_FALLBACK"]:
        return primary, None, f"{source};direct-fallback-disabled"
    return primary, fallback, source


def direct_plan(snapshot: RoutingSnapshot, rand: float) -> tuple[str | None, list[str]]:
    """The weighted pick among healthy weighted Direct providers (None if there is none), then the
    healthy rest of the picked provider's failover chain (provider-failover.md)."""
    configured = list(snapshot.direct)
    weighted = [(p, w) for p, w in snapshot.weights.items() if w > 0 and p in configured]
    healthy_weighted = [(p, w) for p, w in weighted if snapshot.is_up(p)]
    picked: str | None = None
    if healthy_weighted:
        total = sum(w for _, w in healthy_weighted)
        point, picked = rand * total, healthy_weighted[-1][0]
        for provider, weight in healthy_weighted:
            if point < weight:
                picked = provider
                break
            point -= weight
        head = picked
    else:
        head = max(weighted, key=lambda pw: pw[1])[0] if weighted else (configured[0] if configured else "")
    chain = [p for p in FAILOVER_CHAINS.get(head, (head,)) if p in configured]
    chain += sorted(set(configured) - set(chain))
    return picked, [p for p in chain if p != picked and snapshot.is_up(p)]


def direct_order(snapshot: RoutingSnapshot, rand: float) -> tuple[str, ...]:
    """Every Direct provider a request could be served by, in the order they would be tried."""
    picked, chain = direct_plan(snapshot, rand)
    return tuple(([picked] if picked else []) + chain)
