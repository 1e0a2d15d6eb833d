"""Every number the runbooks give, in one place: the stack, the functions, the local stack and the docs read
these constants, so a number changed here changes everywhere."""

from __future__ import annotations

import math
from typing import Final

# Routing matrix latency budgets, seconds (operations.md, "Routing Decision Matrix": "< 5s" ...).
LATENCY_BUDGET_SECONDS: Final[dict[str, float]] = {
    "emergency": 5.0,
    "infrastructure": 10.0,
    "meta_monitor": 15.0,
    "implementation": 15.0,
    "kiro_communication": 30.0,
    "standard": 30.0,
    "background": 60.0,
}

# Router data-plane limits.
MAX_REQUEST_BODY_BYTES: Final[int] = 1_048_576  # 1 MiB; larger bodies get 413.
SNAPSHOT_MAX_AGE_SECONDS: Final[float] = 5.0  # flags/overrides/weights/health refresh interval.
CLIENT_KEY_CACHE_SECONDS: Final[float] = 60.0  # how long a verified client key is trusted in memory.

# --- The edge (stacks/): revocation, WAF and concurrency ----------------------------------------------------
# A revoked admin token stops working within REVOCATION_SECONDS: the authorizer re-reads the tokens secret
# after ADMIN_TOKENS_CACHE_SECONDS, and API Gateway re-asks the authorizer after AUTHORIZER_RESULT_CACHE_SECONDS.
REVOCATION_SECONDS: Final[int] = 60
ADMIN_TOKENS_CACHE_SECONDS: Final[int] = 30
AUTHORIZER_RESULT_CACHE_SECONDS: Final[int] = REVOCATION_SECONDS - ADMIN_TOKENS_CACHE_SECONDS
# WAF's rate-based rule: requests one IP may send per evaluation window before it is blocked (stage-wide
# throttling is 100 rps; one IP at this rate is 10 rps).
WAF_RATE_LIMIT_PER_IP: Final[int] = 3000
WAF_RATE_WINDOW_SECONDS: Final[int] = 300
# Router instances reserved: a flood cannot take the account's whole concurrency, nor the router starve.
ROUTER_RESERVED_CONCURRENCY: Final[int] = 100

# API Gateway's stage throttling (stacks/config.py defaults, cdk.json may raise them): sustained requests per
# second across every client, and the token bucket's burst.
API_THROTTLING_RATE_LIMIT: Final[float] = 100.0
API_THROTTLING_BURST_LIMIT: Final[int] = 200

# --- Per-client-key quotas on the data plane (functions/domain/quotas.py, functions/adapters/dynamodb/quotas.py) --
# Every client key may send CLIENT_REQUESTS_PER_MINUTE requests and spend CLIENT_TOKENS_PER_MINUTE tokens
# (prompt + completion) per fixed QUOTA_WINDOW_SECONDS window unless its key item carries its own limits
# (`python -m cli.keys create|limits --requests-per-minute N --tokens-per-minute N`). The default is half
# the stage's rate: no one key can take the whole stage.
QUOTA_WINDOW_SECONDS: Final[int] = 60
CLIENT_REQUESTS_PER_MINUTE: Final[int] = int(API_THROTTLING_RATE_LIMIT * QUOTA_WINDOW_SECONDS) // 2  # 3,000
CLIENT_TOKENS_PER_MINUTE: Final[int] = 1_000_000
# A router instance re-reads a key's window sum (one BatchGetItem of its shards) at most this often; between
# reads it counts what its own writes return. Bound on overshoot: at most what the key's other instances admit
# in one such interval (a client at r requests/s: r x 1 s extra; never more than the stage's burst), plus, for
# tokens, the usage of the requests in flight when the window's tokens ran out.
QUOTA_SUM_CACHE_SECONDS: Final[float] = 1.0
# A partition takes at most 1,000 write units per second, so one item cannot take more. One request writes its
# key's shard once (the admission ADD, which also carries the instance's pending token usage); an instance
# with token usage and no next request flushes it at most once per QUOTA_SUM_CACHE_SECONDS: 2 writes per request
# at worst. One key may take every request the stage lets through in a second, at most rate + burst (the bucket
# full, then refilled): shards = ceil(2 x (rate + burst) / (1,000 x 50 % headroom)) = ceil(1.2) = 2 at the default
# stage limits; at least QUOTA_MIN_SHARDS, so that any stage limit up to 1,000 requests in a second keeps each item
# at or under 500 writes/s. The stack derives the deployed count from its own throttling settings
# (`quota_shards`, the router's QUOTA_SHARDS variable).
DYNAMODB_ITEM_WRITES_PER_SECOND: Final[int] = 1_000
QUOTA_WRITES_PER_REQUEST: Final[int] = 2
QUOTA_SHARD_HEADROOM: Final[float] = 0.5
QUOTA_MIN_SHARDS: Final[int] = 4


def quota_shards(rate_per_second: float, burst: int) -> int:
    """Counter items per key and window so that a key taking all a stage of `rate_per_second` and `burst` lets
    through in one second writes no item more than QUOTA_SHARD_HEADROOM of a partition's writes per second."""
    per_item = DYNAMODB_ITEM_WRITES_PER_SECOND * QUOTA_SHARD_HEADROOM
    return max(QUOTA_MIN_SHARDS, math.ceil(QUOTA_WRITES_PER_REQUEST * (rate_per_second + burst) / per_item))


QUOTA_SHARDS: Final[int] = quota_shards(API_THROTTLING_RATE_LIMIT, API_THROTTLING_BURST_LIMIT)  # 4
# Counter items live two windows: DynamoDB's TTL removes them after that (its deletes lag; readers never need them).
QUOTA_ITEM_TTL_SECONDS: Final[int] = 2 * QUOTA_WINDOW_SECONDS
# A quota store that cannot be read or written does not stop serving (fail open); the outage is counted per
# request in a metric and logged at most once per this interval.
QUOTA_OUTAGE_LOG_SECONDS: Final[float] = 60.0

# --- Untrusted input, on every route (data plane and admin) ----------------------------------------------------
MAX_ADMIN_BODY_BYTES: Final[int] = 65_536  # an admin change is a few hundred bytes; larger bodies get 413.
MAX_JSON_DEPTH: Final[int] = 64  # nesting levels of a JSON body (tool schemas nest; 10,000 levels overflow parsers)
# Characters of one JSON number literal: the largest value any field takes fits in 40 (DynamoDB keeps 38 digits),
# and Python refuses integers of more than 4,300 digits.
MAX_JSON_NUMBER_CHARS: Final[int] = 40
QUOTED_INPUT_CHARS: Final[int] = 64  # an error message quotes at most this prefix of what the caller sent
MAX_ERROR_MESSAGE_CHARS: Final[int] = 1_024  # and is never longer than this

# Health (provider-failover.md: HEALTH_THRESHOLD=3 consecutive failures mark a provider unhealthy).
HEALTH_FAILURE_THRESHOLD: Final[int] = 3

# --- Response cache and AI budget ------------------------------------------------------------------------------
# A cached answer is served normally for CACHE_FRESH_SECONDS; after that, and for CACHE_STALE_SECONDS more, only in
# degraded mode (every route down). DynamoDB TTL removes the item after both windows.
CACHE_FRESH_SECONDS: Final[float] = 900.0
CACHE_STALE_SECONDS: Final[float] = 86_400.0
CACHE_LRU_ENTRIES: Final[int] = 512  # per router instance
CACHE_MAX_ITEM_BYTES: Final[int] = 350 * 1024  # DynamoDB's item limit is 400 KB; larger answers stay in memory only.

# Monthly AI budget: warn at BUDGET_WARN_PERCENT, pause medium- and low-priority operations at BUDGET_REFUSE_PERCENT.
BUDGET_WARN_PERCENT: Final[float] = 80.0
BUDGET_REFUSE_PERCENT: Final[float] = 95.0
SPEND_FLUSH_SECONDS: Final[float] = 5.0  # at most one spend UpdateItem per router instance per interval.

# Scheduled health checks (the health checker runs every minute).
# A probe that has not answered within this many seconds counts as a failure.
HEALTH_PROBE_TIMEOUT_SECONDS: Final[float] = 5.0
# Consecutive successful probes an unhealthy provider needs before it is healthy again. Two, not
# one: a provider failing intermittently would otherwise flap unhealthy -> healthy on every lucky
# probe, and each flap is an event that moves traffic. Two probes cost one extra minute of recovery.
HEALTH_RECOVERY_SUCCESSES: Final[int] = 2

# --- Circuit breaker (provider-failover.md, "Failover Triggers") ------------------------------
BREAKER_SERVER_ERROR_RATE: Final[float] = 0.05  # "HTTP 5xx errors > 5%" (timeouts count as 5xx)
BREAKER_THROTTLE_RATE: Final[float] = 0.10  # "Rate limiting errors > 10%"
BREAKER_P95_LATENCY_MS: Final[float] = 3000.0  # "P95 > 3000ms for 5 minutes"
BREAKER_LATENCY_WINDOW_SECONDS: Final[float] = 300.0  # the 5 minutes of the latency trigger
BREAKER_ERROR_WINDOW_SECONDS: Final[float] = 60.0  # sliding window for the error-rate triggers
BREAKER_MIN_REQUESTS: Final[int] = 20  # no verdict on fewer requests in the window
BREAKER_CONSECUTIVE_FAILURES: Final[int] = 5  # trips at once, whatever the window holds
BREAKER_COOLDOWN_SECONDS: Final[float] = 30.0  # open -> half-open
BREAKER_HALF_OPEN_PROBES: Final[int] = 3  # requests let through while half-open, across all instances
BREAKER_CLOSE_AFTER_SUCCESSES: Final[int] = 3  # successful probes that close it again

# --- Retries and the attempt policy (within the latency budget; functions/domain/routing/retry.py) -------
# failoverbench's catalogue (S01-S06, S12, S13) and Envoy's retry budget are the bar.
RETRY_SAME_TARGET_MAX: Final[int] = 1  # "a 500 once: one retry on the same provider", per request and target
RETRY_MAX_ROUNDS: Final[int] = 3  # passes over every target while the budget lasts (S04: <= 6 primary attempts)
RETRY_BASE_DELAY_SECONDS: Final[float] = 0.05  # full-jitter backoff: rand * min(max, base * 2^(n-1))
RETRY_MAX_DELAY_SECONDS: Final[float] = 1.0
RETRY_AFTER_MAX_WAIT_SECONDS: Final[float] = 10.0  # a provider's Retry-After is waited out up to this, within budget
# Retry budget per instance (Envoy's retry_budget): re-attempts at most this share of the requests of the
# window plus a floor per second, so a fleet facing a hard-down provider does not multiply its load.
# A first attempt on a target not yet tried (a fail-over) is not a re-attempt.
RETRY_BUDGET_RATIO: Final[float] = 0.2
RETRY_BUDGET_MIN_PER_SECOND: Final[float] = 3.0
RETRY_BUDGET_WINDOW_SECONDS: Final[float] = 10.0
# Per-attempt timeout: this share of the remaining budget while another target could still be tried
# (never under the minimum); the whole remaining budget for the last one; an operator's cap on top.
ATTEMPT_TIMEOUT_SHARE: Final[float] = 0.5
ATTEMPT_TIMEOUT_MIN_SECONDS: Final[float] = 1.0
ATTEMPT_MIN_SECONDS: Final[float] = 0.05  # no attempt is started with less budget left than this

# --- Streaming (issue 13) -------------------------------------------------------------------------------------
# Time to first token per operation type: a provider stream that sends no content delta within this (and within
# what is left of the latency budget) is abandoned before anything reaches the client and the attempt policy
# retries or fails over. The share keeps room for a second provider inside the budget (emergency: 2 s of 5 s).
STREAM_FIRST_TOKEN_SHARE: Final[float] = 0.4
STREAM_FIRST_TOKEN_SECONDS: Final[dict[str, float]] = {
    operation: round(budget * STREAM_FIRST_TOKEN_SHARE, 3) for operation, budget in LATENCY_BUDGET_SECONDS.items()
}
# Once committed (the first delta sent), a provider silent this long has stalled: the stream ends with an error event.
STREAM_STALL_SECONDS: Final[float] = 5.0
# A stream whose provider sent no usage is billed on an estimate: this many characters a token, rounded up.
STREAM_CHARS_PER_TOKEN_ESTIMATE: Final[int] = 4
# SSE keep-alive comment sent to the client while a committed stream waits this long for the next event.
STREAM_KEEPALIVE_SECONDS: Final[float] = 15.0
# The longest a streamed answer may last, retries, fallbacks and every chunk included: the router function's
# timeout and the chat integration's (API Gateway streams up to 15 minutes and cuts a stream idle for 5).
STREAM_MAX_SECONDS: Final[float] = 300.0

# --- Metrics reports, recommendations and admin config bounds -------------------------------------------------
# production-operations.md, "Key Metrics" and "Alert Thresholds".
CACHE_HIT_TARGET_PERCENT: Final[float] = 80.0  # "Cache Hit Rate (Target: >=80%)"; info alert below it
CACHE_HIT_WARN_PERCENT: Final[float] = 70.0  # warning alert "Cache Hit Rate < 70%"
ROUTING_EFFICIENCY_TARGET_PERCENT: Final[float] = 80.0  # operations.md: "Target >80% optimal routing decisions"
ROUTING_EFFICIENCY_ALARM_PERCENT: Final[float] = 90.0  # production-operations.md info alert: "< 90%"
ROUTING_EFFICIENCY_INCIDENT_PERCENT: Final[float] = 70.0  # incident-response.md P2: "Routing efficiency <70%"
FALLBACK_RATE_WARN_PERCENT: Final[float] = 20.0  # warning alert: "Routing fallback rate > 20%"
ERROR_RATE_TARGET_PERCENT: Final[float] = 1.0  # "Error Rate (Target: <=1.0%)"
RECOMMEND_P95_LATENCY_MS: Final[float] = BREAKER_P95_LATENCY_MS  # a provider above it: shift weight away
RECOMMEND_MIN_REQUESTS: Final[int] = BREAKER_MIN_REQUESTS  # no recommendation from fewer requests
COST_RATIO_RECOMMEND: Final[float] = 2.0  # a provider costing >= 2x per request what a healthy one does
# The `window` query parameter of the metrics routes: 5m, 1h, 24h ...
METRICS_WINDOW_DEFAULT: Final[str] = "1h"
HEALTH_METRICS_WINDOW: Final[str] = "5m"
METRICS_WINDOW_MIN_SECONDS: Final[int] = 60
METRICS_WINDOW_MAX_SECONDS: Final[int] = 14 * 86_400  # CloudWatch keeps 1-minute data for 15 days
LOCAL_METRICS_MAX_RECORDS: Final[int] = 100_000  # the local stack's in-memory EMF store is bounded

# --- Local dashboard page ----------------------------------------------------------------------
# provider-failover.md, "Monitoring Dashboard": `quality-gates-cli.ts status --dashboard failover --refresh 10`.
DASHBOARD_REFRESH_SECONDS: Final[int] = 10  # the page fetches its data again every 10 s unless ?refresh= says otherwise
DASHBOARD_REFRESH_BOUNDS_SECONDS: Final[tuple[int, int]] = (1, 3600)
DASHBOARD_WINDOW: Final[str] = HEALTH_METRICS_WINDOW  # the widgets' metrics window unless ?window= says otherwise

# Bounds of what operators may store through the admin config routes.
SLO_P95_LATENCY_MS_BOUNDS: Final[tuple[float, float]] = (100.0, 60_000.0)
SLO_ERROR_RATE_PERCENT_BOUNDS: Final[tuple[float, float]] = (0.1, 50.0)
REQUEST_TIMEOUT_MS_BOUNDS: Final[tuple[int, int]] = (1_000, 60_000)  # the longest budget is 60 s (background)
ROUTE_LATENCY_THRESHOLD_MS_BOUNDS: Final[tuple[int, int]] = (100, 60_000)
CACHE_FRESH_SECONDS_BOUNDS: Final[tuple[float, float]] = (0.0, 86_400.0)
CACHE_STALE_SECONDS_BOUNDS: Final[tuple[float, float]] = (0.0, 7 * 86_400.0)
BEDROCK_PROBE_TIMEOUT_SECONDS: Final[float] = HEALTH_PROBE_TIMEOUT_SECONDS  # POST /admin/bedrock/test

# --- Rollout workflows and health gates -- provider-failover.md, "Failover Procedures" ------------------------
# Step values are Direct-traffic percentages. Canary and failback steps are the TARGET's share; the gradual
# failover's steps are the FAILING provider's remaining share ("Phase 1: reduce failed provider to 50%").
CANARY_STEPS: Final[tuple[int, ...]] = (5, 10, 25, 50, 75, 100)
CANARY_BAKE_SECONDS: Final[int] = 120  # "sleep 120  # Wait 2 minutes between increases"
CANARY_SUCCESS_PERCENT: Final[float] = 98.0  # "--success-threshold 98%"
GRADUAL_STEPS: Final[tuple[int, ...]] = (50, 25, 0)
GRADUAL_BAKE_SECONDS: Final[int] = 60  # "sleep 60" between the gradual failover's phases
IMMEDIATE_STEPS: Final[tuple[int, ...]] = (0,)  # the failing provider drops to 0 % at once ("< 30 seconds")
IMMEDIATE_BAKE_SECONDS: Final[int] = 0
FAILBACK_STEPS: Final[tuple[int, ...]] = (10, 25, 50, 75, 100)
FAILBACK_BAKE_SECONDS: Final[int] = 180  # "3 minutes between steps"
# Gates: a failover gate checks the providers taking over against the breaker's own numbers.
GATE_SUCCESS_PERCENT: Final[float] = CANARY_SUCCESS_PERCENT
GATE_P95_LATENCY_MS: Final[float] = BREAKER_P95_LATENCY_MS  # "P95 > 3000ms" fails a gate
GATE_MIN_REQUESTS: Final[int] = BREAKER_MIN_REQUESTS  # fewer requests in the window: INCONCLUSIVE, never PASS
GATE_WINDOW_SECONDS: Final[int] = 120  # metrics window a gate reads (one canary bake)
GATE_RECHECK_SECONDS: Final[int] = 30  # wait before re-checking a FAIL or INCONCLUSIVE gate
GATE_MAX_INCONCLUSIVE: Final[int] = 3  # consecutive INCONCLUSIVE verdicts held and re-checked; one more ends it
GATE_FAILURE_LIMIT: Final[int] = 3  # the FAIL verdict, over a whole rollout, that ends it
GATE_CONSECUTIVE_FAILURES: Final[int] = 2  # consecutive FAIL verdicts that end it (one blip does not)
ROLLOUT_WRITE_RETRIES: Final[int] = 5  # re-reads after a version conflict on the route's item
# Every audited write (a configuration document, a breaker reset, a rollout's route item) is a compare-and-set on
# what it read, in one transaction with its audit record. A write that lost a race (the item or the audit trail's
# head moved on) reads again and retries, at most AUDITED_WRITE_ATTEMPTS times, after a jittered backoff that
# grows from AUDITED_WRITE_BACKOFF_SECONDS to AUDITED_WRITE_BACKOFF_MAX_SECONDS; then a 409 names the conflict.
# Every audited write appends to one hash chain, so N concurrent writers need up to N rounds.
AUDITED_WRITE_ATTEMPTS: Final[int] = 40
AUDITED_WRITE_BACKOFF_SECONDS: Final[float] = 0.005
AUDITED_WRITE_BACKOFF_MAX_SECONDS: Final[float] = 0.2
# Optional manual approval between steps: an unanswered approval ends the rollout (a canary rolls back, a failback
# stops) after APPROVAL_TIMEOUT_SECONDS unless the execution input says otherwise; the maximum stays inside the
# gated state machines' own TimeoutSeconds (ROLLOUT_EXECUTION_TIMEOUT_SECONDS). The runbooks give no number.
APPROVAL_TIMEOUT_SECONDS: Final[int] = 1800
APPROVAL_TIMEOUT_MAX_SECONDS: Final[int] = 4 * 3600
ROLLOUT_EXECUTION_TIMEOUT_SECONDS: Final[int] = 86_400  # canary/failback/gradual ASL top-level TimeoutSeconds

# --- CloudWatch alarms ------------------------------------------------------------------------------------------
# production-operations.md, "Alert Thresholds", and provider-failover.md, "Failover Triggers". Every alarm
# evaluates one-minute periods; "for N minutes" is N consecutive breaching periods (N of N datapoints).
ALARM_PERIOD_SECONDS: Final[int] = 60
# Critical: "P95 Latency > 2.0s for 5 minutes"
CRITICAL_P95_LATENCY_MS: Final[float] = 2000.0
CRITICAL_P95_LATENCY_SECONDS: Final[int] = 300
# Critical: "Error Rate > 5% for 2 minutes"
CRITICAL_ERROR_RATE_PERCENT: Final[float] = 5.0
CRITICAL_ERROR_RATE_SECONDS: Final[int] = 120
# Critical: "Direct Bedrock connection failure": HEALTH_FAILURE_THRESHOLD consecutive failed health probes, one
# per HEALTH_CHECK_INTERVAL_SECONDS (the checker's schedule), the moment the checker marks Bedrock unhealthy.
HEALTH_CHECK_INTERVAL_SECONDS: Final[int] = 60
# Critical: "Cost budget > 95%" is BUDGET_REFUSE_PERCENT; info: "Cost budget > 80%" is BUDGET_WARN_PERCENT.
# The runbook gives no duration: the highest utilization reported within one period.
BUDGET_ALARM_SECONDS: Final[int] = 60
# Warning: "P95 Latency > 1.5s for 10 minutes"
WARNING_P95_LATENCY_MS: Final[float] = 1500.0
WARNING_P95_LATENCY_SECONDS: Final[int] = 600
# Warning: "Error Rate > 2% for 5 minutes"
WARNING_ERROR_RATE_PERCENT: Final[float] = 2.0
WARNING_ERROR_RATE_SECONDS: Final[int] = 300
# Warning: "Cache Hit Rate < 70% for 15 minutes" (CACHE_HIT_WARN_PERCENT)
CACHE_HIT_WARN_SECONDS: Final[int] = 900
# Warning: "Routing fallback rate > 20%" (FALLBACK_RATE_WARN_PERCENT); no duration given: 5 minutes, like the
# warning error rate.
FALLBACK_RATE_WARN_SECONDS: Final[int] = 300
# Info: "Cache Hit Rate < 80% for 30 minutes" (CACHE_HIT_TARGET_PERCENT)
CACHE_HIT_INFO_SECONDS: Final[int] = 1800
# Info: "Routing efficiency < 90%" (ROUTING_EFFICIENCY_ALARM_PERCENT); no duration given: 15 minutes, so a
# short failover does not page the routing owners.
ROUTING_EFFICIENCY_ALARM_SECONDS: Final[int] = 900
# Provider failover triggers, per Direct provider: BREAKER_SERVER_ERROR_RATE ("HTTP 5xx errors > 5%") and
# BREAKER_THROTTLE_RATE ("Rate limiting errors > 10%") over one BREAKER_ERROR_WINDOW_SECONDS period;
# BREAKER_P95_LATENCY_MS ("P95 > 3000ms for 5 minutes") for BREAKER_LATENCY_WINDOW_SECONDS.

# --- Failover drills -- provider-failover.md, "Key Performance Indicators" -------------------------------------
# "detection_time: < 30 seconds", "failover_execution: < 60 seconds", "service_restoration: < 120 seconds",
# "total_recovery_time: < 300 seconds", "user_error_rate: < 5% during failover", "request_loss: < 1%".
KPI_DETECTION_SECONDS: Final[float] = 30.0
KPI_FAILOVER_EXECUTION_SECONDS: Final[float] = 60.0
KPI_RESTORATION_SECONDS: Final[float] = 120.0
KPI_TOTAL_RECOVERY_SECONDS: Final[float] = 300.0
KPI_USER_ERROR_RATE_PERCENT: Final[float] = 5.0
KPI_REQUEST_LOSS_PERCENT: Final[float] = 1.0
# Our own targets are stricter: detection <= 10 s and no lost request for operations that have a fallback.
OUR_DETECTION_SECONDS: Final[float] = 10.0
OUR_REQUEST_LOSS_PERCENT: Final[float] = 0.0
# A drill compresses every timer (breaker windows and cooldown, health-check interval, alarm periods, bake times,
# failback hysteresis) by this factor unless told otherwise; the report states the factor and each compressed value.
DRILL_DEFAULT_COMPRESSION: Final[float] = 30.0

# --- Alarm-driven automation -- provider-failover.md, "Failover Triggers" and "Automated Failback";
# production-operations.md, "Alert Thresholds" -------------------------------------------------------------
# After automation starts a failover of a provider, no other automatic failover or failback of that provider for
# this long: alarms cannot flip routing back and forth ("Failover Triggers" fire again while traffic moves).
AUTOMATION_COOLDOWN_SECONDS: Final[float] = 900.0
# Failback ("Automated failback when provider recovers ... --auto-trigger --health-threshold 99%") starts only after
# the provider has been healthy under thresholds STRICTER than the failover triggers, continuously, for this long.
# Ten minutes: the window of the warning alert "P95 Latency > 1.5s for 10 minutes".
FAILBACK_HYSTERESIS_SECONDS: Final[float] = 600.0
RECOVERY_SUCCESS_PERCENT: Final[float] = 99.0  # "--health-threshold 99%" (5xx trigger: > 5 %)
RECOVERY_P95_LATENCY_MS: Final[float] = 1500.0  # "P95 Latency (Target: <=1.5s generation)" (trigger: > 3000 ms)
RECOVERY_MIN_REQUESTS: Final[int] = GATE_MIN_REQUESTS  # fewer routed requests: the health probes are the evidence
RECOVERY_WINDOW_SECONDS: Final[int] = 60  # metrics window of one failback check (the check runs every minute)
FAILBACK_CHECK_INTERVAL_SECONDS: Final[float] = 60.0  # the failback check's schedule ("rate(1 minute)")
# A claimed execution not found after this long is started again (its first start was lost with its invocation).
AUTOMATION_START_GRACE_SECONDS: Final[float] = 60.0

# --- Failover dashboard alerts -- provider-failover.md, "Monitoring Dashboard":
# `dashboard create --name "AI Provider Failover" ... --alerts "failover_failure,extended_outage"`.
# failover_failure: any failover or failback execution ending FAILED or TIMED_OUT, in one ALARM_PERIOD_SECONDS period.
FAILOVER_FAILURE_EXECUTIONS: Final[int] = 1
# extended_outage: every health probe of a provider failing for 15 minutes, the P1 response time of
# incident-response.md (the runbooks name the alert but give no duration).
EXTENDED_OUTAGE_SECONDS: Final[int] = 900
EXTENDED_OUTAGE_FAILED_PROBES_PERCENT: Final[float] = 100.0  # every probe of the period failed

# --- Validation against the SLO -- provider-failover.md, "Failover Success Validation" and "Manual Failback"
# (`validate --performance-check`); production-operations.md, "SLOs". PUT /admin/config/slo-thresholds overrides
# the p95 and the error rate; these hold while nothing is stored.
SLO_DEFAULT_P95_LATENCY_MS: Final[float] = WARNING_P95_LATENCY_MS  # "P95 Latency (Target: <=1.5s generation)"
SLO_DEFAULT_ERROR_RATE_PERCENT: Final[float] = ERROR_RATE_TARGET_PERCENT  # "Error Rate (Target: <=1.0%)"
SLO_MIN_REQUESTS: Final[int] = GATE_MIN_REQUESTS  # fewer requests in the window: no verdict (no data), never a pass
# "performance_degradation: < 20%": the last window's p95 against the baseline window's.
PERFORMANCE_DEGRADATION_PERCENT: Final[float] = 20.0
# p95 latencies below this are not compared with a baseline (a few milliseconds either way are noise); the lowest
# p95 an operator may set as an SLO.
PERFORMANCE_COMPARE_MIN_P95_MS: Final[float] = SLO_P95_LATENCY_MS_BOUNDS[0]
PERFORMANCE_WINDOW: Final[str] = HEALTH_METRICS_WINDOW  # the "last window" of a performance check
PERFORMANCE_BASELINE_WINDOW: Final[str] = "24h"  # "the 24 h before" (the baseline window includes the last one)

# --- The audit trail's anchors (issue 12) ------------------------------------------------------------------
# The trail's head (latest seq and its MAC) is written outside the table, to the anchor log stream, at least
# every AUDIT_ANCHOR_INTERVAL_SECONDS: by an appender whose own last anchor is that old, and by the automation's
# one-minute schedule. A table whose head is behind the newest anchor lost its tail.
AUDIT_ANCHOR_INTERVAL_SECONDS: Final[int] = 60
# trail-integrity checks one MAC per record with KMS VerifyMac, this many calls in flight (KMS allows hundreds a
# second), so a long trail is checked within the admin API's timeout.
AUDIT_VERIFY_CONCURRENCY: Final[int] = 16
