"""Alarm-driven automation (provider-failover.md, "Failover Triggers" and "Automated Failback"): which
failover an alarm or a health event starts (`FAILOVER_KIND`), whether a cooldown or a duplicate stops
it, which provider takes over, and when a failed-over provider has recovered long enough to fail back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from functions.domain.rollout.executions import execution_name
from functions.domain.rollout.gates import ALARM, GateThresholds, TargetMetrics
from functions.domain.rollout.plan import RolloutKind, RouteState
from functions.domain.routing.decision import FAILOVER_CHAINS
from functions.domain.thresholds import FAILBACK_STEPS

REASON_MAX = 500  # the workflow input's limit


class Trigger(StrEnum):
    SERVER_ERRORS = "server-errors"
    LATENCY = "latency"
    THROTTLING = "throttling"
    UNHEALTHY = "unhealthy"  # the health checker's event, not an alarm


ALARM_TRIGGERS: tuple[Trigger, ...] = (Trigger.SERVER_ERRORS, Trigger.LATENCY, Trigger.THROTTLING)

FAILOVER_KIND: Mapping[Trigger, RolloutKind] = {
    Trigger.SERVER_ERRORS: RolloutKind.IMMEDIATE_FAILOVER,
    Trigger.UNHEALTHY: RolloutKind.IMMEDIATE_FAILOVER,
    Trigger.LATENCY: RolloutKind.GRADUAL_FAILOVER,
    Trigger.THROTTLING: RolloutKind.GRADUAL_FAILOVER,
}


class Outcome(StrEnum):
    STARTED = "started"
    DUPLICATE = "duplicate"  # the same event again: its execution exists or is being started
    COOLDOWN = "cooldown"  # another automatic action on this provider is too recent
    IGNORED = "ignored"  # nothing to do (why: in the reason)
    WAITING = "waiting"  # failback: not recovered (long enough) yet
    RESTORED = "restored"  # failback: the provider has its pre-failover share again; the record is cleared


# --- requests from events ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FailoverRequest:
    provider: str
    trigger: Trigger
    basis: str  # what the execution name is derived from: the alarm name, or health-<provider>
    changed_at: datetime  # the state change's time (the same for every delivery of one event)
    reason: str

    @property
    def kind(self) -> RolloutKind:
        return FAILOVER_KIND[self.trigger]

    @property
    def execution_name(self) -> str:
        return execution_name(self.basis, self.changed_at)


@dataclass(frozen=True, slots=True)
class Ignored:
    reason: str


def parse_alarm_event(event: Mapping[str, Any], alarm_prefix: str) -> FailoverRequest | Ignored:
    """A "CloudWatch Alarm State Change" of f"{alarm_prefix}-provider-failover-{provider}-{trigger}"."""
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return Ignored("the alarm event has no detail")
    name = str(detail.get("alarmName") or "")
    raw_state = detail.get("state")
    state: Mapping[str, Any] = raw_state if isinstance(raw_state, Mapping) else {}
    head = f"{alarm_prefix}-provider-failover-"
    if not name.startswith(head):
        return Ignored(f"{name!r} is not one of our provider failover alarms ({head}<provider>-<trigger>)")
    if state.get("value") != ALARM:
        return Ignored(f"alarm {name} is {state.get('value')!r}, not ALARM")
    rest = name.removeprefix(head)
    trigger = next((t for t in ALARM_TRIGGERS if rest.endswith(f"-{t.value}")), None)
    provider = rest.removesuffix(f"-{trigger.value}") if trigger else ""
    if trigger is None or not provider:
        triggers = ", ".join(t.value for t in ALARM_TRIGGERS)
        return Ignored(f"alarm {name}: no provider and trigger ({triggers}) after {head!r}")
    changed = parse_time(state.get("timestamp")) or parse_time(event.get("time"))
    if changed is None:
        return Ignored(f"alarm {name}: no state-change time")
    reason = f"automation: alarm {name} in ALARM since {changed.isoformat()}: {state.get('reason') or ''}"
    return FailoverRequest(provider, trigger, name, changed, reason[:REASON_MAX])


def parse_health_event(event: Mapping[str, Any]) -> FailoverRequest | Ignored:
    """A "Provider Health Changed" event (functions/adapters/eventbridge.py) to unhealthy."""
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return Ignored("the health event has no detail")
    provider = str(detail.get("provider") or "")
    if not provider:
        return Ignored("the health event names no provider")
    if detail.get("status") != Trigger.UNHEALTHY.value:
        return Ignored(f"{provider} is {detail.get('status')!r}, not unhealthy")
    checked = detail.get("checkedAt")
    changed = parse_time(checked) if isinstance(checked, str) else _epoch(checked)
    changed = changed or parse_time(event.get("time"))
    if changed is None:
        return Ignored(f"the health event of {provider} has no time")
    reason = f"automation: {provider} unhealthy at {changed.isoformat()}: {detail.get('reason') or ''}"
    return FailoverRequest(provider, Trigger.UNHEALTHY, f"health-{provider}-unhealthy", changed, reason[:REASON_MAX])


def parse_time(value: Any) -> datetime | None:
    """EventBridge's `time` ("2019-10-02T17:04:40Z") or an alarm's state timestamp ("...40.985+0000")."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _epoch(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return datetime.fromtimestamp(value, UTC)


# --- what the store keeps per provider ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Claim:
    """The execution an automatic decision claimed, with its exact input (a retry starts the same one)."""

    name: str
    kind: RolloutKind
    input: Mapping[str, Any]
    at: float


@dataclass(frozen=True, slots=True)
class FailedOver:
    """A failover automation started; kept until the provider has its pre-failover share back."""

    at: float
    kind: RolloutKind
    trigger: str
    target: str  # the provider that took the traffic over (the failback's source)
    pre_share: int  # the provider's Direct share before the failover (what the failback restores)
    pre_weights: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class AutomationRecord:
    provider: str
    cooldown_until: float = 0.0
    last: Claim | None = None
    failed_over: FailedOver | None = None
    healthy_since: float | None = None  # the failback's hysteresis clock (None: not healthy now)
    version: int = 0

    def as_value(self) -> dict[str, Any]:
        last, down = self.last, self.failed_over
        return {
            "provider": self.provider,
            "cooldown_until": self.cooldown_until,
            "last": None
            if last is None
            else {"name": last.name, "kind": last.kind.value, "input": dict(last.input), "at": last.at},
            "failed_over": None
            if down is None
            else {
                "at": down.at,
                "kind": down.kind.value,
                "trigger": down.trigger,
                "target": down.target,
                "pre_share": down.pre_share,
                "pre_weights": dict(down.pre_weights),
            },
            "healthy_since": self.healthy_since,
        }

    @classmethod
    def from_value(cls, provider: str, value: Mapping[str, Any], version: int) -> AutomationRecord:
        last, down = value.get("last"), value.get("failed_over")
        healthy = value.get("healthy_since")
        return cls(
            provider=provider,
            cooldown_until=float(value.get("cooldown_until") or 0.0),
            last=None
            if not last
            else Claim(str(last["name"]), RolloutKind(last["kind"]), dict(last.get("input") or {}), float(last["at"])),
            failed_over=None
            if not down
            else FailedOver(
                float(down["at"]),
                RolloutKind(down["kind"]),
                str(down["trigger"]),
                str(down["target"]),
                int(down["pre_share"]),
                {str(p): int(w) for p, w in (down.get("pre_weights") or {}).items()},
            ),
            healthy_since=None if healthy is None else float(healthy),
            version=version,
        )


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reason: str
    claim: Claim | None = None  # STARTED: the execution to start
    record: AutomationRecord | None = None  # the record to write (None: nothing changes)
    details: Mapping[str, Any] = field(default_factory=dict)


# --- failover --------------------------------------------------------------------------------------
def decide_failover(
    request: FailoverRequest,
    record: AutomationRecord,
    route: RouteState,
    health: Mapping[str, bool],
    direct: Sequence[str],
    failed_over: Sequence[str],
    now: float,
    cooldown_s: float,
    extras: Mapping[RolloutKind, Mapping[str, Any]],
) -> Decision:
    """Start `request`'s failover unless it is a duplicate, the provider is cooling down, or there is
    nothing to move or nowhere to move it. `health` maps each provider with a health record to whether
    it is healthy; `failed_over` lists providers automation has failed over (never a target)."""
    provider, name = request.provider, request.execution_name
    if record.last is not None and record.last.name == name:
        return Decision(Outcome.DUPLICATE, f"execution {name} was already claimed at {record.last.at:.3f}")
    if now < record.cooldown_until:
        return Decision(
            Outcome.COOLDOWN,
            f"{provider} is cooling down until {record.cooldown_until:.3f} after {_last(record)}",
        )
    if provider not in direct:
        return Decision(Outcome.IGNORED, f"{provider} is not a configured Direct provider ({', '.join(direct)})")
    if request.trigger is Trigger.UNHEALTHY and health.get(provider) is not False:
        return Decision(Outcome.IGNORED, f"the health table does not hold {provider} unhealthy (a stale event)")
    share = route.weights.get(provider, 0)
    if share <= 0:
        return Decision(Outcome.IGNORED, f"{provider} carries no Direct traffic (weights {dict(route.weights)})")
    target = select_target(provider, route.weights, health, direct, failed_over)
    if target is None:
        return Decision(Outcome.IGNORED, f"no healthy Direct provider can take over from {provider}")
    kind = request.kind
    claim = Claim(name, kind, machine_input(kind, provider, target, request.reason, extras), now)
    down = record.failed_over or _failed_over(request, route, target, now)
    new = replace(record, cooldown_until=now + cooldown_s, last=claim, failed_over=down, healthy_since=None)
    return Decision(Outcome.STARTED, f"{kind.value} of {provider} to {target} ({request.trigger.value})", claim, new)


def select_target(
    failed: str,
    weights: Mapping[str, int],
    health: Mapping[str, bool],
    direct: Sequence[str],
    excluded: Sequence[str] = (),
) -> str | None:
    """The healthy Direct provider to take over from `failed`: one already carrying traffic first (it is
    serving now), then the failed provider's runbook chain (bedrock -> google -> meta ...). A provider
    without a health record counts as healthy, as the router takes it; `excluded` never qualifies."""
    chain = [p for p in FAILOVER_CHAINS.get(failed, ()) if p in direct]
    order = chain + sorted(set(direct) - set(chain))
    candidates = [p for p in order if p != failed and p not in excluded and health.get(p, True)]
    serving = [p for p in candidates if weights.get(p, 0) > 0]
    chosen = serving or candidates
    return chosen[0] if chosen else None


def machine_input(
    kind: RolloutKind, source: str, target: str, reason: str, extras: Mapping[RolloutKind, Mapping[str, Any]]
) -> dict[str, Any]:
    """The state machine's execution input (statemachines/*.asl.json: source, target, reason, and the
    optional steps, bakeSeconds, recheckSeconds, gate)."""
    return {"source": source, "target": target, "reason": reason[:REASON_MAX], **extras.get(kind, {})}


def _failed_over(request: FailoverRequest, route: RouteState, target: str, now: float) -> FailedOver:
    """What a failback restores: the weights before automation moved anything. While a canary or
    failback runs, that is its starting weights (the failover pre-empts it)."""
    lock = route.lock
    before = dict(lock.starting_weights) if lock is not None and not lock.kind.is_safety else dict(route.weights)
    return FailedOver(now, request.kind, request.trigger.value, target, before.get(request.provider, 0), before)


def _last(record: AutomationRecord) -> str:
    return "nothing" if record.last is None else f"{record.last.kind.value} {record.last.name}"


# --- recovery and failback -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RecoveryEvidence:
    """What one failback check sees of a failed-over provider."""

    probe_healthy: bool | None  # the health table (None: no record)
    probe_latency_ms: float | None  # the last probe's latency
    metrics: TargetMetrics | None  # its routed traffic in the check's window (little once failed over)
    alarms: Mapping[str, str]  # its failover alarms and their states


def judge_recovery(evidence: RecoveryEvidence, strict: GateThresholds) -> tuple[bool, tuple[str, ...]]:
    """Healthy under thresholds stricter than the failover triggers: probes healthy and fast enough, no
    failover alarm in ALARM, and - when it served at least `strict.min_requests` requests - a success
    rate and p95 within `strict`. A failed-over provider gets next to no routed traffic, so with fewer
    requests the probes are the evidence (the failback's own gates then check real traffic step by step)."""
    bad: list[str] = []
    if evidence.probe_healthy is not True:
        bad.append("health probes do not hold it healthy")
    if evidence.probe_latency_ms is not None and evidence.probe_latency_ms > strict.p95_latency_ms:
        bad.append(f"probe latency {evidence.probe_latency_ms:g} ms above {strict.p95_latency_ms:g} ms")
    bad += [f"alarm {name} is in ALARM" for name, state in sorted(evidence.alarms.items()) if state == ALARM]
    metrics = evidence.metrics
    if metrics is not None and metrics.requests >= strict.min_requests:
        success = metrics.success_percent
        if success is not None and success < strict.success_percent:
            bad.append(f"success rate {success:g}% below {strict.success_percent:g}%")
        if metrics.p95_ms is not None and metrics.p95_ms > strict.p95_latency_ms:
            bad.append(f"p95 latency {metrics.p95_ms:g} ms above {strict.p95_latency_ms:g} ms")
        basis = f"{metrics.requests:g} requests"
    else:
        basis = "probes only (too little routed traffic)"
    return (not bad, tuple(bad) if bad else (f"healthy under the recovery thresholds ({basis})",))


def failback_steps(current_share: int, pre_share: int) -> tuple[int, ...]:
    """The runbook's failback steps (10, 25, 50, 75, 100) between the provider's current share and the
    share it had before the failover, ending exactly on that share."""
    if pre_share <= current_share:
        return ()
    return (*(s for s in FAILBACK_STEPS if current_share < s < pre_share), pre_share)


def decide_failback(
    record: AutomationRecord,
    route: RouteState,
    healthy: bool,
    reasons: Sequence[str],
    now: float,
    hysteresis_s: float,
    extras: Mapping[RolloutKind, Mapping[str, Any]],
    grace_s: float,
) -> Decision:
    """One failback check of a provider automation failed over. The hysteresis clock starts when it is
    first seen healthy and restarts whenever it is not; a failback starts once the clock has run
    `hysteresis_s`, outside the cooldown, while no rollout holds the route. The record is cleared once
    the provider has its pre-failover share back and no rollout runs (`grace_s` after the last claim,
    so a failover that has not taken the route's lock yet is not mistaken for a restored provider)."""
    provider, down = record.provider, record.failed_over
    if down is None:
        return Decision(Outcome.IGNORED, f"automation has not failed {provider} over")
    current = route.weights.get(provider, 0)
    settled = record.last is None or now - record.last.at >= grace_s
    if route.lock is None and current >= down.pre_share and settled:
        cleared = replace(record, failed_over=None, healthy_since=None)
        return Decision(Outcome.RESTORED, f"{provider} has its {down.pre_share}% share again", record=cleared)
    since = (record.healthy_since or now) if healthy else None
    clocked = replace(record, healthy_since=since)
    changed = clocked if since != record.healthy_since else None
    details = {"healthy": healthy, "reasons": list(reasons), "healthySince": since}
    if since is None:
        return Decision(Outcome.WAITING, f"{provider} not recovered: {'; '.join(reasons)}", record=changed)
    if now < record.cooldown_until:
        why = f"{provider} is cooling down until {record.cooldown_until:.3f}"
        return Decision(Outcome.COOLDOWN, why, record=changed, details=details)
    if route.lock is not None:
        why = f"a {route.lock.kind.value} ({route.lock.owner}) holds the route"
        return Decision(Outcome.WAITING, why, record=changed, details=details)
    if now - since < hysteresis_s:
        why = f"{provider} healthy for {now - since:.0f} s of the {hysteresis_s:.0f} s required"
        return Decision(Outcome.WAITING, why, record=changed, details=details)
    steps = failback_steps(current, down.pre_share)
    if not steps:
        return Decision(Outcome.WAITING, f"{provider} already has {current}% (the failover may not have moved yet)")
    name = execution_name(f"failback-{provider}", datetime.fromtimestamp(since, UTC))
    if record.last is not None and record.last.name == name:
        return Decision(Outcome.DUPLICATE, f"execution {name} was already claimed", details=details)
    reason = f"automation: {provider} healthy since {datetime.fromtimestamp(since, UTC).isoformat()}"
    execution_input = machine_input(RolloutKind.FAILBACK, down.target, provider, reason, extras) | {
        "steps": list(steps)
    }
    claim = Claim(name, RolloutKind.FAILBACK, execution_input, now)
    started = replace(record, last=claim, healthy_since=None)
    why = f"failback of {provider} from {down.target} to {down.pre_share}% ({'; '.join(reasons)})"
    return Decision(Outcome.STARTED, why, claim, started, details)
