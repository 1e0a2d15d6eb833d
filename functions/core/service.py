"""Serve one chat completion along a decision's plan, within the operation's latency budget."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from functions.core.decision import Decision, Target
from functions.core.errors import NoRouteAvailable, ProviderError, ProviderTimeout
from functions.core.matrix import ROUTING_MATRIX
from functions.core.outcomes import OutcomeTracker
from functions.providers.base import Completion, CompletionRequest, Provider


@dataclass(frozen=True, slots=True)
class Deadline:
    started: float
    budget_s: float
    clock: Callable[[], float]

    def remaining(self) -> float:
        return self.budget_s - (self.clock() - self.started)


@dataclass(frozen=True, slots=True)
class RoutedCompletion:
    completion: Completion
    target: Target
    fallback: bool
    attempts: int


def serve(
    decision: Decision,
    request: CompletionRequest,
    providers: Mapping[str, Provider],
    deadline: Deadline,
    outcomes: OutcomeTracker,
    wall_clock: Callable[[], float],
) -> RoutedCompletion:
    """Try the plan's targets in order. A retryable provider error moves on to the next target;
    a non-retryable one ends the request; the latency budget bounds everything."""
    if not decision.plan:
        raise NoRouteAvailable(_no_route_message(decision))
    last_error: ProviderError | None = None
    attempts = 0
    for target in decision.plan:
        provider = providers.get(target.provider)
        if provider is None:
            continue
        remaining = deadline.remaining()
        if remaining <= 0:
            raise _budget_exhausted(decision, last_error)
        attempts += 1
        try:
            completion = provider.complete(request, timeout_s=remaining)
        except ProviderError as exc:
            outcomes.failure(target.provider, wall_clock(), exc.code)
            if not exc.retryable:
                raise
            last_error = exc
            continue
        outcomes.success(target.provider, wall_clock())
        return RoutedCompletion(completion, target, decision.is_fallback(target), attempts)
    if last_error is None:
        raise NoRouteAvailable(_no_route_message(decision))
    if deadline.remaining() <= 0:
        raise _budget_exhausted(decision, last_error)
    raise last_error


def _no_route_message(decision: Decision) -> str:
    row = ROUTING_MATRIX[decision.operation]
    if row.fallback is None:
        return (
            f"no healthy {decision.primary_route.value} provider for '{decision.operation.value}' "
            "operations, which never fall back"
        )
    return f"no healthy route can serve '{decision.operation.value}' operations ({decision.reason})"


def _budget_exhausted(decision: Decision, cause: ProviderError | None) -> ProviderTimeout:
    budget = ROUTING_MATRIX[decision.operation].latency_budget_s
    error = ProviderTimeout(
        f"the {budget:g}s latency budget of '{decision.operation.value}' operations ran out",
        provider=cause.provider if cause else None,
    )
    error.__cause__ = cause
    return error
