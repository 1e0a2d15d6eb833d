"""The stack's metrics source: ListMetrics + GetMetricData over what the router emits (on moto)."""

from __future__ import annotations

import time
import uuid

import boto3

from functions.adapters.cloudwatch import CloudWatchMetrics
from tests.support import use_local_moto


def test_request_counts_and_errors_come_back_per_route_provider_and_operation(local_stack, monkeypatch):
    use_local_moto(monkeypatch, local_stack)
    namespace = f"HybridRoutingTest{uuid.uuid4().hex[:8]}"
    cell = [
        {"Name": "Route", "Value": "direct"},
        {"Name": "Provider", "Value": "bedrock"},
        {"Name": "OperationType", "Value": "emergency"},
    ]
    now = time.time()
    cloudwatch = boto3.client("cloudwatch")
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {"MetricName": "Requests", "Dimensions": cell, "Value": 10, "Unit": "Count", "Timestamp": now - 30},
            {"MetricName": "Errors", "Dimensions": cell, "Value": 2, "Unit": "Count", "Timestamp": now - 30},
            {"MetricName": "Fallbacks", "Dimensions": cell, "Value": 1, "Unit": "Count", "Timestamp": now - 30},
        ],
    )
    snapshot = CloudWatchMetrics(namespace).query(3600)
    (found,) = [c for c in snapshot.cells if (c.route, c.provider, c.operation) == ("direct", "bedrock", "emergency")]
    assert (found.counts.requests, found.counts.errors, found.counts.fallbacks) == (10, 2, 1)


def test_each_providers_own_attempts_come_back_apart_from_the_requests_it_served(local_stack, monkeypatch):
    use_local_moto(monkeypatch, local_stack)
    namespace = f"HybridRoutingTest{uuid.uuid4().hex[:8]}"
    bedrock = [{"Name": "Provider", "Value": "bedrock"}, {"Name": "service", "Value": "hybrid-router"}]
    now = time.time() - 30
    boto3.client("cloudwatch").put_metric_data(
        Namespace=namespace,
        MetricData=[
            {"MetricName": "ProviderAttempts", "Dimensions": bedrock, "Value": 12, "Unit": "Count", "Timestamp": now},
            {
                "MetricName": "ProviderServerErrors",
                "Dimensions": bedrock,
                "Value": 9,
                "Unit": "Count",
                "Timestamp": now,
            },
            {"MetricName": "ProviderThrottles", "Dimensions": bedrock, "Value": 2, "Unit": "Count", "Timestamp": now},
        ],
    )
    attempts = CloudWatchMetrics(namespace).query(3600).attempts
    assert list(attempts) == ["bedrock"]
    assert (attempts["bedrock"].attempts, attempts["bedrock"].failures) == (12, 11)
