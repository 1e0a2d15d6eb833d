"""The health checker handler on moto (DynamoDB, EventBridge, SQS) with the real adapters against
the local provider simulators."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from functions.adapters.aws import client as aws_client
from functions.adapters.dynamodb.client import dynamodb_client, from_item
from functions.adapters.dynamodb.health import HealthStore
from functions.adapters.dynamodb.schema import HEALTH, health_key
from functions.adapters.eventbridge import HEALTH_EVENT_DETAIL_TYPE, HEALTH_EVENT_SOURCE, events_client
from functions.adapters.providers.bedrock import _cached_client
from functions.adapters.providers.settings import get_provider_settings
from functions.app.health.settings import get_settings
from functions.domain.thresholds import HEALTH_FAILURE_THRESHOLD, HEALTH_PROBE_TIMEOUT_SECONDS
from functions.handlers import health_check as health_handler
from local.faults import FaultSpec
from local.gateway import LocalLambdaContext
from local.tables import create_tables
from tests.support import unique_prefix, use_local_moto

REGION = "eu-central-1"
TARGETS = ("bedrock", "mcp")


def _clear_caches() -> None:
    for cached in (
        aws_client,
        dynamodb_client,
        events_client,
        _cached_client,
        get_settings,
        get_provider_settings,
        health_handler.get_dependencies,
    ):
        cached.cache_clear()


@pytest.fixture
def aws(provider_simulators, local_stack, monkeypatch) -> Iterator[dict[str, Any]]:
    """moto for DynamoDB, EventBridge and SQS; health events land on a queue."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "BEDROCK_REGION": REGION,
        "BEDROCK_ENDPOINT_URL": provider_simulators.bedrock_endpoint_url,
        "MCP_SERVER_URL": provider_simulators.mcp_url,
        "DIRECT_PROVIDERS": "bedrock",
        "EVENT_BUS_NAME": "default",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HEALTH_PROBE_TIMEOUT_SECONDS", raising=False)
    use_local_moto(monkeypatch, local_stack)
    _clear_caches()
    tables = create_tables(boto3.client("dynamodb", region_name=REGION), prefix=unique_prefix())
    for name, value in tables.items():
        monkeypatch.setenv(name, value)
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName=f"health-events-{unique_prefix()}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events", region_name=REGION)
    rule = f"health-changes-{unique_prefix()}"
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [HEALTH_EVENT_SOURCE]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": queue_arn}])
    yield {
        "sqs": sqs,
        "queue_url": queue_url,
        "table": tables[HEALTH.env_var],
        "faults": provider_simulators.faults,
    }
    _clear_caches()


def _check() -> dict[str, Any]:
    context = LocalLambdaContext("health-check", aws_request_id=str(uuid.uuid4()), started=time.monotonic())
    return health_handler.lambda_handler({"source": "aws.events", "detail-type": "Scheduled Event"}, context)


def _item(aws: dict[str, Any], target: str) -> dict[str, Any]:
    response = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=aws["table"], Key={"pk": {"S": health_key(target)}}, ConsistentRead=True
    )
    return from_item(response["Item"])


def _events(aws: dict[str, Any]) -> list[dict[str, Any]]:
    received = []
    while True:
        batch = aws["sqs"].receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return received
        for message in batch:
            received.append(json.loads(message["Body"]))
            aws["sqs"].delete_message(QueueUrl=aws["queue_url"], ReceiptHandle=message["ReceiptHandle"])


def test_when_every_provider_answers_each_record_is_healthy_and_no_event_is_sent(aws) -> None:
    result = _check()
    assert result == {"checked": dict.fromkeys(TARGETS, "healthy"), "transitions": []}
    for target in TARGETS:
        item = _item(aws, target)
        assert (item["status"], item["consecutive_failures"], item["consecutive_successes"], item["version"]) == (
            "healthy",
            0,
            1,
            1,
        )
        assert abs(int(item["checked_at"]) - time.time()) < 30
        assert "last_error" not in item and item["last_latency_ms"] >= 0
    assert _events(aws) == []


def test_a_failing_bedrock_is_unhealthy_exactly_on_the_third_check_with_one_event(aws) -> None:
    aws["faults"].set(FaultSpec(provider="bedrock", status=503))
    statuses = []
    for _ in range(HEALTH_FAILURE_THRESHOLD + 1):
        statuses.append(_check()["checked"]["bedrock"])
    assert statuses == ["healthy", "healthy", "unhealthy", "unhealthy"]
    item = _item(aws, "bedrock")
    assert (item["consecutive_failures"], item["last_error"], item["version"]) == (4, "provider_unavailable", 4)
    (event,) = _events(aws)
    assert (event["source"], event["detail-type"]) == (HEALTH_EVENT_SOURCE, HEALTH_EVENT_DETAIL_TYPE)
    detail = event["detail"]
    assert {k: detail[k] for k in ("provider", "status", "previousStatus", "consecutiveFailures")} == {
        "provider": "bedrock",
        "status": "unhealthy",
        "previousStatus": "healthy",
        "consecutiveFailures": 3,
    }
    assert isinstance(detail["checkedAt"], int) and "provider_unavailable" in detail["reason"]
    assert _item(aws, "mcp")["status"] == "healthy"


def test_once_the_fault_clears_bedrock_is_healthy_again_with_one_event(aws) -> None:
    aws["faults"].set(FaultSpec(provider="bedrock", status=503))
    for _ in range(HEALTH_FAILURE_THRESHOLD):
        _check()
    _events(aws)
    aws["faults"].clear("bedrock")
    statuses = [_check()["checked"]["bedrock"] for _ in range(3)]
    assert statuses == ["unhealthy", "healthy", "healthy"]
    (event,) = _events(aws)
    assert {k: event["detail"][k] for k in ("provider", "status", "previousStatus")} == {
        "provider": "bedrock",
        "status": "healthy",
        "previousStatus": "unhealthy",
    }


def test_a_hanging_bedrock_counts_as_a_failure_within_the_probe_timeout(aws) -> None:
    aws["faults"].set(FaultSpec(provider="bedrock", latency_ms=int(HEALTH_PROBE_TIMEOUT_SECONDS * 1000) + 5_000))
    started = time.monotonic()
    _check()
    elapsed = time.monotonic() - started
    item = _item(aws, "bedrock")
    assert elapsed < HEALTH_PROBE_TIMEOUT_SECONDS + 1.5
    assert (item["consecutive_failures"], item["last_error"]) == (1, "provider_timeout")
    assert item["last_latency_ms"] >= HEALTH_PROBE_TIMEOUT_SECONDS * 1000 * 0.9
    assert _item(aws, "mcp")["consecutive_successes"] == 1


def test_a_write_that_loses_to_a_concurrent_checker_is_reapplied_on_its_record(aws, monkeypatch) -> None:
    # Given a stored record (version 1), and a concurrent checker that records a failure (version 2)
    # between this checker's read and its write
    _check()
    aws["faults"].set(FaultSpec(provider="bedrock", status=503))
    read_all = HealthStore.read_all

    def stale_read(self: HealthStore, targets: tuple[str, ...]):
        stale = read_all(self, targets)
        boto3.client("dynamodb", region_name=REGION).update_item(
            TableName=aws["table"],
            Key={"pk": {"S": health_key("bedrock")}},
            UpdateExpression="SET version = :v, consecutive_failures = :f, consecutive_successes = :z",
            ExpressionAttributeValues={":v": {"N": "2"}, ":f": {"N": "1"}, ":z": {"N": "0"}},
        )
        return stale

    monkeypatch.setattr(HealthStore, "read_all", stale_read)
    # When this checker records its own failure
    _check()
    # Then its write was retried on the concurrent record: both failures count, none is lost
    item = _item(aws, "bedrock")
    assert (item["version"], item["consecutive_failures"], item["status"]) == (3, 2, "healthy")
    assert _item(aws, "mcp")["version"] == 2
