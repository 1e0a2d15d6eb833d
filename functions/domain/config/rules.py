"""Per-operation routing rules: overrides of the routing matrix's primary and fallback routes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from functions.domain.errors import quoted
from functions.domain.routing.matrix import OPERATION_NAMES, ROUTING_MATRIX, OperationType, Route

ROUTES: tuple[str, ...] = tuple(route.value for route in Route)


def rule_problems(rules: Mapping[str, Any]) -> list[str]:
    """What is wrong with a rules document: unknown operations, a fallback equal to the primary,
    and any fallback for emergency operations (the matrix never allows one)."""
    problems = []
    for operation, rule in rules.items():
        if operation not in OPERATION_NAMES:
            problems.append(f"unknown operation type {quoted(operation)}; valid: {', '.join(OPERATION_NAMES)}")
            continue
        primary, fallback = rule.get("primary"), rule.get("fallback")
        if primary not in ROUTES or (fallback is not None and fallback not in ROUTES):
            problems.append(f"{operation}: primary must be direct or mcp, fallback direct, mcp or null")
        elif fallback == primary:
            problems.append(f"{operation}: the fallback route must differ from the primary")
        if operation == OperationType.EMERGENCY.value and fallback is not None:
            problems.append("emergency: no fallback is allowed for emergency operations (< 5 s budget, Direct only)")
    return problems


def effective_rules(overrides: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every operation's routes: the override where one is stored, else the matrix's row."""
    effective = {}
    for operation, row in ROUTING_MATRIX.items():
        override = overrides.get(operation.value)
        if override:
            primary, fallback, source = override.get("primary", row.primary.value), override.get("fallback"), "override"
        else:
            primary, fallback, source = row.primary.value, row.fallback.value if row.fallback else None, "matrix"
        effective[operation.value] = {
            "primary": primary,
            "fallback": fallback,
            "latencyBudgetSeconds": row.latency_budget_s,
            "source": source,
        }
    return effective
