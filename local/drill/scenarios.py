"""The drill scenarios (issue 6) and the time compression they run under.

A scenario says what goes wrong (provider faults, or the monthly budget running out), which operations
send cacheable requests (so degraded mode can answer from the stale cache), and anything the stack needs
set for the drill. The compression divides every runbook timer the drill can reach, so a drill that
takes minutes in production takes seconds here; `Compression.rows` lists each timer for the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from functions.domain.routing.breaker import BreakerPolicy
from functions.domain.routing.matrix import ROUTING_MATRIX, Route
from functions.domain.thresholds import (
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
    GATE_P95_LATENCY_MS,
    GATE_RECHECK_SECONDS,
    GATE_WINDOW_SECONDS,
    GRADUAL_BAKE_SECONDS,
    HEALTH_CHECK_INTERVAL_SECONDS,
    RECOVERY_P95_LATENCY_MS,
    RECOVERY_WINDOW_SECONDS,
    SNAPSHOT_MAX_AGE_SECONDS,
)
from local.faults import FaultSpec

SNAPSHOT_FLOOR_S = 0.25
# The automation's start grace (a claimed execution not holding the route's lock yet is still starting) is
# never compressed under this: the local Step Functions took up to ~6 s to start an execution and take the
# lock (multi-provider drill, moto's DynamoDB busy), and a shorter grace lets a failback check take the
# provider for restored before its failover runs (it then never fails back).
START_GRACE_FLOOR_S = 15.0
# Drill only: the failback's first step should collect its gate's request minimum within this many seconds
# of traffic (the minimum is lowered to what that step's share of the drill's Direct traffic brings in that
# time, never raised above the runbook gate's GATE_MIN_REQUESTS); the re-checks give it RECHECK_SLACK times
# as long (a loaded machine answers fewer requests per second).
FIRST_STEP_GATE_S = 5.0
RECHECK_SLACK = 2.0
LATENCY_ALLOWANCE_STEP_MS = 100.0  # the warm-up P95 allowance is rounded up to this


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
    def start_grace_s(self) -> float:
        return max(START_GRACE_FLOOR_S, self.seconds(AUTOMATION_START_GRACE_SECONDS))

    @property
    def health_interval_s(self) -> float:
        return self.seconds(HEALTH_CHECK_INTERVAL_SECONDS)

    def automation(self) -> dict[str, float | int]:
        """The automation's timers (functions/app/automation/settings.py field names), compressed; the gates'
        sizes come from `GateSizing.automation`."""
        return {
            "cooldown_s": self.seconds(AUTOMATION_COOLDOWN_SECONDS),
            "hysteresis_s": self.seconds(FAILBACK_HYSTERESIS_SECONDS),
            "start_grace_s": self.start_grace_s,
            "recovery_window_s": self.whole_seconds(RECOVERY_WINDOW_SECONDS),
            "gradual_bake_s": self.whole_seconds(GRADUAL_BAKE_SECONDS),
            "failback_bake_s": self.whole_seconds(FAILBACK_BAKE_SECONDS),
            "recheck_s": self.whole_seconds(GATE_RECHECK_SECONDS),
        }

    def rows(self, direct_rps: float) -> list[tuple[str, float, float]]:
        """(timer, runbook seconds, drill seconds) for every timer the drill compresses."""
        s, whole = self.seconds, self.whole_seconds
        gate_window = gate_sizing(self, direct_rps).window_s
        return [
            ("breaker error-rate window", BREAKER_ERROR_WINDOW_SECONDS, s(BREAKER_ERROR_WINDOW_SECONDS)),
            ("breaker P95 window", BREAKER_LATENCY_WINDOW_SECONDS, s(BREAKER_LATENCY_WINDOW_SECONDS)),
            ("breaker cooldown (open -> half-open)", BREAKER_COOLDOWN_SECONDS, s(BREAKER_COOLDOWN_SECONDS)),
            ("health-check interval", HEALTH_CHECK_INTERVAL_SECONDS, self.health_interval_s),
            ("alarm period (and evaluation interval)", ALARM_PERIOD_SECONDS, s(ALARM_PERIOD_SECONDS)),
            ("automation cooldown", AUTOMATION_COOLDOWN_SECONDS, s(AUTOMATION_COOLDOWN_SECONDS)),
            ("failback hysteresis", FAILBACK_HYSTERESIS_SECONDS, s(FAILBACK_HYSTERESIS_SECONDS)),
            ("failback check interval", FAILBACK_CHECK_INTERVAL_SECONDS, s(FAILBACK_CHECK_INTERVAL_SECONDS)),
            ("automation start grace (at least 15 s)", AUTOMATION_START_GRACE_SECONDS, self.start_grace_s),
            ("recovery metrics window", RECOVERY_WINDOW_SECONDS, whole(RECOVERY_WINDOW_SECONDS)),
            ("gradual failover bake", GRADUAL_BAKE_SECONDS, whole(GRADUAL_BAKE_SECONDS)),
            ("failback bake between steps", FAILBACK_BAKE_SECONDS, whole(FAILBACK_BAKE_SECONDS)),
            ("gate window (widened for the request minimum; cut to the step's age)", GATE_WINDOW_SECONDS, gate_window),
            ("gate re-check", GATE_RECHECK_SECONDS, whole(GATE_RECHECK_SECONDS)),
            ("response cache freshness", CACHE_FRESH_SECONDS, s(CACHE_FRESH_SECONDS)),
            ("router snapshot refresh (weights, flags, health)", SNAPSHOT_MAX_AGE_SECONDS, self.snapshot_max_age_s),
        ]


def direct_rps(rate_rps: float) -> float:
    """The share of a drill's traffic whose primary route is Direct (the generator cycles the matrix)."""
    direct = sum(row.primary is Route.DIRECT for row in ROUTING_MATRIX.values())
    return rate_rps * direct / len(ROUTING_MATRIX)


@dataclass(frozen=True, slots=True)
class GateSizing:
    """The rollout gates as a drill runs them (stated in its report). A request count does not compress
    with the clock: at the drill's traffic the failback's first step (FAILBACK_STEPS[0] % of the Direct
    traffic) brings `first_step_rps`, so the gate's minimum is what that brings in FIRST_STEP_GATE_S (at
    most the runbook's), its window is widened to hold that many (a gate reads only its own step's
    traffic, so a wide window never reaches back into the fault), and its INCONCLUSIVE re-checks last
    RECHECK_SLACK times as long. `latency_allowance_ms` is added to the gates' P95 limits (see runner)."""

    first_step_rps: float
    min_requests: int
    window_s: int
    recheck_s: int
    bake_s: int
    max_inconclusive: int
    hysteresis_s: float
    recovery_window_s: int
    latency_allowance_ms: float = 0.0
    allowance_basis: str = "none measured"

    def automation(self) -> dict[str, float | int]:
        """functions/app/automation/settings.py fields: the failback's gates (and the recovery judgement) on
        RECOVERY_P95_LATENCY_MS, the gradual failover's on GATE_P95_LATENCY_MS, each plus the allowance."""
        return {
            "gate_window_s": self.window_s,
            "gate_min_requests": self.min_requests,
            "gate_max_inconclusive": self.max_inconclusive,
            "recovery_p95_latency_ms": RECOVERY_P95_LATENCY_MS + self.latency_allowance_ms,
            "gate_p95_latency_ms": GATE_P95_LATENCY_MS + self.latency_allowance_ms,
        }

    def lines(self) -> list[str]:
        """The report's statement of how the gates were sized."""
        seconds = self.min_requests / self.first_step_rps
        return [
            f"- Gate request minimum {self.min_requests} (drill only; the runbook gate's is {GATE_MIN_REQUESTS}): "
            f"the failback's first step gets {FAILBACK_STEPS[0]} % of the Direct traffic, {self.first_step_rps:.2f} "
            f"requests/s, so {self.min_requests} requests take {seconds:.1f} s (the runbook's "
            f"{GATE_MIN_REQUESTS} would take {GATE_MIN_REQUESTS / self.first_step_rps:.1f} s).",
            f"- A gate reads only its step's traffic (window up to {self.window_s} s, cut to the step's age); with "
            f"fewer requests it is INCONCLUSIVE and re-checked every {self.recheck_s} s, at most "
            f"{self.max_inconclusive} times after the {self.bake_s} s bake ({RECHECK_SLACK:g} x the time the first "
            f"step needs). The failback hysteresis ({self.hysteresis_s:.2f} s) covers the recovery metrics window "
            f"({self.recovery_window_s} s): all it has to, since no gate reads back past its own step.",
            f"- Latency allowance on the gates' P95 limits: +{self.latency_allowance_ms:.0f} ms "
            f"({self.allowance_basis}): failback gates {RECOVERY_P95_LATENCY_MS + self.latency_allowance_ms:.0f} ms, "
            f"gradual failover gates {GATE_P95_LATENCY_MS + self.latency_allowance_ms:.0f} ms (runbook "
            f"{RECOVERY_P95_LATENCY_MS:g} and {GATE_P95_LATENCY_MS:g} ms).",
        ]


def gate_sizing(compression: Compression, direct: float) -> GateSizing:
    """The gates' sizes for a drill with `direct` Direct requests per second under `compression`."""
    first_rps = FAILBACK_STEPS[0] / 100.0 * direct
    minimum = max(1, min(GATE_MIN_REQUESTS, math.floor(first_rps * FIRST_STEP_GATE_S)))
    needed_s = minimum / first_rps
    recheck = compression.whole_seconds(GATE_RECHECK_SECONDS)
    bake = compression.whole_seconds(FAILBACK_BAKE_SECONDS)
    window = max(compression.whole_seconds(GATE_WINDOW_SECONDS), math.ceil(needed_s * RECHECK_SLACK))
    rechecks = max(1, math.ceil((needed_s * RECHECK_SLACK - bake) / recheck))
    hysteresis = compression.seconds(FAILBACK_HYSTERESIS_SECONDS)
    recovery = compression.whole_seconds(RECOVERY_WINDOW_SECONDS)
    return GateSizing(first_rps, minimum, window, recheck, bake, rechecks, hysteresis, recovery)


def latency_allowance(warmup_p95_ms: float | None, faults: tuple[FaultSpec, ...]) -> tuple[float, str]:
    """The allowance added to the gates' P95 limits: the P95 this machine showed during warm-up (nothing
    wrong yet), rounded up; when the fault adds latency, capped so that the fault's added latency stays
    above every gate's limit. Returns (milliseconds, the basis stated in the report)."""
    if warmup_p95_ms is None:
        return 0.0, "no warm-up latency measured"
    allowance = math.ceil(warmup_p95_ms / LATENCY_ALLOWANCE_STEP_MS) * LATENCY_ALLOWANCE_STEP_MS
    basis = f"the warm-up P95 of {warmup_p95_ms:.0f} ms, rounded up"
    added = max((f.latency_ms for f in faults), default=0)
    if added:
        cap = max(0.0, added - GATE_P95_LATENCY_MS - LATENCY_ALLOWANCE_STEP_MS)
        if allowance > cap:
            allowance = cap
            basis += f", capped at {cap:.0f} ms so the fault's +{added} ms stays above every gate's limit"
    return allowance, basis


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
