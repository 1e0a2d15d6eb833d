"""Router function settings: one pydantic model over the environment, validated once."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field


class RouterSettings(BaseModel):
    """Tables and data-plane settings; provider settings live in functions.providers.settings."""

    flags_table: str = Field(alias="FLAGS_TABLE")
    health_table: str = Field(alias="HEALTH_TABLE")
    client_keys_table: str = Field(alias="CLIENT_KEYS_TABLE")
    cache_table: str | None = Field(default=None, alias="CACHE_TABLE")
    audit_table: str | None = Field(default=None, alias="AUDIT_TABLE")

    model_config = {"populate_by_name": True, "extra": "ignore"}


@lru_cache(maxsize=1)
def get_settings() -> RouterSettings:
    return RouterSettings.model_validate(dict(os.environ))
