"""Router function settings: one pydantic model over the environment, validated once."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field

from functions.domain.thresholds import (
    CACHE_FRESH_SECONDS,
    CACHE_STALE_SECONDS,
    CLIENT_REQUESTS_PER_MINUTE,
    CLIENT_TOKENS_PER_MINUTE,
    QUOTA_SHARDS,
    SNAPSHOT_MAX_AGE_SECONDS,
)


class RouterSettings(BaseModel):
    """Tables and data-plane settings; provider settings live in functions.adapters.providers.settings."""

    flags_table: str = Field(alias="FLAGS_TABLE")
    health_table: str = Field(alias="HEALTH_TABLE")
    client_keys_table: str = Field(alias="CLIENT_KEYS_TABLE")
    cache_table: str | None = Field(default=None, alias="CACHE_TABLE")
    audit_table: str | None = Field(default=None, alias="AUDIT_TABLE")
    spend_table: str = Field(alias="SPEND_TABLE")
    # Per-client-key quotas: the counters' table (none: no quota), their shards per key and window (the stack
    # derives it from its throttling settings), and the limits of a key that carries none of its own.
    quotas_table: str | None = Field(default=None, alias="QUOTAS_TABLE")
    quota_shards: int = Field(default=QUOTA_SHARDS, ge=1, le=100, alias="QUOTA_SHARDS")  # one BatchGetItem: <= 100
    client_requests_per_minute: int = Field(
        default=CLIENT_REQUESTS_PER_MINUTE, gt=0, alias="CLIENT_REQUESTS_PER_MINUTE"
    )
    client_tokens_per_minute: int = Field(default=CLIENT_TOKENS_PER_MINUTE, gt=0, alias="CLIENT_TOKENS_PER_MINUTE")
    monthly_budget_usd: float | None = Field(default=None, gt=0, alias="MONTHLY_BUDGET_USD")
    price_table_json: str | None = Field(default=None, alias="PRICE_TABLE_JSON")
    cache_fresh_ttl_seconds: float = Field(default=CACHE_FRESH_SECONDS, gt=0, alias="CACHE_FRESH_TTL_SECONDS")
    cache_stale_ttl_seconds: float = Field(default=CACHE_STALE_SECONDS, ge=0, alias="CACHE_STALE_TTL_SECONDS")
    # How long the routing snapshot (flags, weights, health) is kept before a refresh; drills compress it.
    snapshot_max_age_seconds: float = Field(default=SNAPSHOT_MAX_AGE_SECONDS, gt=0, alias="SNAPSHOT_MAX_AGE_SECONDS")

    # Fail over to another provider after a content-filter refusal: the operator's decision, off by
    # default (failing over around a safety system is rarely what a team means).
    content_filter_failover: bool = Field(default=False, alias="CONTENT_FILTER_FAILOVER")
    # Continue a stream cut after its first delta on a fallback, sending the partial answer as an assistant
    # prefill: off by default, and only to the targets named in PREFILL_TARGETS (comma-separated), whose
    # configured models accept a conversation ending with an assistant turn as the start of their answer.
    stream_continuation: bool = Field(default=False, alias="STREAM_CONTINUE_ON_CUT")
    prefill_targets_csv: str = Field(default="", alias="PREFILL_TARGETS")

    @property
    def prefill_targets(self) -> frozenset[str]:
        return frozenset(name.strip() for name in self.prefill_targets_csv.split(",") if name.strip())

    model_config = {"populate_by_name": True, "extra": "ignore"}


@lru_cache(maxsize=1)
def get_settings() -> RouterSettings:
    return RouterSettings.model_validate(dict(os.environ))
