"""The drill scenarios (issue 6) and the time compression they run under.

A scenario says what goes wrong (provider faults, or the monthly budget running out), which operations
send cacheable requests (so degraded mode can answer from the stale cache), and anything the stack needs
set for the drill. The compression divides every runbook timer the drill can reach, so a drill that
takes minutes in production takes seconds here; `Compression.rows` lists each timer for the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from functions.core.breaker import BreakerPolicy
from functions.core.matrix import ROUTING_MATRIX, Route
from functions.core.thresholds import (
    ALARM_PERIOD_SECONDS,
    AUTOMATION_COOLDOWN_SECONDS,
    AUTOMATION_START_GRACE_SECONDS,
    BREAKER_COOLDOWN_SECONDS,
    BREAKER_ERROR_WINDOW_SECONDS,
    BREAKER_LATENCY_WINDOW_SECONDS,
    CACHE_FRESH_SECONDS,
    DRILL_DEFAULT_COMPRESSION,
    FAILBACK_BAKE_SECONDS,
    FAILBACK_CHECK_INTERVAL_SECONDS,
    FAILBACK_HYSTERESIS_SECONDS,
    FAILBACK_STEPS,
    GATE_MIN_REQUESTS,
    GATE_RECHECK_SECONDS,
    GATE_WINDOW_SECONDS,
    GRADUAL_BAKE_SECONDS,
    HEALTH_CHECK_INTERVAL_SECONDS,
    RECOVERY_WINDOW_SECONDS,
    SNAPSHOT_MAX_AGE_SECONDS,
)
from local.faults import FaultSpec

SNAPSHOT_FLOOR_S = 0.25


@dataclass(frozen=True, slots=True)
class Compression:
    """Every timer divided by `factor` (at least `floor_s`)."""

    factor: float = DRILL_DEFAULT_COMPRESSION
    floor_s: float = 0.05

    def __post_init__(self) -> None:
        if not self.factor >= 1.0:
            raise ValueError(f"the compression factor is 1 (real time) or more, not {self.factor}")

    @property
    def snapshot_max_age_s(self) -> float:
        """The router's snapshot refresh (weights, flags, health), compressed like every other timer but
        never under SNAPSHOT_FLOOR_S: one BatchGetItem per request would load the local DynamoDB."""
        return max(SNAPSHOT_FLOOR_S, SNAPSHOT_MAX_AGE_SECONDS / self.factor)

    def seconds(self, real_s: float) -> float:
        return max(self.floor_s, real_s / self.factor)

    def whole_seconds(self, real_s: float) -> int:
        """For timers that only take whole seconds (Step Functions `Wait`, alarm periods): at least 1."""
        return max(1, round(real_s / self.factor))

    def breaker_policy(self) -> BreakerPolicy:
        return BreakerPolicy(
            cooldown_s=self.seconds(BREAKER_COOLDOWN_SECONDS),
            error_window_s=self.seconds(BREAKER_ERROR_WINDOW_SECONDS),
            latency_window_s=self.seconds(BREAKER_LATENCY_WINDOW_SECONDS),
        )

    @property
    def health_interval_s(self) -> float:
        return self.seconds(HEALTH_CHECK_INTERVAL_SECONDS)

    def automation(self, direct_rps: float) -> dict[str, float | int]:
        """The automation's settings (functions/automation/settings.py field names), compressed. The gate
        window is widened when needed so that the first failback step's share of `direct_rps` can reach
        the gate's minimum request count: a count does not compress, so a window compressed as much as
        the clock would leave every low step INCONCLUSIVE."""
        return {
            "cooldown_s": self.seconds(AUTOMATION_COOLDOWN_SECONDS),
            "hysteresis_s": self.seconds(FAILBACK_HYSTERESIS_SECONDS),
            "start_grace_s": self.seconds(AUTOMATION_START_GRACE_SECONDS),
            "recovery_window_s": self.whole_seconds(RECOVERY_WINDOW_SECONDS),
            "gradual_bake_s": self.whole_seconds(GRADUAL_BAKE_SECONDS),
            "failback_bake_s": self.whole_seconds(FAILBACK_BAKE_SECONDS),
            "recheck_s": self.whole_seconds(GATE_RECHECK_SECONDS),
            "gate_window_s": max(self.whole_seconds(GATE_WINDOW_SECONDS), gate_window_for(direct_rps)),
        }

    def rows(self, direct_rps: float) -> list[tuple[str, float, float]]:
        """(timer, runbook seconds, drill seconds) for every timer the drill compresses."""
        s, whole = self.seconds, self.whole_seconds
        gate_window = self.automation(direct_rps)["gate_window_s"]
        return [
            ("breaker error-rate window", BREAKER_ERROR_WINDOW_SECONDS, s(BREAKER_ERROR_WINDOW_SECONDS)),
            ("breaker P95 window", BREAKER_LATENCY_WINDOW_SECONDS, s(BREAKER_LATENCY_WINDOW_SECONDS)),
            ("breaker cooldown (open -> half-open)", BREAKER_COOLDOWN_SECONDS, s(BREAKER_COOLDOWN_SECONDS)),
            ("health-check interval", HEALTH_CHECK_INTERVAL_SECONDS, self.health_interval_s),
            ("alarm period (and evaluation interval)", ALARM_PERIOD_SECONDS, s(ALARM_PERIOD_SECONDS)),
            ("automation cooldown", AUTOMATION_COOLDOWN_SECONDS, s(AUTOMATION_COOLDOWN_SECONDS)),
            ("failback hysteresis", FAILBACK_HYSTERESIS_SECONDS, s(FAILBACK_HYSTERESIS_SECONDS)),
            ("failback check interval", FAILBACK_CHECK_INTERVAL_SECONDS, s(FAILBACK_CHECK_INTERVAL_SECONDS)),
            ("automation start grace", AUTOMATION_START_GRACE_SECONDS, s(AUTOMATION_START_GRACE_SECONDS)),
            ("recovery metrics window", RECOVERY_WINDOW_SECONDS, whole(RECOVERY_WINDOW_SECONDS)),
            ("gradual failover bake", GRADUAL_BAKE_SECONDS, whole(GRADUAL_BAKE_SECONDS)),
            ("failback bake between steps", FAILBACK_BAKE_SECONDS, whole(FAILBACK_BAKE_SECONDS)),
            ("gate window (widened for the gate's request minimum)", GATE_WINDOW_SECONDS, gate_window),
            ("gate re-check", GATE_RECHECK_SECONDS, whole(GATE_RECHECK_SECONDS)),
            ("response cache freshness", CACHE_FRESH_SECONDS, s(CACHE_FRESH_SECONDS)),
            ("router snapshot refresh (weights, flags, health)", SNAPSHOT_MAX_AGE_SECONDS, self.snapshot_max_age_s),
        ]


def direct_rps(rate_rps: float) -> float:
    """The share of a drill's traffic whose primary route is Direct (the generator cycles the matrix)."""
    direct = sum(row.primary is Route.DIRECT for row in ROUTING_MATRIX.values())
    return rate_rps * direct / len(ROUTING_MATRIX)


def gate_window_for(direct_rps: float) -> int:
    """Seconds of Direct traffic at `direct_rps` in which the first failback step sees GATE_MIN_REQUESTS."""
    return math.ceil(GATE_MIN_REQUESTS / (FAILBACK_STEPS[0] / 100.0 * direct_rps))


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    summary: str
    faults: tuple[FaultSpec, ...] = ()
    budget_exhausted: bool = False  # the monthly AI budget is spent: medium/low priority work is refused
    cacheable: frozenset[str] = frozenset()  # operations sent as cacheable requests (temperature 0, few prompts)
    cache_fresh_s: float | None = None  # cache freshness during the drill (None: the compressed default)
    max_fault_s: float = 20.0  # the fault is lifted after at most this long, failover finished or not
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def faulted(self) -> tuple[str, ...]:
        return tuple(spec.provider for spec in self.faults)


def _outage(provider: str, status: int = 503) -> FaultSpec:
    return FaultSpec(provider=provider, error_rate=1.0, status=status)  # type: ignore[arg-type]


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "bedrock-outage",
            "Bedrock answers every request with 503 (provider-failover.md: HTTP 5xx errors > 5%).",
            faults=(_outage("bedrock"),),
        ),
        Scenario(
            "latency-spike",
            "Bedrock answers, but 3500 ms late (provider-failover.md: P95 > 3000ms).",
            faults=(FaultSpec(provider="bedrock", error_rate=0.0, latency_ms=3500),),
        ),
        Scenario(
            "quota-exhaustion",
            "Bedrock refuses 60 % of requests with 429 (provider-failover.md: rate limiting errors > 10%).",
            faults=(FaultSpec(provider="bedrock", error_rate=0.6, status=429),),
        ),
        Scenario(
            "mcp-outage",
            "The MCP server answers every request with 503: MCP-primary work falls back to Direct.",
            faults=(_outage("mcp"),),
        ),
        Scenario(
            "multi-provider-outage",
            "Bedrock, Google and Meta all answer 503 (provider-failover.md, Multi-Provider Outage Response): "
            "Direct work falls back to MCP, and emergency work (no fallback) is answered from the stale cache "
            "(degraded mode, x-hybrid-degraded).",
            faults=(_outage("bedrock"), _outage("google"), _outage("meta")),
            cacheable=frozenset({"emergency"}),
            cache_fresh_s=0.5,
            notes=(
                "Emergency requests are cacheable (temperature 0, four prompts) and the cache keeps answers "
                "fresh for 0.5 s only, so during the outage they are served stale rather than fresh.",
                "Priority shedding: the router sheds by priority only on budget (see budget-exhausted); "
                "with MCP up nothing needs shedding here.",
            ),
        ),
        Scenario(
            "budget-exhausted",
            "The monthly AI budget is spent (>= 95 %): medium and low priority work is refused with 429 "
            "budget_exhausted (refusals by policy, counted apart), critical and high priority work is served.",
            budget_exhausted=True,
        ),
    )
}
