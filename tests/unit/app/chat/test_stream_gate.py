"""The commit gate, in process: one attempt up to its first content delta, and the attempt policy's walk over
it. The providers are plain classes yielding scripted events or raising the domain's typed errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions.app.chat.attempts import Deadline, Runtime, walk
from functions.app.chat.streaming import gate, limits_for
from functions.domain.completion import (
    Completion,
    CompletionRequest,
    MalformedEvent,
    StreamEnd,
    StreamEvent,
    StreamLimits,
    TextDelta,
    Turn,
)
from functions.domain.errors import ProviderResponseInvalid, ProviderTimeout, ProviderUnavailable
from functions.domain.names import BEDROCK, GOOGLE
from functions.domain.routing.decision import RoutingDecision, Target
from functions.domain.routing.matrix import OperationType, Route
from functions.domain.routing.retry import Attempt
from tests.unit.domain.routing.test_plan import ScriptedBreakers

REQUEST = CompletionRequest(turns=(Turn("user", "hello"),))
BEDROCK_TARGET, GOOGLE_TARGET = Target(Route.DIRECT, BEDROCK), Target(Route.DIRECT, GOOGLE)


class Scripted:
    def __init__(self, name: str, *scripts: list[StreamEvent | Exception]) -> None:
        self.name, self.scripts = name, list(scripts)
        self.limits: list[StreamLimits] = []
        self.closed = 0

    def complete(self, request: CompletionRequest, timeout_s: float) -> Completion:
        raise AssertionError("streamed, never completed")

    def stream(self, request: CompletionRequest, limits: StreamLimits) -> Iterator[StreamEvent]:
        self.limits.append(limits)
        script = self.scripts.pop(0) if len(self.scripts) > 1 else self.scripts[0]  # the last one, again and again
        try:
            for item in script:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            self.closed += 1


class Buffered:
    name = BEDROCK

    def complete(self, request: CompletionRequest, timeout_s: float) -> Completion:
        self.timeout_s = timeout_s
        return Completion("whole", "m", 2, 1, "length")


def attempt(timeout_s: float = 5.0) -> Attempt:
    return Attempt(BEDROCK_TARGET, 0.0, timeout_s, forced=False, retry=False)


def test_the_gate_opens_at_the_first_delta_counting_malformed_events_before_it():
    provider = Scripted(BEDROCK, [MalformedEvent("?"), TextDelta("Hi"), TextDelta(" there"), StreamEnd("m")])
    opened = gate(provider, REQUEST, attempt(), OperationType.INFRASTRUCTURE)
    assert opened.first == TextDelta("Hi") and opened.malformed == 1 and opened.end is None
    assert list(opened.events) == [TextDelta(" there"), StreamEnd("m")]


def test_an_empty_answer_commits_at_its_end():
    opened = gate(Scripted(BEDROCK, [StreamEnd("m", "stop", 1, 0)]), REQUEST, attempt(), OperationType.STANDARD)
    assert opened.first is None and opened.end == StreamEnd("m", "stop", 1, 0)


@pytest.mark.parametrize(
    ("script", "error"),
    [
        ([ProviderUnavailable("down")], ProviderUnavailable),
        ([MalformedEvent("?"), ProviderTimeout("no first token")], ProviderTimeout),
        ([MalformedEvent("?")], ProviderResponseInvalid),
    ],
    ids=["http-error", "first-token-timeout", "ended-with-nothing"],
)
def test_a_failure_before_the_first_delta_raises_and_closes_the_provider_stream(script, error):
    provider = Scripted(BEDROCK, script)
    with pytest.raises(error):
        gate(provider, REQUEST, attempt(), OperationType.INFRASTRUCTURE)
    assert provider.closed == 1


@pytest.mark.parametrize(
    ("operation", "timeout_s", "first_token_s"),
    [
        (OperationType.EMERGENCY, 5.0, 2.0),
        (OperationType.INFRASTRUCTURE, 5.0, 4.0),
        (OperationType.BACKGROUND, 1.5, 1.5),
    ],
)
def test_the_first_token_limit_is_the_operations_capped_by_the_attempts_timeout(operation, timeout_s, first_token_s):
    limits = limits_for(operation, attempt(timeout_s))
    assert (limits.first_token_s, limits.idle_s) == (first_token_s, 5.0)


def test_a_provider_without_stream_is_completed_and_replayed_as_one_delta_within_the_attempts_timeout():
    provider = Buffered()
    opened = gate(provider, REQUEST, attempt(3.0), OperationType.STANDARD)  # type: ignore[arg-type]
    assert opened.first == TextDelta("whole") and provider.timeout_s == 3.0
    assert list(opened.events) == [StreamEnd("m", "length", 2, 1)]


def _decision() -> RoutingDecision:
    return RoutingDecision(
        operation=OperationType.INFRASTRUCTURE,
        primary_route=Route.DIRECT,
        plan=(BEDROCK_TARGET, GOOGLE_TARGET),
        reason="test",
        primary=BEDROCK_TARGET,
    )


def test_the_walk_fails_over_before_the_first_delta_and_leaves_the_committed_attempt_unsettled():
    bedrock = Scripted(BEDROCK, [ProviderTimeout("slow first token")])
    google = Scripted(GOOGLE, [TextDelta("from google"), StreamEnd("g")])
    breakers, log = ScriptedBreakers(set()), []
    served = walk(
        _decision(),
        {BEDROCK: bedrock, GOOGLE: google},
        Deadline(0.0, 10.0, lambda: 0.0),
        breakers,
        Runtime(sleep=lambda _: None, rand=lambda: 0.0, log=log),
        lambda provider, a: gate(provider, REQUEST, a, OperationType.INFRASTRUCTURE),
        settle=False,
    )
    assert served.target == GOOGLE_TARGET and served.fallback and served.attempts == 2
    assert served.value.first == TextDelta("from google")
    assert log == ["bedrock:timeout"]  # the committed attempt is logged and recorded when its stream ends
    assert [outcome for _, outcome in breakers.recorded] == ["server_error"]
    assert bedrock.limits[0].first_token_s == 4.0 and bedrock.closed == 1


def test_the_walk_raises_the_last_error_when_every_attempt_fails_before_the_first_delta():
    down = [ProviderUnavailable("down")]
    providers = {BEDROCK: Scripted(BEDROCK, down), GOOGLE: Scripted(GOOGLE, down)}
    with pytest.raises(ProviderUnavailable):
        walk(
            _decision(),
            providers,
            Deadline(0.0, 10.0, lambda: 0.0),
            ScriptedBreakers(set()),
            Runtime(sleep=lambda _: None, rand=lambda: 0.0),
            lambda provider, a: gate(provider, REQUEST, a, OperationType.INFRASTRUCTURE),
            settle=False,
        )
    assert providers[BEDROCK].closed >= 2 and providers[GOOGLE].closed >= 1
