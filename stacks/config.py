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

# A model id becomes part of an IAM resource ARN: no wildcards, no path separators.
_MODEL_ID_PATTERN = r"^[a-z0-9][a-z0-9.\-]*(:[0-9a-z.\-]+)*$"


class StackConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stack_name: str = Field(default="HybridRouting", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
    bedrock_region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    bedrock_model_ids: tuple[str, ...] = Field(default=("anthropic.claude-3-haiku-20240307-v1:0",), min_length=1)
    mcp_server_url: str | None = Field(default=None, pattern=r"^https?://")
    mcp_tool_name: str = "generate"
    direct_providers: str = "bedrock"
    log_retention_days: int = 30
    api_stage_name: str = Field(default="prod", pattern=r"^[A-Za-z0-9_]+$")
    api_throttling_rate_limit: float = Field(default=100, gt=0)
    api_throttling_burst_limit: int = Field(default=200, gt=0)
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
