"""Key schemas of our DynamoDB tables: the stack creates the tables from these, the store and the
tests use the same constants, so the three can never disagree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class TableSchema:
    logical_name: str
    env_var: str  # the function environment variable that carries the table's physical name
    partition_key: str
    partition_type: Literal["S", "N"] = "S"
    sort_key: str | None = None
    sort_type: Literal["S", "N"] = "S"
    ttl_attribute: str | None = None


FLAGS = TableSchema("Flags", "FLAGS_TABLE", "pk")
HEALTH = TableSchema("Health", "HEALTH_TABLE", "pk", ttl_attribute="expires_at")
CACHE = TableSchema("Cache", "CACHE_TABLE", "pk", ttl_attribute="expires_at")
AUDIT = TableSchema("Audit", "AUDIT_TABLE", "stream", sort_key="seq", sort_type="N")
CLIENT_KEYS = TableSchema("ClientKeys", "CLIENT_KEYS_TABLE", "key_hash")
# The router's own counters, apart from the control plane's items: the month's spend, and each client
# key's request and token counts per quota window (sharded, expired by TTL).
SPEND = TableSchema("Spend", "SPEND_TABLE", "pk")
QUOTAS = TableSchema("Quotas", "QUOTAS_TABLE", "pk", ttl_attribute="expires_at")

ALL_TABLES: tuple[TableSchema, ...] = (FLAGS, HEALTH, CACHE, AUDIT, CLIENT_KEYS, SPEND, QUOTAS)

# Item keys in the flags and health tables.
FEATURE_FLAGS_KEY = "feature-flags#bedrock"
ROUTING_OVERRIDE_KEY = "routing-override"
TRAFFIC_WEIGHTS_KEY = "traffic-weights#direct"
ISOLATION_KEY = "isolation"  # targets an operator took out of rotation (isolate-component)
BREAKER_SETTINGS_KEY = "circuit-breakers"  # {"enabled": bool}
ROUTING_RULES_KEY = "routing-rules"  # per-operation primary/fallback overrides of the matrix
SLO_THRESHOLDS_KEY = "slo-thresholds"
REQUEST_TIMEOUT_KEY = "request-timeout"  # {"timeout_ms": int}: the cap of one provider attempt
ROUTING_THRESHOLDS_KEY = "routing-thresholds"
CACHE_SETTINGS_KEY = "cache-settings"  # mode, freshTtlSeconds, staleTtlSeconds, serveStale


def health_key(target: str) -> str:
    return f"health#{target}"


# The shared circuit breakers' items in the health table (`breaker#<target>`): the router writes these only.
BREAKER_KEY_PREFIX = "breaker#"


# The flags table's items the router's snapshot reads (functions/adapters/dynamodb/snapshot.py).
SNAPSHOT_KEYS: tuple[str, ...] = (
    FEATURE_FLAGS_KEY,
    ROUTING_OVERRIDE_KEY,
    TRAFFIC_WEIGHTS_KEY,
    ISOLATION_KEY,
    BREAKER_SETTINGS_KEY,
    ROUTING_RULES_KEY,
    REQUEST_TIMEOUT_KEY,
    CACHE_SETTINGS_KEY,
)
# Every operator-settable item of the flags table: the router's, and those the alarms and gates read.
CONTROL_KEYS: tuple[str, ...] = (*SNAPSHOT_KEYS, SLO_THRESHOLDS_KEY, ROUTING_THRESHOLDS_KEY)
