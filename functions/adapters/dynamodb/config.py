"""Versioned control-plane items in the flags table, each write conditional on the version it was
based on and appended to the audit trail in the same transaction: a stale write is refused (409),
and no change exists without its audit record, nor a record without its change."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.dynamodb.audit import AuditLog
from functions.adapters.dynamodb.client import dynamodb_client, from_item, to_item
from functions.adapters.dynamodb.schema import FLAGS
from functions.domain.audit import AuditEntry, AuditRecord
from functions.domain.errors import DependencyUnavailable, VersionConflict
from functions.domain.names import AUDIT_DIMENSION, AUDIT_METRIC
from functions.domain.thresholds import (
    AUDITED_WRITE_ATTEMPTS,
    AUDITED_WRITE_BACKOFF_MAX_SECONDS,
    AUDITED_WRITE_BACKOFF_SECONDS,
)
from functions.shared.observability import emit_count

BOOKKEEPING = ("pk", "version", "updated_at", "updated_by")
NOTHING_CHANGED = "nothing changed"


@dataclass(frozen=True, slots=True)
class Versioned:
    key: str
    value: dict[str, Any]
    version: int  # 0: never written
    updated_at: float | None = None
    updated_by: str | None = None


# What a change decides from the document it read: the new value and its audit entry, or None (nothing to do).
Decision = tuple[dict[str, Any], AuditEntry] | None


@dataclass(frozen=True, slots=True)
class Prepared:
    """One attempt of an audited write, decided from one read: the conditional TransactWriteItems elements
    of the change (each conditional on what was read), its audit entry, and what the caller gets back."""

    writes: tuple[dict[str, Any], ...]
    entry: AuditEntry
    result: Any = None


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

    def change(
        self, key: str, decide: Callable[[Versioned], Decision], expected_version: int | None = None
    ) -> Versioned:
        """A compare-and-set on the document at `key`: `decide` makes the new value from one read, written
        only if the item is still at that read's version, with its audit record in the same transaction
        (whose `before` is the read value and `after` the new one unless the entry gives its own).
        Without `expected_version` a lost race reads again and decides again (bounded); with it, the
        write is refused (VersionConflict) once the item is no longer at that version."""

        read: list[Versioned] = []

        def prepare() -> Prepared | None:
            current = self.get(key)
            read[:] = [current]
            if expected_version is not None and current.version != expected_version:
                raise VersionConflict(
                    f"'{key}' is at version {current.version}, not {expected_version}; re-read it and retry"
                )
            decision = decide(current)
            if decision is None:
                return None
            value, entry = decision
            entry = replace(
                entry,
                before=current.value if entry.before is None else entry.before,
                after=value if entry.after is None else entry.after,
            )
            saved = Versioned(key, value, current.version + 1, round(self._clock(), 3), entry.actor)
            return Prepared((self._put_request(saved, current.version),), entry, saved)

        done = self.audited(prepare, f"'{key}'", versioned=expected_version is not None)
        return read[0] if done is None else done[0]

    def put(self, key: str, value: dict[str, Any], expected_version: int, entry: AuditEntry) -> Versioned:
        """Write `value` if the item is still at `expected_version`, with its audit record."""
        return self.change(key, lambda _: (value, entry), expected_version)

    def record(self, entry: AuditEntry) -> AuditRecord:
        """An audit record for a decision that changes no item (a gate verdict, an ignored event)."""
        done = self.audited(lambda: Prepared((), entry), "the audit trail", versioned=False)
        assert done is not None
        return done[1]

    def audited(
        self, prepare: Callable[[], Prepared | None], what: str, *, versioned: bool
    ) -> tuple[Any, AuditRecord] | None:
        """Run `prepare` (one read, one decision) and its writes with the audit append in one transaction;
        `(result, record)`, or None when `prepare` found nothing to do. A write whose condition failed is
        a VersionConflict at once if `versioned`, otherwise it is prepared again, as is one whose audit
        record lost the chain's head to a concurrent writer, after a jittered backoff; after
        AUDITED_WRITE_ATTEMPTS a VersionConflict names what kept moving. Nothing changes without its record."""
        lost = ""
        for attempt in range(AUDITED_WRITE_ATTEMPTS):
            if attempt:
                time.sleep(_backoff(attempt))
            prepared = prepare()
            if prepared is None:
                return None
            record = self.audit.next_record(self._head(), prepared.entry, self._clock())
            items = [*prepared.writes, self.audit.put_request(record)]
            try:
                # The token makes the SDK's own retry of a write that landed unseen a no-op on DynamoDB.
                dynamodb_client().transact_write_items(TransactItems=items, ClientRequestToken=uuid.uuid4().hex)
            except ClientError as exc:
                if not self._landed(record):  # an earlier SDK attempt of this very write may have landed
                    lost = _lost_race(exc, len(prepared.writes), what)
                    if versioned and lost == what:
                        raise VersionConflict(f"{what} changed meanwhile; re-read it and retry") from exc
                    continue
            except BotoCoreError as exc:
                if not self._landed(record):  # unknown: it may still land, so never "nothing changed"
                    raise DependencyUnavailable(
                        f"{what}: DynamoDB did not confirm the write; audit record {record.seq} says if it landed"
                    ) from exc
            emit_count(AUDIT_METRIC, AUDIT_DIMENSION, audit_category(prepared.entry.action))  # security dashboard
            self.audit.appended(record, self._clock())
            return prepared.result, record
        raise VersionConflict(
            f"{what} kept changing under concurrent writers: {AUDITED_WRITE_ATTEMPTS} attempts each lost a race "
            f"(last to {lost}); {NOTHING_CHANGED}, retry"
        )

    def _landed(self, record: AuditRecord) -> bool:
        """Whether `record` itself is in the trail (the write of its transaction landed)."""
        try:
            found = self.audit.at(record.seq)
        except (ClientError, BotoCoreError):
            return False
        return found is not None and found.digest == record.digest

    def unchanged(self, key: str, read_version: int) -> dict[str, Any]:
        """The TransactWriteItems element that holds an audited action to the item at `key` as read."""
        check = {"TableName": self.table, "Key": {FLAGS.partition_key: {"S": key}}}
        return {"ConditionCheck": {**check, **version_condition(FLAGS.partition_key, read_version)}}

    def _put_request(self, saved: Versioned, read_version: int) -> dict[str, Any]:
        item = to_item(
            {
                **saved.value,
                FLAGS.partition_key: saved.key,
                "version": saved.version,
                "updated_at": saved.updated_at,
                "updated_by": saved.updated_by,
            }
        )
        return {"Put": {"TableName": self.table, "Item": item, **version_condition(FLAGS.partition_key, read_version)}}

    def _head(self) -> AuditRecord | None:
        try:
            return self.audit.head()
        except (ClientError, BotoCoreError) as exc:
            raise DependencyUnavailable(f"the audit trail cannot be read; {NOTHING_CHANGED}") from exc


def version_condition(partition_key: str, read_version: int) -> dict[str, Any]:
    """The condition of a write based on an item read at `read_version` (0: the item did not exist)."""
    if read_version == 0:
        return {"ConditionExpression": "attribute_not_exists(#pk)", "ExpressionAttributeNames": {"#pk": partition_key}}
    return {
        "ConditionExpression": "#v = :v",
        "ExpressionAttributeNames": {"#v": "version"},
        "ExpressionAttributeValues": {":v": {"N": str(read_version)}},
    }


def _lost_race(exc: ClientError, changes: int, what: str) -> str:
    """What a cancelled transaction lost its race to: `what` (a change's condition failed) or the audit
    trail (its head moved on, or another transaction held an item); any other error is no race."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        raise DependencyUnavailable(f"{what} could not be written; {NOTHING_CHANGED}") from exc
    codes = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
    if "ConditionalCheckFailed" in codes[:changes]:
        return what
    if any(code not in (None, "None", "ConditionalCheckFailed", "TransactionConflict") for code in codes):
        raise DependencyUnavailable(f"{what} could not be written ({', '.join(map(str, codes))}); {NOTHING_CHANGED}")
    return "the audit trail"


def _backoff(attempt: int) -> float:
    """Full jitter: a random wait up to an exponentially growing, capped bound."""
    bound = min(AUDITED_WRITE_BACKOFF_MAX_SECONDS, AUDITED_WRITE_BACKOFF_SECONDS * 2**attempt)
    return random.uniform(0, bound)


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
