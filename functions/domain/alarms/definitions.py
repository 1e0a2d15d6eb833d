"""The runbooks' alert thresholds as alarm definitions: plain data, no CDK, no AWS.

`stacks/constructs/alarms.py` turns each definition into a CloudWatch alarm; the local alarm
evaluator evaluates the same definitions on the local stack's EMF metrics. Every number comes from
`functions/domain/thresholds.py`.

Shape of one `AlarmDefinition` (all fields plain values, frozen):

- `key`: the alarm name without the stack's prefix. `name(prefix)` is `f"{prefix}-{key}"`:
  `f"{prefix}-{severity}-{slug}"`, or `f"{prefix}-provider-failover-{provider}-{trigger}"` for the
  per-provider failover alarms (trigger: server-errors | latency | throttling).
- `queries`: the metrics read, each `MetricQuery(id, metric, statistic, dimensions)`. `dimensions` is
  exactly one dimension set the functions emit (Powertools adds `service` to every set), so the
  alarm matches the emitted metric. `statistic` is a CloudWatch statistic: "Sum", "Maximum", or an
  extended statistic such as "p95".
- `ratio`: None for a single-metric alarm on `queries[0]` with its statistic; otherwise a `Ratio`:
  `scale * sum(numerator ids) / sum(denominator ids)`, `empty` when the denominator's sum is 0, or a
  `Total`: `SUM([ids])`. `expression()` is the CloudWatch metric-math string; `evaluate()` the same
  formula in Python (one period's values by id; None when a value is missing = no datapoint, as CloudWatch).
- A query's `namespace` is ours (the EMF metrics) unless it reads AWS's own (`AWS/States` for
  failover_failure); the local evaluator evaluates only alarms on our namespace.
- `threshold`, `comparison` (CloudWatch's ComparisonOperator names), `period_s`,
  `evaluation_periods`, `datapoints_to_alarm`, `treat_missing_data` (breaching | notBreaching |
  ignore | missing), with CloudWatch's meaning (M of N one-period datapoints breaching -> ALARM).
- `severity`, `summary`, `runbook` (the line it implements, quoted), and for failover alarms
  `provider` and `trigger`.

Choices the runbooks leave open (recorded in docs/runbook-map.md):
- "Direct Bedrock connection failure" is the health checker's verdict: a `HealthCheckFailure` of
  Bedrock in HEALTH_FAILURE_THRESHOLD consecutive check intervals, the moment the checker marks it
  unhealthy. Probes run whatever traffic does, so the alarm also fires with no traffic to Bedrock.
- Routing efficiency is `PrimaryServed / Requests` (the router counts a request as served on its
  operation's primary route without fallback or error, as functions/domain/reports/metrics.py does).
- The per-provider rates are per attempt (`ProviderAttempts`, `ProviderServerErrors`,
  `ProviderThrottles`, `ProviderLatency`): a request that fails on Bedrock and is served by Google
  counts against Bedrock. Missing data is "missing": a provider that gets no attempts (after a
  failover) is neither healthy nor failing, so its alarm goes to INSUFFICIENT_DATA and no health
  gate is blocked by a stale ALARM.
- "Complete system outage" is a composite: every Direct provider's server-errors alarm AND the MCP
  server-errors alarm in ALARM (no route left that answers).
- The failover dashboard's alerts (provider-failover.md, "Monitoring Dashboard"): `failover_failure` is
  any failover or failback execution ending FAILED or TIMED_OUT (Step Functions' own metrics, by state
  machine ARN, so `failover_failure(arns)` is built where the ARNs are known: the stack); `extended_outage`
  is, per probed target, every health probe failing for EXTENDED_OUTAGE_SECONDS (the share of failed
  probes, so a healthy target reads 0 % and a silent checker reads no data, not "healthy").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Literal

from functions.domain import thresholds as t
from functions.shared.observability import NAMESPACE, SERVICE

Severity = Literal["critical", "warning", "info"]
Comparison = Literal[
    "GreaterThanThreshold",
    "GreaterThanOrEqualToThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
]
MissingData = Literal["breaching", "notBreaching", "ignore", "missing"]
Trigger = Literal["server-errors", "latency", "throttling"]

SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")
DIRECT_PROVIDERS: tuple[str, ...] = ("bedrock", "google", "meta")
TRIGGERS: tuple[Trigger, ...] = ("server-errors", "latency", "throttling")
FAILOVER_KEY_PREFIX = "provider-failover"
MCP = "mcp"

# Metric names the router and the health checker emit (functions/app/chat/serve.py,
# functions/adapters/dynamodb/breakers.py,
# functions/handlers/health_check.py).
REQUESTS, ERRORS, FALLBACKS, LATENCY = "Requests", "Errors", "Fallbacks", "Latency"
CACHE_HITS, CACHE_MISSES, PRIMARY_SERVED = "CacheHits", "CacheMisses", "PrimaryServed"
BUDGET_UTILIZATION = "BudgetUtilizationPercent"
PROVIDER_ATTEMPTS, PROVIDER_SERVER_ERRORS = "ProviderAttempts", "ProviderServerErrors"
PROVIDER_THROTTLES, PROVIDER_LATENCY = "ProviderThrottles", "ProviderLatency"
HEALTH_CHECK_FAILURE, HEALTH_CHECK_SUCCESS = "HealthCheckFailure", "HealthCheckSuccess"
# Step Functions' metrics of the failover and failback state machines (dimension StateMachineArn).
STATES_NAMESPACE = "AWS/States"
EXECUTIONS_FAILED, EXECUTIONS_TIMED_OUT = "ExecutionsFailed", "ExecutionsTimedOut"
# The rollout kinds (functions/domain/rollout/plan.py RolloutKind values, statemachines/<kind>.asl.json) that move
# traffic off a failing provider or back onto a recovered one; a canary is a deployment, not a failover.
FAILOVER_WORKFLOWS: tuple[str, ...] = ("immediate_failover", "gradual_failover", "failback")


def failover_key(provider: str, trigger: Trigger) -> str:
    """A failover alarm's name without the prefix (the workflows' EventBridge rules match on it)."""
    return f"{FAILOVER_KEY_PREFIX}-{provider}-{trigger}"


def service_dimensions() -> tuple[tuple[str, str], ...]:
    """The dimension set Powertools gives every metric of the service: `service` alone."""
    return (("service", SERVICE),)


def provider_dimensions(provider: str) -> tuple[tuple[str, str], ...]:
    """The per-provider dimension set: `Provider` and `service`, sorted by name."""
    return (("Provider", provider), ("service", SERVICE))


@dataclass(frozen=True, slots=True)
class MetricQuery:
    id: str  # metric-math id: lowercase first letter, letters, digits, underscores
    metric: str
    statistic: str  # "Sum", "Maximum", "Average", "SampleCount", or "p95"-style extended statistic
    dimensions: tuple[tuple[str, str], ...]
    namespace: str = NAMESPACE

    @property
    def dimension_map(self) -> dict[str, str]:
        return dict(self.dimensions)

    @property
    def extended(self) -> bool:
        return self.statistic.startswith("p")


@dataclass(frozen=True, slots=True)
class Ratio:
    """`scale * sum(numerator) / sum(denominator)`; `empty` when the denominator sums to 0."""

    numerator: tuple[str, ...]
    denominator: tuple[str, ...]
    scale: float = 100.0
    empty: float | None = None  # None: the denominator counts every request, it is never 0 with data

    def expression(self) -> str:
        numerator = " + ".join(self.numerator)
        denominator = " + ".join(self.denominator)
        numerator = f"({numerator})" if len(self.numerator) > 1 else numerator
        denominator = f"({denominator})" if len(self.denominator) > 1 else denominator
        ratio = f"{_number(self.scale)} * {numerator} / {denominator}"
        if self.empty is None:
            return ratio
        return f"IF({denominator} > 0, {ratio}, {_number(self.empty)})"

    def evaluate(self, values: Mapping[str, float | None]) -> float | None:
        """One period's value from the queries' values by id; None (no datapoint) if any is missing."""
        parts = [values.get(i) for i in (*self.numerator, *self.denominator)]
        if any(v is None for v in parts):
            return None
        numerator = sum(values[i] or 0.0 for i in self.numerator)
        denominator = sum(values[i] or 0.0 for i in self.denominator)
        if denominator == 0:
            return self.empty
        return self.scale * numerator / denominator


@dataclass(frozen=True, slots=True)
class Total:
    """`SUM([ids])`: the queries' values added per period, a missing one counting as 0 (no value at all: no
    datapoint), as CloudWatch's SUM of an array of time series."""

    ids: tuple[str, ...]

    def expression(self) -> str:
        return f"SUM([{', '.join(self.ids)}])"

    def evaluate(self, values: Mapping[str, float | None]) -> float | None:
        present = [v for i in self.ids if (v := values.get(i)) is not None]
        return math.fsum(present) if present else None


@dataclass(frozen=True, slots=True)
class AlarmDefinition:
    slug: str
    severity: Severity
    summary: str
    runbook: str
    queries: tuple[MetricQuery, ...]
    threshold: float
    comparison: Comparison
    period_s: int
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing_data: MissingData
    ratio: Ratio | Total | None = None
    unit: str = ""  # of the threshold, for people: "%", "ms", "failures"
    provider: str | None = None
    trigger: Trigger | None = None

    @property
    def key(self) -> str:
        if self.provider is not None and self.trigger is not None:
            return failover_key(self.provider, self.trigger)
        return f"{self.severity}-{self.slug}"

    def name(self, prefix: str) -> str:
        return f"{prefix}-{self.key}"

    @property
    def window_s(self) -> int:
        return self.period_s * self.evaluation_periods

    def breaches(self, value: float) -> bool:
        return _COMPARE[self.comparison](value, self.threshold)


@dataclass(frozen=True, slots=True)
class CompositeDefinition:
    """ALARM when every member alarm (by key) is in ALARM."""

    slug: str
    severity: Severity
    summary: str
    runbook: str
    all_of: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.severity}-{self.slug}"

    def name(self, prefix: str) -> str:
        return f"{prefix}-{self.key}"

    def rule(self, prefix: str) -> str:
        """CloudWatch's AlarmRule."""
        return " AND ".join(f'ALARM("{prefix}-{key}")' for key in self.all_of)


_SYMBOL = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}
_COMPARE = {
    "GreaterThanThreshold": lambda v, th: v > th,
    "GreaterThanOrEqualToThreshold": lambda v, th: v >= th,
    "LessThanThreshold": lambda v, th: v < th,
    "LessThanOrEqualToThreshold": lambda v, th: v <= th,
}


def _minutes(seconds: float) -> float:
    return timedelta(seconds=seconds) / timedelta(minutes=1)


def _number(value: float) -> str:
    return f"{value:g}"


def _periods(window_s: float, period_s: int = t.ALARM_PERIOD_SECONDS) -> int:
    """Consecutive periods covering a runbook duration ("for 5 minutes": 5 one-minute periods)."""
    return max(1, int(window_s // period_s))


def _sustained(window_s: float, period_s: int = t.ALARM_PERIOD_SECONDS) -> dict[str, int]:
    periods = _periods(window_s, period_s)
    return {"period_s": period_s, "evaluation_periods": periods, "datapoints_to_alarm": periods}


# --- the router's metrics -----------------------------------------------------------------------
def _service(query_id: str, metric: str, statistic: str = "Sum") -> MetricQuery:
    return MetricQuery(query_id, metric, statistic, service_dimensions())


@dataclass(frozen=True, slots=True)
class _Signal:
    """What one of the router's alarms watches, whatever its severity and threshold."""

    slug: str
    queries: tuple[MetricQuery, ...]
    comparison: Comparison
    unit: str
    ratio: Ratio | None = None
    missing: MissingData = "notBreaching"  # no traffic in a period: nothing is wrong


P95_LATENCY = _Signal("p95-latency", (_service("latency", LATENCY, "p95"),), "GreaterThanThreshold", "ms")
ERROR_RATE = _Signal(
    "error-rate",
    (_service("errors", ERRORS), _service("requests", REQUESTS)),
    "GreaterThanThreshold",
    "%",
    Ratio(("errors",), ("requests",)),
)
# No cache lookup in a period (no cacheable request): nothing was missed, 100 %.
CACHE_HIT_RATE = _Signal(
    "cache-hit-rate",
    (_service("hits", CACHE_HITS), _service("misses", CACHE_MISSES)),
    "LessThanThreshold",
    "%",
    Ratio(("hits",), ("hits", "misses"), empty=100.0),
)
# At the threshold, not above it: the router refuses from BUDGET_REFUSE_PERCENT on (functions/domain/routing/cost.py).
# Spend only grows within a month: a period without traffic keeps the last verdict.
COST_BUDGET = _Signal(
    "cost-budget",
    (_service("budget", BUDGET_UTILIZATION, "Maximum"),),
    "GreaterThanOrEqualToThreshold",
    "%",
    missing="ignore",
)
FALLBACK_RATE = _Signal(
    "fallback-rate",
    (_service("fallbacks", FALLBACKS), _service("requests", REQUESTS)),
    "GreaterThanThreshold",
    "%",
    Ratio(("fallbacks",), ("requests",)),
)
ROUTING_EFFICIENCY = _Signal(
    "routing-efficiency",
    (_service("primary", PRIMARY_SERVED), _service("requests", REQUESTS)),
    "LessThanThreshold",
    "%",
    Ratio(("primary",), ("requests",)),
)


def _runbook_alarm(
    signal: _Signal, severity: Severity, threshold: float, window_s: int, line: str, period_s: int | None = None
) -> AlarmDefinition:
    """An alarm of production-operations.md's "Alert Thresholds": `line` is the runbook's words."""
    return AlarmDefinition(
        slug=signal.slug,
        severity=severity,
        summary=f"{signal.slug.replace('-', ' ')} {_SYMBOL[signal.comparison]} {threshold:g} {signal.unit} "
        f"for {_minutes(window_s):g} min",
        runbook=f'production-operations.md, Alert Thresholds, {severity.title()}: "{line}"',
        queries=signal.queries,
        ratio=signal.ratio,
        threshold=threshold,
        comparison=signal.comparison,
        treat_missing_data=signal.missing,
        unit=signal.unit,
        **_sustained(window_s, period_s or t.ALARM_PERIOD_SECONDS),
    )


def _bedrock_connection() -> AlarmDefinition:
    return AlarmDefinition(
        slug="bedrock-connection",
        severity="critical",
        summary=f"Direct Bedrock failed {t.HEALTH_FAILURE_THRESHOLD} consecutive health checks (connection failure)",
        runbook='production-operations.md, Alert Thresholds, Critical: "Direct Bedrock connection failure"',
        queries=(MetricQuery("failures", HEALTH_CHECK_FAILURE, "Sum", provider_dimensions("bedrock")),),
        threshold=1.0,
        comparison="GreaterThanOrEqualToThreshold",
        # The checker emits HealthCheckFailure only for a failed probe.
        treat_missing_data="notBreaching",
        unit="failures",
        provider="bedrock",
        period_s=t.HEALTH_CHECK_INTERVAL_SECONDS,
        evaluation_periods=t.HEALTH_FAILURE_THRESHOLD,
        datapoints_to_alarm=t.HEALTH_FAILURE_THRESHOLD,
    )


# --- per-provider failover triggers ----------------------------------------------------------------
def _provider_rate(provider: str, trigger: Trigger, metric: str, rate: float, line: str) -> AlarmDefinition:
    return AlarmDefinition(
        slug=trigger,
        severity="critical",
        summary=f"{provider}: more than {rate * 100:g} % of attempts {trigger.replace('-', ' ')}",
        runbook=f'provider-failover.md, Failover Triggers: "{line}"',
        queries=(
            MetricQuery("failed", metric, "Sum", provider_dimensions(provider)),
            MetricQuery("attempts", PROVIDER_ATTEMPTS, "Sum", provider_dimensions(provider)),
        ),
        ratio=Ratio(("failed",), ("attempts",)),
        threshold=rate * 100,
        comparison="GreaterThanThreshold",
        treat_missing_data="missing",
        unit="%",
        provider=provider,
        trigger=trigger,
        **_sustained(t.BREAKER_ERROR_WINDOW_SECONDS, int(t.BREAKER_ERROR_WINDOW_SECONDS)),
    )


def _provider_latency(provider: str) -> AlarmDefinition:
    return AlarmDefinition(
        slug="latency",
        severity="critical",
        summary=f"{provider}: P95 attempt latency above {t.BREAKER_P95_LATENCY_MS:g} ms for "
        f"{_minutes(t.BREAKER_LATENCY_WINDOW_SECONDS):g} minutes",
        runbook='provider-failover.md, Failover Triggers: "High Latency: P95 > 3000ms for 5 minutes"',
        queries=(MetricQuery("latency", PROVIDER_LATENCY, "p95", provider_dimensions(provider)),),
        threshold=t.BREAKER_P95_LATENCY_MS,
        comparison="GreaterThanThreshold",
        treat_missing_data="missing",
        unit="ms",
        provider=provider,
        trigger="latency",
        **_sustained(t.BREAKER_LATENCY_WINDOW_SECONDS),
    )


def failover_alarms(provider: str) -> tuple[AlarmDefinition, ...]:
    return (
        _provider_rate(
            provider,
            "server-errors",
            PROVIDER_SERVER_ERRORS,
            t.BREAKER_SERVER_ERROR_RATE,
            "Provider Unavailability: HTTP 5xx errors > 5%",
        ),
        _provider_latency(provider),
        _provider_rate(
            provider,
            "throttling",
            PROVIDER_THROTTLES,
            t.BREAKER_THROTTLE_RATE,
            "Quota Exhaustion: Rate limiting errors > 10%",
        ),
    )


def _mcp_server_errors() -> AlarmDefinition:
    """MCP's share of the outage composite: the failover 5xx trigger applied to MCP (MCP has no failover
    workflow, so its name is not a provider-failover one)."""
    base = _provider_rate(
        MCP, "server-errors", PROVIDER_SERVER_ERRORS, t.BREAKER_SERVER_ERROR_RATE, "HTTP 5xx errors > 5%"
    )
    return replace(
        base,
        slug="mcp-server-errors",
        severity="warning",
        summary=f"MCP: more than {t.BREAKER_SERVER_ERROR_RATE * 100:g} % of attempts failed with 5xx or timeouts",
        runbook='provider-failover.md, Failover Triggers, applied to MCP: "HTTP 5xx errors > 5%"',
        unit="%",
        provider=MCP,
        trigger=None,  # not a provider-failover alarm: its name is severity-slug
    )


# --- the failover dashboard's alerts (provider-failover.md, "Monitoring Dashboard") -----------------------
_DASHBOARD_ALERTS = 'provider-failover.md, Monitoring Dashboard: --alerts "failover_failure,extended_outage"'


def extended_outage(provider: str) -> AlarmDefinition:
    """`extended_outage` of one probed target: every health probe failed, period after period, for
    EXTENDED_OUTAGE_SECONDS. Missing data is "missing": a checker that stopped probing proves nothing, and
    a skipped probe within the outage still leaves enough datapoints to decide."""
    minutes = _minutes(t.EXTENDED_OUTAGE_SECONDS)
    return AlarmDefinition(
        slug=f"extended-outage-{provider}",
        severity="critical",
        summary=f"{provider}: every health probe failed for {minutes:g} minutes (extended outage)",
        runbook=_DASHBOARD_ALERTS,
        queries=(
            MetricQuery("failed", HEALTH_CHECK_FAILURE, "Sum", provider_dimensions(provider)),
            MetricQuery("ok", HEALTH_CHECK_SUCCESS, "Sum", provider_dimensions(provider)),
        ),
        ratio=Ratio(("failed",), ("failed", "ok")),
        threshold=t.EXTENDED_OUTAGE_FAILED_PROBES_PERCENT,
        comparison="GreaterThanOrEqualToThreshold",
        treat_missing_data="missing",
        unit="% failed probes",
        provider=provider,
        **_sustained(t.EXTENDED_OUTAGE_SECONDS, t.HEALTH_CHECK_INTERVAL_SECONDS),
    )


def failover_failure(state_machine_arns: Mapping[str, str]) -> AlarmDefinition:
    """`failover_failure`: an execution of a failover or failback state machine (`state_machine_arns` by
    rollout kind; other kinds are left out) ended FAILED or TIMED_OUT within one period. Every way such an
    execution does not complete ends in a Fail state (statemachines/README.md, "How each one ends"): a gate
    that failed, an abort, a lock it could not take. No execution ended: no datapoint, not breaching."""
    machines = [(kind, state_machine_arns[kind]) for kind in FAILOVER_WORKFLOWS if kind in state_machine_arns]
    if not machines:
        raise ValueError(f"failover_failure needs the ARN of at least one of {', '.join(FAILOVER_WORKFLOWS)}")
    queries = tuple(
        MetricQuery(f"{prefix}_{kind}", metric, "Sum", (("StateMachineArn", arn),), STATES_NAMESPACE)
        for kind, arn in machines
        for prefix, metric in (("failed", EXECUTIONS_FAILED), ("timed_out", EXECUTIONS_TIMED_OUT))
    )
    return AlarmDefinition(
        slug="failover-failure",
        severity="critical",
        summary="A failover or failback execution failed or timed out",
        runbook=_DASHBOARD_ALERTS,
        queries=queries,
        ratio=Total(tuple(q.id for q in queries)),
        threshold=t.FAILOVER_FAILURE_EXECUTIONS,
        comparison="GreaterThanOrEqualToThreshold",
        treat_missing_data="notBreaching",
        unit="executions",
        **_sustained(t.ALARM_PERIOD_SECONDS),
    )


# --- the catalogue ---------------------------------------------------------------------------------
def alarm_definitions(providers: Iterable[str] = DIRECT_PROVIDERS) -> tuple[AlarmDefinition, ...]:
    """Every metric alarm on our metrics, runbook order: critical, warning, info, the failover triggers, then
    the extended outage of each probed target (the Direct providers and MCP). `failover_failure` reads Step
    Functions' metrics by state machine ARN: the stack adds it (`failover_failure(arns)`)."""
    return (
        _runbook_alarm(
            P95_LATENCY,
            "critical",
            t.CRITICAL_P95_LATENCY_MS,
            t.CRITICAL_P95_LATENCY_SECONDS,
            "P95 Latency > 2.0s for 5 minutes",
        ),
        _runbook_alarm(
            ERROR_RATE,
            "critical",
            t.CRITICAL_ERROR_RATE_PERCENT,
            t.CRITICAL_ERROR_RATE_SECONDS,
            "Error Rate > 5% for 2 minutes",
        ),
        _bedrock_connection(),
        _runbook_alarm(
            COST_BUDGET,
            "critical",
            t.BUDGET_REFUSE_PERCENT,
            t.BUDGET_ALARM_SECONDS,
            "Cost budget > 95%",
            t.BUDGET_ALARM_SECONDS,
        ),
        _runbook_alarm(
            P95_LATENCY,
            "warning",
            t.WARNING_P95_LATENCY_MS,
            t.WARNING_P95_LATENCY_SECONDS,
            "P95 Latency > 1.5s for 10 minutes",
        ),
        _runbook_alarm(
            ERROR_RATE,
            "warning",
            t.WARNING_ERROR_RATE_PERCENT,
            t.WARNING_ERROR_RATE_SECONDS,
            "Error Rate > 2% for 5 minutes",
        ),
        _runbook_alarm(
            CACHE_HIT_RATE,
            "warning",
            t.CACHE_HIT_WARN_PERCENT,
            t.CACHE_HIT_WARN_SECONDS,
            "Cache Hit Rate < 70% for 15 minutes",
        ),
        _runbook_alarm(
            FALLBACK_RATE,
            "warning",
            t.FALLBACK_RATE_WARN_PERCENT,
            t.FALLBACK_RATE_WARN_SECONDS,
            "Routing fallback rate > 20%",
        ),
        _mcp_server_errors(),
        _runbook_alarm(
            CACHE_HIT_RATE,
            "info",
            t.CACHE_HIT_TARGET_PERCENT,
            t.CACHE_HIT_INFO_SECONDS,
            "Cache Hit Rate < 80% for 30 minutes",
        ),
        _runbook_alarm(
            COST_BUDGET,
            "info",
            t.BUDGET_WARN_PERCENT,
            t.BUDGET_ALARM_SECONDS,
            "Cost budget > 80%",
            t.BUDGET_ALARM_SECONDS,
        ),
        _runbook_alarm(
            ROUTING_EFFICIENCY,
            "info",
            t.ROUTING_EFFICIENCY_ALARM_PERCENT,
            t.ROUTING_EFFICIENCY_ALARM_SECONDS,
            "Routing efficiency < 90%",
        ),
        *(alarm for provider in providers for alarm in failover_alarms(provider)),
        *(extended_outage(target) for target in (*providers, MCP)),
    )


def system_outage(direct_providers: Sequence[str] = DIRECT_PROVIDERS) -> CompositeDefinition:
    """Every configured Direct provider failing with 5xx AND MCP failing: no route left."""
    members = [failover_key(p, "server-errors") for p in direct_providers]
    return CompositeDefinition(
        slug="complete-system-outage",
        severity="critical",
        summary="Complete system outage: every Direct provider and MCP are failing",
        runbook='production-operations.md, Complete System Rollback: "Critical system failure affecting >50% of '
        'requests"',
        all_of=(*members, _mcp_server_errors().key),
    )


def by_key(definitions: Iterable[AlarmDefinition] | None = None) -> dict[str, AlarmDefinition]:
    return {d.key: d for d in (alarm_definitions() if definitions is None else definitions)}
