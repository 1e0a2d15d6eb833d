"""The plan of a request's targets: configured targets, breakers in and out of rotation, panic mode,
the last chance of refused targets, and emergency's fail-over along the Direct chain."""

from dataclasses import dataclass

import pytest

from functions.app.chat.attempts import Deadline, Runtime, serve
from functions.domain.completion import Completion, CompletionRequest, Turn
from functions.domain.errors import ProviderUnavailable
from functions.domain.names import BEDROCK, GOOGLE, MCP, META, TARGETS
from functions.domain.routing.decision import RoutingSnapshot
from functions.domain.routing.matrix import OperationType
from functions.domain.routing.plan import (
    PANIC_REASON,
    configured,
    in_rotation,
    plan_route,
)

NOW = 1_000_000.0
THREE = RoutingSnapshot(direct=(BEDROCK, GOOGLE, META))


def providers_of(decision):
    return [target.provider for target in decision.plan]


def test_a_target_without_an_adapter_is_out_of_rotation():
    snapshot = configured(RoutingSnapshot(), [BEDROCK, MCP])
    assert snapshot.direct == (BEDROCK,)
    assert [target for target in TARGETS if not snapshot.is_up(target)] == [GOOGLE, META]


def test_refused_targets_are_out_of_rotation_only_while_the_breakers_are_on():
    assert not in_rotation(THREE, {GOOGLE}, breakers_enabled=True).is_up(GOOGLE)
    assert in_rotation(THREE, {GOOGLE}, breakers_enabled=False).is_up(GOOGLE)


def test_healthy_targets_are_planned_and_refused_ones_left_out():
    decision = plan_route(OperationType.INFRASTRUCTURE, THREE, {GOOGLE}, breakers_enabled=True, now=NOW, rand=0.1)
    assert providers_of(decision) == [BEDROCK, META, MCP]
    assert [t.provider for t in decision.last_chance] == [GOOGLE]
    assert not decision.last_resort and PANIC_REASON not in decision.reason


def test_every_breaker_open_plans_every_target_without_them_panic_mode():
    decision = plan_route(OperationType.STANDARD, THREE, set(TARGETS), breakers_enabled=True, now=NOW, rand=0.1)
    assert providers_of(decision) == [MCP, BEDROCK, GOOGLE, META]
    assert decision.last_resort and decision.reason.endswith(f";{PANIC_REASON}")


def test_emergency_plans_the_direct_chain_and_never_mcp():
    decision = plan_route(OperationType.EMERGENCY, THREE, set(), breakers_enabled=True, now=NOW, rand=0.1)
    assert providers_of(decision) == [BEDROCK, GOOGLE, META]


def test_emergency_with_every_breaker_open_is_spread_over_the_direct_chain_panic_mode():
    decision = plan_route(OperationType.EMERGENCY, THREE, set(TARGETS), breakers_enabled=True, now=NOW, rand=0.1)
    assert providers_of(decision) == [BEDROCK, GOOGLE, META] and decision.last_resort


def test_breakers_off_skip_admission_and_keep_refused_targets():
    decision = plan_route(OperationType.INFRASTRUCTURE, THREE, {BEDROCK}, breakers_enabled=False, now=NOW, rand=0.1)
    assert providers_of(decision) == [BEDROCK, GOOGLE, META, MCP] and decision.last_resort


def test_an_empty_plan_stays_empty_when_health_not_breakers_emptied_it():
    down = RoutingSnapshot(direct=(BEDROCK,), healthy={BEDROCK: False, MCP: False})
    decision = plan_route(OperationType.STANDARD, down, set(), breakers_enabled=True, now=NOW, rand=0.1)
    assert decision.plan == () and decision.last_chance == ()


# --- serve: the last chance of a target its breaker refuses at attempt time -----------------------
@dataclass(frozen=True)
class Admission:
    target: str
    probe: bool


class ScriptedBreakers:
    def __init__(self, refuse: set[str]) -> None:
        self.refuse, self.forced, self.recorded = refuse, [], []

    def admit(self, target, now):
        return None if target in self.refuse else Admission(target, False)

    def force(self, target):
        self.forced.append(target)
        return Admission(target, False)

    def record(self, admission, outcome, latency_ms, code=None):
        self.recorded.append((admission.target, outcome))

    def may_take_traffic(self, target, now):
        return target not in self.refuse


class Scripted:
    def __init__(self, name: str, fails: bool) -> None:
        self.name, self.fails, self.calls = name, fails, 0

    def complete(self, request, timeout_s):
        self.calls += 1
        if self.fails:
            raise ProviderUnavailable(f"{self.name} down", provider=self.name)
        return Completion(text="ok", model="m", input_tokens=1, output_tokens=1)


REQUEST = CompletionRequest(turns=(Turn("user", "hi"),))
RUNTIME = Runtime(sleep=lambda _: None, rand=lambda: 0.0)


def _serve(operation, refuse, failing):
    decision = plan_route(operation, THREE, set(), breakers_enabled=True, now=NOW, rand=0.1)
    providers = {name: Scripted(name, name in failing) for name in TARGETS}
    breakers = ScriptedBreakers(refuse)
    deadline = Deadline(0.0, 30.0, lambda: 0.0)
    return serve(decision, REQUEST, providers, deadline, breakers, RUNTIME), providers, breakers


def test_a_target_refused_at_attempt_time_gets_its_last_chance_after_the_others_failed():
    routed, providers, breakers = _serve(OperationType.INFRASTRUCTURE, {BEDROCK}, {GOOGLE, META, MCP})
    assert routed.target.provider == BEDROCK and breakers.forced == [BEDROCK]
    assert providers[BEDROCK].calls == 1


def test_a_refused_target_is_not_tried_while_another_answers():
    routed, providers, breakers = _serve(OperationType.INFRASTRUCTURE, {BEDROCK}, set())
    assert routed.target.provider == GOOGLE and breakers.forced == [] and providers[BEDROCK].calls == 0


def test_emergency_fails_over_along_the_direct_chain_when_its_provider_is_refused():
    routed, providers, _ = _serve(OperationType.EMERGENCY, {BEDROCK}, set())
    assert routed.target.provider == GOOGLE and providers[MCP].calls == 0


def test_emergency_fails_over_when_its_provider_fails_and_never_reaches_mcp():
    routed, providers, _ = _serve(OperationType.EMERGENCY, set(), {BEDROCK, GOOGLE})
    assert routed.target.provider == META and providers[MCP].calls == 0
    with pytest.raises(ProviderUnavailable):
        _serve(OperationType.EMERGENCY, set(), {BEDROCK, GOOGLE, META})
