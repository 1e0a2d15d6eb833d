"""Health checker Lambda, run every minute by an EventBridge schedule: probe every configured
provider, record the outcomes, publish the healthy <-> unhealthy transitions."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters.dynamodb.health import HealthStore
from functions.adapters.eventbridge import HealthEventPublisher
from functions.adapters.providers.registry import build_providers
from functions.adapters.providers.settings import get_provider_settings
from functions.app.health.checks import CheckResult, run_health_checks
from functions.app.health.settings import HealthCheckSettings, get_settings
from functions.domain.completion import Provider
from functions.domain.names import HEALTH_CHECK_FAILURE, HEALTH_CHECK_LATENCY, HEALTH_CHECK_SUCCESS
from functions.shared.observability import emit_provider_metrics, log_function_context, logger


@dataclass(frozen=True)
class HealthCheckDependencies:
    settings: HealthCheckSettings
    providers: dict[str, Provider]
    store: HealthStore
    publisher: HealthEventPublisher


@lru_cache(maxsize=1)
def get_dependencies() -> HealthCheckDependencies:
    settings = get_settings()
    return HealthCheckDependencies(
        settings=settings,
        providers=build_providers(get_provider_settings()),
        store=HealthStore(settings.health_table),
        publisher=HealthEventPublisher(settings.event_bus_name),
    )


@log_function_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deps = get_dependencies()
    results = run_health_checks(deps.providers, deps.store, deps.publisher, deps.settings.probe_timeout_s)
    for result in results:
        _report(result)
    return {
        "checked": {r.outcome.target: r.record.status for r in results},
        "transitions": [r.outcome.target for r in results if r.transition is not None],
    }


def _report(result: CheckResult) -> None:
    outcome = result.outcome
    logger.info(
        "health-probe",
        extra={
            "provider": outcome.target,
            "ok": outcome.ok,
            "latency_ms": outcome.latency_ms,
            "error": outcome.error_code,
            "status": result.record.status,
        },
    )
    emit_provider_metrics(
        outcome.target,
        {
            HEALTH_CHECK_SUCCESS if outcome.ok else HEALTH_CHECK_FAILURE: (MetricUnit.Count, 1),
            HEALTH_CHECK_LATENCY: (MetricUnit.Milliseconds, outcome.latency_ms),
        },
    )
