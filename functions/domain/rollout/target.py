"""Which Direct provider takes over from a failed one when the operator asks for `--auto-select-target`
(provider-failover.md, "Automated Failover": `failover --failed-provider bedrock --auto-select-target`).

Pure: the admin route reads health, breakers and weights from the routing snapshot and passes them in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from functions.domain.errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class Candidate:
    """What is known of one Direct provider: health checker verdict (and isolation), breaker state, weight."""

    provider: str
    up: bool
    breaker: str  # closed | half_open | open
    weight: int


BREAKER_RANK = {"closed": 0, "half_open": 1}  # open: not a candidate


def pick_target(failed: str, candidates: Sequence[Candidate]) -> str:
    """The healthiest other provider: up, breaker not open; a closed breaker before a half-open one,
    then the one already carrying most traffic (its capacity is proven), then the configured order."""
    usable = [
        (BREAKER_RANK[c.breaker], -c.weight, index, c.provider)
        for index, c in enumerate(candidates)
        if c.provider != failed and c.up and c.breaker in BREAKER_RANK
    ]
    if not usable:
        others = [c.provider for c in candidates if c.provider != failed]
        raise InvalidRequest(
            f"no healthy Direct provider can take over from {failed!r} "
            f"(others: {', '.join(others) or 'none configured'}); name one with targetProvider"
        )
    return min(usable)[3]


def candidates_from(
    direct: Sequence[str], up: Mapping[str, bool], breakers: Mapping[str, str], weights: Mapping[str, int]
) -> list[Candidate]:
    return [Candidate(p, up.get(p, True), breakers.get(p, "closed"), int(weights.get(p, 0))) for p in direct]
