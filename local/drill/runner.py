"""One drill, end to end, on the local stack (started here, or the caller's): steady traffic, the
scenario's fault, hands off while breakers, health checks, alarms and workflows act, the fault lifted,
failback awaited, then the report. Progress goes to `progress` (stderr by default), one line a second."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from functions.domain.routing.cost import BudgetPolicy
from functions.domain.thresholds import BUDGET_REFUSE_PERCENT, FAILBACK_STEPS, KPI_USER_ERROR_RATE_PERCENT
from local.drill import kpis as kpi
from local.drill import report
from local.drill.scenarios import Compression, GateSizing, Scenario, direct_rps, gate_sizing, latency_allowance
from local.drill.timeline import FAULT, NOTE, Recorder, Sample, Timeline, format_weights
from local.drill.traffic import TrafficGenerator

Progress = Callable[[str], None]


def to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class DrillSettings:
    rate_rps: float = 28.0  # four requests a second per operation type
    warmup_s: float = 2.0  # steady traffic before the fault
    min_fault_s: float = 1.0  # the fault lasts at least this long...
    hold_s: float = 1.5  # ...until the failover has finished and the error rate stayed on target this long...
    max_fault_s: float = 30.0  # ...at most this long (and at most the scenario's own maximum)
    settle_s: float = 1.0
    max_recovery_s: float | None = None  # wait at most this long after the lift for failback (None: see below)
    tail_s: float = 0.0  # steady traffic after recovery (0: the drill ends as soon as recovery completes)
    sample_s: float = 0.2
    bucket_s: float = 1.0
    compression: Compression = field(default_factory=Compression)
    out_dir: Path = Path("drill-reports")


@dataclass(frozen=True, slots=True)
class DrillResult:
    scenario: Scenario
    timeline: Timeline
    kpis: kpi.KpiReport
    report_path: Path
    chart_path: Path
    json_path: Path
    duration_s: float


def run(
    scenario: Scenario, stack: Any = None, settings: DrillSettings | None = None, progress: Progress = to_stderr
) -> DrillResult:
    """Run `scenario` on `stack` (a running local stack; None starts one for the drill and stops it after)."""
    settings = settings or DrillSettings()
    with _local_stack(stack) as (running, url), _drill_environment(running, scenario, settings) as env:
        return _run(scenario, running, url, env, settings, progress)


# --- the stack and the drill's environment -----------------------------------------------------------
@contextmanager
def _local_stack(stack: Any) -> Iterator[tuple[Any, str]]:
    from local.servers import start_uvicorn
    from local.stack import start

    owned = stack is None
    if owned:
        os.environ.setdefault("HEALTH_CHECK_INTERVAL_SECONDS", "3600")  # the drill runs the checker, compressed
        stack = start(port=0, serve_gateway_in_thread=False)
    gateway = start_uvicorn(stack.app) if stack.gateway is None else None
    try:
        yield stack, (gateway.url if gateway is not None else stack.url)
    finally:
        if gateway is not None:
            gateway.stop()
        if owned:
            stack.stop()


@dataclass
class DrillEnvironment:
    """What the drill changed in the running stack, to inject the fault and to put everything back."""

    stack: Any
    scenario: Scenario
    deps: Any
    probe: Callable[[], Sample]
    saved_budget: Any = None
    saved_fresh_s: float | None = None
    stoppers: list[Callable[[], None]] = field(default_factory=list)
    gates: GateSizing | None = None
    size_gates: Callable[[GateSizing], None] = lambda _gates: None

    def allow_latency(self, warmup_p95_ms: float | None) -> GateSizing | None:
        """Add the warm-up P95 (see scenarios.latency_allowance) to the gates' P95 limits."""
        if self.gates is not None:
            allowance, basis = latency_allowance(warmup_p95_ms, self.scenario.faults)
            self.gates = replace(self.gates, latency_allowance_ms=allowance, allowance_basis=basis)
            self.size_gates(self.gates)
        return self.gates

    def inject(self) -> str:
        for spec in self.scenario.faults:
            self.stack.faults.set(spec)
        described = [f"{s.provider}: {s.error_rate:.0%} {s.status}, +{s.latency_ms} ms" for s in self.scenario.faults]
        if self.scenario.budget_exhausted:
            spent = self.deps.spend.spent_usd() or 0.0
            if spent <= 0:
                self.deps.spend.add(0.001, "drill")
                spent = 0.001
            # The budget set to what is spent already: 100 % used, over the refusal line.
            self.deps.budget = BudgetPolicy(spent)
            described.append(f"monthly budget set to {spent:.6f} USD (spent), >= {BUDGET_REFUSE_PERCENT:g} % used")
        return "; ".join(described)

    def lift(self) -> str:
        for spec in self.scenario.faults:
            self.stack.faults.clear(spec.provider)
        if self.scenario.budget_exhausted:
            self.deps.budget = self.saved_budget
            return "budget restored"
        return "faults cleared"


@contextmanager
def _drill_environment(stack: Any, scenario: Scenario, settings: DrillSettings) -> Iterator[DrillEnvironment]:
    from functions.app.chat.wiring import get_dependencies
    from local import metrics_sink

    metrics_sink.install()  # the alarms and gates read the EMF lines; whoever swapped sys.stdout removed the tap
    # A drill reads only its own traffic; a store left full by earlier traffic slows every alarm evaluation and gate
    # query (each scans it), and that load shows up in the drill's own latencies.
    metrics_sink.STORE.clear()
    deps = get_dependencies()
    policy = settings.compression.breaker_policy()
    _fresh_routing(stack, deps, policy)
    env_snapshots = deps.snapshots
    deps.snapshots = _snapshots(deps, settings.compression.snapshot_max_age_s)
    env = DrillEnvironment(stack, scenario, deps, _probe(deps, stack), saved_budget=deps.budget)
    env.saved_fresh_s = fresh = deps.cache.fresh_ttl_s
    compressed = settings.compression.seconds(fresh)
    deps.cache.fresh_ttl_s = scenario.cache_fresh_s if scenario.cache_fresh_s is not None else compressed
    env.stoppers.append(_health_checks(settings.compression.health_interval_s))
    env.stoppers.append(_compress_alarms(stack, settings.compression))
    env.gates = gate_sizing(settings.compression, direct_rps(settings.rate_rps))
    env.size_gates, stop_automation = _compress_automation(stack, settings.compression, env.gates)
    env.stoppers.append(stop_automation)
    _stop_rollout(deps, "a drill starts from a route no rollout holds")
    baseline = _route_weights(deps)
    try:
        yield env
    finally:
        for stop in reversed(env.stoppers):
            stop()
        deps.budget = env.saved_budget
        deps.cache.fresh_ttl_s = env.saved_fresh_s
        deps.snapshots = env_snapshots
        _stop_rollout(deps, "the drill ended before this rollout did")
        _restore_weights(deps, baseline)
        _fresh_routing(stack, deps, None)


def _route_config(deps: Any) -> Any:
    from functions.adapters.dynamodb.audit import audit_log_from
    from functions.adapters.dynamodb.config import ConfigStore

    return ConfigStore(deps.settings.flags_table, audit_log_from(os.environ))


def _route_weights(deps: Any) -> dict[str, int]:
    from functions.adapters.dynamodb.rollouts import RolloutStore

    return dict(RolloutStore(_route_config(deps)).get().weights)


def _stop_rollout(deps: Any, reason: str) -> None:
    """A rollout still holding the route (e.g. a failback the drill's recovery wait did not see to its
    end) would carry into the next drill, whose baseline would then be a half-way step: its execution
    is stopped and its lock released as the stack's cleanup rule does (audited; a canary or failback
    gets its starting weights back)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from functions.adapters.aws import client as aws_client
    from functions.adapters.dynamodb.rollouts import RolloutStore

    store = RolloutStore(_route_config(deps))
    lock = store.get().lock
    if lock is None:
        return
    try:
        aws_client("stepfunctions").stop_execution(executionArn=lock.owner, error="DrillEnded", cause=reason)
    except (ClientError, BotoCoreError):
        pass  # already ended: the lock is released below all the same
    store.force_release_if_owner(lock.owner, reason)
    deps.snapshots.invalidate()


def _restore_weights(deps: Any, baseline: dict[str, int]) -> None:
    """Leave the route as the drill found it when the workflows did not (e.g. a failback stopped half-way;
    the report says so): audited, and only when no rollout holds the route."""
    from functions.adapters.dynamodb.rollouts import RolloutStore
    from functions.adapters.dynamodb.schema import TRAFFIC_WEIGHTS_KEY
    from functions.domain.audit import AuditEntry

    config = _route_config(deps)
    state = RolloutStore(config).get()
    if state.lock is None and dict(state.weights) != baseline and baseline:
        entry = AuditEntry("drill", "drill.restore-weights", TRAFFIC_WEIGHTS_KEY, "weights as before the drill")
        config.put(TRAFFIC_WEIGHTS_KEY, {"weights": baseline}, state.version, entry)
    deps.snapshots.invalidate()


def _fresh_routing(stack: Any, deps: Any, policy: Any) -> None:
    """No faults, no breaker, health or automation marks stored, breakers of `policy` (None: as shipped)."""
    from functions.adapters.dynamodb.automation import automation_key
    from functions.adapters.dynamodb.breakers import SharedBreakers, breaker_key
    from functions.adapters.dynamodb.client import dynamodb_client
    from functions.adapters.dynamodb.schema import FLAGS, HEALTH, health_key
    from functions.domain.names import TARGETS

    stack.faults.clear()
    table = deps.settings.health_table
    for key in [k for target in TARGETS for k in (breaker_key(target), health_key(target))]:
        dynamodb_client().delete_item(TableName=table, Key={HEALTH.partition_key: {"S": key}})
    for target in TARGETS:  # the automation's cooldowns and failback marks of an earlier drill
        flag = {FLAGS.partition_key: {"S": automation_key(target)}}
        dynamodb_client().delete_item(TableName=deps.settings.flags_table, Key=flag)
    deps.breakers = SharedBreakers(table, TARGETS, policy)
    deps.snapshots.invalidate()


def _snapshots(deps: Any, max_age_s: float) -> Any:
    """The router's snapshot store refreshing every `max_age_s` (the compressed SNAPSHOT_MAX_AGE_SECONDS,
    what SNAPSHOT_MAX_AGE_SECONDS in the router's environment sets on a stack started for a drill)."""
    from functions.adapters.dynamodb.snapshot import SnapshotStore
    from functions.domain.names import TARGETS

    return SnapshotStore(deps.settings.flags_table, deps.settings.health_table, TARGETS, max_age_s=max_age_s)


def _health_checks(interval_s: float) -> Callable[[], None]:
    """The health checker Lambda on the compressed schedule, for the drill's duration."""
    from functions.handlers.health_check import lambda_handler as health_check
    from local.gateway import LocalLambdaContext
    from local.scheduler import PeriodicTask

    task = PeriodicTask(
        lambda: health_check({}, cast(Any, LocalLambdaContext("drill-health-check"))), interval_s, "drill-health"
    )
    return task.stop


def _compress_alarms(stack: Any, compression: Compression) -> Callable[[], None]:
    """The local alarm evaluator's periods and evaluation interval compressed; put back afterwards."""
    from functions.domain.thresholds import ALARM_PERIOD_SECONDS

    evaluator = getattr(stack, "alarms", None)
    if evaluator is None:
        return lambda: None
    scale, interval = evaluator.time_scale, evaluator.interval_s
    evaluator.configure(time_scale=compression.factor, interval_s=compression.seconds(ALARM_PERIOD_SECONDS))

    def restore() -> None:
        evaluator.configure(time_scale=scale, interval_s=interval or 0)

    return restore


def _compress_automation(
    stack: Any, compression: Compression, gates: GateSizing
) -> tuple[Callable[[GateSizing], None], Callable[[], None]]:
    """The alarm-driven automation re-timed (cooldown, hysteresis, bakes) with the drill's gate sizes, and
    its failback check run on the compressed schedule. Answers (re-size the gates, put everything back)."""
    from functions.domain.thresholds import FAILBACK_CHECK_INTERVAL_SECONDS
    from local.eventbus import LocalAutomation, scheduled_event
    from local.scheduler import PeriodicTask

    found = [s for s in getattr(stack, "servers", []) if isinstance(s, LocalAutomation) and s.deps is not None]
    if not found or found[0].handler is None:
        return (lambda _gates: None), (lambda: None)
    automation, handler = found[0], found[0].handler
    saved = automation.deps.settings
    timers = compression.automation()

    def size(sized: GateSizing) -> None:
        automation.deps.settings = saved.model_copy(update={**timers, **sized.automation()})

    size(gates)
    interval = compression.seconds(FAILBACK_CHECK_INTERVAL_SECONDS)
    task = PeriodicTask(lambda: handler(scheduled_event()), interval, "drill-failback-check")

    def restore() -> None:
        task.stop()
        automation.deps.settings = saved

    return size, restore


def _probe(deps: Any, stack: Any) -> Callable[[], Sample]:
    from functions.adapters.dynamodb.health import HealthStore
    from functions.adapters.dynamodb.rollouts import RolloutStore
    from functions.domain.names import TARGETS

    rollouts = RolloutStore(_route_config(deps))
    health = HealthStore(deps.settings.health_table)
    alarms = getattr(stack, "alarms", None)

    def probe() -> Sample:
        routing = deps.snapshots.get().routing
        lock = rollouts.get().lock
        rollout = "" if lock is None else f"{lock.kind.value} {lock.target} step {lock.step} ({lock.phase.value})"
        return Sample(
            at=0.0,
            weights={p: int(w) for p, w in routing.weights.items()},
            breakers={t: s.status.value for t, s in deps.breakers.states().items()},
            health={t: r.status for t, r in health.read_all(TARGETS).items()},
            alarms={} if alarms is None else {n: s for n, s in alarms.states().items() if s == "ALARM"},
            rollout=rollout,
        )

    return probe


# --- the drill ------------------------------------------------------------------------------------------
def _run(
    scenario: Scenario, stack: Any, url: str, env: DrillEnvironment, settings: DrillSettings, progress: Progress
) -> DrillResult:
    started_at, clock0 = report.now_utc(), time.monotonic()
    first = env.probe()
    timeline = Timeline(
        scenario.name,
        scenario.faulted,
        dict(first.weights),
        baseline_alarms=frozenset(n for n, s in first.alarms.items() if s == "ALARM"),
    )
    recorder = Recorder(timeline, env.probe, settings.sample_s)
    traffic = TrafficGenerator(url, stack.client_key, recorder, settings.rate_rps, scenario.cacheable)
    say = _Reporter(scenario.name, recorder, progress)
    recorder.start()
    traffic.start()
    try:
        say.phase("steady", f"{settings.rate_rps:g} req/s, compression x{settings.compression.factor:g}")
        say.wait(settings.warmup_s, "steady")
        gates = env.allow_latency(_warmup_p95_ms(settings.warmup_s))
        if gates is not None:
            say.phase("gates", gates.lines()[-1].removeprefix("- "))
        timeline.baseline_weights = dict((recorder.last_sample() or first).weights)
        timeline.fault_started = recorder.now()
        recorder.signal(FAULT, scenario.name, "injected", env.inject(), at=timeline.fault_started)
        say.phase("fault", recorder.timeline.signals[-1].detail)
        longest = min(settings.max_fault_s, scenario.max_fault_s)
        if not say.until(_LiftWhen(recorder, settings), settings.min_fault_s, longest, "fault"):
            recorder.signal(NOTE, "drill", "lifted at the maximum", f"the fault's maximum duration, {longest:g} s")
        timeline.fault_lifted = recorder.now()
        recorder.signal(FAULT, scenario.name, "lifted", env.lift(), at=timeline.fault_lifted)
        say.phase("failback", "fault lifted; waiting for weights, breakers, health and alarms to return")
        limit = recovery_limit_s(settings)
        if not say.until(lambda: _recovered(recorder), 0.0, limit, "failback"):
            recorder.signal(NOTE, "drill", "recovery not reached", f"within {limit:g} s of the lift")
        say.wait(settings.tail_s, "steady")
    finally:
        traffic.stop()
        recorder.stop()
    result = kpi.compute(timeline, settings.bucket_s, settings.settle_s)
    duration = time.monotonic() - clock0
    context = report.ReportContext(
        scenario,
        timeline,
        result,
        settings.compression,
        settings.rate_rps,
        started_at,
        duration,
        settings.bucket_s,
        env.gates or gate_sizing(settings.compression, direct_rps(settings.rate_rps)),
    )
    markdown, chart, summary = report.write(context, settings.out_dir)
    say.phase("done", f"{duration:.1f} s; report {markdown}")
    progress(report.kpi_table(result))
    return DrillResult(scenario, timeline, result, markdown, chart, summary, duration)


def recovery_limit_s(settings: DrillSettings) -> float:
    """How long after the lift the drill waits for recovery: `max_recovery_s`, or twice what a failback
    takes under the compression (cooldown, hysteresis, each step's bake and a re-check, the first step's
    gate), at least a minute."""
    if settings.max_recovery_s is not None:
        return settings.max_recovery_s
    timers = settings.compression.automation()
    gates = gate_sizing(settings.compression, direct_rps(settings.rate_rps))
    steps = len(FAILBACK_STEPS) * (timers["failback_bake_s"] + timers["recheck_s"])
    failback = timers["cooldown_s"] + timers["hysteresis_s"] + steps + gates.min_requests / gates.first_step_rps
    return max(60.0, 2.0 * failback)


def _warmup_p95_ms(warmup_s: float) -> float | None:
    """The P95 of every routed request's latency (the router's Latency metric, what the gates read) over
    the warm-up."""
    from local import metrics_sink

    latency = metrics_sink.LocalMetrics(metrics_sink.STORE).query(max(1, math.ceil(warmup_s))).latency
    overall = latency.get("all", {}).get("all")
    return None if overall is None else overall.p95_ms


class _LiftWhen:
    """When to lift the fault: once the failover has finished and the error rate has stayed at or under
    the user error rate target for `hold_s`. Finished: the faulted providers' Direct weights are off and
    no rollout holds the route (when they had weight and a Direct provider is left to take it); with every
    Direct provider down, the failover KPI is reached and the automation has moved the weights (to a
    provider that is down too) with no rollout left holding the route; with no Direct weight on a faulted
    provider, the failover KPI is reached. The error rate: requests answered in the last `hold_s`, failed
    in percent."""

    def __init__(self, recorder: Recorder, settings: DrillSettings) -> None:
        self._recorder, self._hold_s, self._settle_s = recorder, settings.hold_s, settings.settle_s
        self._since: float | None = None

    def __call__(self) -> bool:
        now = self._recorder.now()
        if not (self._failover_done(now) and self._error_rate_on_target(now)):
            self._since = None
            return False
        self._since = now if self._since is None else self._since
        return now - self._since >= self._hold_s

    def _failover_done(self, now: float) -> bool:
        live = self._recorder.copy(fault_lifted=now)
        detected = kpi.detection(live)
        if detected is None:
            return False
        faulted, sample = set(live.faulted), self._recorder.last_sample()
        if kpi.weights_movable(live):
            return sample is not None and not sample.rollout and kpi.weights_off(sample, faulted)
        if kpi.failover(live, detected, self._settle_s) is None:
            return False
        if not any(int(live.baseline_weights.get(p, 0)) > 0 for p in faulted):
            return True  # no Direct weight on a faulted provider: nothing for a workflow to move
        # Every Direct provider down: the automation still moves the weights (to another faulted provider);
        # lifted once it has, so its failover and the failback after it both run within the drill.
        moved = sample is not None and dict(sample.weights) != dict(live.baseline_weights)
        return moved and sample is not None and not sample.rollout

    def _error_rate_on_target(self, now: float) -> bool:
        recent = [r for r in self._recorder.requests() if r.ended >= now - self._hold_s]
        failed = sum(r.failed for r in recent)
        return bool(recent) and failed * 100.0 <= KPI_USER_ERROR_RATE_PERCENT * len(recent)


def _recovered(recorder: Recorder) -> bool:
    sample = recorder.last_sample()
    lifted = recorder.timeline.fault_lifted
    return sample is not None and lifted is not None and sample.at > lifted and kpi.recovered(sample, recorder.timeline)


class _Reporter:
    """Progress lines: one when a phase starts, then one a second."""

    def __init__(self, name: str, recorder: Recorder, progress: Progress) -> None:
        self._name, self._recorder, self._progress = name, recorder, progress
        self._seen = 0

    def phase(self, phase: str, detail: str) -> None:
        self._progress(f"[{self._name}] +{self._recorder.now():5.1f}s {phase}: {detail}")

    def wait(self, seconds: float, phase: str) -> None:
        self.until(lambda: False, seconds, seconds, phase)

    def until(self, condition: Callable[[], bool], min_s: float, max_s: float, phase: str) -> bool:
        started = time.monotonic()
        next_line = started + 1.0
        while True:
            elapsed = time.monotonic() - started
            if elapsed >= max_s:
                return False
            if elapsed >= min_s and condition():
                return True
            if time.monotonic() >= next_line:
                self._line(phase)
                next_line += 1.0
            time.sleep(0.05)

    def _line(self, phase: str) -> None:
        requests = self._recorder.requests()
        recent, self._seen = requests[self._seen :], len(requests)
        failed = sum(r.failed for r in recent)
        rate = 0.0 if not recent else failed * 100.0 / len(recent)
        sample = self._recorder.last_sample()
        state = "" if sample is None else _state(sample)
        self._progress(
            f"[{self._name}] +{self._recorder.now():5.1f}s {phase:<8} {len(recent):3d} answered, "
            f"{rate:5.1f}% failed | {state}"
        )


def _state(sample: Sample) -> str:
    breakers = ",".join(f"{t}:{s}" for t, s in sorted(sample.breakers.items()) if s != "closed") or "closed"
    unhealthy = ",".join(t for t, s in sorted(sample.health.items()) if s != "healthy") or "none"
    alarms = ",".join(n for n, s in sorted(sample.alarms.items()) if s == "ALARM") or "none"
    rollout = sample.rollout or "none"
    return (
        f"weights {format_weights(sample.weights)} | breakers {breakers} | unhealthy {unhealthy} "
        f"| alarms {alarms} | rollout {rollout}"
    )
