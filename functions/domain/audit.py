"""The audit trail's pure part: records chained by a keyed MAC (and, as before, an unkeyed hash), the
anchors of the trail's head kept outside the table, and the check of both.

Each record carries the SHA-256 `hash` of its content (which includes `prev_hash`, the previous record's
hash) and a `mac`: the trail key's MAC of that content and of `prev_mac`, the previous record's MAC. The
domain decides what is MACed (`mac_message`: canonical bytes, pure); the key itself is behind the
`MacKey` port (KMS GenerateMac/VerifyMac in the adapter). Whoever can write the table but does not hold
the key can recompute the hashes, never the MACs; records written before the MAC existed (no `mac`)
verify by their hash as "legacy, unkeyed", but only up to the first keyed record."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from functions.domain.errors import InvalidRequest, quoted
from functions.domain.names import AUDIT_MAC_CONTEXT
from functions.domain.thresholds import AUDIT_ANCHOR_INTERVAL_SECONDS

GENESIS_HASH = "0" * 64


class MacKey(Protocol):
    """The trail key: a MAC of a message, and the check of many (each False: not this key's MAC of it;
    an adapter may check them concurrently, the answers in the order asked)."""

    def mac(self, message: bytes) -> str: ...

    def verify_all(self, pairs: Sequence[tuple[bytes, str]]) -> list[bool]: ...


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
    prev_mac: str = ""  # the previous record's MAC ("": the first keyed record)
    mac: str = ""  # "": a legacy record, written before the trail was keyed

    def payload(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": round(self.at, 6), "prev_hash": self.prev_hash, **asdict(self.entry)}

    def computed_hash(self) -> str:
        return hashlib.sha256(_canonical(self.payload())).hexdigest()

    def sealed(self) -> AuditRecord:
        return replace(self, hash=self.computed_hash())

    def mac_message(self) -> bytes:
        """What the MAC covers: the record's content (with its link to the previous hash) and the
        previous record's MAC, as the digest of their canonical JSON (KMS MACs at most 4 KB)."""
        digest = hashlib.sha256(_canonical({**self.payload(), "prev_mac": self.prev_mac})).hexdigest()
        return f"{AUDIT_MAC_CONTEXT}:{digest}".encode("ascii")

    @property
    def digest(self) -> str:
        """What the next record links to and an anchor holds: the MAC, or a legacy record's hash."""
        return self.mac or self.hash

    def as_dict(self) -> dict[str, Any]:
        return {**self.payload(), "hash": self.hash, "prev_mac": self.prev_mac, "mac": self.mac}


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


def next_record(previous: AuditRecord | None, entry: AuditEntry, at: float, key: MacKey) -> AuditRecord:
    """The record after `previous`, hashed and MACed with `key`."""
    if previous is None:
        record = AuditRecord(1, at, entry, GENESIS_HASH).sealed()
    else:
        record = AuditRecord(previous.seq + 1, at, entry, previous.hash, prev_mac=previous.mac).sealed()
    return replace(record, mac=key.mac(record.mac_message()))


@dataclass(frozen=True, slots=True)
class Anchor:
    """The trail's head as written outside the table: its seq and digest, and when it was anchored."""

    seq: int
    digest: str
    anchored_at: float

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "digest": self.digest, "anchoredAt": round(self.anchored_at, 3)}


def anchor_of(head: AuditRecord, now: float) -> Anchor:
    return Anchor(head.seq, head.digest, now)


def anchor_due(last_anchored_at: float | None, now: float) -> bool:
    """Whether an appender whose own last anchor was at `last_anchored_at` (None: never) anchors now."""
    return last_anchored_at is None or now - last_anchored_at >= AUDIT_ANCHOR_INTERVAL_SECONDS


@dataclass(frozen=True, slots=True)
class IntegrityReport:
    valid: bool
    records: int
    first_problem_seq: int | None = None
    problem: str | None = None
    legacy_records: int = 0  # unkeyed records before the first keyed one, checked by their hash only
    keyed_records: int = 0
    head_seq: int | None = None
    newest_anchor: Anchor | None = None
    anchors: int = 0
    cut_tail: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "records": self.records,
            "firstProblemSeq": self.first_problem_seq,
            "problem": self.problem,
            "legacyRecords": self.legacy_records,
            "keyedRecords": self.keyed_records,
            "headSeq": self.head_seq,
            "anchors": self.anchors,
            "newestAnchor": self.newest_anchor.as_dict() if self.newest_anchor else None,
            "lastAnchoredSeq": self.newest_anchor.seq if self.newest_anchor else None,
            "cutTail": self.cut_tail,
        }


@dataclass
class _Walk:
    """The chain check's state as it walks the records in seq order; the keyed records' MACs are checked
    after the walk, all at once (`first_bad_mac`)."""

    anchored: dict[int, set[str]]
    keyed_records: list[AuditRecord] = field(default_factory=list)
    expected_seq: int = 1
    prev_hash: str = GENESIS_HASH
    prev_mac: str = ""
    legacy: int = 0
    keyed: int = 0

    def problem(self, record: AuditRecord) -> tuple[int, str] | None:
        """The first bad seq and what is wrong, at `record` after the records walked so far (None: nothing)."""
        if record.seq != self.expected_seq:
            return self.expected_seq, f"record {self.expected_seq} is missing"
        found = self._altered(record)
        return None if found is None else (record.seq, found)

    def _altered(self, record: AuditRecord) -> str | None:
        seq = record.seq
        if record.computed_hash() != record.hash:
            return f"record {seq} was altered (hash mismatch)"
        if record.prev_hash != self.prev_hash:
            return f"record {seq} does not follow record {seq - 1}"
        if record.mac:
            if record.prev_mac != self.prev_mac:
                return f"record {seq} does not follow record {seq - 1} (MAC chain)"
        elif self.keyed:
            return f"record {seq} was altered (no MAC after keyed record {self.expected_seq - 1})"
        digests = self.anchored.get(seq, set())
        if digests and digests != {record.digest}:
            return f"record {seq} was altered (it differs from its anchor outside the table)"
        return None

    def advance(self, record: AuditRecord) -> None:
        self.expected_seq, self.prev_hash, self.prev_mac = record.seq + 1, record.hash, record.mac
        if record.mac:
            self.keyed += 1
            self.keyed_records.append(record)
        else:
            self.legacy += 1

    def first_bad_mac(self, key: MacKey | None) -> tuple[int, str] | None:
        """The first walked record whose MAC is not the key's MAC of its content (without a key: the first
        keyed record)."""
        if not self.keyed_records:
            return None
        pairs = [(record.mac_message(), record.mac) for record in self.keyed_records]
        valid = key.verify_all(pairs) if key is not None else [False] * len(pairs)
        bad = next((record for record, ok in zip(self.keyed_records, valid, strict=True) if not ok), None)
        return (
            None
            if bad is None
            else (bad.seq, f"record {bad.seq} was altered (MAC mismatch: not written with the trail key)")
        )


def verify(records: Iterable[AuditRecord], key: MacKey | None, anchors: Sequence[Anchor] = ()) -> IntegrityReport:
    """Walk the chain in order: every seq present, every hash and MAC matching its content and linking
    to its predecessor's, no unkeyed record after a keyed one, every anchored seq holding the anchored
    digest; then the tail: a head behind the newest anchor means records were cut from the end.
    Names the first record that breaks the chain, or the cut tail (its first missing seq)."""
    anchored: dict[int, set[str]] = {}
    for anchor in anchors:
        anchored.setdefault(anchor.seq, set()).add(anchor.digest)
    newest = max(anchors, key=lambda a: (a.seq, a.anchored_at), default=None)
    walk = _Walk(anchored)
    count, head = 0, None
    first: tuple[int, str] | None = None
    for record in records:
        count, head = count + 1, record.seq
        if first is None:
            first = walk.problem(record)
            if first is None:
                walk.advance(record)
    bad_mac = walk.first_bad_mac(key)  # only records before the first other problem were walked
    if bad_mac is not None and (first is None or bad_mac[0] <= first[0]):
        first = bad_mac
    cut = newest is not None and (head or 0) < newest.seq
    if first is None and cut and newest is not None:
        first = (
            (head or 0) + 1,
            f"the trail was cut: it ends at record {head or 0}, but record {newest.seq} was anchored; "
            f"records {(head or 0) + 1} to {newest.seq} were deleted",
        )
    return IntegrityReport(
        valid=first is None,
        records=count,
        first_problem_seq=first[0] if first else None,
        problem=first[1] if first else None,
        legacy_records=walk.legacy,
        keyed_records=walk.keyed,
        head_seq=head,
        newest_anchor=newest,
        anchors=len(anchors),
        cut_tail=cut,
    )


EXPORT_PERIODS_S = {"daily": 86_400, "weekly": 7 * 86_400, "monthly": 31 * 86_400}
EXPORT_FORMATS = ("json", "csv")


def export_since(fmt: str, period: str, now: float) -> float:
    """The start of an export of `period` ending at `now`; refuses an unknown format or period."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidRequest(f"format must be json or csv (got {quoted(fmt)})")
    if period not in EXPORT_PERIODS_S:
        raise InvalidRequest(f"period must be one of {', '.join(EXPORT_PERIODS_S)} (got {quoted(period)})")
    return now - EXPORT_PERIODS_S[period]
