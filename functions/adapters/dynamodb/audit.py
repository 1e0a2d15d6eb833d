"""The audit table: append-only records, one partition, ordered by `seq`, each MACed with the trail key,
and the head anchored outside the table (functions/adapters/logs.py) at most once a minute per appender."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from functions.adapters.dynamodb.client import dynamodb_client, from_item
from functions.adapters.dynamodb.schema import AUDIT
from functions.adapters.logs import AnchorLog, best_effort
from functions.domain.audit import AuditEntry, AuditRecord, MacKey, anchor_due, anchor_of, next_record
from functions.domain.names import AUDIT_ANCHOR_ENV, AUDIT_KEY_ENV

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
        **({"prev_mac": {"S": record.prev_mac}} if record.prev_mac else {}),
        **({"mac": {"S": record.mac}} if record.mac else {}),
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
        str(item.get("prev_mac", "")),
        str(item.get("mac", "")),  # none on a record written before the trail was keyed
    )


class AuditLog:
    """The trail: its table, its key (GenerateMac to append, VerifyMac to check) and its anchors."""

    def __init__(self, table: str, key: MacKey, anchors: AnchorLog) -> None:
        self.table, self.key, self.anchors = table, key, anchors
        self._anchored_at: float | None = None  # this appender's last anchor, and the digest it anchored
        self._anchored_digest = ""

    def next_record(self, previous: AuditRecord | None, entry: AuditEntry, at: float) -> AuditRecord:
        """The record that follows `previous`, MACed with the trail key."""
        return next_record(previous, entry, at, self.key)

    def appended(self, record: AuditRecord, now: float) -> bool:
        """After `record` landed: anchor it if this appender's last anchor is AUDIT_ANCHOR_INTERVAL_SECONDS
        old (or it has none); whether it did."""
        if not anchor_due(self._anchored_at, now):
            return False
        return self._anchor(record, now)

    def anchor_head(self, now: float) -> int | None:
        """Anchor the trail's current head (the one-minute schedule) unless this instance anchored that very
        record last; the seq anchored, or None (an empty trail, nothing new, or the anchor failed)."""
        head = self.head()
        if head is None or head.digest == self._anchored_digest or not self._anchor(head, now):
            return None
        return head.seq

    def _anchor(self, record: AuditRecord, now: float) -> bool:
        """Put `record`'s anchor; only one that was written counts (a failed one is tried again next time)."""
        if not best_effort(self.anchors.put, anchor_of(record, now)):
            return False
        self._anchored_at, self._anchored_digest = now, record.digest
        return True

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


def audit_log(table: str, key_id: str, anchor_log_group: str) -> AuditLog:
    """The trail of the functions that append to it (and of the verifier)."""
    from functions.adapters.kms import KmsMacKey

    return AuditLog(table, KmsMacKey(key_id), AnchorLog(anchor_log_group))


def audit_log_from(environment: Mapping[str, str]) -> AuditLog:
    """The trail named by an environment's AUDIT_TABLE, AUDIT_KEY_ID and AUDIT_ANCHOR_LOG_GROUP."""
    return audit_log(environment[AUDIT.env_var], environment[AUDIT_KEY_ENV], environment[AUDIT_ANCHOR_ENV])
