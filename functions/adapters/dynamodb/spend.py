"""Monthly AI spend: accumulated in memory per router instance, added to the SPEND table's
`spend#YYYY-MM` item with atomic `ADD`s (no read, so instances never overwrite each other), at most one
UpdateItem per month with pending spend every flush interval.

Money is Decimal rounded to 6 decimals (micro-dollars) on the wire; what rounding leaves behind stays
pending for the next flush. A failed flush keeps its amounts pending: spend is never lost, never raises.

Stacks deployed before the SPEND table kept the month's item in the FLAGS table (same key, same attributes).
A month's first read whose Spend item does not say it took the legacy item over (`legacy_carried_usd`) reads
the legacy item (the router may read the flags table, never write it) and ADDs it to the Spend item, on the
condition that no one did yet: whichever instance wins carries it over, once; the others read the result. A
month with no legacy item is marked with 0, so the flags table is read once per month, not on every read.
Spend an old instance adds to the legacy item after the carry-over (a deploy's last flushes) is not counted.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.dynamodb.client import dynamodb_client, from_item
from functions.adapters.dynamodb.schema import SPEND
from functions.domain.thresholds import SPEND_FLUSH_SECONDS
from functions.shared.observability import logger

SPENT_ATTRIBUTE = "spent_usd"
CARRIED_ATTRIBUTE = "legacy_carried_usd"  # on a Spend item: the legacy item's total it took over
MICRO_DOLLAR = Decimal("0.000001")


def spend_key(now: float) -> str:
    """The spend item's key for the UTC month of epoch `now`: `spend#YYYY-MM`."""
    return "spend#" + datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m")


def provider_attribute(provider: str) -> str:
    """`spent_usd_<provider>`, the provider lowercased with anything but [a-z0-9] as '_'."""
    return f"{SPENT_ATTRIBUTE}_" + re.sub(r"[^a-z0-9]", "_", provider.lower())


def parse_spent(item: dict[str, Any] | None) -> float:
    """Total USD spent in a spend item, decoded (`from_item`) or raw (`{"N": ...}`); 0 if absent."""
    if not item:
        return 0.0
    value = item.get(SPENT_ATTRIBUTE)
    if isinstance(value, dict):
        value = value.get("N")
    try:
        spent = float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0
    return spent if math.isfinite(spent) else 0.0


class SpendAccumulator:
    def __init__(
        self,
        table: str,
        flush_interval_s: float = SPEND_FLUSH_SECONDS,
        clock: Callable[[], float] = time.time,
        legacy_table: str | None = None,
    ) -> None:
        self._table, self._interval, self._clock = table, flush_interval_s, clock
        self._legacy_table = legacy_table  # the flags table, where older stacks counted the spend
        self._carried: set[str] = set()  # months whose legacy item is known to be taken over
        self._lock = threading.Lock()
        # month key -> provider -> USD not yet written
        self._pending: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        self._last_flush = clock()
        self._known_spent: dict[str, tuple[float, float]] = {}  # month key -> (read at, USD in the table)

    def add(self, cost_usd: float, provider: str, now: float | None = None) -> None:
        """Count `cost_usd` against the month of `now` (default: the clock)."""
        if not math.isfinite(cost_usd) or cost_usd < 0:
            logger.warning("spend-ignored", extra={"cost_usd": repr(cost_usd), "provider": provider})
            return
        if cost_usd == 0:
            return
        month = spend_key(self._clock() if now is None else now)
        with self._lock:
            self._pending[month][provider] += Decimal(repr(float(cost_usd)))

    def pending(self) -> dict[str, dict[str, Decimal]]:
        """A copy of the spend not yet written, by month key and provider."""
        with self._lock:
            return {month: dict(by_provider) for month, by_provider in self._pending.items()}

    def maybe_flush(self, now: float | None = None) -> None:
        """Flush if the flush interval has passed since the last flush."""
        now = self._clock() if now is None else now
        with self._lock:
            if now - self._last_flush < self._interval:
                return
            self._last_flush = now
        self.flush()

    def flush(self) -> None:
        """Write what is pending now: one UpdateItem per month with spend; failures stay pending."""
        with self._lock:
            batches = {month: self._take(month) for month in list(self._pending)}
        for month, amounts in batches.items():
            if not amounts:
                continue
            total = self._write(month, amounts)
            if total is None:
                self._give_back(month, amounts)
            elif self._legacy_table is None or month in self._carried:
                # the table's new total, every instance's spend included: no dip until the next read
                self._known_spent = {month: (self._clock(), total)}

    def spent_usd(self, now: float | None = None) -> float | None:
        """USD spent in the month of `now`: the table's total (re-read at most once per flush interval)
        plus this instance's pending spend. None if the table could never be read (callers fail open)."""
        now = self._clock() if now is None else now
        month = spend_key(now)
        known = self._known_spent.get(month)
        if known is None or now - known[0] >= self._interval:
            stored = self._read(month)
            if stored is not None:
                known = (now, stored)
                self._known_spent = {month: known}
        if known is None:
            return None
        with self._lock:
            pending = sum(self._pending.get(month, {}).values(), Decimal(0))
        return known[1] + float(pending)

    def _take(self, month: str) -> dict[str, Decimal]:
        """Under the lock: remove from pending what can be written (whole micro-dollars), leaving the rest."""
        by_provider = self._pending[month]
        taken: dict[str, Decimal] = {}
        for provider, amount in list(by_provider.items()):
            writable = amount.quantize(MICRO_DOLLAR, rounding=ROUND_DOWN)
            if writable > 0:
                taken[provider] = writable
                by_provider[provider] = amount - writable
        if not any(by_provider.values()):
            del self._pending[month]
        return taken

    def _give_back(self, month: str, amounts: dict[str, Decimal]) -> None:
        with self._lock:
            for provider, amount in amounts.items():
                self._pending[month][provider] += amount

    def _write(self, month: str, amounts: dict[str, Decimal]) -> float | None:
        """ADD the amounts; the month's new total, or None if the write failed."""
        # Providers whose names differ only in punctuation share an attribute; one path may appear once.
        by_attribute: dict[str, Decimal] = defaultdict(Decimal)
        for provider, amount in amounts.items():
            by_attribute[provider_attribute(provider)] += amount
        names = {f"#p{i}": attribute for i, attribute in enumerate(by_attribute)}
        values = {f":p{i}": {"N": _number(a)} for i, a in enumerate(by_attribute.values())}
        values[":total"] = {"N": _number(sum(amounts.values(), Decimal(0)))}
        values[":now"] = {"N": str(int(self._clock()))}
        names["#total"], names["#updated"] = SPENT_ATTRIBUTE, "updated_at"
        adds = ", ".join(f"{name} :{name[1:]}" for name in names if name.startswith("#p"))
        try:
            response = dynamodb_client().update_item(
                TableName=self._table,
                Key={SPEND.partition_key: {"S": month}},
                UpdateExpression=f"ADD #total :total, {adds} SET #updated = :now",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
            )
        except (ClientError, BotoCoreError) as exc:
            logger.warning("spend-flush-failed", extra={"error": type(exc).__name__, "month": month})
            return None
        return parse_spent(from_item(response.get("Attributes") or {}))

    def _read(self, month: str) -> float | None:
        item = self._get(self._table, month, consistent=False)
        if item is None:
            return None
        if self._legacy_table is None or month in self._carried:
            return parse_spent(item)
        if CARRIED_ATTRIBUTE in item:
            self._carried.add(month)
            return parse_spent(item)
        return self._carry_over(month, item, self._legacy_table)

    def _get(self, table: str, month: str, consistent: bool) -> dict[str, Any] | None:
        """The decoded item of `month` in `table` (the spend table or the legacy flags table, both keyed on
        `pk`; {} when absent), None if it cannot be read."""
        try:
            response = dynamodb_client().get_item(
                TableName=table, Key={SPEND.partition_key: {"S": month}}, ConsistentRead=consistent
            )
        except (ClientError, BotoCoreError) as exc:
            logger.warning("spend-read-failed", extra={"error": type(exc).__name__, "month": month})
            return None
        return from_item(response.get("Item") or {})

    def _carry_over(self, month: str, item: dict[str, Any], legacy_table: str) -> float:
        """Take the legacy item of `month` over into the Spend item, once (a compare-and-set on the marker);
        the month's total. If the legacy item cannot be read or the carry-over cannot be written, the total
        still counts the legacy spend and the next read tries again."""
        legacy = self._get(legacy_table, month, consistent=True)
        if legacy is None:
            return parse_spent(item)
        amounts = {
            name: Decimal(str(value))
            for name, value in legacy.items()
            if name.startswith(SPENT_ATTRIBUTE) and isinstance(value, Decimal) and value.is_finite() and value > 0
        }
        names = {f"#a{i}": name for i, name in enumerate(amounts)}
        values = {f":a{i}": {"N": _number(amount)} for i, amount in enumerate(amounts.values())}
        values[":carried"] = {"N": _number(amounts.get(SPENT_ATTRIBUTE, Decimal(0)))}
        names["#carried"] = CARRIED_ATTRIBUTE
        adds = ", ".join(f"#a{i} :a{i}" for i in range(len(amounts)))
        try:
            response = dynamodb_client().update_item(
                TableName=self._table,
                Key={SPEND.partition_key: {"S": month}},
                UpdateExpression=("ADD " + adds + " " if adds else "") + "SET #carried = :carried",
                ConditionExpression="attribute_not_exists(#carried)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                self._carried.add(month)  # another instance (or thread) carried it over: read what it wrote
                fresh = self._get(self._table, month, consistent=True)
                return parse_spent(fresh) if fresh is not None else parse_spent(item) + parse_spent(legacy)
            logger.warning("spend-carry-over-failed", extra={"error": type(exc).__name__, "month": month})
            return parse_spent(item) + parse_spent(legacy)
        except BotoCoreError as exc:
            logger.warning("spend-carry-over-failed", extra={"error": type(exc).__name__, "month": month})
            return parse_spent(item) + parse_spent(legacy)
        self._carried.add(month)
        logger.info("spend-carried-over", extra={"month": month, "legacy_usd": float(values[":carried"]["N"])})
        return parse_spent(from_item(response.get("Attributes") or {}))


def _number(amount: Decimal) -> str:
    return format(amount.quantize(MICRO_DOLLAR), "f")
