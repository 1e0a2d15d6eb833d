"""What a drill saw: every request's outcome, the state changes of breakers, health marks, alarms,
rollouts and weights (signals), and periodic samples of the routing state. Times are seconds since
the drill started (monotonic clock).

`Timeline` is plain data, so the KPIs (local/drill/kpis.py) are pure functions of it and are tested on
crafted timelines; `Recorder` fills one from the running stack.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

# Signal kinds (kpis.detection says which states mean "the system noticed the fault").
BREAKER, HEALTH, ALARM, ROLLOUT, WEIGHTS = "breaker", "health", "alarm", "rollout", "weights"
FAULT, NOTE = "fault", "note"
POLICY_CODES: frozenset[str] = frozenset({"budget_exhausted"})  # refusals the runbook asks for, not errors


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One generated request. `status` 0: no answer at all (connection error or client timeout)."""

    started: float
    ended: float
    operation: str
    status: int
    provider: str = ""
    route: str = ""
    fallback: bool = False
    cache: str = ""
    error_code: str = ""
    has_fallback: bool = True

    @property
    def latency_ms(self) -> float:
        return (self.ended - self.started) * 1000.0

    @property
    def shed_by_policy(self) -> bool:
        """Refused on purpose (e.g. the budget pauses low-priority work): answered, and not an error."""
        return self.status == 429 and self.error_code in POLICY_CODES

    @property
    def lost(self) -> bool:
        """No answer, or a 5xx: the request was not served."""
        return self.status == 0 or self.status >= 500

    @property
    def failed(self) -> bool:
        """What the user sees as an error: lost, or a 4xx other than a refusal by policy. The drill's
        requests are well-formed, so any 4xx is the system's doing (e.g. a provider's 429 passed on)."""
        return self.lost or (self.status >= 400 and not self.shed_by_policy)


@dataclass(frozen=True, slots=True)
class Signal:
    """A state change: `kind` (breaker, health, alarm, rollout, weights, fault, note), what changed
    (`subject`: a provider, an alarm name, the route) and its new `state`."""

    at: float
    kind: str
    subject: str
    state: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Sample:
    """The routing state at one instant."""

    at: float
    weights: Mapping[str, int]
    breakers: Mapping[str, str] = field(default_factory=dict)
    health: Mapping[str, str] = field(default_factory=dict)
    alarms: Mapping[str, str] = field(default_factory=dict)  # alarm name -> state, alarms not OK only
    rollout: str = ""  # "<kind> step <n> (<phase>)" while a rollout holds the route


@dataclass
class Timeline:
    """A whole drill. `faulted` are the providers the fault hit (empty for a budget drill);
    `baseline_weights` the Direct weights before the fault, which failback must restore."""

    scenario: str
    faulted: tuple[str, ...]
    baseline_weights: Mapping[str, int]
    watched: tuple[str, ...] = ()  # words naming the alarms this fault should raise (default: the faulted providers)
    baseline_alarms: frozenset[str] = frozenset()  # alarms already in ALARM before the fault: not the drill's doing
    fault_started: float | None = None
    fault_lifted: float | None = None
    ended: float | None = None
    requests: list[RequestRecord] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)


Probe = Callable[[], Sample]


class Recorder:
    """Thread-safe collection of a drill's timeline: the traffic generator adds requests, a sampling
    thread calls `probe` every `interval_s` and turns differences between samples into signals."""

    def __init__(self, timeline: Timeline, probe: Probe, interval_s: float = 0.2) -> None:
        self.timeline, self._probe, self._interval = timeline, probe, interval_s
        self._lock = threading.Lock()
        self._origin = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: Sample | None = None

    def now(self) -> float:
        return time.monotonic() - self._origin

    def add_request(self, record: RequestRecord) -> None:
        with self._lock:
            self.timeline.requests.append(record)

    def signal(self, kind: str, subject: str, state: str, detail: str = "", at: float | None = None) -> None:
        with self._lock:
            self.timeline.signals.append(Signal(self.now() if at is None else at, kind, subject, state, detail))

    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self.timeline.requests)

    def copy(self, **changes: Any) -> Timeline:
        """A consistent copy of the timeline so far (for live KPI checks), with `changes` applied."""
        with self._lock:
            t = self.timeline
            copied = replace(t, requests=list(t.requests), signals=list(t.signals), samples=list(t.samples))
        return replace(copied, **changes)

    def last_sample(self) -> Sample | None:
        with self._lock:
            return self._last

    def sample_now(self) -> Sample:
        taken = self._probe()
        sample = Sample(self.now(), taken.weights, taken.breakers, taken.health, taken.alarms, taken.rollout)
        with self._lock:
            previous, self._last = self._last, sample
            self.timeline.samples.append(sample)
            self.timeline.signals.extend(changes(previous, sample))
        return sample

    def start(self) -> None:
        self.sample_now()
        self._thread = threading.Thread(target=self._run, name="drill-recorder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        self.sample_now()
        self.timeline.ended = self.now()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample_now()


def changes(previous: Sample | None, current: Sample) -> list[Signal]:
    """The signals between two samples (everything, against an empty state, for the first one)."""
    at = current.at
    before = previous or Sample(at, {}, {}, {}, {}, "")
    found: list[Signal] = []
    for kind, old, new, default in (
        (BREAKER, before.breakers, current.breakers, "closed"),
        (HEALTH, before.health, current.health, "healthy"),
        (ALARM, before.alarms, current.alarms, "OK"),
    ):
        for subject in sorted(set(old) | set(new)):
            was, now = old.get(subject, default), new.get(subject, default)
            if was != now:
                found.append(Signal(at, kind, subject, now, f"was {was}"))
    if dict(before.weights) != dict(current.weights):
        found.append(Signal(at, WEIGHTS, "direct", format_weights(current.weights)))
    if before.rollout != current.rollout:
        found.append(Signal(at, ROLLOUT, "direct", current.rollout or "released", before.rollout))
    return found


def format_weights(weights: Mapping[str, Any]) -> str:
    shown = {p: int(w) for p, w in sorted(weights.items()) if int(w) > 0}
    return ",".join(f"{p}:{w}" for p, w in shown.items()) or "none"


def watches(timeline: Timeline, alarm: str) -> bool:
    """Whether `alarm` is one this drill's fault should raise: its name mentions a watched word (by the
    naming convention, per-provider alarms carry the provider's name) and it was not already in ALARM."""
    words = timeline.watched or timeline.faulted
    return alarm not in timeline.baseline_alarms and any(word in alarm for word in words)
