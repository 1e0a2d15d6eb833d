"""Create our DynamoDB tables from the same key-schema constants the stack uses."""

from __future__ import annotations

from typing import Any

from functions.adapters.dynamodb.schema import ALL_TABLES, TableSchema


def table_name(schema: TableSchema, prefix: str = "hybrid-routing") -> str:
    return f"{prefix}-{schema.logical_name.lower()}"


def create_tables(client: Any, prefix: str = "hybrid-routing") -> dict[str, str]:
    """Create every table (on demand, TTL where set); return env var name -> table name."""
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
    return names
