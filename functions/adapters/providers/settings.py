"""Provider settings, shared by every function that calls providers (router, health checker)."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from functions.domain.names import BEDROCK, GOOGLE, MCP, META


class ProviderSettings(BaseModel):
    direct_providers: str = Field(default="bedrock", alias="DIRECT_PROVIDERS")  # comma-separated
    bedrock_region: str | None = Field(default=None, alias="BEDROCK_REGION")
    bedrock_endpoint_url: str | None = Field(default=None, alias="BEDROCK_ENDPOINT_URL")
    bedrock_model_id: str = Field(default="anthropic.claude-3-haiku-20240307-v1:0", alias="BEDROCK_MODEL_ID")
    mcp_server_url: str | None = Field(default=None, alias="MCP_SERVER_URL")
    mcp_tool_name: str = Field(default="generate", alias="MCP_TOOL_NAME")
    # Google Gemini API (generateContent); the key from Secrets Manager in the stack, from env locally.
    google_model: str = Field(default="gemini-2.0-flash", alias="GOOGLE_MODEL")
    google_endpoint_url: str = Field(default="https://generativelanguage.googleapis.com", alias="GOOGLE_ENDPOINT_URL")
    google_api_key: SecretStr | None = Field(default=None, alias="GOOGLE_API_KEY")
    google_api_key_secret_arn: str | None = Field(default=None, alias="GOOGLE_API_KEY_SECRET_ARN")
    # Meta Llama: the Llama API's OpenAI-compatible protocol, or Llama models on Bedrock.
    meta_mode: Literal["llama_api", "bedrock"] = Field(default="llama_api", alias="META_MODE")
    meta_model: str = Field(default="Llama-4-Maverick-17B-128E-Instruct-FP8", alias="META_MODEL")
    meta_endpoint_url: str = Field(default="https://api.llama.com/compat/v1", alias="META_ENDPOINT_URL")
    meta_api_key: SecretStr | None = Field(default=None, alias="META_API_KEY")
    meta_api_key_secret_arn: str | None = Field(default=None, alias="META_API_KEY_SECRET_ARN")
    meta_bedrock_model_id: str = Field(default="meta.llama3-70b-instruct-v1:0", alias="META_BEDROCK_MODEL_ID")

    # Each configured model's context window in tokens: a prompt too long for one goes only to a larger
    # one (functions/domain/routing/retry.py). The defaults are the default models' published windows;
    # the MCP server's is unknown unless set.
    bedrock_context_window_tokens: int = Field(default=200_000, gt=0, alias="BEDROCK_CONTEXT_WINDOW_TOKENS")
    google_context_window_tokens: int = Field(default=1_048_576, gt=0, alias="GOOGLE_CONTEXT_WINDOW_TOKENS")
    meta_context_window_tokens: int = Field(default=128_000, gt=0, alias="META_CONTEXT_WINDOW_TOKENS")
    mcp_context_window_tokens: int | None = Field(default=None, gt=0, alias="MCP_CONTEXT_WINDOW_TOKENS")

    model_config = {"populate_by_name": True, "extra": "ignore"}

    def context_windows(self) -> dict[str, int | None]:
        """Each target's context window in tokens (None: unknown)."""
        return {
            BEDROCK: self.bedrock_context_window_tokens,
            GOOGLE: self.google_context_window_tokens,
            META: self.meta_context_window_tokens,
            MCP: self.mcp_context_window_tokens,
        }

    def direct(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.direct_providers.split(",") if p.strip())


@lru_cache(maxsize=1)
def get_provider_settings() -> ProviderSettings:
    return ProviderSettings.model_validate(dict(os.environ))
