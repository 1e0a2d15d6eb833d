"""Serve one chat completion along a decision's plan: the breakers admit each attempt, retryable
errors are retried with backoff or failed over, and the operation's latency budget bounds it all."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from functions.domain import thresholds
from functions.domain.completion import Completion, CompletionRequest, Provider
from functions.domain.errors import (
    NoRouteAvailable,
    ProviderBadRequest,
    ProviderError,
    ProviderThrottled,
    ProviderTimeout,
)
from functions.domain.routing.breaker import Admitted, AttemptOutcome, Breakers
from functions.domain.routing.decision import RoutingDecision, Target
from functions.domain.routing.matrix import ROUTING_MATRIX
from functions.domain.routing.plan import LAST_CHANCE_ATTEMPTS, gets_last_chance


@dataclass(frozen=True, slots=True)
class Deadline:
    started: float
    budget_s: float
    clock: Callable[[], float]

    def remaining(self) -> float:
        return self.budget_s - (self.clock() - self.started)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts_per_target: int = thresholds.RETRY_MAX_ATTEMPTS_PER_TARGET
    base_delay_s: float = thresholds.RETRY_BASE_DELAY_SECONDS
    max_delay_s: float = thresholds.RETRY_MAX_DELAY_SECONDS

    def delay(self, attempt: int, retry_after: float | None, rand: float) -> float:
        """Full-jitter exponential backoff; a provider's Retry-After is a floor."""
        backoff = rand * min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))
        return max(backoff, retry_after or 0.0)


@dataclass(frozen=True, slots=True)
class RoutedCompletion:
    completion: Completion
    target: Target
    fallback: bool
    attempts: int


@dataclass(frozen=True, slots=True)
class Runtime:
    """What `serve` needs from the world besides the request."""

    wall_clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] = random.random
    retry: RetryPolicy = RetryPolicy()
    attempt_timeout_s: float | None = None  # an operator's cap on one provider attempt
    log: list[str] | None = None  # each attempt appended as "provider:outcome" (`attempt_label`)


def attempt_label(provider: str, error: ProviderError | None) -> str:
    """One attempt as the `x-hybrid-attempts` header names it: `bedrock:ok`, `google:429`,
    `meta:timeout`, `bedrock:reset`; a failed attempt by its error's `attempt_outcome`, else by the
    status the router maps its error to."""
    if error is None:
        return f"{provider}:ok"
    return f"{provider}:{error.attempt_outcome or error.status}"


def outcome_of(error: ProviderError) -> AttemptOutcome:
    if isinstance(error, ProviderThrottled):
        return "throttled"
    if isinstance(error, ProviderBadRequest):
        return "client_error"
    return "server_error"


def serve(
    decision: RoutingDecision,
    request: CompletionRequest,
    providers: Mapping[str, Provider],
    deadline: Deadline,
    breakers: Breakers,
    runtime: Runtime = Runtime(),
) -> RoutedCompletion:
    """Try the plan's targets in order. A non-retryable provider error ends the request; a
    retryable one is retried on the same target while the backoff fits the budget, then the next
    target is tried. A target its breaker refuses gets its last chance after the others (plan.py)."""
    attempts = _Attempts(decision, request, deadline, breakers, runtime)
    refused: list[Target] = []
    for target in decision.plan:
        provider = providers.get(target.provider)
        if provider is None:
            continue
        if (admission := _admission(decision, target, breakers, runtime)) is None:
            refused.append(target)
        elif (routed := attempts.try_target(target, provider, admission)) is not None:
            return routed
    if gets_last_chance(decision):
        for target in refused:
            admission = breakers.force(target.provider)
            routed = attempts.try_target(target, providers[target.provider], admission, LAST_CHANCE_ATTEMPTS)
            if routed is not None:
                return routed
    raise attempts.failure()


def _admission(decision: RoutingDecision, target: Target, breakers: Breakers, runtime: Runtime) -> Admitted | None:
    if decision.last_resort:
        return breakers.force(target.provider)
    return breakers.admit(target.provider, runtime.wall_clock())


class _Attempts:
    """The attempts of one request, across targets."""

    def __init__(
        self,
        decision: RoutingDecision,
        request: CompletionRequest,
        deadline: Deadline,
        breakers: Breakers,
        runtime: Runtime,
    ) -> None:
        self.decision, self.request, self.deadline = decision, request, deadline
        self.breakers, self.runtime = breakers, runtime
        self.last_error: ProviderError | None = None
        self.count = 0

    def try_target(
        self, target: Target, provider: Provider, admission: Admitted, max_attempts: int | None = None
    ) -> RoutedCompletion | None:
        """Try one target, retrying while the policy and budget allow; None if it did not answer."""
        limit = max_attempts or self.runtime.retry.max_attempts_per_target
        for attempt in range(1, limit + 1):
            remaining = self.deadline.remaining()
            if remaining <= 0:
                raise _budget_exhausted(self.decision, self.last_error)
            self.count += 1
            started = time.perf_counter()
            try:
                cap = self.runtime.attempt_timeout_s
                completion = provider.complete(self.request, timeout_s=min(remaining, cap) if cap else remaining)
            except ProviderError as exc:
                self.breakers.record(admission, outcome_of(exc), _ms_since(started), exc.code)
                self._log(target, exc)
                if not exc.retryable:
                    raise
                self.last_error = exc
                if attempt >= limit or not _retry_same_target(
                    exc, attempt, admission, self.deadline, self.breakers, self.runtime
                ):
                    return None
                continue
            self.breakers.record(admission, "ok", _ms_since(started))
            self._log(target, None)
            return RoutedCompletion(completion, target, self.decision.is_fallback(target), self.count)
        return None

    def _log(self, target: Target, error: ProviderError | None) -> None:
        if self.runtime.log is not None:
            self.runtime.log.append(attempt_label(target.provider, error))

    def failure(self) -> ProviderError | NoRouteAvailable:
        """What the request fails with once no target answered."""
        if self.deadline.remaining() <= 0:
            return _budget_exhausted(self.decision, self.last_error)
        if self.last_error is None:
            return NoRouteAvailable(_no_route_message(self.decision))
        return self.last_error


def _retry_same_target(
    error: ProviderError, attempt: int, admission: Admitted, deadline: Deadline, breakers: Breakers, runtime: Runtime
) -> bool:
    """Retry here, after sleeping the backoff, or move on (returns False)?"""
    if attempt >= runtime.retry.max_attempts_per_target or admission.probe or isinstance(error, ProviderTimeout):
        return False  # a probe is one request; a hang is likely to hang again
    delay = runtime.retry.delay(attempt, error.retry_after, runtime.rand())
    if delay > runtime.retry.max_delay_s or delay >= deadline.remaining():
        return False
    if not breakers.may_take_traffic(admission.target, runtime.wall_clock()):
        return False  # the breaker tripped on this very failure
    runtime.sleep(delay)
    return True


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _no_route_message(decision: RoutingDecision) -> str:
    row = ROUTING_MATRIX[decision.operation]
    if row.fallback is None:
        return (
            f"no healthy {decision.primary_route.value} provider for '{decision.operation.value}' "
            "operations, which never fall back"
        )
    return f"no healthy route can serve '{decision.operation.value}' operations ({decision.reason})"


def _budget_exhausted(decision: RoutingDecision, cause: ProviderError | None) -> ProviderTimeout:
    budget = ROUTING_MATRIX[decision.operation].latency_budget_s
    error = ProviderTimeout(
        f"the {budget:g}s latency budget of '{decision.operation.value}' operations ran out",
        provider=cause.provider if cause else None,
    )
    error.__cause__ = cause
    return error
