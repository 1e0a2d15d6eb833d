"""Stack settings: one pydantic model over the `hybrid-routing` context of cdk.json.

Read once at synth time; nothing here calls AWS.
"""

from __future__ import annotations

import re
from typing import Literal

from aws_cdk import RemovalPolicy
from aws_cdk.aws_logs import RetentionDays
from constructs import Node
from pydantic import BaseModel, ConfigDict, Field, field_validator

from functions.domain import names
from functions.domain.names import BEDROCK, DIRECT_PROVIDERS, META
from functions.domain.thresholds import API_THROTTLING_BURST_LIMIT, API_THROTTLING_RATE_LIMIT

CONTEXT_KEY = "hybrid-routing"

# CloudWatch Logs accepts only these retention periods; jsii enums carry names, not numbers.
_RETENTION_BY_DAYS: dict[int, RetentionDays] = {
    1: RetentionDays.ONE_DAY,
    3: RetentionDays.THREE_DAYS,
    5: RetentionDays.FIVE_DAYS,
    7: RetentionDays.ONE_WEEK,
    14: RetentionDays.TWO_WEEKS,
    30: RetentionDays.ONE_MONTH,
    60: RetentionDays.TWO_MONTHS,
    90: RetentionDays.THREE_MONTHS,
    120: RetentionDays.FOUR_MONTHS,
    150: RetentionDays.FIVE_MONTHS,
    180: RetentionDays.SIX_MONTHS,
    365: RetentionDays.ONE_YEAR,
    400: RetentionDays.THIRTEEN_MONTHS,
    545: RetentionDays.EIGHTEEN_MONTHS,
    731: RetentionDays.TWO_YEARS,
    1096: RetentionDays.THREE_YEARS,
    1827: RetentionDays.FIVE_YEARS,
    2192: RetentionDays.SIX_YEARS,
    2557: RetentionDays.SEVEN_YEARS,
    2922: RetentionDays.EIGHT_YEARS,
    3288: RetentionDays.NINE_YEARS,
    3653: RetentionDays.TEN_YEARS,
}

_SECRETS_MANAGER_ARN = r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$"

# A model id becomes part of an IAM resource ARN: no wildcards, no path separators.
_MODEL_ID_PATTERN = r"^[a-z0-9][a-z0-9.\-]*(:[0-9a-z.\-]+)*$"


class StackConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stack_name: str = Field(default=names.DEFAULT_STACK_NAME, pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
    bedrock_region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    bedrock_model_ids: tuple[str, ...] = Field(default=("anthropic.claude-3-haiku-20240307-v1:0",), min_length=1)
    mcp_server_url: str | None = Field(default=None, pattern=r"^https?://")
    mcp_tool_name: str = "generate"
    direct_providers: str = BEDROCK  # comma-separated, of DIRECT_PROVIDERS
    google_model: str = "gemini-2.0-flash"
    # An existing secret holding the key; without one the stack creates an empty-for-you secret.
    google_api_key_secret_arn: str | None = Field(default=None, pattern=_SECRETS_MANAGER_ARN)
    meta_mode: Literal["llama_api", "bedrock"] = "llama_api"
    meta_model: str = "Llama-4-Maverick-17B-128E-Instruct-FP8"
    meta_bedrock_model_id: str = Field(default="meta.llama3-70b-instruct-v1:0", pattern=_MODEL_ID_PATTERN)
    meta_api_key_secret_arn: str | None = Field(default=None, pattern=_SECRETS_MANAGER_ARN)
    monthly_budget_usd: float | None = Field(default=None, gt=0)
    # model -> [input, output] USD per million tokens, overriding the router's built-in prices.
    price_overrides: dict[str, tuple[float, float]] | None = None
    cache_fresh_ttl_seconds: int = Field(default=3600, gt=0)
    cache_stale_ttl_seconds: int = Field(default=86400, gt=0)
    log_retention_days: int = 30
    api_stage_name: str = Field(default="prod", pattern=r"^[A-Za-z0-9_]+$")
    api_throttling_rate_limit: float = Field(default=API_THROTTLING_RATE_LIMIT, gt=0)
    api_throttling_burst_limit: int = Field(default=API_THROTTLING_BURST_LIMIT, gt=0)
    alarm_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    removal_policy: Literal["retain", "destroy"] = "retain"
    deletion_protection: bool = True
    table_encryption: Literal["aws_managed", "customer_managed"] = "aws_managed"

    @field_validator("bedrock_model_ids")
    @classmethod
    def _model_ids_are_exact(cls, ids: tuple[str, ...]) -> tuple[str, ...]:
        bad = [model_id for model_id in ids if not re.fullmatch(_MODEL_ID_PATTERN, model_id)]
        if bad:
            raise ValueError(f"not an exact foundation-model id: {bad}")
        return ids

    @field_validator("direct_providers")
    @classmethod
    def _direct_providers_are_known(cls, value: str) -> str:
        unknown = set(cls.split_providers(value)) - set(DIRECT_PROVIDERS)
        if unknown:
            raise ValueError(f"unknown direct providers {sorted(unknown)}; known: {sorted(DIRECT_PROVIDERS)}")
        return value

    @field_validator("price_overrides")
    @classmethod
    def _prices_are_not_negative(
        cls, prices: dict[str, tuple[float, float]] | None
    ) -> dict[str, tuple[float, float]] | None:
        if prices and any(price < 0 for pair in prices.values() for price in pair):
            raise ValueError("prices must not be negative")
        return prices

    @staticmethod
    def split_providers(value: str) -> tuple[str, ...]:
        return tuple(p.strip() for p in value.split(",") if p.strip())

    @property
    def direct(self) -> tuple[str, ...]:
        return self.split_providers(self.direct_providers)

    @property
    def invoked_bedrock_model_ids(self) -> tuple[str, ...]:
        """Every Bedrock model the functions may invoke: the router's, and Llama when meta runs there."""
        if META in self.direct and self.meta_mode == "bedrock":
            return (*self.bedrock_model_ids, self.meta_bedrock_model_id)
        return self.bedrock_model_ids

    @property
    def observability_environment(self) -> dict[str, str]:
        """What the functions' metrics, alerts and compliance answers need to know of the deployment."""
        return {"LOG_RETENTION_DAYS": str(self.log_retention_days), "ALARM_PREFIX": self.stack_name}

    @field_validator("log_retention_days")
    @classmethod
    def _retention_is_supported(cls, days: int) -> int:
        if days not in _RETENTION_BY_DAYS:
            raise ValueError(f"CloudWatch Logs retention must be one of {sorted(_RETENTION_BY_DAYS)}")
        return days

    @classmethod
    def from_context(cls, node: Node) -> StackConfig:
        return cls.model_validate(node.try_get_context(CONTEXT_KEY) or {})

    @property
    def log_retention(self) -> RetentionDays:
        return _RETENTION_BY_DAYS[self.log_retention_days]

    @property
    def cdk_removal_policy(self) -> RemovalPolicy:
        return RemovalPolicy.RETAIN if self.removal_policy == "retain" else RemovalPolicy.DESTROY
