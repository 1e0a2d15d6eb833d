"""Provider health records in the health table (`health#<target>`), written with optimistic
concurrency on `version`: two checkers never overwrite each other's outcome."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.dynamodb.client import dynamodb_client, from_item, to_item
from functions.adapters.dynamodb.schema import HEALTH, health_key
from functions.domain.errors import DependencyUnavailable
from functions.domain.health_check import ApplyProbe, HealthRecord, ProbeOutcome, Transition
from functions.shared.observability import logger


class HealthRecordConflict(DependencyUnavailable):
    """The record changed under us twice in a row: this outcome was not stored."""

    code = "health_record_conflict"


class HealthStore:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def read_all(self, targets: tuple[str, ...]) -> dict[str, HealthRecord]:
        if not targets:
            return {}
        request: dict[str, Any] = {
            self._table: {"Keys": [_key(t) for t in targets], "ConsistentRead": True},
        }
        found: dict[str, HealthRecord] = {}
        for _ in range(3):
            response = self._call("batch_get_item", RequestItems=request)
            for raw in response.get("Responses", {}).get(self._table, []):
                record = _record(from_item(raw))
                found[record.target] = record
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        return found

    def read(self, target: str) -> HealthRecord | None:
        response = self._call("get_item", TableName=self._table, Key=_key(target), ConsistentRead=True)
        return _record(from_item(response["Item"])) if "Item" in response else None

    def save(
        self, previous: HealthRecord | None, outcome: ProbeOutcome, step: ApplyProbe
    ) -> tuple[HealthRecord, Transition | None]:
        """Apply `step` to `previous` and write the result; on a version conflict re-read and
        re-apply once, so a concurrent writer's outcome is built upon, not lost."""
        for attempt in (1, 2):
            record, transition = step(previous, outcome)
            try:
                return self._put(record, expected_version=previous.version if previous else None), transition
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise DependencyUnavailable("health table write failed") from exc
                logger.info("health-record-conflict", extra={"provider": outcome.target, "attempt": attempt})
                previous = self.read(outcome.target)
        raise HealthRecordConflict(f"health record of {outcome.target} kept changing", provider=outcome.target)

    def _put(self, record: HealthRecord, expected_version: int | None) -> HealthRecord:
        stored = HealthRecord(**{**_fields(record), "version": (expected_version or 0) + 1})
        condition: dict[str, Any]
        if expected_version is None:
            condition = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}},
            }
        item = to_item({HEALTH.partition_key: health_key(record.target), **_fields(stored)})
        item.pop("target")
        # ClientError (the conflict) propagates to save(); transport errors become typed here.
        try:
            dynamodb_client().put_item(TableName=self._table, Item=item, **condition)
        except BotoCoreError as exc:
            raise DependencyUnavailable("health table unreachable") from exc
        return stored

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(dynamodb_client(), operation)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise DependencyUnavailable(f"health table {operation} failed") from exc
        return response


def _key(target: str) -> dict[str, Any]:
    return {HEALTH.partition_key: {"S": health_key(target)}}


def _fields(record: HealthRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in HealthRecord.__slots__}


def _record(item: dict[str, Any]) -> HealthRecord:
    def number(name: str) -> int | None:
        value = item.get(name)
        return int(value) if isinstance(value, Decimal | int) else None

    status = item.get("status")
    return HealthRecord(
        target=str(item[HEALTH.partition_key]).removeprefix("health#"),
        status="unhealthy" if status == "unhealthy" else "healthy",
        consecutive_failures=number("consecutive_failures") or 0,
        consecutive_successes=number("consecutive_successes") or 0,
        checked_at=number("checked_at") or 0,
        last_error=str(item["last_error"]) if item.get("last_error") is not None else None,
        last_latency_ms=number("last_latency_ms"),
        version=number("version") or 0,
    )
