"""The audit trail as operators read it: the chain check (the MAC chain and the anchors of its head
outside the table), and the records of a period."""

from __future__ import annotations

from typing import Any

from functions.app.admin.wiring import AdminDependencies
from functions.domain.audit import export_since, verify


def trail_integrity(deps: AdminDependencies) -> dict[str, Any]:
    anchors = deps.audit.anchors.read()  # before the records: an anchor written meanwhile is never ahead of them
    report = verify(deps.audit.records(), deps.audit.key, anchors)
    return {"status": "valid" if report.valid else "broken", **report.as_dict()}


def exported_records(deps: AdminDependencies, fmt: str, period: str) -> list[dict[str, Any]]:
    since = export_since(fmt, period, deps.clock())
    return [record.as_dict() for record in deps.audit.records(since=since)]
