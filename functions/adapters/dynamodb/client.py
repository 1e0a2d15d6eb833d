"""The DynamoDB client of a process, made on first use, and the attribute-value codec."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

from botocore.config import Config

from functions.adapters.aws import client

_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 3, "mode": "standard"})


@lru_cache(maxsize=1)
def dynamodb_client() -> Any:
    return client("dynamodb", config=_CONFIG)


# The item codec: boto3.dynamodb.types would do, but importing it imports all of boto3 (see
# functions.adapters.aws). These are the attribute types our tables use.
def _decode(value: dict[str, Any]) -> Any:
    ((kind, raw),) = value.items()
    if kind == "S":
        return raw
    if kind == "N":
        return Decimal(raw)
    if kind == "BOOL":
        return bool(raw)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: _decode(v) for k, v in raw.items()}
    if kind == "L":
        return [_decode(v) for v in raw]
    if kind in ("SS", "BS", "B"):
        return set(raw) if kind != "B" else raw
    if kind == "NS":
        return {Decimal(n) for n in raw}
    raise ValueError(f"unsupported DynamoDB attribute type {kind}")


def _encode(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": repr(value)}
    if isinstance(value, dict):
        return {"M": {str(k): _encode(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [_encode(v) for v in value]}
    raise TypeError(f"cannot store a {type(value).__name__} in DynamoDB")


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _decode(value) for key, value in item.items()}


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _encode(value) for key, value in values.items() if value is not None}
