"""One chat completion, end to end: cache, budget, decision, serving, cost, degraded mode.

The handler parses and answers; this module orchestrates the domain and the stores for it."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace

from aws_lambda_powertools.metrics import MetricUnit

from functions.app.chat.attempts import Deadline, RoutedCompletion, Runtime, serve
from functions.app.chat.wiring import RouterDependencies
from functions.domain.errors import NoRouteAvailable, ProviderError
from functions.domain.models import ChatCompletionRequest, ChatCompletionResponse, Choice, ResponseMessage, Usage
from functions.domain.routing.cache import CachedResponse, cache_decision, cache_key
from functions.domain.routing.decision import Decision, decide
from functions.domain.routing.matrix import ROUTING_MATRIX, OperationType
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
    decision: Decision | None = None


def complete(
    deps: RouterDependencies,
    body: ChatCompletionRequest,
    operation: OperationType,
    cache_header: str | None,
    request_id: str,
    trace: RequestTrace,
) -> ChatResult:
    snapshot, loaded = deps.current()
    use_cache = cache_decision(body, cache_header) == "use" and loaded.cache.mode != "off"
    key = cache_key(body, operation.value)
    if use_cache and (hit := deps.cache.get(key)) is not None:
        return _from_cache(hit, operation, trace, "hit")
    _admit_within_budget(deps, operation)
    rand = random.random()
    decision = decide(operation, snapshot, now=time.time(), rand=rand)
    if not loaded.breakers_enabled:
        decision = replace(decision, last_resort=True)  # an operator switched the breakers off
    if not decision.plan and ROUTING_MATRIX[operation].fallback is not None:
        # Every allowed target has an open breaker: try them anyway rather than refuse (last resort).
        unguarded = decide(operation, deps.current(ignore_breakers=True)[0], now=time.time(), rand=rand)
        decision = replace(unguarded, reason=f"{unguarded.reason};breakers-open", last_resort=True)
    trace.decision = decision
    budget = ROUTING_MATRIX[operation].latency_budget_s
    try:
        routed = serve(
            decision,
            body.to_completion_request(),
            deps.providers,
            Deadline(trace.started, budget, time.monotonic),
            deps.breakers,
            Runtime(attempt_timeout_s=loaded.attempt_timeout_s),
        )
    except (NoRouteAvailable, ProviderError) as exc:
        # Degraded mode: every route failed; an earlier answer, even stale, beats an error.
        retryable = not isinstance(exc, ProviderError) or exc.retryable
        if retryable and loaded.cache.serve_stale and cache_header != "bypass":
            if (stale := deps.cache.get(key, allow_stale=True)) is not None:
                return _from_cache(stale, operation, trace, "stale")
        raise
    response = _response(routed, request_id)
    _account(deps, routed, operation)
    if use_cache:
        deps.cache.put(
            key, deps.cache.entry(response, provider=routed.target.provider, route=routed.target.route.value)
        )
    record(
        operation, routed.target.route.value, routed.target.provider, routed.fallback, decision.reason, trace.started
    )
    metrics.add_metric(name="CacheMisses", unit=MetricUnit.Count, value=1 if use_cache else 0)
    return ChatResult(
        response, _headers(routed.target.route.value, routed.target.provider, routed.fallback, "miss", operation)
    )


def _admit_within_budget(deps: RouterDependencies, operation: OperationType) -> None:
    if deps.budget.monthly_budget_usd is None:
        return
    spent = deps.spend.spent_usd()
    if spent is None:
        return  # the spend table cannot be read: fail open rather than refuse traffic
    metrics.add_metric(name="BudgetUtilizationPercent", unit=MetricUnit.Percent, value=deps.budget.utilization(spent))
    deps.budget.admit(operation, spent)


def _account(deps: RouterDependencies, routed: RoutedCompletion, operation: OperationType) -> None:
    completion, provider = routed.completion, routed.target.provider
    cost = deps.prices.cost_usd(completion.model, completion.input_tokens, completion.output_tokens, provider)
    deps.spend.add(cost, provider)
    deps.spend.maybe_flush()
    metrics.add_metric(name="InputTokens", unit=MetricUnit.Count, value=completion.input_tokens)
    metrics.add_metric(name="OutputTokens", unit=MetricUnit.Count, value=completion.output_tokens)
    metrics.add_metric(name="CostUSD", unit=MetricUnit.NoUnit, value=cost)


def _from_cache(entry: CachedResponse, operation: OperationType, trace: RequestTrace, kind: str) -> ChatResult:
    record(operation, entry.route, entry.provider, False, f"cache-{kind}", trace.started, cache=kind)
    headers = _headers(entry.route, entry.provider, False, kind, operation)
    if kind == "stale":
        headers |= {"x-hybrid-degraded": "true", "warning": '110 - "Response is Stale"'}
    return ChatResult(entry.response(), headers)


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


def _headers(route: str, provider: str, fallback: bool, cache: str, operation: OperationType) -> dict[str, str]:
    return {
        "x-hybrid-route": route,
        "x-hybrid-provider": provider,
        "x-hybrid-fallback": str(fallback).lower(),
        "x-hybrid-cache": cache,
        "x-hybrid-operation": operation.value,
    }


def record(
    operation: OperationType,
    route: str,
    provider: str,
    fallback: bool,
    reason: str,
    started: float,
    error: str | None = None,
    cache: str = "miss",
) -> None:
    """The `routing-decision` log line and the request's EMF metrics (never prompts or completions)."""
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
        },
    )
    metrics.add_dimensions(Route=route, Provider=provider, OperationType=operation.value)
    metrics.add_dimensions(Route=route)
    metrics.add_dimensions(Provider=provider)
    metrics.add_dimensions(OperationType=operation.value)
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=latency_ms)
    metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=1 if error else 0)
    metrics.add_metric(name="Fallbacks", unit=MetricUnit.Count, value=1 if fallback else 0)
    metrics.add_metric(name="CacheHits", unit=MetricUnit.Count, value=1 if cache in ("hit", "stale") else 0)
    # Routing efficiency's numerator (functions/domain/reports/metrics.py): on the primary route, no fallback, no error.
    primary = route == ROUTING_MATRIX[operation].primary.value and not fallback and not error
    metrics.add_metric(name="PrimaryServed", unit=MetricUnit.Count, value=1 if primary else 0)
    if error:
        metrics.add_metric(name=f"Errors_{error}", unit=MetricUnit.Count, value=1)
