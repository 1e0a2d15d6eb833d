"""Every name the system shares: providers and targets, the default weights, the metrics namespace, each
metric and its dimensions. Emitters, alarms, dashboards, the CLI, the local stack and the tests import
these; a name written as a literal anywhere else is a second source of truth."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final, Literal

# --- Providers and targets -------------------------------------------------------------------------------
BEDROCK: Final = "bedrock"
GOOGLE: Final = "google"
META: Final = "meta"
MCP: Final = "mcp"
Provider = Literal["bedrock", "google", "meta"]
TargetName = Literal["bedrock", "google", "meta", "mcp"]
DIRECT_PROVIDERS: Final[tuple[str, ...]] = (BEDROCK, GOOGLE, META)
# Every target a request or a health probe can reach: the Direct providers, then the MCP route.
TARGETS: Final[tuple[str, ...]] = (*DIRECT_PROVIDERS, MCP)
# "all" selects every target where an operator names one (breaker reset, probe).
ALL: Final = "all"
TargetSelection = Literal["bedrock", "google", "meta", "mcp", "all"]

# The Direct weights when none are stored: everything on Bedrock. Read-only; `default_weights()` for a copy.
DEFAULT_WEIGHTS: Final = MappingProxyType({BEDROCK: 100})


def default_weights() -> dict[str, int]:
    return dict(DEFAULT_WEIGHTS)


# The stack's default name, which also prefixes every alarm name (ALARM_PREFIX).
DEFAULT_STACK_NAME: Final = "HybridRouting"

# --- Routes ----------------------------------------------------------------------------------------------
# The chat route, as API Gateway names it in a proxy event (`httpMethod`, `resource`).
CHAT_ROUTE: Final[tuple[str, str]] = ("POST", "/v1/chat/completions")
# The routes whose API integration streams (ResponseTransferMode.STREAM, invoked with InvokeWithResponseStream):
# the stack configures exactly these, and the function's runtime loop answers exactly these as a response stream.
STREAMED_ROUTES: Final[frozenset[tuple[str, str]]] = frozenset({CHAT_ROUTE})

# --- Metrics ---------------------------------------------------------------------------------------------
NAMESPACE: Final = "HybridRouting"
SERVICE: Final = "hybrid-router"  # Powertools' service name, also the `service` dimension

# Dimensions
DIM_SERVICE: Final = "service"
DIM_PROVIDER: Final = "Provider"
DIM_ROUTE: Final = "Route"
DIM_OPERATION: Final = "OperationType"
PROVIDER_DIMENSIONS: Final[tuple[str, ...]] = (DIM_PROVIDER, DIM_SERVICE)
CELL_DIMENSIONS: Final[tuple[str, ...]] = (DIM_ROUTE, DIM_PROVIDER, DIM_OPERATION)

# Per request (the router): dimensions service; Route+Provider+OperationType; Route; Provider; OperationType.
REQUESTS: Final = "Requests"
ERRORS: Final = "Errors"
FALLBACKS: Final = "Fallbacks"
LATENCY: Final = "Latency"
CACHE_HITS: Final = "CacheHits"
CACHE_MISSES: Final = "CacheMisses"
PRIMARY_SERVED: Final = "PrimaryServed"
INPUT_TOKENS: Final = "InputTokens"
OUTPUT_TOKENS: Final = "OutputTokens"
COST_USD: Final = "CostUSD"
BUDGET_UTILIZATION: Final = "BudgetUtilizationPercent"
ERRORS_BY_TYPE_PREFIX: Final = "Errors_"  # Errors_<error type>, one count per failed request
ATTEMPTS: Final = "Attempts"  # provider attempts one request made
RETRIES: Final = "Retries"  # its attempts after the first (same provider or another)
# Per-client-key quotas (functions/domain/quotas.py): a request refused with 429 for its key's rate or token
# limit, and a request served unchecked because the quota store could not be read or written (fail open).
CLIENT_QUOTA_REJECTED: Final = "ClientQuotaRejected"
CLIENT_QUOTA_UNAVAILABLE: Final = "ClientQuotaUnavailable"

# Streams (the router's `stream: true` answers): dimensions Provider+OperationType+service, one line per stream.
TIME_TO_FIRST_TOKEN: Final = "TimeToFirstToken"  # noqa: S105 - a metric name, not a secret; ms from the request's start to its first content delta
STREAM_COMPLETED: Final = "StreamCompleted"  # ended with its finish reason and [DONE]
STREAM_CUT: Final = "StreamCut"  # the provider's stream broke after the first delta: ended with an error event
STREAM_STALLED: Final = "StreamStalled"  # the provider went silent after the first delta: ended with an error event
STREAM_FAILED_OVER: Final = "StreamFailedOverBeforeCommit"  # another attempt before the first delta served it
STREAM_CONTINUED: Final = "StreamContinuedOnFallback"  # a cut stream finished by a prefill-capable fallback
STREAM_CLIENT_GONE: Final = "StreamClientDisconnected"  # the client left; the provider call was stopped
STREAM_MALFORMED_EVENTS: Final = "StreamMalformedEvents"  # provider events skipped as unreadable
STREAM_DIMENSIONS: Final[tuple[str, ...]] = (DIM_PROVIDER, DIM_OPERATION, DIM_SERVICE)
STREAM_OUTCOMES: Final[tuple[str, ...]] = (STREAM_COMPLETED, STREAM_CUT, STREAM_STALLED, STREAM_CLIENT_GONE)

# Per provider attempt (the router's breakers): dimensions Provider+service.
PROVIDER_ATTEMPTS: Final = "ProviderAttempts"
PROVIDER_SERVER_ERRORS: Final = "ProviderServerErrors"
PROVIDER_THROTTLES: Final = "ProviderThrottles"
PROVIDER_LATENCY: Final = "ProviderLatency"
BREAKER_TO_PREFIX: Final = "BreakerTo_"  # BreakerTo_<closed|open|half_open>, one count per transition

# Health probes (the health checker): dimensions Provider+service.
HEALTH_CHECK_SUCCESS: Final = "HealthCheckSuccess"
HEALTH_CHECK_FAILURE: Final = "HealthCheckFailure"
HEALTH_CHECK_LATENCY: Final = "HealthCheckLatency"

# Security and failover dashboards: one count per event, by one dimension.
AUTHORIZATION_METRIC: Final = "AdminAuthorization"
AUTHORIZATION_DIMENSION: Final = "Outcome"
AUDIT_METRIC: Final = "AuditedChanges"
AUDIT_DIMENSION: Final = "Category"
AUTOMATION_METRIC: Final = "AutomationDecisions"
AUTOMATION_DIMENSION: Final = "Decision"

# Step Functions' own metrics of the failover and failback state machines (dimension StateMachineArn).
STATES_NAMESPACE: Final = "AWS/States"
EXECUTIONS_FAILED: Final = "ExecutionsFailed"
EXECUTIONS_TIMED_OUT: Final = "ExecutionsTimedOut"


def breaker_metric(status: str) -> str:
    return f"{BREAKER_TO_PREFIX}{status}"


def error_type_metric(error_type: str) -> str:
    return f"{ERRORS_BY_TYPE_PREFIX}{error_type}"


# Dimension of Step Functions' execution metrics (STATES_NAMESPACE).
DIM_STATE_MACHINE_ARN: Final = "StateMachineArn"
# The Route and Provider dimensions of a request that no target served.
NO_TARGET: Final = "none"
# The outcomes of AUTHORIZATION_METRIC: the authorizer's verdicts, and the admin function's refusals of
# read-only callers.
AUTH_ALLOWED: Final = "allowed"
AUTH_UNAUTHORIZED: Final = "unauthorized"
AUTH_FORBIDDEN: Final = "forbidden"
AUTH_READONLY_REFUSED: Final = "readonly-refused"
AUTH_OUTCOMES: Final[tuple[str, ...]] = (AUTH_ALLOWED, AUTH_UNAUTHORIZED, AUTH_FORBIDDEN, AUTH_READONLY_REFUSED)

# The audit trail's keyed MAC (KMS HMAC key) and its anchors outside the table (a CloudWatch Logs stream).
AUDIT_MAC_ALGORITHM: Final = "HMAC_SHA_256"
AUDIT_MAC_CONTEXT: Final = "hybrid-routing/audit-record/v1"  # what a MAC's message starts with
AUDIT_ANCHOR_LOG_GROUP_SUFFIX: Final = "audit-anchors"  # the log group is /<stack name>/audit-anchors
AUDIT_ANCHOR_STREAM: Final = "head"
AUDIT_KEY_ENV: Final = "AUDIT_KEY_ID"  # the appenders' and the verifier's environment: the key's ARN
AUDIT_ANCHOR_ENV: Final = "AUDIT_ANCHOR_LOG_GROUP"  # ... and the anchor log group's name
