"""The runbooks' dashboards (main, performance, routing, cost, security, failover) and the saved Logs
Insights queries of their investigations, over the metrics and log lines the functions emit. The security
and failover dashboards' rows are built in stacks/constructs/ops_dashboards.py.

Threshold lines on the graphs come from the alarm definitions, so a graph and its alarm agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions.domain import names as n
from functions.domain.alarms import definitions as a
from functions.domain.routing.matrix import ROUTING_MATRIX, Route
from functions.domain.thresholds import ALARM_PERIOD_SECONDS
from stacks.config import StackConfig
from stacks.constructs import ops_dashboards as ops
from stacks.constructs.alarms import RunbookAlarms, watched
from stacks.constructs.api import RouterApi

PROVIDERS: tuple[str, ...] = n.TARGETS
ROUTES: tuple[str, ...] = tuple(route.value for route in Route)
LATENCY_STATISTICS: tuple[str, ...] = ("p50", "p95", "p99")
PERIOD = Duration.seconds(ALARM_PERIOD_SECONDS)
WIDTH, HEIGHT = 12, 6

# Logs Insights over the router's JSON log lines (functions/app/chat/serve.py `routing-decision`,
# functions/adapters/dynamodb/breakers.py `breaker-transition`, functions/handlers/health_check.py `health-probe`).
ROUTER_QUERIES: Mapping[str, logs.QueryString] = {
    "errors-by-type": logs.QueryString(
        filter_statements=['message = "routing-decision"', "ispresent(error)"],
        stats_statements=["count(*) as errors by error, provider, operation"],
        sort="errors desc",
    ),
    "routing-decisions": logs.QueryString(
        filter_statements=['message = "routing-decision"'],
        stats_statements=[
            "count(*) as requests, pct(latency_ms, 95) as p95_latency_ms by operation, route, provider, reason"
        ],
        sort="requests desc",
    ),
    "breaker-transitions": logs.QueryString(
        fields=["@timestamp", "target", "`from`", "`to`", "reason"],  # from/to: quoted, they read as keywords
        filter_statements=['message = "breaker-transition"'],
        sort="@timestamp desc",
        limit=200,
    ),
}
ACCESS_LOG_QUERIES: Mapping[str, logs.QueryString] = {
    "admin-denied-calls": logs.QueryString(
        fields=list(ops.DENIED_ADMIN_FIELDS),
        filter_statements=[ops.DENIED_ADMIN_FILTER],
        sort="@timestamp desc",
        limit=200,
    ),
}
HEALTH_QUERIES: Mapping[str, logs.QueryString] = {
    "health-probe-failures": logs.QueryString(
        fields=["@timestamp", "provider", "error", "latency_ms", "status"],
        filter_statements=['message = "health-probe"', "ispresent(error)"],
        sort="@timestamp desc",
        limit=200,
    ),
}


_metric = ops.ours  # one of the functions' EMF metrics, in one of its dimension sets


def _service(name: str, statistic: str = "Sum", label: str | None = None) -> cloudwatch.Metric:
    return _metric(name, ops.service_dimensions(), statistic, label)


def _alarm_graph(definition: a.AlarmDefinition, title: str) -> cloudwatch.GraphWidget:
    """The alarm's own metric (or metric math), with its threshold drawn."""
    return cloudwatch.GraphWidget(
        title=title,
        left=[watched(definition)],
        left_annotations=[_threshold(definition)],
        width=WIDTH,
        height=HEIGHT,
    )


def _threshold(definition: a.AlarmDefinition) -> cloudwatch.HorizontalAnnotation:
    return cloudwatch.HorizontalAnnotation(
        value=definition.threshold, label=f"{definition.severity} {definition.threshold:g} {definition.unit}"
    )


def _graph(title: str, metrics: Iterable[cloudwatch.IMetric], *, stacked: bool = False) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), stacked=stacked, width=WIDTH, height=HEIGHT)


def _per(dimension: str, values: Sequence[str], name: str, statistic: str = "Sum") -> list[cloudwatch.Metric]:
    return [_metric(name, {dimension: v}, statistic, f"{v} {statistic}") for v in values]


def _provider_rate(provider: str, metric: str, label: str) -> cloudwatch.MathExpression:
    """One provider's share of failed attempts; ids unique per provider and metric (one graph holds them all)."""
    dims = ops.provider_dimensions(provider)
    failed, attempts = f"{provider}_{metric.lower()}", f"{provider}_attempts_{metric.lower()}"
    return cloudwatch.MathExpression(
        expression=f"100 * {failed} / {attempts}",
        using_metrics={failed: _metric(metric, dims), attempts: _metric(n.PROVIDER_ATTEMPTS, dims)},
        period=PERIOD,
        label=f"{provider} {label}",
    )


class Dashboards(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        alarms: RunbookAlarms,
        router_logs: logs.ILogGroup,
        health_check_logs: logs.ILogGroup,
        api: RouterApi,
        state_machines: Mapping[str, sfn.StateMachine],
    ) -> None:
        """`state_machines`: the Workflows construct's machines by name."""
        super().__init__(scope, construct_id)
        prefix = config.stack_name
        by_key = a.by_key(alarms.definitions)
        access_logs = api.access_logs
        stage = ops.Api(api.rest_api.rest_api_name, api.rest_api.deployment_stage.stage_name)
        alerts = [alarm for key, alarm in alarms.alarms.items() if key in _failover_alert_keys(by_key)]
        statuses: list[cloudwatch.IAlarm] = [*alarms.alarms.values(), alarms.outage]
        self.dashboards = {
            "main": self._dashboard(prefix, "main", self._main(by_key, statuses)),
            "performance": self._dashboard(prefix, "performance", self._performance(by_key)),
            "routing": self._dashboard(prefix, "routing", self._routing(by_key)),
            "cost": self._dashboard(prefix, "cost", self._cost(by_key)),
            "security": self._dashboard(prefix, "security", ops.security_rows(stage, access_logs.log_group_name)),
            "failover": self._dashboard(prefix, "failover", ops.failover_rows(by_key, alerts, state_machines)),
        }
        self.queries = {
            **self._queries(prefix, ROUTER_QUERIES, router_logs),
            **self._queries(prefix, HEALTH_QUERIES, health_check_logs),
            **self._queries(prefix, ACCESS_LOG_QUERIES, access_logs),
        }

    def _dashboard(self, prefix: str, name: str, rows: list[list[cloudwatch.IWidget]]) -> cloudwatch.Dashboard:
        return cloudwatch.Dashboard(
            self,
            f"{name.title()}Dashboard",
            dashboard_name=f"{prefix}-{name}",
            default_interval=Duration.hours(3),
            widgets=rows,
        )

    def _queries(
        self, prefix: str, queries: Mapping[str, logs.QueryString], log_group: logs.ILogGroup
    ) -> dict[str, logs.QueryDefinition]:
        return {
            name: logs.QueryDefinition(
                self,
                f"{''.join(p.title() for p in name.split('-'))}Query",
                query_definition_name=f"{prefix}/{name}",
                query_string=query,
                log_groups=[log_group],
            )
            for name, query in queries.items()
        }

    @staticmethod
    def _main(
        by_key: Mapping[str, a.AlarmDefinition], alarms: Sequence[cloudwatch.IAlarm]
    ) -> list[list[cloudwatch.IWidget]]:
        health = [
            _metric(n.HEALTH_CHECK_FAILURE, ops.provider_dimensions(p), label=f"{p} failed checks") for p in PROVIDERS
        ]
        return [
            [
                cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(alarms), width=24, height=HEIGHT),
            ],
            [
                _graph("Health: failed health checks by provider", health),
                _graph("Traffic: requests by route", _per(n.DIM_ROUTE, ROUTES, n.REQUESTS), stacked=True),
            ],
            [
                _alarm_graph(by_key["critical-error-rate"], "Errors: error rate %"),
                _alarm_graph(by_key["critical-p95-latency"], "Latency: P95 of all requests (ms)"),
            ],
            [
                _alarm_graph(by_key["warning-cache-hit-rate"], "Cache hit rate %"),
                _alarm_graph(by_key["critical-cost-budget"], "Budget utilization %"),
            ],
        ]

    @staticmethod
    def _performance(by_key: Mapping[str, a.AlarmDefinition]) -> list[list[cloudwatch.IWidget]]:
        by_route = [m for stat in LATENCY_STATISTICS for m in _per(n.DIM_ROUTE, ROUTES, n.LATENCY, stat)]
        by_provider = [m for stat in LATENCY_STATISTICS for m in _per(n.DIM_PROVIDER, PROVIDERS, n.LATENCY, stat)]
        attempts = [
            _metric(n.PROVIDER_LATENCY, ops.provider_dimensions(p), "p95", f"{p} attempt p95") for p in PROVIDERS
        ]
        return [
            [
                _alarm_graph(by_key["warning-p95-latency"], "P95 latency of all requests (ms)"),
                _graph("Latency by route: P50 / P95 / P99 (ms)", by_route),
            ],
            [
                _graph("Latency by provider: P50 / P95 / P99 (ms)", by_provider),
                cloudwatch.GraphWidget(
                    title="Provider attempts: P95 latency (ms), failover trigger",
                    left=attempts,
                    left_annotations=[_threshold(by_key[a.failover_key(n.BEDROCK, "latency")])],
                    width=WIDTH,
                    height=HEIGHT,
                ),
            ],
        ]

    @staticmethod
    def _routing(by_key: Mapping[str, a.AlarmDefinition]) -> list[list[cloudwatch.IWidget]]:
        operations = [o.value for o in ROUTING_MATRIX]
        breakers = ops.breaker_transitions()
        server_errors = [_provider_rate(p, n.PROVIDER_SERVER_ERRORS, "5xx %") for p in PROVIDERS]
        throttles = [_provider_rate(p, n.PROVIDER_THROTTLES, "throttled %") for p in PROVIDERS]
        return [
            [
                _graph("Distribution: requests by provider", _per(n.DIM_PROVIDER, PROVIDERS, n.REQUESTS), stacked=True),
                _graph(
                    "Distribution: requests by operation", _per(n.DIM_OPERATION, operations, n.REQUESTS), stacked=True
                ),
            ],
            [
                _alarm_graph(by_key["warning-fallback-rate"], "Fallback rate %"),
                _alarm_graph(by_key["info-routing-efficiency"], "Routing efficiency %"),
            ],
            [
                _graph("Circuit breaker transitions by provider", breakers),
                cloudwatch.GraphWidget(
                    title="Provider attempts: 5xx and throttled % (failover triggers)",
                    left=[*server_errors, *throttles],
                    left_annotations=[
                        _threshold(by_key[a.failover_key(n.BEDROCK, "server-errors")]),
                        _threshold(by_key[a.failover_key(n.BEDROCK, "throttling")]),
                    ],
                    width=WIDTH,
                    height=HEIGHT,
                ),
            ],
        ]

    @staticmethod
    def _cost(by_key: Mapping[str, a.AlarmDefinition]) -> list[list[cloudwatch.IWidget]]:
        tokens = [*_per(n.DIM_PROVIDER, PROVIDERS, n.INPUT_TOKENS), *_per(n.DIM_PROVIDER, PROVIDERS, n.OUTPUT_TOKENS)]
        budget = cloudwatch.GraphWidget(
            title="Budget utilization %",
            left=[_service(n.BUDGET_UTILIZATION, "Maximum", "utilization")],
            left_annotations=[_threshold(by_key["info-cost-budget"]), _threshold(by_key["critical-cost-budget"])],
            width=WIDTH,
            height=HEIGHT,
        )
        return [
            [
                _graph("Tokens by provider", tokens, stacked=True),
                _graph("Cost (USD) by provider", _per(n.DIM_PROVIDER, PROVIDERS, n.COST_USD), stacked=True),
            ],
            [budget, _graph("Cost (USD), all providers", [_service(n.COST_USD, label="cost")])],
        ]


def _failover_alert_keys(by_key: Mapping[str, a.AlarmDefinition]) -> set[str]:
    """The failover dashboard's alerts: failover_failure, every extended_outage, and the failover triggers
    (the alarms that start failovers), by definition key."""
    return {
        key
        for key, definition in by_key.items()
        if key == "critical-failover-failure" or "extended-outage" in key or definition.trigger is not None
    }
