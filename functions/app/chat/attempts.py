"""Serve one chat completion along a decision's plan: breakers admit each attempt, retryable
errors are retried with backoff or failed over, and the operation's latency budget bounds it all."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from functions.domain import thresholds as t
from functions.domain.completion import Completion, CompletionRequest, Provider
from functions.domain.errors import (
    NoRouteAvailable,
    ProviderBadRequest,
    ProviderError,
    ProviderThrottled,
    ProviderTimeout,
)
from functions.domain.routing.breaker import Outcome
from functions.domain.routing.decision import Decision, Target
from functions.domain.routing.matrix import ROUTING_MATRIX


class Admitted(Protocol):
    target: str
    probe: bool


class Gate(Protocol):
    """The circuit breakers, as the request path sees them."""

    def admit(self, target: str, now: float) -> Admitted | None: ...

    def force(self, target: str) -> Admitted:
        """Let a request through whatever the breaker says (last resort)."""
        ...

    def record(self, admission: Admitted, outcome: Outcome, latency_ms: float, code: str | None = None) -> None: ...

    def may_take_traffic(self, target: str, now: float) -> bool: ...


@dataclass(frozen=True, slots=True)
class Deadline:
    started: float
    budget_s: float
    clock: Callable[[], float]

    def remaining(self) -> float:
        return self.budget_s - (self.clock() - self.started)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts_per_target: int = t.RETRY_MAX_ATTEMPTS_PER_TARGET
    base_delay_s: float = t.RETRY_BASE_DELAY_SECONDS
    max_delay_s: float = t.RETRY_MAX_DELAY_SECONDS

    def delay(self, attempt: int, retry_after: float | None, rand: float) -> float:
        """Full-jitter exponential backoff; a provider's Retry-After is a floor."""
        backoff = rand * min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
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


def outcome_of(error: ProviderError) -> Outcome:
    if isinstance(error, ProviderThrottled):
        return "throttled"
    if isinstance(error, ProviderBadRequest):
        return "client_error"
    return "server_error"


def serve(
    decision: Decision,
    request: CompletionRequest,
    providers: Mapping[str, Provider],
    deadline: Deadline,
    gate: Gate,
    runtime: Runtime = Runtime(),
) -> RoutedCompletion:
    """Try the plan's targets in order. A non-retryable provider error ends the request; a
    retryable one is retried on the same target while the backoff fits the budget, then the next
    target is tried. An open breaker skips its target."""
    attempts = _Attempts(decision, request, deadline, gate, runtime)
    deferred: list[Target] = []
    may_fail_over = ROUTING_MATRIX[decision.operation].fallback is not None
    for target in decision.plan:
        provider = providers.get(target.provider)
        if provider is None:
            continue
        if decision.last_resort:
            admission: Admitted | None = gate.force(target.provider)
        else:
            admission = gate.admit(target.provider, runtime.wall_clock())
        if admission is None:
            if may_fail_over:
                deferred.append(target)
            continue
        if (routed := attempts.on(target, provider, admission)) is not None:
            return routed
    # Every admitted target failed: the ones whose breakers said no get one last attempt each.
    for target in deferred:
        if (routed := attempts.on(target, providers[target.provider], gate.force(target.provider), 1)) is not None:
            return routed
    if deadline.remaining() <= 0:
        raise _budget_exhausted(decision, attempts.last_error)
    if attempts.last_error is None:
        raise NoRouteAvailable(_no_route_message(decision))
    raise attempts.last_error


class _Attempts:
    """The attempts of one request, across targets."""

    def __init__(
        self, decision: Decision, request: CompletionRequest, deadline: Deadline, gate: Gate, runtime: Runtime
    ) -> None:
        self.decision, self.request, self.deadline, self.gate, self.runtime = decision, request, deadline, gate, runtime
        self.last_error: ProviderError | None = None
        self.count = 0

    def on(
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
                self.gate.record(admission, outcome_of(exc), _ms_since(started), exc.code)
                if not exc.retryable:
                    raise
                self.last_error = exc
                if attempt >= limit or not _retry_same_target(
                    exc, attempt, admission, self.deadline, self.gate, self.runtime
                ):
                    return None
                continue
            self.gate.record(admission, "ok", _ms_since(started))
            return RoutedCompletion(completion, target, self.decision.is_fallback(target), self.count)
        return None


def _retry_same_target(
    error: ProviderError, attempt: int, admission: Admitted, deadline: Deadline, gate: Gate, runtime: Runtime
) -> bool:
    """Retry here, after sleeping the backoff, or move on (returns False)?"""
    if attempt >= runtime.retry.max_attempts_per_target or admission.probe or isinstance(error, ProviderTimeout):
        return False  # a probe is one request; a hang is likely to hang again
    delay = runtime.retry.delay(attempt, error.retry_after, runtime.rand())
    if delay > runtime.retry.max_delay_s or delay >= deadline.remaining():
        return False
    if not gate.may_take_traffic(admission.target, runtime.wall_clock()):
        return False  # the breaker tripped on this very failure
    runtime.sleep(delay)
    return True


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


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
