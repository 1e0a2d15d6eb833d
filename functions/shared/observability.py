"""Logger and metrics of every function, configured in one place."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

SERVICE = "hybrid-router"
NAMESPACE = "HybridRouting"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
