"""The routing matrix holds the runbooks' table, row by row."""

import pytest

from functions.domain.routing.matrix import ROUTING_MATRIX, OperationType, Priority, Route, parse_operation

# operations.md / production-operations.md / training-guide.md, "Routing Decision Matrix".
RUNBOOK_TABLE = [
    ("emergency", Priority.CRITICAL, 5, Route.DIRECT, None),
    ("infrastructure", Priority.CRITICAL, 10, Route.DIRECT, Route.MCP),
    ("meta_monitor", Priority.HIGH, 15, Route.DIRECT, Route.MCP),
    ("implementation", Priority.HIGH, 15, Route.DIRECT, Route.MCP),
    ("kiro_communication", Priority.MEDIUM, 30, Route.MCP, Route.DIRECT),
    ("standard", Priority.MEDIUM, 30, Route.MCP, Route.DIRECT),
    ("background", Priority.LOW, 60, Route.MCP, Route.DIRECT),
]


@pytest.mark.parametrize(("name", "priority", "budget", "primary", "fallback"), RUNBOOK_TABLE)
def test_each_operation_type_has_the_runbook_priority_budget_route_and_fallback(
    name, priority, budget, primary, fallback
):
    row = ROUTING_MATRIX[OperationType(name)]
    assert (row.priority, row.latency_budget_s, row.primary, row.fallback) == (priority, budget, primary, fallback)


def test_the_matrix_has_exactly_the_seven_operation_types_of_the_runbooks():
    assert {op.value for op in ROUTING_MATRIX} == {row[0] for row in RUNBOOK_TABLE}


@pytest.mark.parametrize("raw", ["Meta-Monitor", " META_MONITOR ", "meta_monitor"])
def test_operation_names_are_read_case_and_dash_insensitively(raw):
    assert parse_operation(raw) is OperationType.META_MONITOR


def test_no_operation_type_means_standard_and_an_unknown_one_means_none():
    assert parse_operation(None) is OperationType.STANDARD
    assert parse_operation("urgent") is None
