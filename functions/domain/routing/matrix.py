"""The routing decision matrix of the runbooks, as data."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from functions.domain.thresholds import LATENCY_BUDGET_SECONDS


class Route(StrEnum):
    DIRECT = "direct"
    MCP = "mcp"


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class OperationType(StrEnum):
    EMERGENCY = "emergency"
    INFRASTRUCTURE = "infrastructure"
    META_MONITOR = "meta_monitor"
    IMPLEMENTATION = "implementation"
    KIRO_COMMUNICATION = "kiro_communication"
    STANDARD = "standard"
    BACKGROUND = "background"


@dataclass(frozen=True, slots=True)
class MatrixRow:
    operation: OperationType
    priority: Priority
    latency_budget_s: float
    primary: Route
    fallback: Route | None


def _row(op: OperationType, priority: Priority, primary: Route, fallback: Route | None) -> MatrixRow:
    return MatrixRow(op, priority, LATENCY_BUDGET_SECONDS[op.value], primary, fallback)


ROUTING_MATRIX: dict[OperationType, MatrixRow] = {
    row.operation: row
    for row in (
        _row(OperationType.EMERGENCY, Priority.CRITICAL, Route.DIRECT, None),
        _row(OperationType.INFRASTRUCTURE, Priority.CRITICAL, Route.DIRECT, Route.MCP),
        _row(OperationType.META_MONITOR, Priority.HIGH, Route.DIRECT, Route.MCP),
        _row(OperationType.IMPLEMENTATION, Priority.HIGH, Route.DIRECT, Route.MCP),
        _row(OperationType.KIRO_COMMUNICATION, Priority.MEDIUM, Route.MCP, Route.DIRECT),
        _row(OperationType.STANDARD, Priority.MEDIUM, Route.MCP, Route.DIRECT),
        _row(OperationType.BACKGROUND, Priority.LOW, Route.MCP, Route.DIRECT),
    )
}

OPERATION_NAMES: tuple[str, ...] = tuple(op.value for op in OperationType)


def parse_operation(value: str | None) -> OperationType | None:
    """The operation type named by `value` (case-insensitive, '-' or '_'), or None if unknown."""
    if value is None:
        return OperationType.STANDARD
    try:
        return OperationType(value.strip().lower().replace("-", "_"))
    except ValueError:
        return None
