"""The plan of one request's targets: which targets are in rotation, and the breakers' last chance.

Healthy targets come first. The breakers never refuse the last chance of an operation that may fail
over: when every allowed target's breaker refuses traffic (panic mode) the request is planned as if
no breaker were open, and a target refused at attempt time is tried once after every admitted target
failed. Emergency operations never fall back, so they fail fast instead."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from functions.domain.names import MCP, TARGETS
from functions.domain.routing.decision import RoutingDecision, RoutingSnapshot, decide_route
from functions.domain.routing.matrix import OperationType

# Attempts a target refused by its breaker gets once every admitted target has failed.
LAST_CHANCE_ATTEMPTS = 1
PANIC_REASON = "breakers-open"


def configured(snapshot: RoutingSnapshot, providers: Collection[str]) -> RoutingSnapshot:
    """`snapshot` restricted to the targets this deployment has adapters for."""
    healthy = dict(snapshot.healthy)
    for target in TARGETS:
        if target not in providers:
            healthy[target] = False
    direct = tuple(p for p in providers if p != MCP)
    return replace(snapshot, healthy=healthy, direct=direct)


def in_rotation(snapshot: RoutingSnapshot, refused: Collection[str], breakers_enabled: bool) -> RoutingSnapshot:
    """`snapshot` with the targets whose breakers refuse traffic taken out, unless the breakers are off."""
    if not breakers_enabled or not refused:
        return snapshot
    healthy = dict(snapshot.healthy)
    for target in refused:
        healthy[target] = False
    return replace(snapshot, healthy=healthy)


def plan_route(
    operation: OperationType,
    snapshot: RoutingSnapshot,
    refused: Collection[str],
    *,
    breakers_enabled: bool,
    now: float,
    rand: float,
) -> RoutingDecision:
    """The decision for one request. `refused` names the targets whose breakers refuse traffic now.

    With the breakers off every attempt skips their admission. When no target is left and the
    operation may fail over, the targets are planned again without the breakers (panic mode)."""
    guarded = decide_route(operation, in_rotation(snapshot, refused, breakers_enabled), now=now, rand=rand)
    if not breakers_enabled:
        guarded = replace(guarded, last_resort=True)
    if guarded.plan or not guarded.may_fail_over:
        return guarded
    unguarded = decide_route(operation, snapshot, now=now, rand=rand)
    return replace(unguarded, reason=f"{unguarded.reason};{PANIC_REASON}", last_resort=True)


def gets_last_chance(decision: RoutingDecision) -> bool:
    """Whether a target its breaker refuses at attempt time is tried again after the others failed."""
    return decision.may_fail_over
