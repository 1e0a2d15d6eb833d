"""What the router's metrics say (distributions, latencies, errors, cache, efficiency, cost) and the
recommendations that follow, each with its numbers and thresholds; pure functions over one `MetricsSnapshot`,
whichever source filled it (CloudWatch in AWS, the local stack's in-memory sink)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from functions.domain.errors import InvalidRequest
from functions.domain.names import MCP, NO_TARGET
from functions.domain.routing.matrix import ROUTING_MATRIX, OperationType
from functions.domain.thresholds import (
    BUDGET_REFUSE_PERCENT,
    BUDGET_WARN_PERCENT,
    CACHE_HIT_TARGET_PERCENT,
    CACHE_HIT_WARN_PERCENT,
    COST_RATIO_RECOMMEND,
    ERROR_RATE_TARGET_PERCENT,
    FALLBACK_RATE_WARN_PERCENT,
    METRICS_WINDOW_MAX_SECONDS,
    METRICS_WINDOW_MIN_SECONDS,
    RECOMMEND_MIN_REQUESTS,
    RECOMMEND_P95_LATENCY_MS,
    ROUTING_EFFICIENCY_ALARM_PERCENT,
    ROUTING_EFFICIENCY_INCIDENT_PERCENT,
    ROUTING_EFFICIENCY_TARGET_PERCENT,
)

_WINDOW = re.compile(r"^\s*(\d{1,7})\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


# --- the snapshot ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Counts:
    """Sums over the window for one (route, provider, operation) cell, or an aggregate of cells."""

    requests: float = 0.0
    errors: float = 0.0
    fallbacks: float = 0.0
    cache_hits: float = 0.0
    cache_misses: float = 0.0
    input_tokens: float = 0.0
    output_tokens: float = 0.0
    cost_usd: float = 0.0
    errors_by_code: Mapping[str, float] = field(default_factory=dict)

    def __add__(self, other: Counts) -> Counts:
        codes = dict(self.errors_by_code)
        for code, n in other.errors_by_code.items():
            codes[code] = codes.get(code, 0.0) + n
        return Counts(
            self.requests + other.requests,
            self.errors + other.errors,
            self.fallbacks + other.fallbacks,
            self.cache_hits + other.cache_hits,
            self.cache_misses + other.cache_misses,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cost_usd + other.cost_usd,
            codes,
        )


@dataclass(frozen=True, slots=True)
class Cell:
    route: str
    provider: str
    operation: str
    counts: Counts


@dataclass(frozen=True, slots=True)
class AttemptCounts:
    """One provider's own attempts over the window, also those of requests another provider finally
    served (the ProviderAttempts family): what a gate or an alarm judges a provider by."""

    attempts: float = 0.0
    server_errors: float = 0.0
    throttles: float = 0.0
    p95_ms: float | None = None

    @property
    def failures(self) -> float:
        return self.server_errors + self.throttles


@dataclass(frozen=True, slots=True)
class Latency:
    avg_ms: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """One window of metrics. `latency` is keyed by dimension ("provider", "route", "operation",
    "all") then by its value; percentiles cannot be summed from cells, so sources give them per key."""

    window_s: int
    cells: tuple[Cell, ...] = ()
    latency: Mapping[str, Mapping[str, Latency]] = field(default_factory=dict)
    budget_utilization_percent: float | None = None
    attempts: Mapping[str, AttemptCounts] = field(default_factory=dict)  # by provider

    def total(self) -> Counts:
        return sum((c.counts for c in self.cells), Counts())

    def by(self, key: Callable[[Cell], str]) -> dict[str, Counts]:
        grouped: dict[str, Counts] = {}
        for cell in self.cells:
            grouped[key(cell)] = grouped.get(key(cell), Counts()) + cell.counts
        return dict(sorted(grouped.items()))

    def by_provider(self) -> dict[str, Counts]:
        return self.by(lambda c: c.provider)

    def by_route(self) -> dict[str, Counts]:
        return self.by(lambda c: c.route)

    def by_operation(self) -> dict[str, Counts]:
        return self.by(lambda c: c.operation)

    def p95(self, dimension: str, value: str) -> float | None:
        return self.latency.get(dimension, {}).get(value, Latency()).p95_ms


# --- helpers ---------------------------------------------------------------------------------
def parse_window(raw: str | None, default: str) -> tuple[str, int]:
    """`5m`, `1h`, `24h`, `7d` ... as (text, seconds), within the bounds; InvalidRequest otherwise."""
    text = (raw if raw is not None else default).strip().lower()
    match = _WINDOW.match(text)
    if not match:
        raise InvalidRequest(f"window must be a number and a unit s, m, h or d (e.g. 5m, 1h, 24h), not {text[:20]!r}")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not METRICS_WINDOW_MIN_SECONDS <= seconds <= METRICS_WINDOW_MAX_SECONDS:
        raise InvalidRequest(
            f"window must be between {METRICS_WINDOW_MIN_SECONDS} s and {METRICS_WINDOW_MAX_SECONDS // 86_400} days"
        )
    return text, seconds


def percent(part: float, whole: float) -> float | None:
    return round(part / whole * 100.0, 2) if whole > 0 else None


def _share(groups: Mapping[str, Counts], total: float) -> dict[str, dict[str, Any]]:
    return {k: {"requests": round(c.requests), "percent": percent(c.requests, total)} for k, c in groups.items()}


def _latency_dict(latency: Latency) -> dict[str, float | None]:
    return {
        "avgMs": _rounded(latency.avg_ms),
        "p50Ms": _rounded(latency.p50_ms),
        "p95Ms": _rounded(latency.p95_ms),
        "p99Ms": _rounded(latency.p99_ms),
    }


def _rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _cache_rate(counts: Counts) -> float | None:
    return percent(counts.cache_hits, counts.cache_hits + counts.cache_misses)


# --- reports ---------------------------------------------------------------------------------
def routing_distribution(snapshot: MetricsSnapshot) -> dict[str, Any]:
    total = snapshot.total().requests
    return {
        "windowSeconds": snapshot.window_s,
        "totalRequests": round(total),
        "byRoute": _share(snapshot.by_route(), total),
        "byProvider": _share(snapshot.by_provider(), total),
        "byOperation": _share(snapshot.by_operation(), total),
    }


def provider_latencies(snapshot: MetricsSnapshot) -> dict[str, Any]:
    requests = snapshot.by_provider()
    providers = {
        name: {
            **_latency_dict(snapshot.latency.get("provider", {}).get(name, Latency())),
            "requests": round(requests.get(name, Counts()).requests),
            "aboveP95Threshold": (p95 := snapshot.p95("provider", name)) is not None and p95 > RECOMMEND_P95_LATENCY_MS,
        }
        for name in sorted(set(requests) | set(snapshot.latency.get("provider", {})))
    }
    return {
        "windowSeconds": snapshot.window_s,
        "overall": _latency_dict(snapshot.latency.get("all", {}).get("all", Latency())),
        "providers": providers,
        "byRoute": {k: _latency_dict(v) for k, v in sorted(snapshot.latency.get("route", {}).items())},
        "thresholds": {"p95LatencyMs": RECOMMEND_P95_LATENCY_MS},
    }


def error_breakdown(snapshot: MetricsSnapshot) -> dict[str, Any]:
    total = snapshot.total()

    def entry(counts: Counts) -> dict[str, Any]:
        return {
            "requests": round(counts.requests),
            "errors": round(counts.errors),
            "errorRatePercent": percent(counts.errors, counts.requests),
            "byCode": {code: round(n) for code, n in sorted(counts.errors_by_code.items()) if n},
        }

    return {
        "windowSeconds": snapshot.window_s,
        "overall": entry(total),
        "byProvider": {k: entry(v) for k, v in snapshot.by_provider().items()},
        "byOperation": {k: entry(v) for k, v in snapshot.by_operation().items()},
        "thresholds": {"errorRateTargetPercent": ERROR_RATE_TARGET_PERCENT},
    }


def cache_status(rate: float | None) -> str:
    if rate is None:
        return "no-data"
    if rate >= CACHE_HIT_TARGET_PERCENT:
        return "ok"
    return "below-target" if rate >= CACHE_HIT_WARN_PERCENT else "warning"


def cache_performance(snapshot: MetricsSnapshot) -> dict[str, Any]:
    total = snapshot.total()
    rate = _cache_rate(total)

    def entry(counts: Counts) -> dict[str, Any]:
        return {
            "hits": round(counts.cache_hits),
            "misses": round(counts.cache_misses),
            "hitRatePercent": _cache_rate(counts),
        }

    return {
        "windowSeconds": snapshot.window_s,
        **entry(total),
        "status": cache_status(rate),
        "byOperation": {k: entry(v) for k, v in snapshot.by_operation().items()},
        "targets": {"hitRateTargetPercent": CACHE_HIT_TARGET_PERCENT, "hitRateWarnPercent": CACHE_HIT_WARN_PERCENT},
    }


def _primary_served(cell: Cell) -> float:
    """Requests of the cell served on its operation's primary route, without fallback or error."""
    try:
        primary = ROUTING_MATRIX[OperationType(cell.operation)].primary.value
    except ValueError:
        return 0.0
    if cell.route != primary:
        return 0.0
    return max(0.0, cell.counts.requests - cell.counts.fallbacks - cell.counts.errors)


def efficiency_status(value: float | None) -> str:
    if value is None:
        return "no-data"
    if value >= ROUTING_EFFICIENCY_ALARM_PERCENT:
        return "ok"
    if value >= ROUTING_EFFICIENCY_TARGET_PERCENT:
        return "watch"
    return "below-target" if value >= ROUTING_EFFICIENCY_INCIDENT_PERCENT else "incident"


def routing_efficiency_percent(snapshot: MetricsSnapshot) -> float | None:
    return percent(sum(_primary_served(c) for c in snapshot.cells), snapshot.total().requests)


def routing_efficiency(snapshot: MetricsSnapshot) -> dict[str, Any]:
    by_operation: dict[str, dict[str, Any]] = {}
    for operation, counts in snapshot.by_operation().items():
        served = sum(_primary_served(c) for c in snapshot.cells if c.operation == operation)
        row = ROUTING_MATRIX.get(OperationType(operation)) if operation in ROUTING_MATRIX else None
        by_operation[operation] = {
            "primaryRoute": row.primary.value if row else None,
            "requests": round(counts.requests),
            "servedOnPrimary": round(served),
            "fallbacks": round(counts.fallbacks),
            "efficiencyPercent": percent(served, counts.requests),
        }
    total = snapshot.total()
    value = routing_efficiency_percent(snapshot)
    return {
        "windowSeconds": snapshot.window_s,
        "routingEfficiencyPercent": value,
        "status": efficiency_status(value),
        "definition": "share of requests served on the routing matrix's primary route, without fallback or error",
        "requests": round(total.requests),
        "fallbackRatePercent": percent(total.fallbacks, total.requests),
        "byOperation": by_operation,
        "thresholds": {
            "targetPercent": ROUTING_EFFICIENCY_TARGET_PERCENT,
            "alarmBelowPercent": ROUTING_EFFICIENCY_ALARM_PERCENT,
            "incidentBelowPercent": ROUTING_EFFICIENCY_INCIDENT_PERCENT,
            "fallbackRateWarnPercent": FALLBACK_RATE_WARN_PERCENT,
        },
    }


def cost_breakdown(snapshot: MetricsSnapshot) -> dict[str, Any]:
    def entry(counts: Counts) -> dict[str, Any]:
        return {
            "requests": round(counts.requests),
            "costUsd": round(counts.cost_usd, 6),
            "costPerRequestUsd": round(counts.cost_usd / counts.requests, 8) if counts.requests else None,
            "inputTokens": round(counts.input_tokens),
            "outputTokens": round(counts.output_tokens),
        }

    budget = snapshot.budget_utilization_percent
    return {
        "windowSeconds": snapshot.window_s,
        "total": entry(snapshot.total()),
        "byProvider": {k: entry(v) for k, v in snapshot.by_provider().items()},
        "byOperation": {k: entry(v) for k, v in snapshot.by_operation().items()},
        "budget": {
            "utilizationPercent": _rounded(budget),
            "status": "no-data"
            if budget is None
            else (
                "exhausted" if budget >= BUDGET_REFUSE_PERCENT else "warning" if budget >= BUDGET_WARN_PERCENT else "ok"
            ),
            "warnPercent": BUDGET_WARN_PERCENT,
            "refusePercent": BUDGET_REFUSE_PERCENT,
        },
    }


def health_summary(snapshot: MetricsSnapshot) -> dict[str, Any]:
    """The public `/health/metrics` numbers: rates and latencies only, nothing about the deployment."""
    total = snapshot.total()
    return {
        "routingEfficiency": routing_efficiency_percent(snapshot),
        "requests": round(total.requests),
        "errorRatePercent": percent(total.errors, total.requests),
        "fallbackRatePercent": percent(total.fallbacks, total.requests),
        "cacheHitRatePercent": _cache_rate(total),
        "p95LatencyMs": _rounded(snapshot.latency.get("all", {}).get("all", Latency()).p95_ms),
        "windowSeconds": snapshot.window_s,
    }


# --- recommendations -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Recommendation:
    id: str
    category: str  # "routing" | "cost"
    severity: str  # "info" | "warning" | "critical"
    message: str
    action: str
    evidence: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "category": self.category,
            "severity": self.severity,
            "message": self.message,
            "action": self.action,
            "evidence": dict(self.evidence),
        }


def routing_recommendations(snapshot: MetricsSnapshot) -> list[Recommendation]:
    found = [*_fallback_recommendations(snapshot), *_latency_recommendations(snapshot)]
    efficiency = _efficiency_recommendation(snapshot)
    return found if efficiency is None else [*found, efficiency]


def _fallback_recommendations(snapshot: MetricsSnapshot) -> list[Recommendation]:
    found: list[Recommendation] = []
    for operation, counts in snapshot.by_operation().items():
        rate = percent(counts.fallbacks, counts.requests)
        if counts.requests < RECOMMEND_MIN_REQUESTS or rate is None or rate <= FALLBACK_RATE_WARN_PERCENT:
            continue
        primary = ROUTING_MATRIX[OperationType(operation)].primary.value if operation in ROUTING_MATRIX else "?"
        found.append(
            Recommendation(
                f"fallback-rate:{operation}",
                "routing",
                "warning",
                f"{rate:g} % of {operation} requests fell back (> {FALLBACK_RATE_WARN_PERCENT:g} %)",
                f"check the primary route '{primary}' of {operation}: its health, breakers and isolation",
                {
                    "operation": operation,
                    "primaryRoute": primary,
                    "requests": round(counts.requests),
                    "fallbacks": round(counts.fallbacks),
                    "fallbackRatePercent": rate,
                    "thresholdPercent": FALLBACK_RATE_WARN_PERCENT,
                },
            )
        )
    return found


def _latency_recommendations(snapshot: MetricsSnapshot) -> list[Recommendation]:
    found: list[Recommendation] = []
    requests = snapshot.by_provider()
    for provider, latency in sorted(snapshot.latency.get("provider", {}).items()):
        seen = requests.get(provider, Counts()).requests
        p95 = latency.p95_ms
        if p95 is None or p95 <= RECOMMEND_P95_LATENCY_MS or seen < RECOMMEND_MIN_REQUESTS:
            continue
        found.append(
            Recommendation(
                f"p95-latency:{provider}",
                "routing",
                "warning",
                f"{provider} p95 latency {p95:.0f} ms is above {RECOMMEND_P95_LATENCY_MS:.0f} ms",
                f"shift weight away from {provider} (PUT /admin/routing/traffic-distribution)",
                {
                    "provider": provider,
                    "p95LatencyMs": round(p95, 2),
                    "thresholdMs": RECOMMEND_P95_LATENCY_MS,
                    "requests": round(seen),
                },
            )
        )
    return found


def _efficiency_recommendation(snapshot: MetricsSnapshot) -> Recommendation | None:
    efficiency = routing_efficiency_percent(snapshot)
    total = snapshot.total().requests
    if efficiency is None or total < RECOMMEND_MIN_REQUESTS or efficiency >= ROUTING_EFFICIENCY_ALARM_PERCENT:
        return None
    return Recommendation(
        "routing-efficiency",
        "routing",
        "warning" if efficiency < ROUTING_EFFICIENCY_TARGET_PERCENT else "info",
        f"routing efficiency {efficiency:g} % is below {ROUTING_EFFICIENCY_ALARM_PERCENT:g} %",
        "review routing rules and provider health (GET /admin/config/validate-routing)",
        {
            "routingEfficiencyPercent": efficiency,
            "alarmBelowPercent": ROUTING_EFFICIENCY_ALARM_PERCENT,
            "targetPercent": ROUTING_EFFICIENCY_TARGET_PERCENT,
            "requests": round(total),
        },
    )


def _healthy(snapshot: MetricsSnapshot, provider: str, counts: Counts) -> bool:
    error_rate = percent(counts.errors, counts.requests) or 0.0
    p95 = snapshot.p95("provider", provider)
    return error_rate <= ERROR_RATE_TARGET_PERCENT and (p95 is None or p95 <= RECOMMEND_P95_LATENCY_MS)


def cost_recommendations(snapshot: MetricsSnapshot, weights: Mapping[str, int]) -> list[Recommendation]:
    candidates = (
        _expensive_provider_recommendation(snapshot, weights),
        _cache_recommendation(snapshot),
        _budget_recommendation(snapshot),
    )
    return [found for found in candidates if found is not None]


def _expensive_provider_recommendation(snapshot: MetricsSnapshot, weights: Mapping[str, int]) -> Recommendation | None:
    """The most expensive Direct provider worth moving weight from, to the cheapest healthy one; one move at a
    time, so the next is decided on fresh measurements."""
    direct = {
        p: c
        for p, c in snapshot.by_provider().items()
        if p not in (MCP, NO_TARGET) and c.requests >= RECOMMEND_MIN_REQUESTS
    }
    per_request = {p: c.cost_usd / c.requests for p, c in direct.items()}
    healthy_cheap = [p for p in sorted(per_request, key=per_request.__getitem__) if _healthy(snapshot, p, direct[p])]
    if not healthy_cheap:
        return None
    cheapest = healthy_cheap[0]
    cheap_cost = per_request[cheapest]
    for provider in sorted(per_request, key=per_request.__getitem__, reverse=True):
        ratio = per_request[provider] / cheap_cost if cheap_cost > 0 else None
        worth_moving = per_request[provider] != 0 if ratio is None else ratio >= COST_RATIO_RECOMMEND
        if provider != cheapest and worth_moving:
            return _move_weight(provider, cheapest, per_request, ratio, weights)
    return None


def _move_weight(
    provider: str, cheapest: str, per_request: Mapping[str, float], ratio: float | None, weights: Mapping[str, int]
) -> Recommendation:
    return Recommendation(
        f"expensive-provider:{provider}",
        "cost",
        "info",
        f"{provider} costs {_ratio_text(ratio)} per request what healthy {cheapest} does",
        f"move weight from {provider} to {cheapest} (PUT /admin/routing/traffic-distribution)",
        {
            "provider": provider,
            "cheaperProvider": cheapest,
            "costPerRequestUsd": round(per_request[provider], 8),
            "cheaperCostPerRequestUsd": round(per_request[cheapest], 8),
            "ratio": None if ratio is None else round(ratio, 2),
            "thresholdRatio": COST_RATIO_RECOMMEND,
            "currentWeights": dict(weights),
            "suggestedWeights": suggest_weights(weights, provider, cheapest),
        },
    )


def _cache_recommendation(snapshot: MetricsSnapshot) -> Recommendation | None:
    total = snapshot.total()
    rate = _cache_rate(total)
    if rate is None or rate >= CACHE_HIT_WARN_PERCENT or total.cache_hits + total.cache_misses < RECOMMEND_MIN_REQUESTS:
        return None
    return Recommendation(
        "cache-hit-rate",
        "cost",
        "warning",
        f"cache hit rate {rate:g} % is below {CACHE_HIT_WARN_PERCENT:g} % (target {CACHE_HIT_TARGET_PERCENT:g} %)",
        "enable the cache for deterministic operations (temperature 0 or X-Hybrid-Cache: use) "
        "and review TTLs (GET /admin/config/cache-settings)",
        {
            "hitRatePercent": rate,
            "hits": round(total.cache_hits),
            "misses": round(total.cache_misses),
            "warnPercent": CACHE_HIT_WARN_PERCENT,
            "targetPercent": CACHE_HIT_TARGET_PERCENT,
        },
    )


def _budget_recommendation(snapshot: MetricsSnapshot) -> Recommendation | None:
    budget = snapshot.budget_utilization_percent
    if budget is None or budget < BUDGET_WARN_PERCENT:
        return None
    return Recommendation(
        "budget-utilization",
        "cost",
        "critical" if budget >= BUDGET_REFUSE_PERCENT else "warning",
        f"{budget:.1f} % of the monthly AI budget is used",
        "move background and standard work to cheaper providers or MCP, or raise the budget",
        {
            "utilizationPercent": round(budget, 2),
            "warnPercent": BUDGET_WARN_PERCENT,
            "refusePercent": BUDGET_REFUSE_PERCENT,
        },
    )


def _ratio_text(ratio: float | None) -> str:
    return "something where it is free" if ratio is None else f"{ratio:.1f}x"


def suggest_weights(weights: Mapping[str, int], expensive: str, cheaper: str) -> dict[str, int]:
    """Half of the expensive provider's weight moved to the cheaper one; still sums to 100."""
    current = {k: int(v) for k, v in weights.items()}
    moved = current.get(expensive, 0) // 2
    if moved == 0:
        return current
    current[expensive] -= moved
    current[cheaper] = current.get(cheaper, 0) + moved
    return current


def as_dicts(recommendations: Iterable[Recommendation]) -> list[dict[str, Any]]:
    return [r.as_dict() for r in recommendations]
