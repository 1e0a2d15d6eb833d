"""The routing decision: every row of the matrix, flags, overrides, health and weights."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.core.decision import (
    FEATURE_FLAGS,
    RoutingMode,
    RoutingOverride,
    RoutingSnapshot,
    decide,
    direct_order,
)
from functions.core.matrix import ROUTING_MATRIX, OperationType, Route

NOW = 1_000_000.0
ALL_UP = RoutingSnapshot()


@pytest.mark.parametrize("operation", list(OperationType))
def test_with_everything_healthy_each_operation_takes_its_primary_route_without_fallback(operation):
    decision = decide(operation, ALL_UP, now=NOW, rand=0.5)
    assert decision.chosen.route is ROUTING_MATRIX[operation].primary
    assert not decision.is_fallback(decision.chosen)
    assert decision.reason == "matrix"


@pytest.mark.parametrize("operation", [op for op in OperationType if ROUTING_MATRIX[op].fallback])
def test_when_the_primary_route_is_down_the_matrix_fallback_is_chosen(operation):
    row = ROUTING_MATRIX[operation]
    down = "mcp" if row.primary is Route.MCP else "bedrock"
    decision = decide(operation, RoutingSnapshot(healthy={down: False}), now=NOW, rand=0.5)
    assert decision.chosen.route is row.fallback
    assert decision.is_fallback(decision.chosen)
    assert "primary-unhealthy" in decision.reason


def test_emergency_fails_fast_with_an_empty_plan_when_direct_is_down():
    decision = decide(OperationType.EMERGENCY, RoutingSnapshot(healthy={"bedrock": False}), now=NOW, rand=0.1)
    assert decision.plan == ()
    assert "no-fallback-for-emergency" in decision.reason


def test_infrastructure_plans_its_mcp_fallback_after_the_direct_attempt():
    decision = decide(OperationType.INFRASTRUCTURE, ALL_UP, now=NOW, rand=0.1)
    assert [(t.route, t.provider) for t in decision.plan] == [(Route.DIRECT, "bedrock"), (Route.MCP, "mcp")]


def test_an_active_mcp_only_override_sends_every_operation_to_mcp_without_fallback():
    snapshot = RoutingSnapshot(override=RoutingOverride(RoutingMode.MCP_ONLY, expires_at=NOW + 60))
    for operation in OperationType:
        decision = decide(operation, snapshot, now=NOW, rand=0.3)
        assert [t.route for t in decision.plan] == [Route.MCP]
        assert decision.reason == "override:mcp_only"


def test_an_expired_override_is_ignored():
    snapshot = RoutingSnapshot(override=RoutingOverride(RoutingMode.MCP_ONLY, expires_at=NOW - 1))
    assert decide(OperationType.EMERGENCY, snapshot, now=NOW, rand=0.3).chosen.route is Route.DIRECT


def test_disabling_intelligent_routing_sends_everything_to_mcp():
    snapshot = RoutingSnapshot(flags={"ENABLE_INTELLIGENT_ROUTING": False})
    decision = decide(OperationType.INFRASTRUCTURE, snapshot, now=NOW, rand=0.3)
    assert [t.route for t in decision.plan] == [Route.MCP]
    assert decision.reason == "hybrid-routing-disabled"


def test_disabling_direct_fallback_keeps_mcp_operations_off_direct_when_mcp_is_down():
    snapshot = RoutingSnapshot(flags={"ENABLE_DIRECT_BEDROCK_FALLBACK": False}, healthy={"mcp": False})
    assert decide(OperationType.STANDARD, snapshot, now=NOW, rand=0.3).plan == ()


def test_weights_split_direct_traffic_in_proportion():
    snapshot = RoutingSnapshot(weights={"bedrock": 50, "google": 30, "meta": 20})
    picks = [direct_order(snapshot, i / 100)[0] for i in range(100)]
    assert (picks.count("bedrock"), picks.count("google"), picks.count("meta")) == (50, 30, 20)


def test_after_the_weighted_pick_the_failover_chain_of_the_runbook_follows():
    snapshot = RoutingSnapshot(weights={"bedrock": 1, "google": 1, "meta": 98})
    assert direct_order(snapshot, 0.99) == ("meta", "bedrock", "google")
    assert direct_order(snapshot, 0.0) == ("bedrock", "google", "meta")


targets = st.sampled_from(["bedrock", "google", "meta", "mcp"])
snapshots = st.builds(
    RoutingSnapshot,
    flags=st.fixed_dictionaries({}, optional={name: st.booleans() for name in FEATURE_FLAGS}),
    override=st.none()
    | st.builds(RoutingOverride, st.sampled_from(list(RoutingMode)), st.none() | st.floats(NOW - 100, NOW + 100)),
    weights=st.dictionaries(st.sampled_from(["bedrock", "google", "meta"]), st.integers(0, 100)),
    healthy=st.dictionaries(targets, st.booleans()),
)


@given(operation=st.sampled_from(list(OperationType)), snapshot=snapshots, rand=st.floats(0, 1, exclude_max=True))
def test_no_planned_target_is_down_and_an_empty_plan_means_no_allowed_route_is_up(operation, snapshot, rand):
    decision = decide(operation, snapshot, now=NOW, rand=rand)
    assert all(snapshot.is_up(t.provider) for t in decision.plan)
    assert all(t.provider == "mcp" or snapshot.weights.get(t.provider, 0) > 0 for t in decision.plan)
    if not decision.plan:
        # the matrix fallback (when allowed) had no healthy target either
        assert not snapshot.is_up("mcp") or decision.primary_route is Route.DIRECT
        assert not direct_order(snapshot, rand) or decision.primary_route is Route.MCP


@given(snapshot=snapshots, rand=st.floats(0, 1, exclude_max=True))
def test_emergency_never_falls_back_whatever_the_snapshot(snapshot, rand):
    decision = decide(OperationType.EMERGENCY, snapshot, now=NOW, rand=rand)
    assert all(not decision.is_fallback(t) for t in decision.plan)
    assert len({t.route for t in decision.plan}) <= 1
