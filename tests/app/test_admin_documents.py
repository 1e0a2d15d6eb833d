"""The versioned write every admin change goes through, over an in-memory store."""

from __future__ import annotations

from typing import Any

import pytest

from functions.adapters.dynamodb.config import Versioned
from functions.app.admin.access import OPERATOR, READ_ONLY, Caller
from functions.app.admin.documents import Edit, change_document
from functions.domain.audit import AuditEntry
from functions.domain.errors import Forbidden, InvalidRequest, VersionConflict

OPS = Caller("ops", OPERATOR)


class MemoryStore:
    """ConfigStore's contract: a write names the version it is based on, and carries its audit entry."""

    def __init__(self) -> None:
        self.items: dict[str, Versioned] = {}
        self.entries: list[AuditEntry] = []
        self.reads = 0

    def get(self, key: str) -> Versioned:
        self.reads += 1
        return self.items.get(key, Versioned(key, {}, 0))

    def change(self, key: str, decide: Any, expected_version: int | None = None) -> Versioned:
        current = self.get(key)
        if expected_version is not None and current.version != expected_version:
            raise VersionConflict(f"'{key}' changed meanwhile")
        value, entry = decide(current)
        self.items[key] = Versioned(key, value, current.version + 1)
        self.entries.append(entry)
        return self.items[key]


def test_a_change_without_a_version_applies_to_the_current_document_and_is_audited():
    store = MemoryStore()
    change_document(store, "doc", Edit(OPS, "first"), "doc.set", lambda _: {"n": 1})
    saved = change_document(store, "doc", Edit(OPS, "second"), "doc.set", lambda c: {"n": c.value["n"] + 1})
    assert saved.version == 2 and saved.value == {"n": 2}
    last = store.entries[-1]
    assert (last.actor, last.role, last.action, last.target, last.reason) == (
        "ops",
        OPERATOR,
        "doc.set",
        "doc",
        "second",
    )
    assert last.before == {"n": 1}


def test_a_change_based_on_a_stale_version_is_a_conflict_and_writes_nothing():
    store = MemoryStore()
    change_document(store, "doc", Edit(OPS), "doc.set", lambda _: {"n": 1})
    with pytest.raises(VersionConflict):
        change_document(store, "doc", Edit(OPS, version=0), "doc.set", lambda _: {"n": 9})
    assert store.items["doc"].value == {"n": 1} and len(store.entries) == 1


def test_a_read_only_caller_is_refused_before_anything_is_read():
    store = MemoryStore()
    with pytest.raises(Forbidden):
        change_document(store, "doc", Edit(Caller("v", READ_ONLY)), "doc.set", lambda _: {})
    assert store.reads == 0 and store.entries == []


def test_an_update_that_refuses_leaves_the_document_unchanged():
    store = MemoryStore()

    def refuse(_: Versioned) -> dict[str, Any]:
        raise InvalidRequest("no")

    with pytest.raises(InvalidRequest):
        change_document(store, "doc", Edit(OPS), "doc.set", refuse)
    assert store.items == {} and store.entries == []


def test_the_audit_target_and_before_can_name_what_the_operator_named():
    store = MemoryStore()
    edit = Edit(OPS, "isolate")
    change_document(
        store, "iso", edit, "x", lambda _: {"t": ["a"]}, target="comp", before=lambda c: {"seen": c.version}
    )
    assert store.entries[0].target == "comp" and store.entries[0].before == {"seen": 0}
