"""Routing rules documents: which are valid, and the effective routes they give."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from functions.domain.config.rules import ROUTES, effective_rules, rule_problems
from functions.domain.errors import quoted
from functions.domain.routing.matrix import OPERATION_NAMES, ROUTING_MATRIX, OperationType

route_or_none = st.sampled_from((*ROUTES, None))
rule = st.fixed_dictionaries({"primary": st.sampled_from(ROUTES), "fallback": route_or_none})


@given(st.dictionaries(st.sampled_from(OPERATION_NAMES), rule))
def test_a_rule_is_valid_exactly_when_its_fallback_differs_and_emergency_has_none(rules):
    def valid(operation, r):
        return r["fallback"] != r["primary"] and (operation != "emergency" or r["fallback"] is None)

    assert (rule_problems(rules) == []) == all(valid(op, r) for op, r in rules.items())


@given(st.text(min_size=1).filter(lambda name: name not in OPERATION_NAMES), rule)
def test_an_unknown_operation_is_named_in_its_problem(operation, r):
    (problem,) = rule_problems({operation: r})
    assert problem.startswith(f"unknown operation type {quoted(operation)}")


@given(st.sampled_from(OPERATION_NAMES), st.one_of(st.text(), st.integers()).filter(lambda v: v not in ROUTES))
def test_a_primary_that_is_no_route_is_refused(operation, primary):
    problems = rule_problems({operation: {"primary": primary, "fallback": None}})
    assert f"{operation}: primary must be direct or mcp, fallback direct, mcp or null" in problems


def test_an_emergency_fallback_is_refused_with_the_reason():
    assert rule_problems({"emergency": {"primary": "direct", "fallback": "mcp"}}) == [
        "emergency: no fallback is allowed for emergency operations (< 5 s budget, Direct only)"
    ]


def test_without_overrides_every_operation_follows_the_matrix():
    effective = effective_rules({})
    assert set(effective) == set(OPERATION_NAMES)
    for operation, row in ROUTING_MATRIX.items():
        assert effective[operation.value] == {
            "primary": row.primary.value,
            "fallback": row.fallback.value if row.fallback else None,
            "latencyBudgetSeconds": row.latency_budget_s,
            "source": "matrix",
        }


def test_an_override_replaces_both_routes_of_its_operation_only():
    effective = effective_rules({"standard": {"primary": "direct"}})
    assert effective["standard"]["primary"] == "direct" and effective["standard"]["fallback"] is None
    assert effective["standard"]["source"] == "override"
    assert effective[OperationType.BACKGROUND.value]["source"] == "matrix"
