"""The audit trail's pure check: what is MACed, how the chain links, legacy records, anchors and a cut tail.
The key is the domain's MacKey port, here an HMAC-SHA-256 over a test secret (KMS stands behind it in the
adapter, tested on moto in tests/integration/test_audit_trail_integrity.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import replace

from functions.domain.audit import (
    GENESIS_HASH,
    Anchor,
    AuditEntry,
    AuditRecord,
    anchor_due,
    anchor_of,
    next_record,
    verify,
)
from functions.domain.thresholds import AUDIT_ANCHOR_INTERVAL_SECONDS


class HmacKey:
    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def mac(self, message: bytes) -> str:
        return base64.b64encode(hmac.new(self.secret, message, hashlib.sha256).digest()).decode("ascii")

    def verify_all(self, pairs: Sequence[tuple[bytes, str]]) -> list[bool]:
        return [hmac.compare_digest(self.mac(message), mac) for message, mac in pairs]


KEY = HmacKey(b"the trail key")


def trail(count: int, legacy: int = 0) -> list[AuditRecord]:
    """`legacy` unkeyed records (as an older version wrote them), then keyed ones, `count` in all."""
    records: list[AuditRecord] = []
    for i in range(count):
        entry = AuditEntry("alice", "feature-flag.update", "flags", reason=f"change {i}", after={"n": i})
        previous = records[-1] if records else None
        if i < legacy:
            prev_hash = previous.hash if previous else GENESIS_HASH
            records.append(AuditRecord(i + 1, 1000.0 + i, entry, prev_hash).sealed())
        else:
            records.append(next_record(previous, entry, 1000.0 + i, KEY))
    return records


def test_an_untouched_keyed_trail_verifies():
    report = verify(trail(4), KEY, [anchor_of(trail(4)[-1], 2000.0)])
    assert report.valid and (report.keyed_records, report.legacy_records, report.head_seq) == (4, 0, 4)
    assert report.as_dict()["lastAnchoredSeq"] == 4 and report.as_dict()["cutTail"] is False


def test_each_mac_covers_the_content_and_the_previous_mac():
    records = trail(3)
    assert records[1].prev_mac == records[0].mac and records[2].prev_mac == records[1].mac
    assert records[0].mac_message() != replace(records[0], prev_mac="x").mac_message()
    assert records[0].mac_message() != replace(records[0], entry=replace(records[0].entry, actor="m")).mac_message()


def test_a_record_recomputed_without_the_key_is_named():
    records = trail(4)
    forged = replace(records[1], entry=replace(records[1].entry, reason="forged")).sealed()
    rest = [replace(r, prev_hash=forged.hash).sealed() if r.seq == 3 else r for r in records[2:]]
    report = verify([records[0], forged, *rest], KEY)
    assert (report.valid, report.first_problem_seq) == (False, 2)
    assert "MAC mismatch" in (report.problem or "")


def test_another_key_verifies_nothing():
    report = verify(trail(2), HmacKey(b"another key"))
    assert (report.valid, report.first_problem_seq) == (False, 1)


def test_legacy_records_verify_up_to_the_first_keyed_one_and_not_after():
    records = trail(5, legacy=2)
    report = verify(records, KEY)
    assert report.valid and (report.legacy_records, report.keyed_records) == (2, 3)
    stripped = [*records[:3], replace(records[3], mac="", prev_mac=""), records[4]]
    broken = verify(stripped, KEY)
    assert (broken.valid, broken.first_problem_seq) == (False, 4)
    assert "no MAC after keyed record 3" in (broken.problem or "")


def test_a_head_behind_the_newest_anchor_is_a_cut_tail_naming_the_last_anchored_seq():
    records = trail(6)
    anchors = [anchor_of(records[1], 1.0), anchor_of(records[5], 2.0)]
    report = verify(records[:4], KEY, anchors)
    assert (report.valid, report.cut_tail, report.head_seq, report.first_problem_seq) == (False, True, 4, 5)
    assert report.as_dict()["lastAnchoredSeq"] == 6
    assert "records 5 to 6 were deleted" in (report.problem or "")


def test_an_anchored_record_that_no_longer_holds_its_anchored_digest_is_named():
    records = trail(3)
    anchors = [Anchor(2, "a digest the table never held", 1.0)]
    report = verify(records, KEY, anchors)
    assert (report.valid, report.first_problem_seq) == (False, 2)
    assert "differs from its anchor" in (report.problem or "")


def test_a_missing_record_is_named():
    records = trail(4)
    report = verify([records[0], records[2], records[3]], KEY)
    assert (report.valid, report.first_problem_seq, report.records) == (False, 2, 3)


def test_an_appender_anchors_at_most_once_an_interval():
    assert anchor_due(None, 0.0)
    assert not anchor_due(100.0, 100.0 + AUDIT_ANCHOR_INTERVAL_SECONDS - 1)
    assert anchor_due(100.0, 100.0 + AUDIT_ANCHOR_INTERVAL_SECONDS)


def test_the_first_problem_is_named_whether_a_bad_mac_or_a_broken_link_comes_first():
    records = trail(5)
    bad_mac = replace(records[1], mac=records[0].mac)
    # a bad MAC at 2 before a missing record 4
    report = verify([records[0], bad_mac, records[2], records[4]], KEY)
    assert (report.first_problem_seq, "MAC mismatch" in (report.problem or "")) == (2, True)
    # a missing record 2 before a bad MAC at 4 (never walked)
    later_bad = replace(records[3], mac=records[0].mac)
    report = verify([records[0], records[2], later_bad, records[4]], KEY)
    assert (report.first_problem_seq, report.problem) == (2, "record 2 is missing")
