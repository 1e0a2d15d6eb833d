"""The one DynamoDB client of a process, made on first use (never at import time)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config

_DESERIALIZER = TypeDeserializer()
_SERIALIZER = TypeSerializer()


@lru_cache(maxsize=1)
def dynamodb_client() -> Any:
    config = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 3, "mode": "standard"})
    return boto3.client("dynamodb", config=config)


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _DESERIALIZER.deserialize(value) for key, value in item.items()}


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _SERIALIZER.serialize(value) for key, value in values.items() if value is not None}
