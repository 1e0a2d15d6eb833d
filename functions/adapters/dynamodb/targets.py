"""The breaker and health items of the targets in the health table, read in one consistent batch."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.dynamodb.breakers import breaker_key
from functions.adapters.dynamodb.client import dynamodb_client, from_item
from functions.adapters.dynamodb.schema import HEALTH, health_key
from functions.domain.errors import DependencyUnavailable


def target_items(health_table: str, targets: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Each item found, by its key (`breaker_key(t)`, `health_key(t)`)."""
    keys = [{HEALTH.partition_key: {"S": k}} for t in targets for k in (breaker_key(t), health_key(t))]
    try:
        response = dynamodb_client().batch_get_item(RequestItems={health_table: {"Keys": keys, "ConsistentRead": True}})
    except (ClientError, BotoCoreError) as exc:
        raise DependencyUnavailable("the health table cannot be read right now") from exc
    items = map(from_item, response.get("Responses", {}).get(health_table, []))
    return {str(item[HEALTH.partition_key]): item for item in items}
