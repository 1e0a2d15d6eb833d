"""Logger and metrics of every function, configured in one place."""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

SERVICE = "hybrid-router"
NAMESPACE = "HybridRouting"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def emit_provider_metrics(provider: str, values: Mapping[str, tuple[MetricUnit, float]]) -> None:
    """One EMF line of per-provider metrics, apart from the request's line: its only dimension set is
    {Provider, service}, whatever POWERTOOLS_SERVICE_NAME says (the alarms match on exactly that set)."""
    line = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    line.add_dimension(name="Provider", value=provider)
    for name, (unit, value) in values.items():
        line.add_metric(name=name, unit=unit, value=value)
    line.flush_metrics()
