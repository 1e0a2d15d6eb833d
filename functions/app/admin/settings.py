"""Admin function settings: one pydantic model over the environment, validated once."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field, Json

from functions.domain import names

# AWS and Google Cloud regions inside the EU/EEA (and the UK, which has an adequacy decision).
EU_REGIONS: tuple[str, ...] = (
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "europe-west1",
    "europe-west2",
    "europe-west3",
    "europe-west4",
    "europe-west8",
    "europe-west9",
    "europe-west10",
    "europe-west12",
    "europe-north1",
    "europe-central2",
    "europe-southwest1",
)


class AdminSettings(BaseModel):
    flags_table: str = Field(alias="FLAGS_TABLE")
    health_table: str = Field(alias="HEALTH_TABLE")
    audit_table: str = Field(alias="AUDIT_TABLE")
    audit_key_id: str = Field(alias=names.AUDIT_KEY_ENV)  # the trail's KMS HMAC key
    audit_anchor_log_group: str = Field(alias=names.AUDIT_ANCHOR_ENV)  # where the trail's head is anchored
    cache_table: str | None = Field(default=None, alias="CACHE_TABLE")
    direct_providers: str = Field(default="bedrock", alias="DIRECT_PROVIDERS")
    # Compliance reports (production-operations.md, "Compliance Validation").
    log_retention_days: int | None = Field(default=None, ge=0, alias="LOG_RETENTION_DAYS")
    allowed_regions: str = Field(default=",".join(EU_REGIONS), alias="ALLOWED_REGIONS")
    # Where the Google and Meta endpoints process data, as their contracts declare it ("global": anywhere).
    google_region: str = Field(default="global", alias="GOOGLE_REGION")
    meta_region: str = Field(default="global", alias="META_REGION")
    # The MCP server runs on our infrastructure: in the function's own region unless declared otherwise.
    mcp_region: str | None = Field(default=None, alias="MCP_REGION")
    aws_region: str | None = Field(default=None, alias="AWS_REGION")
    # The rollout workflows (issue 5): {"canary": arn, "failback": arn, "gradual_failover": arn,
    # "immediate_failover": arn}; empty where the workflows are not deployed.
    state_machine_arns: Json[dict[str, str]] = Field(default_factory=dict, alias="STATE_MACHINE_ARNS")

    model_config = {"populate_by_name": True, "extra": "ignore"}

    def allowed(self) -> tuple[str, ...]:
        return tuple(r.strip().lower() for r in self.allowed_regions.split(",") if r.strip())

    def direct(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.direct_providers.split(",") if p.strip())


@lru_cache(maxsize=1)
def get_settings() -> AdminSettings:
    return AdminSettings.model_validate(dict(os.environ))
