"""The routing decision: every row of the matrix, failover chains, weights, flags, overrides, health."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.domain.routing.decision import (
    FEATURE_FLAGS,
    RoutingMode,
    RoutingOverride,
    RoutingSnapshot,
    decide_route,
    direct_order,
)
from functions.domain.routing.matrix import ROUTING_MATRIX, OperationType, Route

NOW = 1_000_000.0
BEDROCK_ONLY = RoutingSnapshot(direct=("bedrock",))
THREE = RoutingSnapshot(direct=("bedrock", "google", "meta"))


def plan_of(decision):
    return [(t.route.value, t.provider) for t in decision.plan]


@pytest.mark.parametrize("operation", list(OperationType))
def test_with_everything_healthy_each_operation_takes_its_primary_route_without_fallback(operation):
    decision = decide_route(operation, THREE, now=NOW, rand=0.5)
    assert decision.chosen.route is ROUTING_MATRIX[operation].primary
    assert not decision.is_fallback(decision.chosen)
    assert decision.reason == "matrix"


@pytest.mark.parametrize("operation", [op for op in OperationType if ROUTING_MATRIX[op].fallback])
def test_when_the_primary_route_is_down_the_matrix_fallback_is_chosen(operation):
    row = ROUTING_MATRIX[operation]
    down = "mcp" if row.primary is Route.MCP else "bedrock"
    decision = decide_route(operation, RoutingSnapshot(direct=("bedrock",), healthy={down: False}), now=NOW, rand=0.5)
    assert decision.chosen.route is row.fallback
    assert decision.is_fallback(decision.chosen)
    assert "primary-unhealthy" in decision.reason


def test_emergency_fails_over_along_the_direct_chain_when_its_weighted_provider_is_down():
    snapshot = RoutingSnapshot(direct=("bedrock", "google", "meta"), healthy={"bedrock": False})
    decision = decide_route(OperationType.EMERGENCY, snapshot, now=NOW, rand=0.1)
    assert plan_of(decision) == [("direct", "google"), ("direct", "meta")]
    assert "primary-unhealthy" in decision.reason


def test_emergency_fails_fast_with_an_empty_plan_when_no_direct_provider_is_up():
    snapshot = RoutingSnapshot(direct=("bedrock", "google"), healthy={"bedrock": False, "google": False})
    decision = decide_route(OperationType.EMERGENCY, snapshot, now=NOW, rand=0.1)
    assert decision.plan == ()
    assert "no-fallback-for-emergency" in decision.reason


def test_emergency_gets_the_direct_failover_chain_and_no_route_fallback():
    plan = plan_of(decide_route(OperationType.EMERGENCY, THREE, now=NOW, rand=0.1))
    assert plan == [("direct", "bedrock"), ("direct", "google"), ("direct", "meta")]


def test_infrastructure_plans_the_bedrock_failover_chain_then_its_mcp_fallback():
    decision = decide_route(OperationType.INFRASTRUCTURE, THREE, now=NOW, rand=0.1)
    assert plan_of(decision) == [("direct", "bedrock"), ("direct", "google"), ("direct", "meta"), ("mcp", "mcp")]


@pytest.mark.parametrize(
    ("weights", "chain"),
    [
        ({"bedrock": 100}, ["bedrock", "google", "meta"]),
        ({"google": 100}, ["google", "bedrock", "meta"]),
        ({"meta": 100}, ["meta", "bedrock", "google"]),
    ],
)
def test_each_provider_fails_over_along_its_runbook_chain(weights, chain):
    assert list(direct_order(RoutingSnapshot(weights=weights), 0.3)) == chain


def test_when_the_weighted_provider_is_down_its_chain_serves_as_fallback():
    snapshot = RoutingSnapshot(healthy={"bedrock": False})
    decision = decide_route(OperationType.INFRASTRUCTURE, snapshot, now=NOW, rand=0.3)
    assert plan_of(decision)[:2] == [("direct", "google"), ("direct", "meta")]
    assert decision.is_fallback(decision.chosen)


def test_standard_falls_back_to_the_direct_chain_when_mcp_is_down():
    snapshot = RoutingSnapshot(healthy={"mcp": False})
    decision = decide_route(OperationType.STANDARD, snapshot, now=NOW, rand=0.3)
    assert plan_of(decision) == [("direct", "bedrock"), ("direct", "google"), ("direct", "meta")]
    assert decision.is_fallback(decision.chosen)


def test_an_active_mcp_only_override_sends_every_operation_to_mcp_without_fallback():
    snapshot = RoutingSnapshot(override=RoutingOverride(RoutingMode.MCP_ONLY, expires_at=NOW + 60))
    for operation in OperationType:
        decision = decide_route(operation, snapshot, now=NOW, rand=0.3)
        assert [t.route for t in decision.plan] == [Route.MCP]
        assert decision.reason == "override:mcp_only"


def test_an_expired_override_is_ignored():
    snapshot = RoutingSnapshot(override=RoutingOverride(RoutingMode.MCP_ONLY, expires_at=NOW - 1))
    assert decide_route(OperationType.EMERGENCY, snapshot, now=NOW, rand=0.3).chosen.route is Route.DIRECT


def test_disabling_intelligent_routing_sends_everything_to_mcp():
    snapshot = RoutingSnapshot(flags={"ENABLE_INTELLIGENT_ROUTING": False})
    decision = decide_route(OperationType.INFRASTRUCTURE, snapshot, now=NOW, rand=0.3)
    assert [t.route for t in decision.plan] == [Route.MCP]
    assert decision.reason == "hybrid-routing-disabled"


def test_disabling_direct_fallback_keeps_mcp_operations_off_direct_when_mcp_is_down():
    snapshot = RoutingSnapshot(flags={"ENABLE_DIRECT_BEDROCK_FALLBACK": False}, healthy={"mcp": False})
    assert decide_route(OperationType.STANDARD, snapshot, now=NOW, rand=0.3).plan == ()


def test_weights_split_direct_traffic_in_proportion():
    snapshot = RoutingSnapshot(weights={"bedrock": 50, "google": 30, "meta": 20})
    picks = [direct_order(snapshot, i / 100)[0] for i in range(100)]
    assert (picks.count("bedrock"), picks.count("google"), picks.count("meta")) == (50, 30, 20)


def test_a_down_provider_gets_no_share_and_the_others_split_by_weight():
    snapshot = RoutingSnapshot(weights={"bedrock": 50, "google": 30, "meta": 20}, healthy={"bedrock": False})
    picks = [direct_order(snapshot, i / 100)[0] for i in range(100)]
    assert (picks.count("bedrock"), picks.count("google"), picks.count("meta")) == (0, 60, 40)


def test_unconfigured_providers_are_never_planned_even_with_weight():
    snapshot = RoutingSnapshot(direct=("bedrock",), weights={"bedrock": 50, "google": 50})
    assert {direct_order(snapshot, i / 10)[0] for i in range(10)} == {"bedrock"}


PROVIDERS = ["bedrock", "google", "meta"]
snapshots = st.builds(
    RoutingSnapshot,
    flags=st.fixed_dictionaries({}, optional={name: st.booleans() for name in FEATURE_FLAGS}),
    override=st.none()
    | st.builds(RoutingOverride, st.sampled_from(list(RoutingMode)), st.none() | st.floats(NOW - 100, NOW + 100)),
    weights=st.dictionaries(st.sampled_from(PROVIDERS), st.integers(0, 100)),
    healthy=st.dictionaries(st.sampled_from([*PROVIDERS, "mcp"]), st.booleans()),
    direct=st.lists(st.sampled_from(PROVIDERS), unique=True).map(tuple),
)


@given(operation=st.sampled_from(list(OperationType)), snapshot=snapshots, rand=st.floats(0, 1, exclude_max=True))
def test_no_planned_target_is_down_or_unconfigured(operation, snapshot, rand):
    decision = decide_route(operation, snapshot, now=NOW, rand=rand)
    assert all(snapshot.is_up(t.provider) for t in decision.plan)
    assert all(t.provider == "mcp" or t.provider in snapshot.direct for t in decision.plan)
    assert len(set(decision.plan)) == len(decision.plan)


@given(operation=st.sampled_from(list(OperationType)), snapshot=snapshots, rand=st.floats(0, 1, exclude_max=True))
def test_an_empty_plan_means_no_allowed_route_has_a_healthy_target(operation, snapshot, rand):
    decision = decide_route(operation, snapshot, now=NOW, rand=rand)
    if decision.plan:
        return
    flags_on = {**dict.fromkeys(FEATURE_FLAGS, True), **snapshot.flags}
    forced = snapshot.override and snapshot.override.active(NOW) and snapshot.override.mode is not RoutingMode.HYBRID
    hybrid = flags_on["ENABLE_BEDROCK_SUPPORT_MODE"] and flags_on["ENABLE_INTELLIGENT_ROUTING"]
    direct_up = any(snapshot.is_up(p) for p in snapshot.direct)
    if forced:
        allowed_up = snapshot.is_up("mcp") if snapshot.override.mode is RoutingMode.MCP_ONLY else direct_up
    elif not hybrid:
        allowed_up = snapshot.is_up("mcp")
    elif operation is OperationType.EMERGENCY:
        allowed_up = direct_up
    elif ROUTING_MATRIX[operation].primary is Route.DIRECT:
        allowed_up = direct_up or snapshot.is_up("mcp")
    else:
        allowed_up = snapshot.is_up("mcp") or (direct_up and flags_on["ENABLE_DIRECT_BEDROCK_FALLBACK"])
    assert not allowed_up


@given(snapshot=snapshots, rand=st.floats(0, 1, exclude_max=True))
def test_emergency_never_falls_back_to_another_route_whatever_the_snapshot(snapshot, rand):
    decision = decide_route(OperationType.EMERGENCY, snapshot, now=NOW, rand=rand)
    assert all(t.route is decision.primary_route for t in decision.plan)
    assert len(decision.plan) <= len(snapshot.direct) or decision.primary_route is Route.MCP


def test_routing_rules_replace_an_operation_s_matrix_routes():
    snapshot = RoutingSnapshot(direct=("bedrock",), rules={"background": (Route.DIRECT, None)})
    decision = decide_route(OperationType.BACKGROUND, snapshot, now=NOW, rand=0.1)
    assert plan_of(decision) == [("direct", "bedrock")]
    assert decision.reason == "rules"


def test_a_rule_cannot_give_emergency_a_fallback():
    snapshot = RoutingSnapshot(
        direct=("bedrock",), rules={"emergency": (Route.DIRECT, Route.MCP)}, healthy={"bedrock": False}
    )
    assert decide_route(OperationType.EMERGENCY, snapshot, now=NOW, rand=0.1).plan == ()
