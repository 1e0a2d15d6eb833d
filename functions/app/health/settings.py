"""Health checker settings: one pydantic model over the environment, validated once."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field

from functions.domain.thresholds import HEALTH_PROBE_TIMEOUT_SECONDS


class HealthCheckSettings(BaseModel):
    """Where records and events go; provider settings live in functions.adapters.providers.settings."""

    health_table: str = Field(alias="HEALTH_TABLE")
    event_bus_name: str = Field(default="default", alias="EVENT_BUS_NAME")
    # The runbook's number; overridable only so local drills and tests need not wait for it.
    probe_timeout_s: float = Field(default=HEALTH_PROBE_TIMEOUT_SECONDS, gt=0, alias="HEALTH_PROBE_TIMEOUT_SECONDS")

    model_config = {"populate_by_name": True, "extra": "ignore"}


@lru_cache(maxsize=1)
def get_settings() -> HealthCheckSettings:
    return HealthCheckSettings.model_validate(dict(os.environ))
