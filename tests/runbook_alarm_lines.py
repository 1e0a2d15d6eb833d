"""Each alert-threshold line of the runbooks, stated with the thresholds module's names: what the
alarm definitions (tests/unit) and the synthesized alarms (tests/infrastructure) are held against."""

from __future__ import annotations

from dataclasses import dataclass

from functions.domain import thresholds as t
from functions.domain.alarms.definitions import DIRECT_PROVIDERS


@dataclass(frozen=True)
class RunbookLine:
    key: str  # the alarm name without the stack prefix
    severity: str
    metrics: tuple[str, ...]  # metric names read (numerator first for rates)
    statistic: str
    comparison: str  # ">", ">=", "<"
    threshold: float
    window_s: float  # period x evaluation periods


def _failover(provider: str) -> list[RunbookLine]:
    return [
        RunbookLine(
            f"provider-failover-{provider}-server-errors",
            "critical",
            ("ProviderServerErrors", "ProviderAttempts"),
            "Sum",
            ">",
            t.BREAKER_SERVER_ERROR_RATE * 100,
            t.BREAKER_ERROR_WINDOW_SECONDS,
        ),
        RunbookLine(
            f"provider-failover-{provider}-latency",
            "critical",
            ("ProviderLatency",),
            "p95",
            ">",
            t.BREAKER_P95_LATENCY_MS,
            t.BREAKER_LATENCY_WINDOW_SECONDS,
        ),
        RunbookLine(
            f"provider-failover-{provider}-throttling",
            "critical",
            ("ProviderThrottles", "ProviderAttempts"),
            "Sum",
            ">",
            t.BREAKER_THROTTLE_RATE * 100,
            t.BREAKER_ERROR_WINDOW_SECONDS,
        ),
    ]


RUNBOOK_LINES: list[RunbookLine] = [
    # production-operations.md, "Alert Thresholds"
    RunbookLine(
        "critical-p95-latency", "critical", ("Latency",), "p95", ">",
        t.CRITICAL_P95_LATENCY_MS, t.CRITICAL_P95_LATENCY_SECONDS,
    ),
    RunbookLine(  # the same target, for streams: their wait for the first token
        "critical-p95-time-to-first-token", "critical", ("TimeToFirstToken",), "p95", ">",
        t.CRITICAL_P95_LATENCY_MS, t.CRITICAL_P95_LATENCY_SECONDS,
    ),
    RunbookLine(
        "critical-error-rate", "critical", ("Errors", "Requests"), "Sum", ">",
        t.CRITICAL_ERROR_RATE_PERCENT, t.CRITICAL_ERROR_RATE_SECONDS,
    ),
    RunbookLine(
        "critical-bedrock-connection", "critical", ("HealthCheckFailure",), "Sum", ">=",
        1.0, t.HEALTH_CHECK_INTERVAL_SECONDS * t.HEALTH_FAILURE_THRESHOLD,
    ),
    RunbookLine(
        "critical-cost-budget", "critical", ("BudgetUtilizationPercent",), "Maximum", ">=",
        t.BUDGET_REFUSE_PERCENT, t.BUDGET_ALARM_SECONDS,
    ),
    RunbookLine(
        "warning-p95-latency", "warning", ("Latency",), "p95", ">",
        t.WARNING_P95_LATENCY_MS, t.WARNING_P95_LATENCY_SECONDS,
    ),
    RunbookLine(
        "warning-p95-time-to-first-token", "warning", ("TimeToFirstToken",), "p95", ">",
        t.WARNING_P95_LATENCY_MS, t.WARNING_P95_LATENCY_SECONDS,
    ),
    RunbookLine(
        "warning-error-rate", "warning", ("Errors", "Requests"), "Sum", ">",
        t.WARNING_ERROR_RATE_PERCENT, t.WARNING_ERROR_RATE_SECONDS,
    ),
    RunbookLine(
        "warning-cache-hit-rate", "warning", ("CacheHits", "CacheMisses"), "Sum", "<",
        t.CACHE_HIT_WARN_PERCENT, t.CACHE_HIT_WARN_SECONDS,
    ),
    RunbookLine(
        "warning-fallback-rate", "warning", ("Fallbacks", "Requests"), "Sum", ">",
        t.FALLBACK_RATE_WARN_PERCENT, t.FALLBACK_RATE_WARN_SECONDS,
    ),
    RunbookLine(
        "info-cache-hit-rate", "info", ("CacheHits", "CacheMisses"), "Sum", "<",
        t.CACHE_HIT_TARGET_PERCENT, t.CACHE_HIT_INFO_SECONDS,
    ),
    RunbookLine(
        "info-cost-budget", "info", ("BudgetUtilizationPercent",), "Maximum", ">=",
        t.BUDGET_WARN_PERCENT, t.BUDGET_ALARM_SECONDS,
    ),
    RunbookLine(
        "info-routing-efficiency", "info", ("PrimaryServed", "Requests"), "Sum", "<",
        t.ROUTING_EFFICIENCY_ALARM_PERCENT, t.ROUTING_EFFICIENCY_ALARM_SECONDS,
    ),
    # provider-failover.md, "Failover Triggers", per Direct provider
    *(line for provider in DIRECT_PROVIDERS for line in _failover(provider)),
    # provider-failover.md, "Monitoring Dashboard": --alerts "...,extended_outage", per probed target
    *(
        RunbookLine(
            f"critical-extended-outage-{target}", "critical", ("HealthCheckFailure", "HealthCheckSuccess"), "Sum",
            ">=", t.EXTENDED_OUTAGE_FAILED_PROBES_PERCENT, t.EXTENDED_OUTAGE_SECONDS,
        )
        for target in (*DIRECT_PROVIDERS, "mcp")
    ),
]  # fmt: skip

SYMBOL = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}
