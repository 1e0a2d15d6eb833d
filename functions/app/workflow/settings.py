"""Workflow Lambda settings: one pydantic model over the environment, validated once."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field

from functions.domain import names
from functions.domain.thresholds import GATE_WINDOW_SECONDS


class WorkflowSettings(BaseModel):
    """Tables it reads and writes; the metrics source (METRICS_SOURCE, METRICS_NAMESPACE) is read by
    functions.adapters.cloudwatch's own settings model."""

    flags_table: str = Field(alias="FLAGS_TABLE")
    audit_table: str = Field(alias="AUDIT_TABLE")
    audit_key_id: str = Field(alias=names.AUDIT_KEY_ENV)  # the trail's KMS HMAC key
    audit_anchor_log_group: str = Field(alias=names.AUDIT_ANCHOR_ENV)  # where the trail's head is anchored
    health_table: str = Field(alias="HEALTH_TABLE")
    metrics_source: str = Field(default="cloudwatch", alias="METRICS_SOURCE")
    alarm_prefix: str = Field(default=names.DEFAULT_STACK_NAME, alias="ALARM_PREFIX")
    gate_window_s: int = Field(default=GATE_WINDOW_SECONDS, ge=1, alias="GATE_WINDOW_SECONDS")

    model_config = {"populate_by_name": True, "extra": "ignore"}


@lru_cache(maxsize=1)
def get_settings() -> WorkflowSettings:
    return WorkflowSettings.model_validate(dict(os.environ))
