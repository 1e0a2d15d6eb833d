"""The versioned write of a configuration document, the one way every admin change is made: the operator
rule, the current document read with its version, the new value derived from it, and the write conditional
on the version the change is based on (VersionConflict, 409, when it moved on) with its audit record in
the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from functions.adapters.dynamodb.config import ConfigStore, Versioned
from functions.app.admin.access import Caller, require_operator
from functions.domain.audit import AuditEntry, AuditRecord


class Documents(Protocol):
    """What the versioned write needs of a store (ConfigStore in the stack)."""

    def get(self, key: str) -> Versioned: ...

    def put(self, key: str, value: dict[str, Any], expected_version: int, entry: AuditEntry) -> Versioned: ...


@dataclass(frozen=True, slots=True)
class Edit:
    """Who makes a change and why, and the version it is based on (None: whatever is current)."""

    who: Caller
    reason: str = ""
    version: int | None = None

    def entry(self, action: str, target: str, before: Any = None, after: Any = None) -> AuditEntry:
        who = self.who
        return AuditEntry(who.principal, action, target, self.reason, before, after, who.role)


def change_document(
    store: Documents,
    key: str,
    edit: Edit,
    action: str,
    update: Callable[[Versioned], dict[str, Any]],
    *,
    target: str | None = None,
    before: Callable[[Versioned], Any] | None = None,
) -> Versioned:
    """Write `update(current)` over the document at `key`; the audit record's `before` is the current value
    (or `before(current)`), its target `key` (or `target`). `update` may refuse with a domain error."""
    require_operator(edit.who)
    current = store.get(key)
    value = update(current)
    expected = current.version if edit.version is None else edit.version
    recorded = current.value if before is None else before(current)
    return store.put(key, value, expected, edit.entry(action, target or key, recorded))


def record_action(store: ConfigStore, edit: Edit, action: str, target: str, before: Any, after: Any) -> AuditRecord:
    """The audit record of an operator action that changes no configuration document."""
    return store.record(edit.entry(action, target, before, after))
