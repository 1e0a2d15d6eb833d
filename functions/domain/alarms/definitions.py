"""The runbooks' alert thresholds as alarm definitions: plain data, no CDK, no AWS. The stack builds CloudWatch
alarms from them and the local evaluator evaluates them; every number comes from `functions.domain.thresholds`."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Literal, TypedDict

from functions.domain import thresholds

# The `X as X` names are re-exported: the stack's constructs and the tests read them from here.
from functions.domain.names import BEDROCK, DIM_PROVIDER, DIM_SERVICE, DIM_STATE_MACHINE_ARN, NAMESPACE, SERVICE
from functions.domain.names import BUDGET_UTILIZATION as BUDGET_UTILIZATION
from functions.domain.names import CACHE_HITS as CACHE_HITS
from functions.domain.names import CACHE_MISSES as CACHE_MISSES
from functions.domain.names import DIRECT_PROVIDERS as DIRECT_PROVIDERS
from functions.domain.names import ERRORS as ERRORS
from functions.domain.names import EXECUTIONS_FAILED as EXECUTIONS_FAILED
from functions.domain.names import EXECUTIONS_TIMED_OUT as EXECUTIONS_TIMED_OUT
from functions.domain.names import FALLBACKS as FALLBACKS
from functions.domain.names import HEALTH_CHECK_FAILURE as HEALTH_CHECK_FAILURE
from functions.domain.names import HEALTH_CHECK_SUCCESS as HEALTH_CHECK_SUCCESS
from functions.domain.names import LATENCY as LATENCY
from functions.domain.names import MCP as MCP
from functions.domain.names import PRIMARY_SERVED as PRIMARY_SERVED
from functions.domain.names import PROVIDER_ATTEMPTS as PROVIDER_ATTEMPTS
from functions.domain.names import PROVIDER_LATENCY as PROVIDER_LATENCY
from functions.domain.names import PROVIDER_SERVER_ERRORS as PROVIDER_SERVER_ERRORS
from functions.domain.names import PROVIDER_THROTTLES as PROVIDER_THROTTLES
from functions.domain.names import REQUESTS as REQUESTS
from functions.domain.names import STATES_NAMESPACE as STATES_NAMESPACE
from functions.domain.names import TIME_TO_FIRST_TOKEN as TIME_TO_FIRST_TOKEN

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
TRIGGERS: tuple[Trigger, ...] = ("server-errors", "latency", "throttling")
# The workflows' EventBridge rules match failover alarms on this prefix.
FAILOVER_KEY_PREFIX = "provider-failover"
# The rollout kinds (functions/domain/rollout/plan.py RolloutKind values, statemachines/<kind>.asl.json) that move
# traffic off a failing provider or back onto a recovered one; a canary is a deployment, not a failover.
FAILOVER_WORKFLOWS: tuple[str, ...] = ("immediate_failover", "gradual_failover", "failback")


def failover_key(provider: str, trigger: Trigger) -> str:
    """A failover alarm's name without the prefix (the workflows' EventBridge rules match on it)."""
    return f"{FAILOVER_KEY_PREFIX}-{provider}-{trigger}"


def service_dimensions() -> tuple[tuple[str, str], ...]:
    """The dimension set Powertools gives every metric of the service: `service` alone."""
    return ((DIM_SERVICE, SERVICE),)


def provider_dimensions(provider: str) -> tuple[tuple[str, str], ...]:
    """The per-provider dimension set: `Provider` and `service`, sorted by name."""
    return ((DIM_PROVIDER, provider), (DIM_SERVICE, SERVICE))


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
    """One CloudWatch metric alarm: M of N one-period datapoints breaching `threshold` -> ALARM. Comparisons
    and missing-data treatments keep CloudWatch's names and meanings."""

    slug: str
    severity: Severity
    summary: str
    runbook: str  # the runbook line it implements, quoted
    queries: tuple[MetricQuery, ...]  # each on exactly one dimension set the functions emit
    threshold: float
    comparison: Comparison
    period_s: int
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing_data: MissingData
    ratio: Ratio | Total | None = None  # None: the alarm reads queries[0] with its statistic
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


_SYMBOL: dict[Comparison, str] = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}
_COMPARE: dict[Comparison, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": lambda v, th: v > th,
    "GreaterThanOrEqualToThreshold": lambda v, th: v >= th,
    "LessThanThreshold": lambda v, th: v < th,
    "LessThanOrEqualToThreshold": lambda v, th: v <= th,
}


def _minutes(seconds: float) -> float:
    return timedelta(seconds=seconds) / timedelta(minutes=1)


def _number(value: float) -> str:
    return f"{value:g}"


def _periods(window_s: float, period_s: int = thresholds.ALARM_PERIOD_SECONDS) -> int:
    """Consecutive periods covering a runbook duration ("for 5 minutes": 5 one-minute periods)."""
    return max(1, int(window_s // period_s))


class _Sustained(TypedDict):
    period_s: int
    evaluation_periods: int
    datapoints_to_alarm: int


def _sustained(window_s: float, period_s: int = thresholds.ALARM_PERIOD_SECONDS) -> _Sustained:
    """N of N one-period datapoints breaching over `window_s`."""
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
# A stream's latency as its client feels it: the wait for the first content delta (the runbooks' latency targets).
P95_TIME_TO_FIRST_TOKEN = _Signal(
    "p95-time-to-first-token", (_service("ttft", TIME_TO_FIRST_TOKEN, "p95"),), "GreaterThanThreshold", "ms"
)
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
        **_sustained(window_s, period_s or thresholds.ALARM_PERIOD_SECONDS),
    )


def _bedrock_connection() -> AlarmDefinition:
    return AlarmDefinition(
        slug="bedrock-connection",
        severity="critical",
        summary=f"Direct Bedrock failed {thresholds.HEALTH_FAILURE_THRESHOLD} consecutive health checks "
        "(connection failure)",
        runbook='production-operations.md, Alert Thresholds, Critical: "Direct Bedrock connection failure"',
        queries=(MetricQuery("failures", HEALTH_CHECK_FAILURE, "Sum", provider_dimensions(BEDROCK)),),
        threshold=1.0,
        comparison="GreaterThanOrEqualToThreshold",
        # The checker emits HealthCheckFailure only for a failed probe.
        treat_missing_data="notBreaching",
        unit="failures",
        provider=BEDROCK,
        period_s=thresholds.HEALTH_CHECK_INTERVAL_SECONDS,
        evaluation_periods=thresholds.HEALTH_FAILURE_THRESHOLD,
        datapoints_to_alarm=thresholds.HEALTH_FAILURE_THRESHOLD,
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
        **_sustained(thresholds.BREAKER_ERROR_WINDOW_SECONDS, int(thresholds.BREAKER_ERROR_WINDOW_SECONDS)),
    )


def _provider_latency(provider: str) -> AlarmDefinition:
    return AlarmDefinition(
        slug="latency",
        severity="critical",
        summary=f"{provider}: P95 attempt latency above {thresholds.BREAKER_P95_LATENCY_MS:g} ms for "
        f"{_minutes(thresholds.BREAKER_LATENCY_WINDOW_SECONDS):g} minutes",
        runbook='provider-failover.md, Failover Triggers: "High Latency: P95 > 3000ms for 5 minutes"',
        queries=(MetricQuery("latency", PROVIDER_LATENCY, "p95", provider_dimensions(provider)),),
        threshold=thresholds.BREAKER_P95_LATENCY_MS,
        comparison="GreaterThanThreshold",
        treat_missing_data="missing",
        unit="ms",
        provider=provider,
        trigger="latency",
        **_sustained(thresholds.BREAKER_LATENCY_WINDOW_SECONDS),
    )


def failover_alarms(provider: str) -> tuple[AlarmDefinition, ...]:
    return (
        _provider_rate(
            provider,
            "server-errors",
            PROVIDER_SERVER_ERRORS,
            thresholds.BREAKER_SERVER_ERROR_RATE,
            "Provider Unavailability: HTTP 5xx errors > 5%",
        ),
        _provider_latency(provider),
        _provider_rate(
            provider,
            "throttling",
            PROVIDER_THROTTLES,
            thresholds.BREAKER_THROTTLE_RATE,
            "Quota Exhaustion: Rate limiting errors > 10%",
        ),
    )


def _mcp_server_errors() -> AlarmDefinition:
    """MCP's share of the outage composite: the failover 5xx trigger applied to MCP (MCP has no failover
    workflow, so its name is not a provider-failover one)."""
    base = _provider_rate(
        MCP, "server-errors", PROVIDER_SERVER_ERRORS, thresholds.BREAKER_SERVER_ERROR_RATE, "HTTP 5xx errors > 5%"
    )
    return replace(
        base,
        slug="mcp-server-errors",
        severity="warning",
        summary=f"MCP: more than {thresholds.BREAKER_SERVER_ERROR_RATE * 100:g} % of attempts failed with 5xx or "
        "timeouts",
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
    minutes = _minutes(thresholds.EXTENDED_OUTAGE_SECONDS)
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
        threshold=thresholds.EXTENDED_OUTAGE_FAILED_PROBES_PERCENT,
        comparison="GreaterThanOrEqualToThreshold",
        treat_missing_data="missing",
        unit="% failed probes",
        provider=provider,
        **_sustained(thresholds.EXTENDED_OUTAGE_SECONDS, thresholds.HEALTH_CHECK_INTERVAL_SECONDS),
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
        MetricQuery(f"{prefix}_{kind}", metric, "Sum", ((DIM_STATE_MACHINE_ARN, arn),), STATES_NAMESPACE)
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
        threshold=thresholds.FAILOVER_FAILURE_EXECUTIONS,
        comparison="GreaterThanOrEqualToThreshold",
        treat_missing_data="notBreaching",
        unit="executions",
        **_sustained(thresholds.ALARM_PERIOD_SECONDS),
    )


# --- the catalogue ---------------------------------------------------------------------------------
def _critical_alarms() -> tuple[AlarmDefinition, ...]:
    return (
        _runbook_alarm(
            P95_LATENCY,
            "critical",
            thresholds.CRITICAL_P95_LATENCY_MS,
            thresholds.CRITICAL_P95_LATENCY_SECONDS,
            "P95 Latency > 2.0s for 5 minutes",
        ),
        _runbook_alarm(
            P95_TIME_TO_FIRST_TOKEN,
            "critical",
            thresholds.CRITICAL_P95_LATENCY_MS,
            thresholds.CRITICAL_P95_LATENCY_SECONDS,
            "P95 Latency > 2.0s for 5 minutes",
        ),
        _runbook_alarm(
            ERROR_RATE,
            "critical",
            thresholds.CRITICAL_ERROR_RATE_PERCENT,
            thresholds.CRITICAL_ERROR_RATE_SECONDS,
            "Error Rate > 5% for 2 minutes",
        ),
        _bedrock_connection(),
        _runbook_alarm(
            COST_BUDGET,
            "critical",
            thresholds.BUDGET_REFUSE_PERCENT,
            thresholds.BUDGET_ALARM_SECONDS,
            "Cost budget > 95%",
            thresholds.BUDGET_ALARM_SECONDS,
        ),
    )


def _warning_alarms() -> tuple[AlarmDefinition, ...]:
    return (
        _runbook_alarm(
            P95_LATENCY,
            "warning",
            thresholds.WARNING_P95_LATENCY_MS,
            thresholds.WARNING_P95_LATENCY_SECONDS,
            "P95 Latency > 1.5s for 10 minutes",
        ),
        _runbook_alarm(
            P95_TIME_TO_FIRST_TOKEN,
            "warning",
            thresholds.WARNING_P95_LATENCY_MS,
            thresholds.WARNING_P95_LATENCY_SECONDS,
            "P95 Latency > 1.5s for 10 minutes",
        ),
        _runbook_alarm(
            ERROR_RATE,
            "warning",
            thresholds.WARNING_ERROR_RATE_PERCENT,
            thresholds.WARNING_ERROR_RATE_SECONDS,
            "Error Rate > 2% for 5 minutes",
        ),
        _runbook_alarm(
            CACHE_HIT_RATE,
            "warning",
            thresholds.CACHE_HIT_WARN_PERCENT,
            thresholds.CACHE_HIT_WARN_SECONDS,
            "Cache Hit Rate < 70% for 15 minutes",
        ),
        _runbook_alarm(
            FALLBACK_RATE,
            "warning",
            thresholds.FALLBACK_RATE_WARN_PERCENT,
            thresholds.FALLBACK_RATE_WARN_SECONDS,
            "Routing fallback rate > 20%",
        ),
        _mcp_server_errors(),
    )


def _info_alarms() -> tuple[AlarmDefinition, ...]:
    return (
        _runbook_alarm(
            CACHE_HIT_RATE,
            "info",
            thresholds.CACHE_HIT_TARGET_PERCENT,
            thresholds.CACHE_HIT_INFO_SECONDS,
            "Cache Hit Rate < 80% for 30 minutes",
        ),
        _runbook_alarm(
            COST_BUDGET,
            "info",
            thresholds.BUDGET_WARN_PERCENT,
            thresholds.BUDGET_ALARM_SECONDS,
            "Cost budget > 80%",
            thresholds.BUDGET_ALARM_SECONDS,
        ),
        _runbook_alarm(
            ROUTING_EFFICIENCY,
            "info",
            thresholds.ROUTING_EFFICIENCY_ALARM_PERCENT,
            thresholds.ROUTING_EFFICIENCY_ALARM_SECONDS,
            "Routing efficiency < 90%",
        ),
    )


def alarm_definitions(providers: Iterable[str] = DIRECT_PROVIDERS) -> tuple[AlarmDefinition, ...]:
    """Every metric alarm on our metrics, runbook order: critical, warning, info, the failover triggers, then
    the extended outage of each probed target (the Direct providers and MCP). `failover_failure` reads Step
    Functions' metrics by state machine ARN: the stack adds it (`failover_failure(arns)`)."""
    return (
        *_critical_alarms(),
        *_warning_alarms(),
        *_info_alarms(),
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
