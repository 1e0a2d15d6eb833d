"""Create our DynamoDB tables from the same key-schema constants the stack uses, and the audit trail's
key (a KMS HMAC key) and anchor log stream, as the stack creates them."""

from __future__ import annotations

from typing import Any

from functions.adapters.dynamodb.schema import ALL_TABLES, TableSchema
from functions.domain.names import AUDIT_ANCHOR_ENV, AUDIT_ANCHOR_LOG_GROUP_SUFFIX, AUDIT_ANCHOR_STREAM, AUDIT_KEY_ENV


def table_name(schema: TableSchema, prefix: str = "hybrid-routing") -> str:
    return f"{prefix}-{schema.logical_name.lower()}"


def create_tables(client: Any, prefix: str = "hybrid-routing") -> dict[str, str]:
    """Create every table (on demand, TTL where set) and the audit trail's key and anchors; return env
    var name -> table name (and the key's ARN, the anchor log group's name)."""
    names: dict[str, str] = {}
    for schema in ALL_TABLES:
        name = table_name(schema, prefix)
        keys = [{"AttributeName": schema.partition_key, "KeyType": "HASH"}]
        attributes = [{"AttributeName": schema.partition_key, "AttributeType": schema.partition_type}]
        if schema.sort_key:
            keys.append({"AttributeName": schema.sort_key, "KeyType": "RANGE"})
            attributes.append({"AttributeName": schema.sort_key, "AttributeType": schema.sort_type})
        client.create_table(
            TableName=name, KeySchema=keys, AttributeDefinitions=attributes, BillingMode="PAY_PER_REQUEST"
        )
        if schema.ttl_attribute:
            client.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": schema.ttl_attribute}
            )
        names[schema.env_var] = name
    return {**names, **create_audit_trail(client.meta.region_name, prefix)}


def create_audit_trail(region: str, prefix: str = "hybrid-routing") -> dict[str, str]:
    """The trail's HMAC key and its anchor log group and stream; env var name -> key ARN / group name."""
    import boto3

    key = boto3.client("kms", region_name=region).create_key(
        Description=f"{prefix} audit trail", KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256"
    )
    group = f"/{prefix}/{AUDIT_ANCHOR_LOG_GROUP_SUFFIX}"
    logs = boto3.client("logs", region_name=region)
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=AUDIT_ANCHOR_STREAM)
    return {AUDIT_KEY_ENV: key["KeyMetadata"]["Arn"], AUDIT_ANCHOR_ENV: group}
