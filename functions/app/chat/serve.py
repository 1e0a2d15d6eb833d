"""One chat completion, end to end: cache, budget, decision, serving, cost, degraded mode.

The handler parses and answers; this module orchestrates the domain and the stores for it."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from aws_lambda_powertools.metrics import MetricUnit

from functions.adapters.dynamodb.client_keys import ClientIdentity
from functions.adapters.dynamodb.quotas import QuotaCheck
from functions.adapters.dynamodb.snapshot import LoadedSnapshot
from functions.app.chat.attempts import Deadline, RoutedCompletion, Runtime, serve
from functions.app.chat.wiring import RouterDependencies
from functions.domain import names
from functions.domain.errors import ClientRateLimited, NoRouteAvailable, ProviderError
from functions.domain.models import ChatCompletionRequest, ChatCompletionResponse, Choice, ResponseMessage, Usage
from functions.domain.routing.cache import CachedResponse, CacheTtls, cache_decision, cache_key
from functions.domain.routing.decision import RoutingDecision, Target
from functions.domain.routing.matrix import ROUTING_MATRIX, OperationType
from functions.domain.routing.plan import plan_route
from functions.shared.observability import logger, metrics


@dataclass(frozen=True, slots=True)
class ChatResult:
    response: ChatCompletionResponse
    headers: dict[str, str]


@dataclass
class RequestTrace:
    """What the error handler needs to log a failed request like a served one."""

    operation: OperationType
    started: float
    decision: RoutingDecision | None = None
    attempts: list[str] = field(default_factory=list)  # "provider:outcome", in order (`attempt_label`)
    client: ClientIdentity | None = None  # the client key that sent it (its quotas)

    def headers(self) -> dict[str, str]:
        """What every answer says of how it was served, or failed."""
        headers = {"x-hybrid-operation": self.operation.value}
        if self.attempts:
            headers["x-hybrid-attempts"] = ",".join(self.attempts)
        return headers


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """How this request uses the cache: its key, whether it may be answered from it, and the TTLs."""

    key: str
    use: bool
    header: str | None
    ttls: CacheTtls


@dataclass(frozen=True, slots=True)
class ChatCall:
    """One chat completion request as the handler parsed it, with what serving it needs."""

    deps: RouterDependencies
    body: ChatCompletionRequest
    operation: OperationType
    cache_header: str | None
    request_id: str
    trace: RequestTrace


def complete(call: ChatCall) -> ChatResult:
    with client_quota(call.deps, call.trace.client):
        return _complete(call)


def _complete(call: ChatCall) -> ChatResult:
    deps, body, operation, trace = call.deps, call.body, call.operation, call.trace
    begun = begin(call)
    decision = begun.answer
    if isinstance(decision, CachedResponse):
        return _from_cache(decision, operation, trace, "hit")
    try:
        routed = serve(
            decision,
            body.to_completion_request(),
            deps.providers,
            deadline(decision, trace),
            deps.breakers,
            runtime(deps, trace, begun.loaded),
        )
    except (NoRouteAvailable, ProviderError) as exc:
        if (stale := stale_answer(deps, exc, begun.cache, begun.loaded)) is not None:
            return _from_cache(stale, operation, trace, "stale")
        raise
    return _served(deps, routed, decision, begun.cache, call.request_id, trace)


@dataclass(frozen=True, slots=True)
class Begun:
    """A request past the cache and the budget: its cache policy, and either its cached answer or the
    routing decision to serve it by (`answer`)."""

    cache: CachePolicy
    loaded: LoadedSnapshot
    answer: CachedResponse | RoutingDecision


def begin(call: ChatCall) -> Begun:
    """What a buffered and a streamed request do before any provider is called: the cache lookup, the
    monthly budget's admission, the routing decision (kept on `trace`)."""
    deps, body, operation, cache_header, trace = call.deps, call.body, call.operation, call.cache_header, call.trace
    snapshot, loaded = deps.configured()
    cache = CachePolicy(
        cache_key(body, operation.value),
        cache_decision(body, cache_header) == "use" and loaded.cache.mode != "off",
        cache_header,
        deps.cache_ttls(loaded),
    )
    if cache.use and (hit := deps.cache.get(cache.key, ttls=cache.ttls)) is not None:
        return Begun(cache, loaded, hit)
    _admit_within_budget(deps, operation)
    now = time.time()
    trace.decision = decision = plan_route(
        operation,
        snapshot,
        deps.refused_targets(now),
        breakers_enabled=loaded.breakers_enabled,
        now=now,
        rand=random.random(),
    )
    return Begun(cache, loaded, decision)


def deadline(decision: RoutingDecision, trace: RequestTrace) -> Deadline:
    """The operation's latency budget, counted from the request's start."""
    return Deadline(trace.started, ROUTING_MATRIX[decision.operation].latency_budget_s, time.monotonic)


def runtime(deps: RouterDependencies, trace: RequestTrace, loaded: LoadedSnapshot) -> Runtime:
    return Runtime(
        rules=deps.retry_rules(loaded),
        retry_budget=deps.retry_budget,
        context_windows=deps.context_windows,
        log=trace.attempts,
    )


def stale_answer(
    deps: RouterDependencies, exc: NoRouteAvailable | ProviderError, cache: CachePolicy, loaded: LoadedSnapshot
) -> CachedResponse | None:
    """Degraded mode: every route failed; an earlier answer, even stale, beats an error."""
    retryable = not isinstance(exc, ProviderError) or exc.retryable
    if retryable and loaded.cache.serve_stale and cache.header != "bypass":
        return deps.cache.get(cache.key, allow_stale=True, ttls=cache.ttls)
    return None


def _served(
    deps: RouterDependencies,
    routed: RoutedCompletion,
    decision: RoutingDecision,
    cache: CachePolicy,
    request_id: str,
    trace: RequestTrace,
) -> ChatResult:
    response = _response(routed, request_id)
    operation, target = decision.operation, routed.target
    completion = routed.completion
    account(deps, target.provider, completion.model, completion.input_tokens, completion.output_tokens, trace.client)
    store(deps, cache, response, target)
    record_request(
        operation,
        target.route.value,
        target.provider,
        routed.fallback,
        decision.reason,
        trace.started,
        attempts=trace.attempts,
    )
    metrics.add_metric(name=names.CACHE_MISSES, unit=MetricUnit.Count, value=1 if cache.use else 0)
    return ChatResult(response, served_headers(target, routed.fallback, operation, trace))


def served_headers(target: Target, fallback: bool, operation: OperationType, trace: RequestTrace) -> dict[str, str]:
    """The `x-hybrid-*` headers of an answer a provider served."""
    return headers(target.route.value, target.provider, fallback, "miss", operation) | trace.headers()


def store(deps: RouterDependencies, cache: CachePolicy, response: ChatCompletionResponse, target: Target) -> None:
    """A served answer kept in the cache, when this request uses it."""
    if cache.use:
        entry = deps.cache.entry(response, provider=target.provider, route=target.route.value, ttls=cache.ttls)
        deps.cache.put(cache.key, entry, cache.ttls)


def _admit_within_budget(deps: RouterDependencies, operation: OperationType) -> None:
    if deps.budget.monthly_budget_usd is None:
        return
    spent = deps.spend.spent_usd()
    if spent is None:
        return  # the spend table cannot be read: fail open rather than refuse traffic
    metrics.add_metric(name=names.BUDGET_UTILIZATION, unit=MetricUnit.Percent, value=deps.budget.utilization(spent))
    deps.budget.admit(operation, spent)


@contextmanager
def client_quota(deps: RouterDependencies, client: ClientIdentity | None) -> Iterator[None]:
    """The client key's rate and token quotas: a 429 once its window is spent (counted); else the request's
    count, written while it is served and waited for before the answer (a failed write: served unchecked, and
    counted too). A stream's count is waited for before its first byte."""
    if client is None:
        yield
        return
    try:
        ticket = deps.quotas.admit(client.key_id, client.limits)
    except ClientRateLimited:
        metrics.add_metric(name=names.CLIENT_QUOTA_REJECTED, unit=MetricUnit.Count, value=1)
        raise
    try:
        yield
    finally:
        _count_quota_outage(ticket.outcome())


def _count_quota_outage(checked: QuotaCheck) -> None:
    if checked is QuotaCheck.UNCHECKED:
        metrics.add_metric(name=names.CLIENT_QUOTA_UNAVAILABLE, unit=MetricUnit.Count, value=1)


def account(
    deps: RouterDependencies,
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    client: ClientIdentity | None = None,
) -> None:
    """An answer's cost added to the month's spend and its tokens to the client key's token quota, and its
    token and cost metrics."""
    cost = deps.prices.cost_usd(model, input_tokens, output_tokens, provider)
    deps.spend.add(cost, provider)
    deps.spend.maybe_flush()
    if client is not None:
        _count_quota_outage(deps.quotas.add_tokens(client.key_id, input_tokens + output_tokens))
    metrics.add_metric(name=names.INPUT_TOKENS, unit=MetricUnit.Count, value=input_tokens)
    metrics.add_metric(name=names.OUTPUT_TOKENS, unit=MetricUnit.Count, value=output_tokens)
    metrics.add_metric(name=names.COST_USD, unit=MetricUnit.NoUnit, value=cost)


def _from_cache(entry: CachedResponse, operation: OperationType, trace: RequestTrace, kind: str) -> ChatResult:
    return ChatResult(entry.response(), cached_headers(entry, operation, trace, kind))


def cached_headers(entry: CachedResponse, operation: OperationType, trace: RequestTrace, kind: str) -> dict[str, str]:
    """The headers of an answer from the cache (`kind`: hit or stale), its request logged and counted."""
    record_request(operation, entry.route, entry.provider, False, f"cache-{kind}", trace.started, cache=kind)
    answer = headers(entry.route, entry.provider, False, kind, operation)
    if kind == "stale":
        answer |= {"x-hybrid-degraded": "true", "warning": '110 - "Response is Stale"'}
    return answer


def _response(routed: RoutedCompletion, request_id: str) -> ChatCompletionResponse:
    completion = routed.completion
    return ChatCompletionResponse(
        id=f"chatcmpl-{request_id}",
        created=int(time.time()),
        model=completion.model,
        choices=[Choice(message=ResponseMessage(content=completion.text), finish_reason=completion.finish_reason)],
        usage=Usage(
            prompt_tokens=completion.input_tokens,
            completion_tokens=completion.output_tokens,
            total_tokens=completion.input_tokens + completion.output_tokens,
        ),
    )


def headers(route: str, provider: str, fallback: bool, cache: str, operation: OperationType) -> dict[str, str]:
    return {
        "x-hybrid-route": route,
        "x-hybrid-provider": provider,
        "x-hybrid-fallback": str(fallback).lower(),
        "x-hybrid-cache": cache,
        "x-hybrid-operation": operation.value,
    }


def record_request(
    operation: OperationType,
    route: str,
    provider: str,
    fallback: bool,
    reason: str,
    started: float,
    error: str | None = None,
    cache: str = "miss",
    attempts: Sequence[str] = (),
    latency_ms: float | None = None,
) -> None:
    """The `routing-decision` log line and the request's EMF metrics (never prompts or completions).
    `attempts` are the request's provider attempts as "provider:outcome" (`attempt_label`). `latency_ms`:
    the request's latency when it is not the time since `started` (a stream's: its time to first token)."""
    if latency_ms is None:
        latency_ms = round((time.monotonic() - started) * 1000, 2)
    logger.info(
        "routing-decision",
        extra={
            "operation": operation.value,
            "route": route,
            "provider": provider,
            "fallback": fallback,
            "reason": reason,
            "latency_ms": latency_ms,
            "cache": cache,
            "error": error,
            "attempts": list(attempts),
        },
    )
    metrics.add_dimensions(
        **{names.DIM_ROUTE: route, names.DIM_PROVIDER: provider, names.DIM_OPERATION: operation.value}
    )
    metrics.add_dimensions(**{names.DIM_ROUTE: route})
    metrics.add_dimensions(**{names.DIM_PROVIDER: provider})
    metrics.add_dimensions(**{names.DIM_OPERATION: operation.value})
    metrics.add_metric(name=names.REQUESTS, unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=names.LATENCY, unit=MetricUnit.Milliseconds, value=latency_ms)
    metrics.add_metric(name=names.ERRORS, unit=MetricUnit.Count, value=1 if error else 0)
    metrics.add_metric(name=names.FALLBACKS, unit=MetricUnit.Count, value=1 if fallback else 0)
    metrics.add_metric(name=names.ATTEMPTS, unit=MetricUnit.Count, value=len(attempts))
    metrics.add_metric(name=names.RETRIES, unit=MetricUnit.Count, value=max(0, len(attempts) - 1))
    metrics.add_metric(name=names.CACHE_HITS, unit=MetricUnit.Count, value=1 if cache in ("hit", "stale") else 0)
    # Routing efficiency's numerator (functions/domain/reports/metrics.py): on the primary route, no fallback, no error.
    primary = route == ROUTING_MATRIX[operation].primary.value and not fallback and not error
    metrics.add_metric(name=names.PRIMARY_SERVED, unit=MetricUnit.Count, value=1 if primary else 0)
    if error:
        metrics.add_metric(name=names.error_type_metric(error), unit=MetricUnit.Count, value=1)


# The name tests/infrastructure/test_dashboards_stack.py and tests/unit/test_alarm_definitions.py import.
record = record_request
