"""The consistency check over the stored routing configuration: the rules, the weights, the flags, the
override and the isolated targets, each valid alone and all of them together."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from functions.domain.config.flags import stored_flags
from functions.domain.config.problems import Document, Problem, Severity
from functions.domain.config.rules import rule_problems
from functions.domain.config.traffic import TOTAL_WEIGHT, stored_weights
from functions.domain.names import MCP
from functions.domain.routing.decision import FEATURE_FLAGS, RoutingMode
from functions.domain.routing.matrix import ROUTING_MATRIX, Route


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    """The stored documents (their values as read) and the deployment's Direct providers."""

    direct: tuple[str, ...]
    rules: Mapping[str, Any] = field(default_factory=dict)
    weights: Mapping[str, Any] = field(default_factory=dict)
    flags: Mapping[str, Any] = field(default_factory=dict)
    override: Mapping[str, Any] = field(default_factory=dict)
    isolation: Mapping[str, Any] = field(default_factory=dict)


def routing_problems(config: RoutingConfig, now: float) -> list[Problem]:
    isolated = set(config.isolation.get("targets") or [])
    rules = config.rules.get("rules") or {}
    problems = [Problem(Severity.ERROR, Document.ROUTING_RULES, p) for p in rule_problems(rules)]
    problems += weight_problems(stored_weights(config.weights), config.direct, isolated)
    problems += flag_problems(stored_flags(config.flags))
    problems += override_problems(config.override, config.direct, isolated, now)
    if MCP in isolated:
        problems.append(
            Problem(Severity.WARNING, Document.ISOLATION, "MCP is isolated: MCP-primary operations rely on fallback")
        )
    return problems


def weight_problems(weights: Mapping[str, Any], direct: tuple[str, ...], isolated: set[str]) -> list[Problem]:
    def error(message: str) -> Problem:
        return Problem(Severity.ERROR, Document.TRAFFIC_WEIGHTS, message)

    problems = []
    unknown = sorted(set(weights) - set(direct))
    if unknown:
        problems.append(error(f"weights for unconfigured providers: {', '.join(unknown)}"))
    if sum(weights.values()) != TOTAL_WEIGHT or any(w < 0 for w in weights.values()):
        problems.append(error(f"weights sum to {sum(weights.values())}, not 100"))
    live = [p for p, w in weights.items() if w > 0 and p in direct and p not in isolated]
    if not live:
        problems.append(error("no configured, non-isolated provider has weight"))
    return problems


def flag_problems(flags: Mapping[str, bool]) -> list[Problem]:
    problems = []
    unknown = sorted(set(flags) - set(FEATURE_FLAGS))
    if unknown:
        problems.append(
            Problem(Severity.WARNING, Document.FEATURE_FLAGS, f"unknown flags stored: {', '.join(unknown)}")
        )
    if not (flags["ENABLE_BEDROCK_SUPPORT_MODE"] and flags["ENABLE_INTELLIGENT_ROUTING"]):
        message = "hybrid routing is disabled: every operation goes to MCP"
        problems.append(Problem(Severity.WARNING, Document.FEATURE_FLAGS, message))
    if not flags["ENABLE_DIRECT_BEDROCK_FALLBACK"]:
        mcp_first = [op.value for op, row in ROUTING_MATRIX.items() if row.fallback is Route.DIRECT]
        problems.append(
            Problem(Severity.INFO, Document.FEATURE_FLAGS, f"no Direct fallback for {', '.join(mcp_first)}")
        )
    return problems


def override_problems(
    override: Mapping[str, Any], direct: tuple[str, ...], isolated: set[str], now: float
) -> list[Problem]:
    if not override or override.get("mode") in (None, RoutingMode.HYBRID.value):
        return []
    mode, expires = override["mode"], override.get("expires_at")
    if expires is not None and expires <= now:
        return [Problem(Severity.INFO, Document.ROUTING_OVERRIDE, f"an expired '{mode}' override is still stored")]
    problems = [
        Problem(Severity.WARNING, Document.ROUTING_OVERRIDE, f"override '{mode}' is active: rules are bypassed")
    ]
    if mode == RoutingMode.DIRECT_ONLY.value and set(direct) <= isolated:
        message = "direct_only is active but every Direct provider is isolated"
        problems.append(Problem(Severity.ERROR, Document.ROUTING_OVERRIDE, message))
    if mode == RoutingMode.MCP_ONLY.value and MCP in isolated:
        problems.append(Problem(Severity.ERROR, Document.ROUTING_OVERRIDE, "mcp_only is active but MCP is isolated"))
    return problems
