"""Alarm-driven automation's state: one item per provider (`automation#<provider>`), each write
conditional on the version read and audited in the same transaction, so of two racing events one wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from functions.adapters.dynamodb.config import ConfigStore
from functions.domain.audit import AuditEntry
from functions.domain.automation.rules import AutomationRecord

ACTOR = "automation"
KEY_PREFIX = "automation#"


def automation_key(provider: str) -> str:
    return f"{KEY_PREFIX}{provider}"


class AutomationStore:
    def __init__(self, config: ConfigStore) -> None:
        self.config = config

    def get(self, provider: str) -> AutomationRecord:
        stored = self.config.get(automation_key(provider))
        return AutomationRecord.from_value(provider, stored.value, stored.version)

    def get_many(self, providers: Sequence[str]) -> dict[str, AutomationRecord]:
        return {provider: self.get(provider) for provider in providers}

    def save(self, record: AutomationRecord, action: str, reason: str) -> AutomationRecord:
        """Write `record` if its item is still at `record.version` (VersionConflict otherwise), audited
        with the item before and after."""
        key = automation_key(record.provider)
        entry = AuditEntry(ACTOR, action, key, reason, role=ACTOR)
        saved = self.config.put(key, record.as_value(), record.version, entry)
        return AutomationRecord.from_value(record.provider, saved.value, saved.version)

    def audit(self, provider: str, action: str, reason: str, details: Any = None) -> None:
        """An audit record for a decision that changes nothing (a duplicate, a cooldown, an ignored event)."""
        self.config.record(AuditEntry(ACTOR, action, automation_key(provider), reason, after=details, role=ACTOR))
