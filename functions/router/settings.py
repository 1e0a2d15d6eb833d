"""Router function settings: one pydantic model over the environment, validated once."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field


class RouterSettings(BaseModel):
    flags_table: str = Field(alias="FLAGS_TABLE")
    health_table: str = Field(alias="HEALTH_TABLE")
    client_keys_table: str = Field(alias="CLIENT_KEYS_TABLE")
    cache_table: str | None = Field(default=None, alias="CACHE_TABLE")
    audit_table: str | None = Field(default=None, alias="AUDIT_TABLE")
    bedrock_region: str | None = Field(default=None, alias="BEDROCK_REGION")
    bedrock_endpoint_url: str | None = Field(default=None, alias="BEDROCK_ENDPOINT_URL")
    bedrock_model_id: str = Field(default="anthropic.claude-3-haiku-20240307-v1:0", alias="BEDROCK_MODEL_ID")
    mcp_server_url: str | None = Field(default=None, alias="MCP_SERVER_URL")
    mcp_tool_name: str = Field(default="generate", alias="MCP_TOOL_NAME")
    direct_providers: str = Field(default="bedrock", alias="DIRECT_PROVIDERS")

    model_config = {"populate_by_name": True, "extra": "ignore"}


@lru_cache(maxsize=1)
def get_settings() -> RouterSettings:
    return RouterSettings.model_validate(dict(os.environ))
