"""Automation Lambda settings: one pydantic model over the environment, validated once."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field, Json

from functions.domain import names
from functions.domain.names import BEDROCK
from functions.domain.rollout.gate_options import GateOptions
from functions.domain.rollout.gates import RECOVERY_THRESHOLDS, GateThresholds
from functions.domain.rollout.plan import RolloutKind
from functions.domain.thresholds import (
    AUTOMATION_COOLDOWN_SECONDS,
    AUTOMATION_START_GRACE_SECONDS,
    FAILBACK_HYSTERESIS_SECONDS,
    RECOVERY_WINDOW_SECONDS,
)


class AutomationSettings(BaseModel):
    """Tables, the state machines by kind, and the runbook's numbers (overridable so that local drills
    and tests run in seconds). The optional workflow timings and gate sizes, when set, go into every
    execution's input; unset, the state machines and the gates apply the runbook's."""

    flags_table: str = Field(alias="FLAGS_TABLE")
    audit_table: str = Field(alias="AUDIT_TABLE")
    audit_key_id: str = Field(alias=names.AUDIT_KEY_ENV)  # the trail's KMS HMAC key
    audit_anchor_log_group: str = Field(alias=names.AUDIT_ANCHOR_ENV)  # where the trail's head is anchored
    health_table: str = Field(alias="HEALTH_TABLE")
    # {"canary": arn, "failback": arn, "gradual_failover": arn, "immediate_failover": arn}
    state_machine_arns: Json[dict[RolloutKind, str]] = Field(alias="STATE_MACHINE_ARNS")
    direct_providers: str = Field(default=BEDROCK, alias="DIRECT_PROVIDERS")
    alarm_prefix: str = Field(default=names.DEFAULT_STACK_NAME, alias="ALARM_PREFIX")
    cooldown_s: float = Field(default=AUTOMATION_COOLDOWN_SECONDS, ge=0, alias="AUTOMATION_COOLDOWN_SECONDS")
    hysteresis_s: float = Field(default=FAILBACK_HYSTERESIS_SECONDS, ge=0, alias="FAILBACK_HYSTERESIS_SECONDS")
    start_grace_s: float = Field(default=AUTOMATION_START_GRACE_SECONDS, ge=0, alias="AUTOMATION_START_GRACE_SECONDS")
    recovery_window_s: int = Field(default=RECOVERY_WINDOW_SECONDS, ge=1, alias="RECOVERY_WINDOW_SECONDS")
    recovery_success_percent: float = Field(default=RECOVERY_THRESHOLDS.success_percent, ge=0, le=100)
    recovery_p95_latency_ms: float = Field(default=RECOVERY_THRESHOLDS.p95_latency_ms, gt=0)
    recovery_min_requests: int = Field(default=RECOVERY_THRESHOLDS.min_requests, ge=1)
    gradual_bake_s: int | None = Field(default=None, ge=0, alias="AUTOMATION_GRADUAL_BAKE_SECONDS")
    failback_bake_s: int | None = Field(default=None, ge=0, alias="AUTOMATION_FAILBACK_BAKE_SECONDS")
    recheck_s: int | None = Field(default=None, ge=0, alias="AUTOMATION_RECHECK_SECONDS")
    gate_window_s: int | None = Field(default=None, ge=1, alias="AUTOMATION_GATE_WINDOW_SECONDS")
    gate_min_requests: int | None = Field(default=None, ge=1, alias="AUTOMATION_GATE_MIN_REQUESTS")
    gate_max_inconclusive: int | None = Field(default=None, ge=0, alias="AUTOMATION_GATE_MAX_INCONCLUSIVE")
    gate_p95_latency_ms: float | None = Field(default=None, gt=0, alias="AUTOMATION_GATE_P95_LATENCY_MS")

    model_config = {"populate_by_name": True, "extra": "ignore"}

    def direct(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.direct_providers.split(",") if p.strip())

    def machine_arns(self) -> dict[str, str]:
        return {kind.value: arn for kind, arn in self.state_machine_arns.items()}

    def recovery_thresholds(self) -> GateThresholds:
        """What a failed-over provider is held to before its failback starts, and during it."""
        return GateThresholds(self.recovery_success_percent, self.recovery_p95_latency_ms, self.recovery_min_requests)

    def extras(self) -> dict[RolloutKind, dict[str, Any]]:
        """What every execution of a kind gets in its input beyond source, target and reason. The
        failback's gates hold the recovered provider to the recovery thresholds, not the looser ones."""
        options = GateOptions(
            window_seconds=self.gate_window_s,
            min_requests=self.gate_min_requests,
            max_inconclusive=self.gate_max_inconclusive,
            p95_latency_ms=self.gate_p95_latency_ms,
        )
        gate = options.wire()
        strict = GateOptions(
            success_percent=self.recovery_success_percent, p95_latency_ms=self.recovery_p95_latency_ms
        ).wire()
        return {
            RolloutKind.GRADUAL_FAILOVER: _present(bakeSeconds=self.gradual_bake_s, recheckSeconds=self.recheck_s)
            | ({"gate": gate} if gate else {}),
            RolloutKind.FAILBACK: _present(bakeSeconds=self.failback_bake_s, recheckSeconds=self.recheck_s)
            | {"gate": gate | strict},
        }


def _present(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@lru_cache(maxsize=1)
def get_settings() -> AutomationSettings:
    return AutomationSettings.model_validate(dict(os.environ))
