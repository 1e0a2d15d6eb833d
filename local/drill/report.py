"""A drill's report: markdown (KPIs against the runbook's targets and ours, the compression, the
timeline of state changes, per-second traffic) and a PNG chart of weights, error rate and latency over
time, written side by side; plus the KPIs as JSON for scripts."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from local.drill.kpis import Kpi, KpiReport, buckets
from local.drill.scenarios import Compression, GateSizing, Scenario, direct_rps
from local.drill.timeline import RequestRecord, Timeline, format_weights

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True, slots=True)
class ReportContext:
    scenario: Scenario
    timeline: Timeline
    kpis: KpiReport
    compression: Compression
    rate_rps: float
    started_at: datetime
    duration_s: float
    bucket_s: float
    gates: GateSizing


def write(context: ReportContext, out_dir: Path) -> tuple[Path, Path, Path]:
    """Write `<scenario>.md`, `<scenario>.png` and `<scenario>.json` in `out_dir`; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = context.scenario.name
    chart = out_dir / f"{stem}.png"
    draw_chart(context, chart)
    markdown = out_dir / f"{stem}.md"
    markdown.write_text(render_markdown(context, chart.name), encoding="utf-8")
    summary = out_dir / f"{stem}.json"
    summary.write_text(json.dumps(as_json(context), indent=2) + "\n", encoding="utf-8")
    return markdown, chart, summary


# --- markdown ----------------------------------------------------------------------------------------
def _value(kpi: Kpi) -> str:
    return "not reached" if kpi.value is None else f"{kpi.value:.2f} {kpi.unit}"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def kpi_table(kpis: KpiReport) -> str:
    lines = [
        "| KPI | measured | runbook target | our target | runbook | ours |",
        "| --- | ---: | ---: | ---: | :---: | :---: |",
    ]
    for kpi in kpis.kpis:
        ours = "same" if kpi.our_target is None else f"<= {kpi.our_target:g} {kpi.unit}"
        lines.append(
            f"| {kpi.name} | {_value(kpi)} | < {kpi.runbook_target:g} {kpi.unit} | {ours} "
            f"| {_verdict(kpi.meets_runbook)} | {_verdict(kpi.meets_ours)} |"
        )
    return "\n".join(lines)


def render_markdown(context: ReportContext, chart_name: str) -> str:
    t, k, c = context.timeline, context.kpis, context.kpis.counts
    t0 = t.fault_started or 0.0
    timers = context.compression.rows(direct_rps(context.rate_rps))
    parts = [
        f"# Drill report: {context.scenario.name}",
        "",
        context.scenario.summary,
        "",
        f"- Started {context.started_at.isoformat(timespec='seconds')}, ran {context.duration_s:.1f} s on the local "
        f"stack; steady traffic of {context.rate_rps:g} requests/s cycling through the seven operation types "
        f"({len(t.requests)} requests in all).",
        f"- Fault injected at +{t0:.2f} s (drill clock) and lifted at "
        f"+{(t.fault_lifted or 0.0):.2f} s; baseline Direct weights {format_weights(t.baseline_weights)}.",
        f"- Time compressed x{context.compression.factor:g}: every timer below runs {context.compression.factor:g} "
        "times faster than in production; KPIs are wall-clock seconds of this compressed drill. Fixed costs do not "
        "compress (request latency, the breaker's request-count triggers, the gates' request minimum); the router's "
        "snapshot refresh is compressed but kept at 0.25 s at least (table below).",
        f"- Verdict: every KPI within the runbook's target: **{'yes' if k.meets_runbook else 'no'}**; within ours: "
        f"**{'yes' if all(x.meets_ours for x in k.kpis) else 'no'}**.",
        "",
        "## KPIs (provider-failover.md, Key Performance Indicators)",
        "",
        kpi_table(k),
        "",
        f"In the KPI window (fault start to recovery): {c.requests} requests, {c.failed} failed, "
        f"{c.lost} lost (no answer or 5xx), {c.shed_by_policy} refused by policy (not errors); "
        f"{c.with_fallback} of operations with a fallback, {c.lost_with_fallback} of them lost.",
        "Definitions: local/drill/kpis.py (module docstring).",
        "",
        f"![weights, error rate and latency over time]({chart_name})",
        "",
        "## Time compression",
        "",
        "| timer | runbook | drill |",
        "| --- | ---: | ---: |",
        *(f"| {name} | {real:g} s | {drill:.2f} s |" for name, real, drill in timers),
        "",
        "## Gates as the drill runs them",
        "",
        *context.gates.lines(),
    ]
    if context.scenario.notes:
        parts += ["", "## Notes", "", *(f"- {note}" for note in context.scenario.notes)]
    parts += ["", "## Timeline", "", "| t from fault (s) | what | subject | state | detail |"]
    parts.append("| ---: | --- | --- | --- | --- |")
    for s in sorted(t.signals, key=lambda s: s.at):
        parts.append(f"| {s.at - t0:+.2f} | {s.kind} | {s.subject} | {s.state} | {s.detail} |")
    parts += ["", "## Traffic per second", "", *traffic_table(t, context.bucket_s)]
    return "\n".join(parts) + "\n"


def traffic_table(t: Timeline, bucket_s: float) -> list[str]:
    t0 = t.fault_started or 0.0
    end = t.ended or max((r.started for r in t.requests), default=0.0)
    rows = [
        "| t from fault (s) | requests | errors % | refused by policy | P95 ms | served by | weights |",
        "| ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    start = min((r.started for r in t.requests), default=0.0)
    weights_at = _weights_lookup(t)
    for bucket_start, records in _bucketed(t.requests, start, end, bucket_s):
        if not records:
            continue
        errors = sum(r.failed for r in records) * 100.0 / len(records)
        served = Counter(f"{r.provider}{'(stale)' if r.cache == 'stale' else ''}" for r in records if not r.failed)
        shown = ", ".join(f"{p or '-'} {n}" for p, n in served.most_common())
        rows.append(
            f"| {bucket_start - t0:+.1f} | {len(records)} | {errors:.1f} | {sum(r.shed_by_policy for r in records)} "
            f"| {_p95(records):.0f} | {shown} | {format_weights(weights_at(bucket_start))} |"
        )
    return rows


def _bucketed(
    records: Sequence[RequestRecord], start: float, end: float, width: float
) -> list[tuple[float, list[RequestRecord]]]:
    count = max(1, math.ceil((end - start) / width))
    grouped: list[list[RequestRecord]] = [[] for _ in range(count)]
    for r in records:
        grouped[min(count - 1, max(0, int((r.started - start) / width)))].append(r)
    return [(start + i * width, g) for i, g in enumerate(grouped)]


def _p95(records: Sequence[RequestRecord]) -> float:
    ordered = sorted(r.latency_ms for r in records)
    return ordered[max(0, math.ceil(len(ordered) * 0.95) - 1)] if ordered else 0.0


def _weights_lookup(t: Timeline) -> Callable[[float], dict[str, int]]:
    samples = sorted(t.samples, key=lambda s: s.at)

    def at(moment: float) -> dict[str, int]:
        current = dict(t.baseline_weights)
        for s in samples:
            if s.at > moment:
                break
            current = dict(s.weights)
        return current

    return at


# --- JSON ---------------------------------------------------------------------------------------------
def as_json(context: ReportContext) -> dict[str, object]:
    k = context.kpis
    return {
        "scenario": context.scenario.name,
        "compression": context.compression.factor,
        "rateRps": context.rate_rps,
        "durationSeconds": round(context.duration_s, 3),
        "gates": {
            "minRequests": context.gates.min_requests,
            "windowSeconds": context.gates.window_s,
            "recheckSeconds": context.gates.recheck_s,
            "maxInconclusive": context.gates.max_inconclusive,
            "latencyAllowanceMs": context.gates.latency_allowance_ms,
        },
        "meetsRunbook": k.meets_runbook,
        "meetsOurs": all(x.meets_ours for x in k.kpis),
        "kpis": [
            {
                "name": x.name,
                "value": x.value,
                "unit": x.unit,
                "runbookTarget": x.runbook_target,
                "ourTarget": x.our_target,
                "meetsRunbook": x.meets_runbook,
                "meetsOurs": x.meets_ours,
            }
            for x in k.kpis
        ],
        "counts": {
            "requests": k.counts.requests,
            "failed": k.counts.failed,
            "lost": k.counts.lost,
            "withFallback": k.counts.with_fallback,
            "lostWithFallback": k.counts.lost_with_fallback,
            "shedByPolicy": k.counts.shed_by_policy,
        },
    }


# --- PNG -----------------------------------------------------------------------------------------------
def draw_chart(context: ReportContext, path: Path) -> None:
    """Two panels over the drill clock (0 = fault start): Direct weights per provider; error rate and
    P95 latency per bucket. Vertical lines mark the fault, detection, failover, lift and recovery."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    t, k = context.timeline, context.kpis
    t0 = t.fault_started or 0.0
    figure = Figure(figsize=(10, 6.5), dpi=100, layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True)
    samples = sorted(t.samples, key=lambda s: s.at)
    providers = sorted({p for s in samples for p in s.weights} | set(t.baseline_weights))
    for provider in providers:
        xs = [s.at - t0 for s in samples]
        ys = [int(s.weights.get(provider, 0)) for s in samples]
        top.step(xs, ys, where="post", label=provider)
    top.set_ylabel("Direct weight (%)")
    top.set_ylim(-5, 105)
    top.legend(loc="center right", fontsize="small")
    top.set_title(f"Drill {context.scenario.name} (time compressed x{context.compression.factor:g})")
    end = t.ended or 0.0
    start = min((r.started for r in t.requests), default=0.0)
    width = context.bucket_s / 2
    rows = buckets(t.requests, start, max(end, start + width), width)
    xs = [b - t0 + width / 2 for b, _, _ in rows]
    errors = [0.0 if n == 0 else 100.0 * sum_bad / n for _, n, sum_bad in rows]
    bottom.plot(xs, errors, color="tab:red", label="impaired requests (%)")
    bottom.set_ylabel("impaired (%)", color="tab:red")
    bottom.set_xlabel("seconds from fault start")
    latency = bottom.twinx()
    p95 = [_p95([r for r in t.requests if b <= r.started < b + width]) for b, _, _ in rows]
    latency.plot(xs, p95, color="tab:blue", alpha=0.6, label="P95 latency (ms)")
    latency.set_ylabel("P95 latency (ms)", color="tab:blue")
    marks = [("fault", 0.0), ("detected", k.detected_at), ("failed over", k.failed_over_at)]
    marks += [("lifted", None if t.fault_lifted is None else t.fault_lifted - t0), ("recovered", k.recovered_at)]
    for axis in (top, bottom):
        for label, at in marks:
            if at is not None:
                axis.axvline(at, color="grey", linestyle=":", linewidth=1)
                if axis is top:
                    axis.annotate(label, (at, 102), fontsize="x-small", rotation=90, va="top", ha="right")
    figure.savefig(path, format="png")


def now_utc() -> datetime:
    return datetime.now(UTC)
