"""The plan of one request's targets: which targets are in rotation, and the breakers' last chance.

Healthy targets come first; the targets whose breakers are open follow as a last chance (tried,
without the breaker's admission, once every admitted target failed). When every allowed target's
breaker is open (panic mode, as Envoy's) the request is planned as if no breaker were open and spread
over the targets by weight instead of refused. Every operation, emergency included, gets this: an
emergency request never falls back to another route, but it fails over along the Direct chain."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from functions.domain.names import MCP, TARGETS
from functions.domain.routing.decision import RoutingDecision, RoutingSnapshot, decide_route
from functions.domain.routing.matrix import OperationType

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

    With the breakers off every attempt skips their admission. The targets the breakers keep out of
    the plan are its `last_chance`; when no target is left, the targets are planned again without
    the breakers (panic mode)."""
    guarded = decide_route(operation, in_rotation(snapshot, refused, breakers_enabled), now=now, rand=rand)
    if not breakers_enabled:
        return replace(guarded, last_resort=True)
    unguarded = decide_route(operation, snapshot, now=now, rand=rand) if refused else guarded
    if not guarded.plan and unguarded.plan:
        return replace(unguarded, reason=f"{unguarded.reason};{PANIC_REASON}", last_resort=True)
    last_chance = tuple(t for t in unguarded.plan if t not in guarded.plan)
    return replace(guarded, last_chance=last_chance) if last_chance else guarded
