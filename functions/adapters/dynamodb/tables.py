"""What DynamoDB says about our tables themselves (their encryption at rest)."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.dynamodb.client import dynamodb_client
from functions.domain.errors import DependencyUnavailable


@dataclass(frozen=True, slots=True)
class TableEncryption:
    encrypted: bool
    key_type: str | None  # AWS_OWNED, AWS_MANAGED_OR_CMK (a KMS key), or DynamoDB's SSEType


def table_encryption(table: str) -> TableEncryption:
    try:
        description = dynamodb_client().describe_table(TableName=table)["Table"]
    except (ClientError, BotoCoreError) as exc:
        raise DependencyUnavailable("the tables' encryption settings cannot be read right now") from exc
    sse = description.get("SSEDescription") or {}
    # DynamoDB encrypts every table at rest; without an SSEDescription the key is AWS owned.
    key = "AWS_OWNED" if not sse else ("AWS_MANAGED_OR_CMK" if sse.get("SSEType") == "KMS" else sse.get("SSEType"))
    return TableEncryption(sse.get("Status", "ENABLED") in ("ENABLED", "UPDATING"), key)
