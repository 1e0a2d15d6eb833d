"""Admin function settings: one pydantic model over the environment, validated once."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field


class AdminSettings(BaseModel):
    flags_table: str = Field(alias="FLAGS_TABLE")
    health_table: str = Field(alias="HEALTH_TABLE")
    audit_table: str = Field(alias="AUDIT_TABLE")
    cache_table: str | None = Field(default=None, alias="CACHE_TABLE")
    direct_providers: str = Field(default="bedrock", alias="DIRECT_PROVIDERS")

    model_config = {"populate_by_name": True, "extra": "ignore"}

    def direct(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.direct_providers.split(",") if p.strip())


@lru_cache(maxsize=1)
def get_settings() -> AdminSettings:
    return AdminSettings.model_validate(dict(os.environ))
