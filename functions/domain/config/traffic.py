"""Direct traffic: the weights of the Direct providers, Bedrock's share, and isolated components."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal

from functions.domain.errors import InvalidRequest, clip, quoted
from functions.domain.names import BEDROCK, GOOGLE, MCP, META, default_weights

# The runbooks' component names and the target each one takes out of rotation.
COMPONENTS: Mapping[str, str] = MappingProxyType(
    {"direct-bedrock": BEDROCK, "direct-google": GOOGLE, "direct-meta": META, "mcp-router": MCP}
)
TOTAL_WEIGHT = 100


def stored_weights(document: Mapping[str, Any]) -> dict[str, int]:
    """The weights of a stored weights document; the default when none are stored."""
    return dict(document.get("weights") or default_weights())


def check_weights(weights: Mapping[str, int], configured: tuple[str, ...]) -> None:
    """Weights an operator may set: configured providers only, non-negative, summing to 100."""
    unknown = sorted(set(weights) - set(configured))
    if unknown:
        raise InvalidRequest(f"unknown provider(s) {clip(', '.join(unknown))}; configured: {', '.join(configured)}")
    if any(w < 0 for w in weights.values()) or sum(weights.values()) != TOTAL_WEIGHT:
        raise InvalidRequest(f"weights must be non-negative and sum to 100 (got {sum(weights.values())})")


def bedrock_share(percentage: int, configured: tuple[str, ...], current: Mapping[str, int]) -> dict[str, int]:
    """Bedrock at `percentage`; the rest to the other Direct providers in proportion to their current
    weights (equally when they have none)."""
    others = [p for p in configured if p != BEDROCK]
    if percentage < TOTAL_WEIGHT and not others:
        raise InvalidRequest("no other Direct provider is configured to take the rest of the traffic")
    return {BEDROCK: percentage} | split(TOTAL_WEIGHT - percentage, {p: current.get(p, 0) for p in others})


def split(total: int, current: Mapping[str, int]) -> dict[str, int]:
    """`total` shared in proportion to `current` (equally when all are 0), the rounding to the first."""
    if not current:
        return {}
    basis = current if sum(current.values()) > 0 else dict.fromkeys(current, 1)
    shares = {p: total * w // sum(basis.values()) for p, w in basis.items()}
    first = next(iter(shares))
    shares[first] += total - sum(shares.values())
    return shares


def component_target(component: str) -> str:
    target = COMPONENTS.get(component)
    if target is None:
        raise InvalidRequest(f"unknown component {quoted(component)}; valid: {', '.join(COMPONENTS)}")
    return target


def isolated_after(isolated: Iterable[str], target: str, action: Literal["isolate", "restore"]) -> list[str]:
    current = set(isolated)
    return sorted(current | {target} if action == "isolate" else current - {target})
