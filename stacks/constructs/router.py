"""The router function: the data plane's Lambda, its environment and its grants (the API in front is `RouterApi`)."""

from __future__ import annotations

import json

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from functions.adapters.dynamodb.schema import (
    BREAKER_KEY_PREFIX,
    CACHE,
    CLIENT_KEYS,
    FLAGS,
    HEALTH,
    QUOTAS,
    SPEND,
    TableSchema,
)
from functions.domain.thresholds import (
    LATENCY_BUDGET_SECONDS,
    ROUTER_RESERVED_CONCURRENCY,
    STREAM_MAX_SECONDS,
    quota_shards,
)
from stacks.config import StackConfig
from stacks.constructs.grants import grant_read_and
from stacks.constructs.lambda_factory import LambdaFactory
from stacks.constructs.logical_ids import keep_logical_ids
from stacks.constructs.providers import ProviderAccess
from stacks.constructs.tables import Tables

# What the function runs per invocation: an `HttpStream`, which the runtime loop of
# `functions.handlers.streaming_runtime` streams or buffers by route. The managed Python runtime
# cannot stream, so its exec wrapper starts that loop in place of its own (docs/architecture.md).
ROUTER_HANDLER = "functions.handlers.router.stream_handler"
STREAMING_BOOTSTRAP = "/var/task/functions/handlers/streaming_bootstrap"
LIVE_ALIAS = "live"
# The longest operation budget bounds a request (retries and fallbacks included), with a margin that
# lets the router answer its own timeout error instead of being killed mid-response; a streamed answer
# may last STREAM_MAX_SECONDS, chunks included.
ROUTER_TIMEOUT = Duration.seconds(int(max(max(LATENCY_BUDGET_SECONDS.values()) + 15, STREAM_MAX_SECONDS)))
# The function's resources keep the logical IDs of the stack's top level, where deployed stacks have them.
# What the router writes, by table: breaker state (put on sync, counted probes; the breaker items of the
# health table only, never a health record), cached answers, the month's spend and the client keys'
# quota counters (ADDs). It reads the flags and the client keys and writes neither; it has no access
# to the audit trail.
ROUTER_WRITES: dict[TableSchema, tuple[str, ...]] = {
    HEALTH: ("dynamodb:PutItem", "dynamodb:UpdateItem"),
    CACHE: ("dynamodb:PutItem",),
    SPEND: ("dynamodb:UpdateItem",),
    QUOTAS: ("dynamodb:UpdateItem",),
}
ROUTER_KEY_PREFIXES: dict[TableSchema, str] = {HEALTH: BREAKER_KEY_PREFIX}
ROUTER_READS: tuple[TableSchema, ...] = (FLAGS, CLIENT_KEYS)
_DEPLOYED_PATHS = {"Router": "Router", "RouterRole": "RouterRole", "RouterLogs": "RouterLogs"}


class Router(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        tables: Tables,
        providers: ProviderAccess,
        config: StackConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = factory.create(
            self,
            "Router",
            handler=ROUTER_HANDLER,
            description="OpenAI-compatible router: decides direct or MCP, calls the provider",
            environment=_environment(tables, providers, config),
            timeout=ROUTER_TIMEOUT,
            service_name="router",
            snap_start=True,
            reserved_concurrency=ROUTER_RESERVED_CONCURRENCY,
        )
        # SnapStart restores published versions only: the API invokes this alias, which moves to
        # the new version (and its snapshot, primed by `prime_for_snapshot`) on each deploy.
        self.alias = lambda_.Alias(self, "Live", alias_name=LIVE_ALIAS, version=self.function.current_version)
        for schema in ROUTER_READS:
            grant_read_and(tables.table(schema), self.function)
        for schema, writes in ROUTER_WRITES.items():
            grant_read_and(tables.table(schema), self.function, *writes, key_prefix=ROUTER_KEY_PREFIXES.get(schema))
        providers.grant(self.function)
        keep_logical_ids(self, _DEPLOYED_PATHS)


def _environment(tables: Tables, providers: ProviderAccess, config: StackConfig) -> dict[str, str]:
    environment = {schema.env_var: table.table_name for schema, table in tables.items()}
    environment |= providers.environment
    environment |= config.observability_environment
    environment["AWS_LAMBDA_EXEC_WRAPPER"] = STREAMING_BOOTSTRAP
    environment |= {
        "CACHE_FRESH_TTL_SECONDS": str(config.cache_fresh_ttl_seconds),
        "CACHE_STALE_TTL_SECONDS": str(config.cache_stale_ttl_seconds),
        # Quota counter items per client key and window, from the stage's own throttling (thresholds.py)
        "QUOTA_SHARDS": str(quota_shards(config.api_throttling_rate_limit, config.api_throttling_burst_limit)),
    }
    if config.monthly_budget_usd is not None:
        environment["MONTHLY_BUDGET_USD"] = str(config.monthly_budget_usd)
    if config.price_overrides:
        environment["PRICE_TABLE_JSON"] = json.dumps(
            {model: list(prices) for model, prices in sorted(config.price_overrides.items())},
            separators=(",", ":"),
        )
    return environment
