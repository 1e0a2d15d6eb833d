"""The rows of the security and failover dashboards (stacks/constructs/dashboards.py places them).

Security (production-operations.md, "Dashboard URLs": "Compliance and Security Metrics"): API Gateway
4XX/5XX and latency of the router and admin routes, the admin authorizer's verdicts, audited changes by
category, the denied admin calls from the access logs, and where compliance is reported.

Failover (provider-failover.md, "Monitoring Dashboard": `--name "AI Provider Failover" --metrics
"provider_health,failover_events,recovery_time" --alerts "failover_failure,extended_outage"`): the alerts,
provider health from the health checker, each rollout state machine's executions and the automation's
decisions, the failover and failback execution times, and breaker transitions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_stepfunctions as sfn

from functions.domain import names as n
from functions.domain import thresholds as t
from functions.domain.alarms import definitions as a
from functions.domain.automation.rules import Outcome
from functions.domain.routing.breaker import BreakerStatus
from functions.shared.observability import AUTH_OUTCOMES
from stacks.constructs.alarms import rollout_kind

PERIOD = Duration.seconds(t.ALARM_PERIOD_SECONDS)
WIDTH, HEIGHT = 12, 6
TARGETS: tuple[str, ...] = n.TARGETS
BREAKER_STATES: tuple[str, ...] = (BreakerStatus.OPEN.value, BreakerStatus.HALF_OPEN.value, BreakerStatus.CLOSED.value)
ROUTER_METHOD = ("POST", "/v1/chat/completions")  # stacks/constructs/api.py ROUTES: the data plane
# stacks/constructs/admin_api.py: ANY on /admin and /admin/{proxy+}. Searched by the resource's "admin" token, so
# both resources count whatever Method value API Gateway reports for an ANY method.
ADMIN_RESOURCE_TERM = "Resource=admin"
EXECUTION_STATUSES = ("Started", "Succeeded", "Failed", "Aborted", "TimedOut")  # Step Functions' Executions<status>
FAILED_EXECUTIONS = (n.EXECUTIONS_FAILED, n.EXECUTIONS_TIMED_OUT)
RUNBOOK_ALERTS = ("failover_failure", "extended_outage")
RUNBOOK_METRICS = ("provider_health", "failover_events", "recovery_time")

# Logs Insights over API Gateway's access log (AccessLogFormat.json_with_standard_fields): every /admin call
# refused with 401 (no or malformed token) or 403 (unknown token, or a read-only token asking for a change).
DENIED_ADMIN_FILTER = r"resourcePath like /^\/admin/ and status like /^40[13]$/"
DENIED_ADMIN_FIELDS = ("@timestamp", "httpMethod", "resourcePath", "status", "ip", "requestId")


@dataclass(frozen=True)
class Api:
    """What API Gateway's detailed metrics are dimensioned by."""

    name: str
    stage: str

    def metric(
        self, name: str, statistic: str, method: tuple[str, str] | None = None, label: str = ""
    ) -> cloudwatch.Metric:
        dimensions = {"ApiName": self.name, "Stage": self.stage}
        if method is not None:
            dimensions |= {"Method": method[0], "Resource": method[1]}
        return cloudwatch.Metric(
            namespace="AWS/ApiGateway",
            metric_name=name,
            dimensions_map=dimensions,
            statistic=statistic,
            period=PERIOD,
            label=label or None,
        )

    def search(self, name: str, statistic: str, term: str, label: str) -> cloudwatch.MathExpression:
        """Every method-level series of `name` matching `term` (detailed metrics), one line per resource."""
        schema = "{AWS/ApiGateway,ApiName,Method,Resource,Stage}"
        query = f'{schema} MetricName="{name}" ApiName="{self.name}" Stage="{self.stage}" {term}'
        return cloudwatch.MathExpression(
            expression=f"SEARCH('{query}', '{statistic}', {t.ALARM_PERIOD_SECONDS})",
            using_metrics={},
            label=label,
            period=PERIOD,
        )


def _graph(
    title: str, metrics: Sequence[cloudwatch.IMetric], *, stacked: bool = False, width: int = WIDTH, **kw: Any
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), stacked=stacked, width=width, height=HEIGHT, **kw)


def ours(
    metric: str, dimensions: Mapping[str, str], statistic: str = "Sum", label: str | None = None
) -> cloudwatch.Metric:
    """One of the functions' EMF metrics, in one of its dimension sets."""
    return cloudwatch.Metric(
        namespace=n.NAMESPACE,
        metric_name=metric,
        dimensions_map=dict(dimensions),
        statistic=statistic,
        period=PERIOD,
        label=label,
    )


def service_dimensions() -> dict[str, str]:
    """The dimension set Powertools gives every metric of the service: `service` alone."""
    return {n.DIM_SERVICE: n.SERVICE}


def provider_dimensions(target: str) -> dict[str, str]:
    """The per-provider dimension set of the router's attempts and the health checker's probes."""
    return dict(zip(n.PROVIDER_DIMENSIONS, (target, n.SERVICE), strict=True))


def _count(metric: str, dimension: str, value: str) -> cloudwatch.Metric:
    return ours(metric, {dimension: value, n.DIM_SERVICE: n.SERVICE}, label=value)


def _threshold(definition: a.AlarmDefinition, label: str) -> cloudwatch.HorizontalAnnotation:
    return cloudwatch.HorizontalAnnotation(value=definition.threshold, label=f"{label} {definition.threshold:g}")


def denied_admin_query_lines() -> list[str]:
    return [f"fields {', '.join(DENIED_ADMIN_FIELDS)}", f"filter {DENIED_ADMIN_FILTER}", "sort @timestamp desc"]


# --- security ------------------------------------------------------------------------------------------
def security_rows(api: Api, access_log_group: str) -> list[list[cloudwatch.IWidget]]:
    errors = (("4XXError", "4XX"), ("5XXError", "5XX"))
    per_route_errors: list[cloudwatch.IMetric] = [
        *(api.metric(name, "Sum", ROUTER_METHOD, f"router {label}") for name, label in errors),
        *(api.search(name, "Sum", ADMIN_RESOURCE_TERM, f"admin {label}") for name, label in errors),
    ]
    latency: list[cloudwatch.IMetric] = [
        api.metric("Latency", "p95", ROUTER_METHOD, "router p95"),
        api.search("Latency", "p95", ADMIN_RESOURCE_TERM, "admin p95"),
    ]
    whole = [
        api.metric("Count", "Sum", label="requests"),
        api.metric("4XXError", "Sum", label="4XX"),
        api.metric("5XXError", "Sum", label="5XX"),
    ]
    schema = f"{{{n.NAMESPACE},{n.AUDIT_DIMENSION},{n.DIM_SERVICE}}}"
    categories = cloudwatch.MathExpression(
        expression=f"SEARCH('{schema} MetricName=\"{n.AUDIT_METRIC}\"', 'Sum', {t.ALARM_PERIOD_SECONDS})",
        using_metrics={},
        label="",
        period=PERIOD,
    )
    return [
        [cloudwatch.TextWidget(markdown=_security_text(), width=24, height=HEIGHT)],
        [
            _graph("API Gateway: requests, 4XX and 5XX (whole API)", whole),
            _graph("API Gateway: P95 latency, router vs admin (ms)", latency),
        ],
        [
            _graph(
                "API Gateway: 4XX and 5XX by API (router POST /v1/chat/completions, admin /admin/*)", per_route_errors
            ),
            _graph(
                "Admin authorizations by outcome",
                [_count(n.AUTHORIZATION_METRIC, n.AUTHORIZATION_DIMENSION, v) for v in AUTH_OUTCOMES],
                stacked=True,
            ),
        ],
        [
            _graph("Admin changes: audited changes by category", [categories], stacked=True),
            _graph(
                "Client keys: requests refused over a quota (429), served unchecked (quota store down)",
                [
                    ours(n.CLIENT_QUOTA_REJECTED, service_dimensions(), label="refused"),
                    ours(n.CLIENT_QUOTA_UNAVAILABLE, service_dimensions(), label="unchecked"),
                ],
            ),
        ],
        [
            cloudwatch.LogQueryWidget(
                title="Denied admin calls (401/403), latest first",
                log_group_names=[access_log_group],
                query_lines=denied_admin_query_lines(),
                width=24,
                height=HEIGHT,
            )
        ],
    ]


def _security_text() -> str:
    return "\n".join(
        [
            "# Compliance and Security Metrics",
            "production-operations.md, *Dashboard URLs*. Authorizer counts are verdicts: API Gateway caches one per "
            "token for the authorizer's cache TTL, so denied **calls** are the 4XX graphs and the access-log query.",
            "",
            "* **Compliance** is reported by the admin API, not by metrics (nothing in it varies per request):",
            "  `GET /admin/compliance/gdpr-status` (encryption at rest, log retention, no prompt logging) and",
            "  `GET /admin/compliance/data-residency` (each provider's declared region against the allowed ones).",
            "* **WAF**: AWS managed common and known-bad-inputs rules and a per-IP rate limit on the stage; "
            "stage throttling and client keys behind it, each key with its request and token quotas per minute "
            "(429 `client_rate_limited` / `client_token_quota_exceeded`).",
            f"* Saved query `<stack>/admin-denied-calls` lists the {len(DENIED_ADMIN_FIELDS)} fields of each denial.",
        ]
    )


# --- failover ------------------------------------------------------------------------------------------
def failover_rows(
    by_key: Mapping[str, a.AlarmDefinition],
    alerts: Sequence[cloudwatch.IAlarm],
    machines: Mapping[str, sfn.StateMachine],
) -> list[list[cloudwatch.IWidget]]:
    outage = by_key[f"critical-extended-outage-{n.DIRECT_PROVIDERS[0]}"]
    health = cloudwatch.GraphWidget(
        title="provider_health: failed health probes % (extended_outage)",
        left=[_failed_probes(target) for target in TARGETS],
        left_annotations=[_threshold(outage, f"extended_outage for {t.EXTENDED_OUTAGE_SECONDS // 60} min at")],
        width=WIDTH,
        height=HEIGHT,
    )
    probe_latency = [
        ours(n.HEALTH_CHECK_LATENCY, provider_dimensions(target), "p95", f"{target} probe p95") for target in TARGETS
    ]
    executions: list[cloudwatch.IWidget] = [_executions(name, machine) for name, machine in machines.items()]
    rows: list[list[cloudwatch.IWidget]] = [
        [cloudwatch.TextWidget(markdown=_failover_text(), width=24, height=4)],
        [
            cloudwatch.AlarmStatusWidget(
                title="Alerts: failover_failure, extended_outage, failover triggers",
                alarms=list(alerts),
                width=24,
                height=4,
            )
        ],
        [health, _graph("provider_health: probe latency P95 (ms)", probe_latency)],
        executions,
        [
            _graph(
                "failover_events: automation decisions",
                [_count(n.AUTOMATION_METRIC, n.AUTOMATION_DIMENSION, outcome.value) for outcome in Outcome],
                stacked=True,
            ),
            _failover_failures(by_key, machines),
        ],
        _recovery_time(machines),
        [_graph("Circuit breaker transitions by provider", breaker_transitions(), width=24)],
    ]
    return rows


def _failed_probes(target: str) -> cloudwatch.MathExpression:
    dims = provider_dimensions(target)
    failed, ok = f"{target}_failed", f"{target}_ok"
    return cloudwatch.MathExpression(
        expression=f"100 * {failed} / ({failed} + {ok})",
        using_metrics={failed: ours(n.HEALTH_CHECK_FAILURE, dims), ok: ours(n.HEALTH_CHECK_SUCCESS, dims)},
        period=PERIOD,
        label=f"{target} failed probes %",
    )


def _executions(name: str, machine: sfn.StateMachine) -> cloudwatch.GraphWidget:
    metrics = [
        machine.metric(f"Executions{status}", statistic="Sum", period=PERIOD, label=status)
        for status in EXECUTION_STATUSES
    ]
    return _graph(f"failover_events: {name} executions", metrics, width=24 // 4)


def _failover_failures(
    by_key: Mapping[str, a.AlarmDefinition], machines: Mapping[str, sfn.StateMachine]
) -> cloudwatch.GraphWidget:
    definition = by_key["critical-failover-failure"]
    failed: list[cloudwatch.IMetric] = [
        machine.metric(metric, statistic="Sum", period=PERIOD, label=f"{name} {metric.removeprefix('Executions')}")
        for name, machine in machines.items()
        if rollout_kind(name) in a.FAILOVER_WORKFLOWS
        for metric in FAILED_EXECUTIONS
    ]
    return _graph(
        "failover_failure: failover and failback executions failed or timed out",
        failed,
        stacked=True,
        left_annotations=[_threshold(definition, "failover_failure at")],
    )


def _recovery_time(machines: Mapping[str, sfn.StateMachine]) -> list[cloudwatch.IWidget]:
    """ExecutionTime (ms) of each failover kind. An immediate failover is held to the runbook's
    failover_execution KPI; the gradual failover and the failback are paced by their bake times."""

    def times(names: Sequence[str]) -> list[cloudwatch.IMetric]:
        return [
            machines[name].metric_time(statistic=statistic, period=PERIOD, label=f"{name} {statistic}")
            for name in names
            for statistic in ("Average", "Maximum")
        ]

    immediate = [n for n in machines if rollout_kind(n) == "immediate_failover"]
    paced = [n for n in machines if rollout_kind(n) in a.FAILOVER_WORKFLOWS and n not in immediate]
    kpi = cloudwatch.HorizontalAnnotation(
        value=t.KPI_FAILOVER_EXECUTION_SECONDS * 1000,
        label=f"failover_execution < {t.KPI_FAILOVER_EXECUTION_SECONDS:g} s",
    )
    return [
        _graph("recovery_time: immediate failover execution time (ms)", times(immediate), left_annotations=[kpi]),
        _graph("recovery_time: gradual failover and failback execution time (ms)", times(paced)),
    ]


def breaker_transitions() -> list[cloudwatch.IMetric]:
    return [
        ours(n.breaker_metric(state), provider_dimensions(target), label=f"{target} -> {state}")
        for target in TARGETS
        for state in BREAKER_STATES
    ]


def _failover_text() -> str:
    return "\n".join(
        [
            "# AI Provider Failover",
            "provider-failover.md, *Monitoring Dashboard*: metrics "
            + ", ".join(f"`{m}`" for m in RUNBOOK_METRICS)
            + "; alerts "
            + ", ".join(f"`{alert}`" for alert in RUNBOOK_ALERTS)
            + ". Weights, the rollout lock and step are not metrics: "
            "`hybridctl status --dashboard failover --refresh 10`.",
        ]
    )
