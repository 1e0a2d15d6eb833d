"""Helpers shared by test modules that drive the local stack in-process."""

from __future__ import annotations

import math
import time
import uuid
from typing import Any

from functions.adapters import aws
from functions.adapters.aws import client as aws_client
from functions.adapters.dynamodb import schema
from functions.adapters.dynamodb.breakers import SharedBreakers, breaker_key
from functions.adapters.dynamodb.client import dynamodb_client
from functions.adapters.dynamodb.schema import HEALTH, health_key
from functions.app.chat.wiring import get_dependencies
from functions.domain.names import TARGETS
from functions.domain.routing.breaker import BreakerPolicy
from tests.polling import eventually

ROLLOUT_FINAL = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")


def clear_control_config() -> None:
    """Delete every control-plane item of the flags table: all settings back to their defaults."""
    table = get_dependencies().settings.flags_table
    for key in schema.CONTROL_KEYS:
        dynamodb_client().delete_item(TableName=table, Key={HEALTH.partition_key: {"S": key}})


def reset_routing_state(local_stack: Any, policy: BreakerPolicy | None = None) -> SharedBreakers:
    """No faults, closed breakers (with `policy`), no health marks: every target healthy again."""
    local_stack.faults.clear()
    for cached in (aws.session, aws.client, dynamodb_client):  # other suites may have cached mock-bound clients
        cached.cache_clear()
    deps = get_dependencies()
    table = deps.settings.health_table
    ddb = dynamodb_client()
    for target in TARGETS:
        for key in (breaker_key(target), health_key(target)):
            ddb.delete_item(TableName=table, Key={HEALTH.partition_key: {"S": key}})
    deps.breakers = SharedBreakers(table, TARGETS, policy)
    deps.retry_budget.reset()
    deps.snapshots.invalidate()
    return deps.breakers


def emf_now() -> float:
    """Now, as an EMF timestamp (whole milliseconds, rounded down): the lower bound of a `since` query
    that takes every record emitted from here on and none of an earlier test's."""
    return math.floor(time.time() * 1000) / 1000


def unique_prefix() -> str:
    """Tables of their own for tests sharing the local stack's moto server."""
    return f"t{uuid.uuid4().hex[:10]}"


def use_local_moto(monkeypatch: Any, local_stack: Any) -> None:
    """Point every AWS client at the local stack's moto server (one moto per process: an in-process
    `mock_aws` would reset the backends the server shares), with fresh cached clients."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_stack.moto_url)
    for name in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for cached in (aws.session, aws.client, dynamodb_client):
        cached.cache_clear()


def put_alarm_in_state(name: str, state: str = "ALARM", reason: str = "test") -> None:
    """An alarm on the router's average latency in the local moto's CloudWatch, set to `state` by hand."""
    cloudwatch = aws_client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        MetricName="Latency",
        Namespace="HybridRouting",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=2000,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)


def wait_for_rollout(http: Any, admin: Any, execution: str, timeout_s: float = 20.0) -> dict[str, Any]:
    """The rollout `execution` as the admin API describes it once it has ended."""
    return eventually(
        lambda: http.get(f"/admin/rollouts/{execution}", headers=admin).json(),
        lambda described: described["status"] in ROLLOUT_FINAL,
        timeout=timeout_s,
        what=f"{execution} ended",
    )
