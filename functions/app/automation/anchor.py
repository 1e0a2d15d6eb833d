"""The audit trail's head anchored outside the table on the automation's one-minute schedule, so a record
is anchored within AUDIT_ANCHOR_INTERVAL_SECONDS of its append even when no later append anchors it."""

from __future__ import annotations

from functions.app.automation.wiring import AutomationDependencies


def anchor_audit_head(deps: AutomationDependencies) -> int | None:
    """The seq anchored, or None (no trail wired, an empty trail, or the anchor could not be written)."""
    return deps.audit.anchor_head(deps.clock()) if deps.audit is not None else None
