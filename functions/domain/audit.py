"""The audit trail's pure part: hash-chained records and the chain check."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from functions.domain.errors import InvalidRequest, quoted

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What happened: who did what to which thing, why, and the state before and after."""

    actor: str
    action: str
    target: str
    reason: str = ""
    before: Any = None
    after: Any = None
    role: str = ""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    at: float  # epoch seconds
    entry: AuditEntry
    prev_hash: str
    hash: str = field(default="")

    def payload(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": round(self.at, 6), "prev_hash": self.prev_hash, **asdict(self.entry)}

    def computed_hash(self) -> str:
        canonical = json.dumps(self.payload(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def sealed(self) -> AuditRecord:
        return AuditRecord(self.seq, self.at, self.entry, self.prev_hash, self.computed_hash())

    def as_dict(self) -> dict[str, Any]:
        return {**self.payload(), "hash": self.hash}


def next_record(previous: AuditRecord | None, entry: AuditEntry, at: float) -> AuditRecord:
    if previous is None:
        return AuditRecord(1, at, entry, GENESIS_HASH).sealed()
    return AuditRecord(previous.seq + 1, at, entry, previous.hash).sealed()


@dataclass(frozen=True, slots=True)
class IntegrityReport:
    valid: bool
    records: int
    first_problem_seq: int | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "records": self.records,
            "firstProblemSeq": self.first_problem_seq,
            "problem": self.problem,
        }


def verify(records: Iterable[AuditRecord]) -> IntegrityReport:
    """Walk the chain in order: every seq present, every hash matching its content, every record
    pointing at its predecessor's hash. Names the first record that breaks it."""
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    for record in records:
        count += 1
        if record.seq != expected_seq:
            return IntegrityReport(False, count, expected_seq, f"record {expected_seq} is missing")
        if record.computed_hash() != record.hash:
            return IntegrityReport(False, count, record.seq, f"record {record.seq} was altered (hash mismatch)")
        if record.prev_hash != prev_hash:
            return IntegrityReport(
                False, count, record.seq, f"record {record.seq} does not follow record {record.seq - 1}"
            )
        expected_seq, prev_hash = record.seq + 1, record.hash
    return IntegrityReport(True, count)


EXPORT_PERIODS_S = {"daily": 86_400, "weekly": 7 * 86_400, "monthly": 31 * 86_400}
EXPORT_FORMATS = ("json", "csv")


def export_since(fmt: str, period: str, now: float) -> float:
    """The start of an export of `period` ending at `now`; refuses an unknown format or period."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidRequest(f"format must be json or csv (got {quoted(fmt)})")
    if period not in EXPORT_PERIODS_S:
        raise InvalidRequest(f"period must be one of {', '.join(EXPORT_PERIODS_S)} (got {quoted(period)})")
    return now - EXPORT_PERIODS_S[period]
