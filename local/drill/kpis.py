"""The failover KPIs of provider-failover.md ("Key Performance Indicators"), measured on a drill's timeline.

Every time is in seconds from the fault's start (`t0`); a KPI is None when the thing it measures never
happened within the drill (which fails its target).

* detection: t0 -> the first of: a faulted provider's breaker leaving `closed`, its health mark turning
  `unhealthy`, an alarm the fault should raise (timeline.watches) entering `ALARM`, or (no provider
  faulted: a budget drill) the first request refused by policy.
* failover execution: detection -> the failover is in force: the faulted providers' Direct weights are all
  0 (when they had any and a Direct provider is left to take them), or every request started from then
  until the fault is lifted is answered by another route or provider (a request is "not failed over" when
  it failed, or was served fresh by a faulted provider while the fault was in force). The second form
  needs at least `settle_s` of such traffic before the lift.
* restoration: t0 -> the start of the first `bucket_s` bucket from which every bucket until the lift has
  an error rate (failed requests) at or under the user error rate target.
* total recovery: t0 -> the first sample after the lift with the baseline weights back, no rollout holding
  the route, the faulted providers' breakers closed (those no weight routes to are judged by their health
  mark alone: no request comes to close their breaker) and health marks healthy, and the fault's alarms out
  of ALARM.
* request loss: requests of operations that have a fallback, started from t0 to recovery (or the drill's
  end), that got no answer or a 5xx, in percent of those requests.
* user error rate: requests started from t0 to recovery (or the drill's end) that failed, in percent of
  all requests in that window; refusals by policy (the budget's 429s) are counted apart, not as errors.

Targets: the runbook's (thresholds.KPI_*) and ours, stricter (thresholds.OUR_*).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from functions.domain.alarms.definitions import DIRECT_PROVIDERS
from functions.domain.thresholds import (
    KPI_DETECTION_SECONDS,
    KPI_FAILOVER_EXECUTION_SECONDS,
    KPI_REQUEST_LOSS_PERCENT,
    KPI_RESTORATION_SECONDS,
    KPI_TOTAL_RECOVERY_SECONDS,
    KPI_USER_ERROR_RATE_PERCENT,
    OUR_DETECTION_SECONDS,
    OUR_REQUEST_LOSS_PERCENT,
)
from local.drill.timeline import ALARM, BREAKER, HEALTH, RequestRecord, Sample, Timeline, watches

DEFAULT_BUCKET_S = 1.0
DEFAULT_SETTLE_S = 1.0


@dataclass(frozen=True, slots=True)
class Kpi:
    """One KPI: its value (None: never reached), unit, the runbook's target and ours (strict `<` for the
    runbook's "< x", `<=` for ours)."""

    name: str
    value: float | None
    unit: str
    runbook_target: float
    our_target: float | None = None

    @property
    def meets_runbook(self) -> bool:
        return self.value is not None and self.value < self.runbook_target

    @property
    def meets_ours(self) -> bool:
        if self.our_target is None:
            return self.meets_runbook
        return self.value is not None and self.value <= self.our_target


@dataclass(frozen=True, slots=True)
class Counts:
    requests: int
    failed: int
    lost: int
    with_fallback: int
    lost_with_fallback: int
    shed_by_policy: int


@dataclass(frozen=True, slots=True)
class KpiReport:
    kpis: tuple[Kpi, ...]
    counts: Counts
    detected_at: float | None  # seconds from the fault's start
    failed_over_at: float | None
    restored_at: float | None
    recovered_at: float | None

    @property
    def meets_runbook(self) -> bool:
        return all(k.meets_runbook for k in self.kpis)

    def by_name(self) -> dict[str, Kpi]:
        return {k.name: k for k in self.kpis}


# --- detection -------------------------------------------------------------------------------------
def detection(timeline: Timeline) -> float | None:
    """Absolute time (drill clock) the system first noticed the fault, or None."""
    t0 = timeline.fault_started
    if t0 is None:
        return None
    faulted = set(timeline.faulted)
    noticed = [
        s.at
        for s in timeline.signals
        if s.at >= t0
        and (
            (s.kind == BREAKER and s.subject in faulted and s.state != "closed")
            or (s.kind == HEALTH and s.subject in faulted and s.state == "unhealthy")
            or (s.kind == ALARM and s.state == "ALARM" and watches(timeline, s.subject))
        )
    ]
    if not faulted:
        noticed += [r.ended for r in timeline.requests if r.started >= t0 and r.shed_by_policy]
    return min(noticed, default=None)


# --- failover execution ----------------------------------------------------------------------------
def _not_failed_over(record: RequestRecord, faulted: set[str], lifted: float | None) -> bool:
    served_by_fault = record.provider in faulted and record.cache not in ("hit", "stale")
    return record.failed or (served_by_fault and (lifted is None or record.ended <= lifted))


def weights_off(sample: Sample, faulted: set[str]) -> bool:
    return all(int(sample.weights.get(p, 0)) == 0 for p in faulted)


def weights_movable(timeline: Timeline) -> bool:
    """Whether a failover can take the faulted providers' Direct weights off: they had some, and a Direct
    provider the fault spares is left to take them (with every Direct provider down, nothing can)."""
    faulted = set(timeline.faulted)
    had = any(int(timeline.baseline_weights.get(p, 0)) > 0 for p in faulted)
    return had and not set(DIRECT_PROVIDERS) <= faulted


def failover(timeline: Timeline, detected: float | None, settle_s: float = DEFAULT_SETTLE_S) -> float | None:
    """Absolute time the failover was in force (see the module docstring), or None."""
    if detected is None or timeline.fault_started is None:
        return None
    lifted = timeline.fault_lifted if timeline.fault_lifted is not None else timeline.ended
    faulted = set(timeline.faulted)
    candidates: list[float] = []
    if weights_movable(timeline):
        off = next((s.at for s in _samples_from(timeline, detected, lifted) if weights_off(s, faulted)), None)
        candidates += [] if off is None else [off]
    t0 = timeline.fault_started
    window = [r for r in timeline.requests if r.started >= t0 and (lifted is None or r.started < lifted)]
    last_bad = max((r.ended for r in window if _not_failed_over(r, faulted, lifted)), default=None)
    served_from = detected if last_bad is None else max(detected, last_bad)
    if lifted is not None and lifted - served_from >= settle_s:
        candidates.append(served_from)
    return min(candidates, default=None)


def _samples_from(timeline: Timeline, start: float, end: float | None) -> list[Sample]:
    return [s for s in timeline.samples if s.at >= start and (end is None or s.at <= end)]


# --- restoration -----------------------------------------------------------------------------------
def impaired(record: RequestRecord) -> bool:
    """What restoration watches: the user error rate (latency is in the report's table and chart)."""
    return record.failed


def buckets(records: Iterable[RequestRecord], start: float, end: float, width: float) -> list[tuple[float, int, int]]:
    """(bucket start, requests, impaired) for each `width` bucket of [start, end), by request start time."""
    count = max(1, int((end - start) / width + 0.999999))
    totals = [[start + i * width, 0, 0] for i in range(count)]
    for record in records:
        if start <= record.started < end:
            index = min(count - 1, int((record.started - start) / width))
            totals[index][1] += 1
            totals[index][2] += impaired(record)
    return [(b, int(n), int(bad)) for b, n, bad in totals]


def restoration(timeline: Timeline, bucket_s: float = DEFAULT_BUCKET_S) -> float | None:
    t0 = timeline.fault_started
    lifted = timeline.fault_lifted if timeline.fault_lifted is not None else timeline.ended
    if t0 is None or lifted is None or lifted <= t0:
        return None
    restored: float | None = None
    for start, total, bad in buckets(timeline.requests, t0, lifted, bucket_s):
        if total == 0:
            continue  # no traffic, no verdict
        if bad * 100.0 / total > KPI_USER_ERROR_RATE_PERCENT:
            restored = None
        elif restored is None:
            restored = start
    return restored


# --- total recovery --------------------------------------------------------------------------------
def recovered(sample: Sample, timeline: Timeline) -> bool:
    faulted = set(timeline.faulted)
    baseline = {p: int(w) for p, w in timeline.baseline_weights.items() if int(w) > 0}
    return (
        {p: int(w) for p, w in sample.weights.items() if int(w) > 0} == baseline
        and not sample.rollout
        and all(_breaker_recovered(sample, p) for p in faulted)
        and all(sample.health.get(p, "healthy") == "healthy" for p in faulted)
        and not any(state == "ALARM" and watches(timeline, name) for name, state in sample.alarms.items())
    )


def _breaker_recovered(sample: Sample, provider: str) -> bool:
    """Closed, on a provider Direct weight routes to. A provider no weight routes to is judged by its
    health mark alone: its breaker keeps the state of the last request the fault sent it (open, or
    half-open) until traffic comes, and with none routed to it none comes."""
    return sample.breakers.get(provider, "closed") == "closed" or int(sample.weights.get(provider, 0)) == 0


def recovery(timeline: Timeline) -> float | None:
    lifted = timeline.fault_lifted
    if lifted is None:
        return None
    return next((s.at for s in timeline.samples if s.at >= lifted and recovered(s, timeline)), None)


# --- counts and the report -------------------------------------------------------------------------
def counts(timeline: Timeline, end: float | None) -> Counts:
    t0 = timeline.fault_started or 0.0
    window = [r for r in timeline.requests if r.started >= t0 and (end is None or r.started <= end)]
    fallback = [r for r in window if r.has_fallback]
    return Counts(
        requests=len(window),
        failed=sum(r.failed for r in window),
        lost=sum(r.lost for r in window),
        with_fallback=len(fallback),
        lost_with_fallback=sum(r.lost for r in fallback),
        shed_by_policy=sum(r.shed_by_policy for r in window),
    )


def _since(at: float | None, origin: float | None) -> float | None:
    return None if at is None or origin is None else round(at - origin, 3)


def _percent(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part * 100.0 / whole, 3)


def compute(timeline: Timeline, bucket_s: float = DEFAULT_BUCKET_S, settle_s: float = DEFAULT_SETTLE_S) -> KpiReport:
    t0 = timeline.fault_started
    detected = detection(timeline)
    failed_over = failover(timeline, detected, settle_s)
    restored = restoration(timeline, bucket_s)
    recovered_at = recovery(timeline)
    tally = counts(timeline, recovered_at if recovered_at is not None else timeline.ended)
    kpis = (
        Kpi("detection", _since(detected, t0), "s", KPI_DETECTION_SECONDS, OUR_DETECTION_SECONDS),
        Kpi("failover execution", _since(failed_over, detected), "s", KPI_FAILOVER_EXECUTION_SECONDS),
        Kpi("service restoration", _since(restored, t0), "s", KPI_RESTORATION_SECONDS),
        Kpi("total recovery", _since(recovered_at, t0), "s", KPI_TOTAL_RECOVERY_SECONDS),
        Kpi(
            "request loss",
            _percent(tally.lost_with_fallback, tally.with_fallback),
            "%",
            KPI_REQUEST_LOSS_PERCENT,
            OUR_REQUEST_LOSS_PERCENT,
        ),
        Kpi("user error rate", _percent(tally.failed, tally.requests), "%", KPI_USER_ERROR_RATE_PERCENT),
    )
    return KpiReport(
        kpis,
        tally,
        _since(detected, t0),
        _since(failed_over, t0),
        _since(restored, t0),
        _since(recovered_at, t0),
    )
