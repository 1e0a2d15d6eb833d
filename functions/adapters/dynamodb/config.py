"""Versioned control-plane items in the flags table, each write conditional on the version it was
based on and appended to the audit trail in the same transaction: a stale write is refused (409),
and no change exists without its audit record, nor a record without its change."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.dynamodb.audit import AuditLog
from functions.adapters.dynamodb.client import dynamodb_client, from_item, to_item
from functions.adapters.dynamodb.schema import FLAGS
from functions.domain.audit import AuditEntry, AuditRecord, next_record
from functions.domain.errors import DependencyUnavailable, VersionConflict
from functions.domain.names import AUDIT_DIMENSION, AUDIT_METRIC
from functions.shared.observability import emit_count

BOOKKEEPING = ("pk", "version", "updated_at", "updated_by")
AUDIT_RACE_RETRIES = 8


@dataclass(frozen=True, slots=True)
class Versioned:
    key: str
    value: dict[str, Any]
    version: int  # 0: never written
    updated_at: float | None = None
    updated_by: str | None = None


class ConfigStore:
    def __init__(self, flags_table: str, audit: AuditLog, clock: Callable[[], float] = time.time) -> None:
        self.table, self.audit, self._clock = flags_table, audit, clock

    def get(self, key: str) -> Versioned:
        try:
            response = dynamodb_client().get_item(
                TableName=self.table, Key={FLAGS.partition_key: {"S": key}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise DependencyUnavailable("the configuration table cannot be read right now") from exc
        item = from_item(response.get("Item") or {})
        value = {k: v for k, v in item.items() if k not in BOOKKEEPING}
        updated_at = item.get("updated_at")
        return Versioned(
            key,
            _plain(value),
            int(item.get("version", 0)),
            float(updated_at) if updated_at is not None else None,
            item.get("updated_by"),
        )

    def put(self, key: str, value: dict[str, Any], expected_version: int, entry: AuditEntry) -> Versioned:
        """Write `value` if the item is still at `expected_version`, with its audit record (whose
        `after` is `value` unless the entry gives its own, e.g. without a secret)."""
        before = self.get(key) if entry.before is None else None
        after = value if entry.after is None else entry.after
        entry = replace(entry, before=before.value if before else entry.before, after=after)
        now = self._clock()
        item = to_item(
            {
                **value,
                FLAGS.partition_key: key,
                "version": expected_version + 1,
                "updated_at": round(now, 3),
                "updated_by": entry.actor,
            }
        )
        condition = (
            {
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": FLAGS.partition_key},
            }
            if expected_version == 0
            else {
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {":v": {"N": str(expected_version)}},
            }
        )
        self._transact({"Put": {"TableName": self.table, "Item": item, **condition}}, entry, key)
        return Versioned(key, value, expected_version + 1, now, entry.actor)

    def record(self, entry: AuditEntry) -> AuditRecord:
        """An audit record for an action that changes no configuration item (a breaker reset...)."""
        return self._transact(None, entry, entry.target)

    def _transact(self, change: dict[str, Any] | None, entry: AuditEntry, key: str) -> AuditRecord:
        for _ in range(AUDIT_RACE_RETRIES):
            record = next_record(self._head(), entry, self._clock())
            items = ([change] if change else []) + [self.audit.put_request(record)]
            try:
                dynamodb_client().transact_write_items(TransactItems=items)
                emit_count(AUDIT_METRIC, AUDIT_DIMENSION, audit_category(entry.action))  # security dashboard
                return record
            except ClientError as exc:
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                if change and reasons and reasons[0] == "ConditionalCheckFailed":
                    current = self.get(key).version
                    raise VersionConflict(
                        f"'{key}' changed meanwhile (now at version {current}); re-read it and retry"
                    ) from exc
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise DependencyUnavailable("the configuration could not be written; nothing changed") from exc
                # The audit record's seq was taken by a concurrent writer: chain onto the new head.
            except BotoCoreError as exc:
                raise DependencyUnavailable("the configuration could not be written; nothing changed") from exc
        raise DependencyUnavailable("the audit trail is busy; nothing changed, retry")

    def _head(self) -> AuditRecord | None:
        try:
            return self.audit.head()
        except (ClientError, BotoCoreError) as exc:
            raise DependencyUnavailable("the audit trail cannot be read; nothing changed") from exc


def audit_category(action: str) -> str:
    """An audit action's category, the first part of its name: `routing.override` -> `routing`."""
    return action.split(".", 1)[0] or "unknown"


def _plain(value: Any) -> Any:
    """Decimals from DynamoDB as ints or floats, for JSON answers."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
