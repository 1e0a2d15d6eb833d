"""Alarm-driven automation's state and its Step Functions calls.

One item per provider in the flags table, `automation#<provider>`: the cooldown, the last claimed
execution (name and exact input), the failover a failback will undo, and the hysteresis clock
(functions.domain.automation.rules.AutomationRecord). Every write goes through ConfigStore.put: conditional on
the version read, audited in the same transaction. Two events racing for one provider both read the
same version; one write wins, the other gets VersionConflict, re-reads and sees the claim.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.aws import client as aws_client
from functions.adapters.dynamodb.config import ConfigStore
from functions.domain.audit import AuditEntry
from functions.domain.automation.rules import AutomationRecord, Claim
from functions.domain.errors import DependencyUnavailable
from functions.domain.rollout.plan import RolloutKind

ACTOR = "automation"
KEY_PREFIX = "automation#"
CLOCK_TOLERANCE_S = 5.0  # between this function's clock and Step Functions' start dates


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


class ExecutionStarter:
    """StartExecution on the rollout state machines, by kind (STATE_MACHINE_ARNS)."""

    def __init__(self, machine_arns: Mapping[str, str]) -> None:
        self.machine_arns = dict(machine_arns)

    def machine(self, kind: RolloutKind) -> str:
        arn = self.machine_arns.get(kind.value)
        if not arn:
            raise DependencyUnavailable(f"no state machine configured for {kind.value} (STATE_MACHINE_ARNS)")
        return arn

    def execution_arn(self, claim: Claim) -> str:
        """The ARN the claim's execution has (or will have): the machine's ARN with `execution` for
        `stateMachine`, and the name appended."""
        return f"{self.machine(claim.kind).replace(':stateMachine:', ':execution:', 1)}:{claim.name}"

    def start(self, claim: Claim) -> tuple[bool, str]:
        """(True, ARN) when this call started it; (False, ARN) when it already existed: a closed one
        (ExecutionAlreadyExists), or a running one with the same input, which StartExecution returns
        as if just started (idempotent for standard workflows) - told apart by its start date."""
        asked_at = time.time()
        try:
            response = _states().start_execution(
                stateMachineArn=self.machine(claim.kind), name=claim.name, input=json.dumps(dict(claim.input))
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return False, self.execution_arn(claim)
            raise DependencyUnavailable(f"Step Functions refused {claim.name}") from exc
        except BotoCoreError as exc:
            raise DependencyUnavailable("Step Functions cannot be reached right now") from exc
        started = response.get("startDate")
        fresh = not isinstance(started, datetime) or started.timestamp() >= asked_at - CLOCK_TOLERANCE_S
        return fresh, str(response["executionArn"])


def _states() -> Any:
    return aws_client("stepfunctions")
