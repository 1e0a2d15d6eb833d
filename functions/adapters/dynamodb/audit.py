"""The audit table: append-only records, one partition, ordered by `seq`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from functions.adapters.dynamodb.client import dynamodb_client, from_item
from functions.adapters.dynamodb.schema import AUDIT
from functions.domain.audit import AuditEntry, AuditRecord

STREAM = "admin"
if AUDIT.sort_key is None:  # the audit table is keyed by (stream, seq)
    raise RuntimeError("the audit table schema has no sort key")
SEQ: str = AUDIT.sort_key


def to_audit_item(record: AuditRecord) -> dict[str, Any]:
    entry = record.entry
    return {
        AUDIT.partition_key: {"S": STREAM},
        SEQ: {"N": str(record.seq)},
        "at": {"N": repr(round(record.at, 6))},
        "actor": {"S": entry.actor},
        "role": {"S": entry.role or "-"},
        "action": {"S": entry.action},
        "target": {"S": entry.target},
        "reason": {"S": entry.reason or "-"},
        "before": {"S": json.dumps(entry.before, sort_keys=True, default=str)},
        "after": {"S": json.dumps(entry.after, sort_keys=True, default=str)},
        "prev_hash": {"S": record.prev_hash},
        "hash": {"S": record.hash},
    }


def from_audit_item(raw: dict[str, Any]) -> AuditRecord:
    item = from_item(raw)
    entry = AuditEntry(
        actor=str(item.get("actor", "")),
        action=str(item.get("action", "")),
        target=str(item.get("target", "")),
        reason="" if item.get("reason") == "-" else str(item.get("reason", "")),
        before=json.loads(item.get("before", "null")),
        after=json.loads(item.get("after", "null")),
        role="" if item.get("role") == "-" else str(item.get("role", "")),
    )
    at = item.get("at", 0)
    return AuditRecord(
        int(item[SEQ]),
        float(at) if isinstance(at, Decimal) else 0.0,
        entry,
        str(item.get("prev_hash", "")),
        str(item.get("hash", "")),
    )


class AuditLog:
    def __init__(self, table: str) -> None:
        self.table = table

    def head(self) -> AuditRecord | None:
        response = dynamodb_client().query(
            TableName=self.table,
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": AUDIT.partition_key},
            ExpressionAttributeValues={":s": {"S": STREAM}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = response.get("Items") or []
        return from_audit_item(items[0]) if items else None

    def at(self, seq: int) -> AuditRecord | None:
        """The record at `seq`, read consistently (None: no such record)."""
        response = dynamodb_client().get_item(
            TableName=self.table,
            Key={AUDIT.partition_key: {"S": STREAM}, SEQ: {"N": str(seq)}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return from_audit_item(item) if item else None

    def put_request(self, record: AuditRecord) -> dict[str, Any]:
        """The TransactWriteItems element that appends `record` (fails if its seq is taken)."""
        return {
            "Put": {
                "TableName": self.table,
                "Item": to_audit_item(record),
                "ConditionExpression": "attribute_not_exists(#seq)",
                "ExpressionAttributeNames": {"#seq": AUDIT.sort_key},
            }
        }

    def records(self, since: float | None = None, until: float | None = None) -> Iterator[AuditRecord]:
        """Every record in seq order (optionally only those within [since, until)), page by page."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": AUDIT.partition_key},
            "ExpressionAttributeValues": {":s": {"S": STREAM}},
            "ConsistentRead": True,
        }
        while True:
            response = dynamodb_client().query(**kwargs)
            for raw in response.get("Items") or []:
                record = from_audit_item(raw)
                if (since is None or record.at >= since) and (until is None or record.at < until):
                    yield record
            if not response.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
