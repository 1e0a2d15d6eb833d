"""Serve one chat completion along a decision's plan: the attempt policy (functions/domain/routing/retry.py)
says which target next, after how long and with what timeout; the breakers admit each attempt; the
operation's latency budget bounds it all."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from functions.domain.completion import Completion, CompletionRequest, Provider
from functions.domain.errors import (
    ContentFiltered,
    ContextLengthExceeded,
    NoRouteAvailable,
    ProviderBadRequest,
    ProviderError,
    ProviderThrottled,
    ProviderTimeout,
)
from functions.domain.routing.breaker import Admitted, AttemptOutcome, Breakers
from functions.domain.routing.decision import RoutingDecision, Target
from functions.domain.routing.matrix import ROUTING_MATRIX
from functions.domain.routing.retry import Attempt, AttemptPlanner, Failure, RetryBudget, RetryRules

T = TypeVar("T")


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


@dataclass(frozen=True, slots=True)
class Runtime:
    """What `serve` needs from the world besides the request."""

    wall_clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] = random.random
    rules: RetryRules = field(default_factory=RetryRules)
    retry_budget: RetryBudget = field(default_factory=lambda: RetryBudget(threading.Lock()))
    context_windows: Mapping[str, int | None] = field(default_factory=dict)
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


def failure_of(error: ProviderError) -> Failure:
    """What the attempt policy makes of a provider error."""
    if isinstance(error, ContextLengthExceeded):
        return Failure.CONTEXT_LENGTH
    if isinstance(error, ContentFiltered):
        return Failure.CONTENT_FILTER
    if not error.retryable:
        return Failure.REJECTED
    if isinstance(error, ProviderTimeout):
        return Failure.SILENT
    if isinstance(error, ProviderThrottled):
        return Failure.THROTTLED
    return Failure.RETRYABLE


def serve(
    decision: RoutingDecision,
    request: CompletionRequest,
    providers: Mapping[str, Provider],
    deadline: Deadline,
    breakers: Breakers,
    runtime: Runtime = Runtime(),
) -> RoutedCompletion:
    """Attempt the plan's targets as the attempt policy says until one answers, the budget runs out,
    or a failure no other attempt can help (a rejected request) ends it."""
    served = walk(
        decision,
        providers,
        deadline,
        breakers,
        runtime,
        lambda provider, attempt: provider.complete(request, timeout_s=attempt.timeout_s),
    )
    return RoutedCompletion(served.value, served.target, served.fallback, served.attempts)


@dataclass(frozen=True, slots=True)
class Served(Generic[T]):
    """What the attempt that succeeded gave, and how it was reached. `admission` and `started` (its
    `perf_counter` reading) let a caller that settles the attempt itself (a stream) record its outcome."""

    value: T
    target: Target
    fallback: bool
    attempts: int
    admission: Admitted
    started: float


def walk(
    decision: RoutingDecision,
    providers: Mapping[str, Provider],
    deadline: Deadline,
    breakers: Breakers,
    runtime: Runtime,
    call: Callable[[Provider, Attempt], T],
    *,
    settle: bool = True,
) -> Served[T]:
    """The attempt policy's walk, whatever one attempt is: `call` makes it (a buffered completion, or a
    stream up to its first delta) and raises a `ProviderError` when it fails. `settle` False: the attempt
    that succeeds is not recorded on its breaker, nor logged; the caller does both once it knows how it ended."""
    runtime.retry_budget.request(runtime.wall_clock())
    planner = AttemptPlanner(
        [t for t in decision.plan if t.provider in providers],
        [t for t in decision.last_chance if t.provider in providers],
        runtime.rules,
        runtime.retry_budget,
        runtime.context_windows,
        force_all=decision.last_resort,
    )
    last_error: ProviderError | None = None
    count = 0
    while (attempt := planner.next(deadline.remaining(), runtime.wall_clock(), runtime.rand())) is not None:
        if attempt.delay_s > 0:
            runtime.sleep(attempt.delay_s)
        target = attempt.target
        admission = (
            breakers.force(target.provider) if attempt.forced else breakers.admit(target.provider, runtime.wall_clock())
        )
        if admission is None:
            planner.refused(target)
            continue
        count += 1
        started = time.perf_counter()
        try:
            value = call(providers[target.provider], attempt)
        except ProviderError as exc:
            breakers.record(admission, outcome_of(exc), ms_since(started), exc.code)
            log_attempt(runtime, target.provider, exc)
            last_error = exc
            planner.failed(
                target,
                failure_of(exc),
                exc.retry_after,
                remaining_s=deadline.remaining(),
                now=runtime.wall_clock(),
                rand=runtime.rand(),
                may_retry_here=not admission.probe,
            )
            continue
        if settle:
            breakers.record(admission, "ok", ms_since(started))
            log_attempt(runtime, target.provider, None)
        return Served(value, target, decision.is_fallback(target), count, admission, started)
    raise _failure(decision, deadline, runtime.rules, last_error)


def log_attempt(runtime: Runtime, provider: str, error: ProviderError | None) -> None:
    """One attempt appended to the request's attempt log (`x-hybrid-attempts`), when it keeps one."""
    if runtime.log is not None:
        runtime.log.append(attempt_label(provider, error))


def _failure(
    decision: RoutingDecision, deadline: Deadline, rules: RetryRules, last_error: ProviderError | None
) -> ProviderError | NoRouteAvailable:
    """What the request fails with once the policy stops: the refusal that ended it, the budget that
    ran out, the last provider error, or no route at all."""
    if last_error is not None and not last_error.retryable:
        return last_error
    if deadline.remaining() <= rules.min_attempt_s and last_error is not None:
        return _budget_exhausted(decision, last_error)
    if last_error is None:
        return NoRouteAvailable(_no_route_message(decision))
    return last_error


def ms_since(started: float) -> float:
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
