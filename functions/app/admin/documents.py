"""The versioned write of a configuration document, the one way every admin change is made: the operator
rule, the current document read with its version, the new value derived from it, and the write conditional
on the version the change is based on (VersionConflict, 409, when it moved on) with its audit record in
the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from functions.adapters.dynamodb.config import Decision, Versioned
from functions.app.admin.access import Caller, require_operator
from functions.domain.audit import AuditEntry


class Documents(Protocol):
    """What the versioned write needs of a store (ConfigStore in the stack): a compare-and-set on one read."""

    def change(
        self, key: str, decide: Callable[[Versioned], Decision], expected_version: int | None = None
    ) -> Versioned: ...


@dataclass(frozen=True, slots=True)
class Edit:
    """Who makes a change and why, and the version it is based on (None: the change applies to whatever
    is current when it is written, re-applied after a lost race)."""

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
    """Write `update(current)` over the document at `key`, conditional on the version of the read it was
    made from: with no version in `edit`, a lost race reads the document again and applies `update` to
    it again, so concurrent changes all land (or a 409 names the conflict once the retries run out); with
    one, a document no longer at that version is a 409. The audit record's `before` is the value read (or
    `before(current)`), its target `key` (or `target`). `update` may refuse with a domain error."""
    require_operator(edit.who)

    def decide(current: Versioned) -> Decision:
        recorded = current.value if before is None else before(current)
        return update(current), edit.entry(action, target or key, recorded)

    return store.change(key, decide, edit.version)
