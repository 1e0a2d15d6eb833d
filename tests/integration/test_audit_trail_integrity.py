"""`trail-integrity` against someone who can write the audit table but does not hold the trail's key: a trail
of the test's own (its tables, its KMS HMAC key and anchor log stream, on the local stack's moto) behind the
real admin route, written by real admin changes and tampered with by raw boto3 calls on the table."""

from __future__ import annotations

import time
from dataclasses import replace
from itertools import pairwise
from types import SimpleNamespace
from typing import Any

import pytest

from functions.adapters.aws import client as aws_client
from functions.adapters.dynamodb.audit import SEQ, STREAM, AuditLog, audit_log_from, from_audit_item, to_audit_item
from functions.adapters.dynamodb.client import dynamodb_client
from functions.adapters.dynamodb.config import ConfigStore
from functions.adapters.dynamodb.schema import AUDIT
from functions.adapters.logs import AnchorLog
from functions.app.admin.wiring import get_admin_dependencies
from functions.domain.audit import GENESIS_HASH, AuditEntry, AuditRecord, verify
from functions.domain.config.flags import FEATURE_FLAGS
from functions.domain.names import AUDIT_ANCHOR_STREAM
from functions.handlers.admin.handler import app as admin_app

FLAG = next(iter(FEATURE_FLAGS))


@pytest.fixture
def trail(monkeypatch, tables):
    """The admin API over the test's own flags table and audit trail."""
    audit = audit_log_from(tables)
    deps = replace(get_admin_dependencies(), audit=audit, config=ConfigStore(tables["FLAGS_TABLE"], audit))
    monkeypatch.setitem(admin_app.dependency_overrides, get_admin_dependencies, lambda: deps)
    return SimpleNamespace(audit=audit, table=tables["AUDIT_TABLE"])


def make_changes(http, admin, count: int) -> None:
    for i in range(count):
        body = {"flag": FLAG, "enabled": i % 2 == 0, "reason": f"change {i}"}
        assert http.post("/admin/feature-flags/bedrock/update", json=body, headers=admin).status_code == 200


def integrity(http, admin) -> dict[str, Any]:
    response = http.get("/admin/audit/trail-integrity", headers=admin)
    assert response.status_code == 200
    return response.json()


def key_of(seq: int) -> dict[str, Any]:
    return {AUDIT.partition_key: {"S": STREAM}, SEQ: {"N": str(seq)}}


def raw_records(table: str) -> list[dict[str, Any]]:
    items = dynamodb_client().query(
        TableName=table,
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": AUDIT.partition_key},
        ExpressionAttributeValues={":s": {"S": STREAM}},
        ConsistentRead=True,
    )["Items"]
    return sorted(items, key=lambda item: int(item[SEQ]["N"]))


def test_an_untouched_trail_verifies_its_macs_and_its_anchors(http, admin, trail):
    # Given three admin changes, and the head anchored (as the one-minute schedule does)
    make_changes(http, admin, 3)
    assert trail.audit.anchor_head(time.time()) == 3
    # When checking the trail
    report = integrity(http, admin)
    # Then it is valid: every record keyed (MACed) and checked, the head anchored outside the table
    assert report["status"] == "valid" and report["valid"] is True
    assert (report["records"], report["keyedRecords"], report["legacyRecords"]) == (3, 3, 0)
    assert (report["headSeq"], report["lastAnchoredSeq"], report["cutTail"]) == (3, 3, False)
    assert report["anchors"] >= 2  # the first append's anchor and the schedule's
    assert all(item["mac"]["S"] for item in raw_records(trail.table))


def test_a_field_altered_in_the_table_names_that_record(http, admin, trail):
    # Given four admin changes
    make_changes(http, admin, 4)
    # When someone with write access to the table changes record 2's reason
    dynamodb_client().update_item(
        TableName=trail.table,
        Key=key_of(2),
        UpdateExpression="SET reason = :r",
        ExpressionAttributeValues={":r": {"S": "nothing to see"}},
    )
    report = integrity(http, admin)
    # Then trail-integrity names record 2 as altered
    assert (report["status"], report["firstProblemSeq"]) == ("broken", 2)
    assert "record 2 was altered" in report["problem"]


def test_a_changed_mac_names_that_record(http, admin, trail):
    # Given three admin changes
    make_changes(http, admin, 3)
    # When record 3's MAC is replaced by another record's (a valid MAC, of other content)
    other = raw_records(trail.table)[0]["mac"]
    dynamodb_client().update_item(
        TableName=trail.table, Key=key_of(3), UpdateExpression="SET mac = :m", ExpressionAttributeValues={":m": other}
    )
    report = integrity(http, admin)
    # Then record 3 is named, its MAC not the key's MAC of its content
    assert (report["status"], report["firstProblemSeq"]) == ("broken", 3)
    assert "MAC mismatch" in report["problem"]


def _forge_from(table: str, seq: int, strip_macs: bool = False) -> list[AuditRecord]:
    """Rewrite record `seq`'s reason and recompute the unkeyed hash chain from there, as whoever can
    write the table can (the old chain's whole protection); with `strip_macs` also drop every MAC, posing
    as records written before the trail was keyed. Puts the forged records back; returns the trail."""
    records = [from_audit_item(item) for item in raw_records(table)]
    forged: list[AuditRecord] = []
    for record in records:
        if strip_macs:
            record = replace(record, prev_mac="", mac="")
        if record.seq == seq:
            record = replace(record, entry=replace(record.entry, reason="approved by the board"))
        if forged:
            record = replace(record, prev_hash=forged[-1].hash)
        forged.append(record.sealed())
    for record in forged:
        dynamodb_client().put_item(TableName=table, Item=to_audit_item(record))
    return forged


def test_a_trail_forged_by_recomputing_the_unkeyed_hash_chain_is_caught(http, admin, trail):
    # Given four admin changes
    make_changes(http, admin, 4)
    # When a forger rewrites record 2 and recomputes every hash after it
    forged = _forge_from(trail.table, 2)
    # Then the unkeyed chain alone would pass it (what the trail checked before it was keyed) ...
    assert all(r.computed_hash() == r.hash for r in forged)
    assert all(later.prev_hash == earlier.hash for earlier, later in pairwise(forged))
    assert forged[0].prev_hash == GENESIS_HASH
    # ... but trail-integrity names record 2: its MAC is not the key's MAC of its new content
    report = integrity(http, admin)
    assert (report["status"], report["firstProblemSeq"]) == ("broken", 2)
    assert "MAC mismatch" in report["problem"]


def test_a_forger_who_also_strips_the_macs_is_caught_by_the_anchor(http, admin, trail):
    # Given four admin changes, the head anchored
    make_changes(http, admin, 4)
    assert trail.audit.anchor_head(time.time()) == 4
    # When a forger rewrites record 2, drops every MAC (posing as legacy records) and recomputes the hashes
    _forge_from(trail.table, 2, strip_macs=True)
    report = integrity(http, admin)
    # Then the trail is broken: the anchored records no longer hold the digests anchored outside the table
    assert report["status"] == "broken"
    assert report["firstProblemSeq"] == 1  # record 1 was anchored by its own append, with its MAC
    assert "differs from its anchor" in report["problem"]


def test_deleting_the_newest_records_reports_a_cut_tail(http, admin, trail):
    # Given five admin changes, the head (record 5) anchored
    make_changes(http, admin, 5)
    assert trail.audit.anchor_head(time.time()) == 5
    # When someone deletes records 4 and 5 from the table
    for seq in (4, 5):
        dynamodb_client().delete_item(TableName=trail.table, Key=key_of(seq))
    report = integrity(http, admin)
    # Then the chain that is left is sound, but the tail was cut: the head is behind the newest anchor
    assert (report["status"], report["cutTail"]) == ("broken", True)
    assert (report["headSeq"], report["lastAnchoredSeq"], report["firstProblemSeq"]) == (3, 5, 4)
    assert "records 4 to 5 were deleted" in report["problem"]
    # And a change made after the cut does not hide it
    make_changes(http, admin, 1)
    after = integrity(http, admin)
    assert (after["status"], after["cutTail"], after["headSeq"]) == ("broken", True, 4)


def test_legacy_records_verify_up_to_the_first_keyed_record(http, admin, trail):
    # Given three records written before the trail was keyed (no MAC), then two admin changes
    previous: AuditRecord | None = None
    for seq in (1, 2, 3):
        prev_hash = previous.hash if previous else GENESIS_HASH
        entry = AuditEntry("old-operator", "feature-flag.update", FLAG, reason=f"legacy {seq}")
        previous = AuditRecord(seq, time.time(), entry, prev_hash).sealed()
        dynamodb_client().put_item(TableName=trail.table, Item=to_audit_item(previous))
    make_changes(http, admin, 2)
    # When checking the trail
    report = integrity(http, admin)
    # Then it is valid: the legacy records by their hash chain, the keyed ones by their MACs
    assert report["status"] == "valid"
    assert (report["legacyRecords"], report["keyedRecords"], report["headSeq"]) == (3, 2, 5)
    # And a keyed record whose MAC is removed does not pass as legacy
    dynamodb_client().update_item(TableName=trail.table, Key=key_of(5), UpdateExpression="REMOVE mac, prev_mac")
    broken = integrity(http, admin)
    assert (broken["status"], broken["firstProblemSeq"]) == ("broken", 5)
    assert "no MAC after keyed record 4" in broken["problem"]


def test_the_same_check_without_the_key_accepts_nothing_keyed(trail, http, admin):
    # Given a keyed trail / When checked without the trail key (what a table writer could compute)
    make_changes(http, admin, 2)
    report = verify(trail.audit.records(), None, trail.audit.anchors.read())
    # Then no keyed record verifies
    assert (report.valid, report.first_problem_seq) == (False, 1)


def test_an_anchor_that_cannot_be_written_loses_no_change_and_is_written_next_time(http, admin, trail, tables):
    # Given an appender whose anchor log stream does not exist yet (PutLogEvents fails)
    group = tables["AUDIT_ANCHOR_LOG_GROUP"] + "-late"
    late = AuditLog(tables["AUDIT_TABLE"], trail.audit.key, AnchorLog(group))
    config = ConfigStore(tables["FLAGS_TABLE"], late)
    # When it appends a record, and the schedule tries to anchor the head
    record = config.record(AuditEntry("ops", "test.note", "trail", reason="anchor outage"))
    assert late.anchor_head(time.time()) is None
    # Then the change landed all the same, and the failed anchor is tried again once the stream is there
    assert integrity(http, admin)["headSeq"] == record.seq
    logs = aws_client("logs")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=AUDIT_ANCHOR_STREAM)
    assert late.anchor_head(time.time()) == record.seq
    assert [(a.seq, a.digest) for a in late.anchors.read()] == [(record.seq, record.mac)]
