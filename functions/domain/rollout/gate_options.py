"""A rollout's gate options as the admin API and the state machines' input spell them (camelCase, each
optional): the one wire form of the gate thresholds, resolved against the runbook's defaults."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from functions.domain.rollout.gates import GateLimits, GateThresholds

_RUNBOOK, _LIMITS = GateThresholds(), GateLimits()


class GateOptions(BaseModel):
    """Health gate thresholds of a rollout; each one left out is the runbook's."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    window_seconds: int | None = Field(default=None, ge=1, le=86_400)
    success_percent: float | None = Field(default=None, ge=0, le=100)
    p95_latency_ms: float | None = Field(default=None, gt=0)
    min_requests: int | None = Field(default=None, ge=1)
    failure_limit: int | None = Field(default=None, ge=1)
    consecutive_failures: int | None = Field(default=None, ge=1)
    max_inconclusive: int | None = Field(default=None, ge=0)
    alarm_names: list[str] | None = Field(default=None, max_length=100)

    def thresholds(self, defaults: GateThresholds = _RUNBOOK) -> GateThresholds:
        return GateThresholds(
            defaults.success_percent if self.success_percent is None else self.success_percent,
            defaults.p95_latency_ms if self.p95_latency_ms is None else self.p95_latency_ms,
            defaults.min_requests if self.min_requests is None else self.min_requests,
        )

    def limits(self) -> GateLimits:
        return GateLimits(
            _LIMITS.failure_limit if self.failure_limit is None else self.failure_limit,
            _LIMITS.consecutive_failures if self.consecutive_failures is None else self.consecutive_failures,
            _LIMITS.max_inconclusive if self.max_inconclusive is None else self.max_inconclusive,
        )

    def wire(self) -> dict[str, object]:
        """The options given, as the state machines' input spells them."""
        return self.model_dump(by_alias=True, exclude_none=True)
