"""The markdown report of `hybridctl report`: `fetch` reads the admin API, `render` (pure) writes the markdown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cli.hybridctl.context import Ctx
from cli.hybridctl.output import cell, flatten
from cli.hybridctl.views import optional_metrics, providers
from functions.domain.thresholds import (
    KPI_DETECTION_SECONDS,
    KPI_FAILOVER_EXECUTION_SECONDS,
    KPI_USER_ERROR_RATE_PERCENT,
    PERFORMANCE_BASELINE_WINDOW,
    PERFORMANCE_WINDOW,
)

TITLES = {
    "incident": "Incident report",
    "performance-impact": "Performance impact report",
    "failover-effectiveness": "Failover effectiveness report",
}
FOCUS = {
    "incident": ("routing-distribution", "error-breakdown"),
    "performance-impact": ("provider-latencies", "error-breakdown", "cache-performance", "cost-breakdown"),
    "failover-effectiveness": ("routing-efficiency", "routing-distribution", "error-breakdown"),
}
FAILOVER_ACTIONS = ("routing.", "circuit-breaker.", "emergency.", "rollout.", "automation.")
# `report --type failover-effectiveness --metrics "detection_time,execution_time,impact"`.
KPIS = ("detection_time", "execution_time", "impact")
AUDIT_HEADERS = ["At", "Actor", "Action", "Target", "Reason"]


@dataclass(frozen=True)
class Fetched:
    """What a report is made of, as the API answered it."""

    endpoint: str
    generated: str
    rows: list[dict[str, Any]]
    raw: dict[str, Any]
    override: dict[str, Any]
    integrity: dict[str, Any]
    records: list[dict[str, Any]]
    metrics: dict[str, Any]
    rollouts: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None


@dataclass(frozen=True)
class Request:
    type: str
    event: str | None = None
    period: str | None = None
    compare: str | None = None
    kpis: tuple[str, ...] = ()


def fetch(ctx: Ctx, request: Request) -> Fetched:
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    rows, raw = providers(ctx)
    baseline = None
    if request.compare == "baseline":
        params = {"window": PERFORMANCE_WINDOW, "baseline": PERFORMANCE_BASELINE_WINDOW, "providers": "all"}
        baseline = ctx.api.get("/admin/metrics/slo-report", params=params)
    return Fetched(
        endpoint=ctx.api.endpoint,
        generated=generated,
        rows=rows,
        raw=raw,
        override=ctx.api.get("/admin/config/routing-override"),
        integrity=ctx.api.get("/admin/audit/trail-integrity"),
        records=ctx.api.get("/admin/audit/export", params={"format": "json", "period": "daily"}).get("records", []),
        metrics=optional_metrics(ctx),
        rollouts=ctx.api.optional("/admin/rollouts") if request.type == "failover-effectiveness" else None,
        baseline=baseline,
    )


def render(data: Fetched, request: Request) -> str:
    out = [f"# {TITLES[request.type]}", "", *_header(data, request), ""]
    out += _summary(data) + _status(data) + _breakers(data)
    audit_rows = [
        [epoch_text(r.get("at")), r.get("actor"), r.get("action"), r.get("target"), r.get("reason") or "-"]
        for r in data.records
    ]
    if request.type == "failover-effectiveness":
        out += _rollouts(data.rollouts) + _kpis(data, request.kpis)
        out += _failover_actions(audit_rows)
    if data.baseline is not None:
        out += _baseline(data.baseline)
    out += [
        "## Audit trail (last day)" if request.type != "incident" else "## Timeline (audit trail, last day)",
        "",
        f"Integrity: **{data.integrity.get('status')}**" + _integrity_detail(data.integrity),
        "",
        md_table(AUDIT_HEADERS, audit_rows) if audit_rows else "No change recorded.",
        "",
    ]
    out += _metrics(data.metrics, FOCUS[request.type])
    return "\n".join(out).rstrip("\n") + "\n"


def _integrity_detail(integrity: dict[str, Any]) -> str:
    """What trail-integrity found, beyond its status: the first problem (an altered record, a cut tail)."""
    return f" ({integrity['problem']})" if integrity.get("problem") else ""


def md_table(headers: list[str], rows: list[list[Any]]) -> str:
    def esc(value: Any) -> str:
        return cell(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def epoch_text(epoch: Any) -> str:
    try:
        return datetime.fromtimestamp(float(epoch), UTC).isoformat(timespec="seconds")
    except (TypeError, ValueError):
        return cell(epoch)


def _header(data: Fetched, request: Request) -> list[str]:
    header = {"Generated": data.generated, "Endpoint": data.endpoint, "System status": data.raw["health"].get("status")}
    if request.event:
        header["Event"] = request.event
    if request.period:
        header["Period"] = request.period
    return [f"- **{k}:** {v}" for k, v in header.items()]


def _summary(data: Fetched) -> list[str]:
    health, system, override = data.raw["health"], data.raw["system"], data.override
    breakers = data.raw["circuitBreakers"]
    weights = data.raw["trafficDistribution"].get("weights", {})
    open_breakers = [t for t, b in breakers.get("breakers", {}).items() if b.get("state") != "closed"]
    return [
        "## Summary",
        "",
        f"- Health: **{health.get('status')}** (admin view: {system.get('status')})",
        f"- Routing mode: {override.get('mode') or 'hybrid'}"
        + (" (override active)" if override.get("active") else ""),
        "- Traffic distribution: " + ", ".join(f"{p} {w} %" for p, w in weights.items()),
        f"- Circuit breakers: {'enabled' if breakers.get('enabled') else 'disabled'}; not closed: "
        + (", ".join(open_breakers) or "none"),
        f"- Audit trail: {data.integrity.get('status')}, {len(data.records)} change(s) in the last day",
        "",
    ]


def _status(data: Fetched) -> list[str]:
    keys = ["provider", "status", "checker", "breaker", "weight", "lastCheck", "detail"]
    headers = ["Provider", "Status", "Checker", "Breaker", "Weight", "Last check", "Detail"]
    return ["## Status", "", md_table(headers, [[r[k] for k in keys] for r in data.rows]), ""]


def _breakers(data: Fetched) -> list[str]:
    rows = [
        [
            t,
            b.get("state"),
            b.get("reason"),
            epoch_text(b.get("openedAt")) if b.get("openedAt") else "-",
            b.get("version"),
        ]
        for t, b in data.raw["circuitBreakers"].get("breakers", {}).items()
    ]
    return ["## Circuit breakers", "", md_table(["Provider", "State", "Reason", "Opened at", "Version"], rows), ""]


def _failover_actions(audit_rows: list[list[Any]]) -> list[str]:
    actions = [r for r in audit_rows if str(r[2]).startswith(FAILOVER_ACTIONS)]
    table = md_table(AUDIT_HEADERS, actions) if actions else "No failover action in the last day."
    return ["## Failover actions", "", table, ""]


def _metrics(metrics: dict[str, Any], focus: tuple[str, ...]) -> list[str]:
    out = ["## Metrics", ""]
    for name in (*focus, *(n for n in metrics if n not in focus)):
        data = metrics[name]
        out += [f"### {name}", ""]
        if data is None:
            out.append(f"`/admin/metrics/{name}` is not available on this deployment.")
        else:
            out.append(md_table(["Metric", "Value"], [[k, v] for k, v in flatten(data)]))
        out.append("")
    return out


def _seconds(execution: dict[str, Any]) -> float | None:
    try:
        start = datetime.fromisoformat(execution["startDate"])
        stop = datetime.fromisoformat(execution["stopDate"])
    except (KeyError, TypeError, ValueError):
        return None
    return round((stop - start).total_seconds(), 3)


def _executions(rollouts: dict[str, Any] | None) -> list[dict[str, Any]]:
    found = [e | {"kind": k} for k, es in (rollouts or {}).get("executions", {}).items() for e in es]
    return sorted(found, key=lambda e: e.get("startDate") or "")


def _rollouts(rollouts: dict[str, Any] | None) -> list[str]:
    if rollouts is None:
        return ["## Rollouts", "", "`/admin/rollouts` is not available on this deployment.", ""]
    rows = [
        [e["kind"], e.get("name"), e.get("status"), e.get("startDate"), e.get("stopDate") or "-", _seconds(e)]
        for e in _executions(rollouts)
    ]
    headers = ["Kind", "Execution", "Status", "Started", "Stopped", "Execution time (s)"]
    return ["## Rollouts", "", md_table(headers, rows) if rows else "No rollout has run.", ""]


def _kpis(data: Fetched, kpis: tuple[str, ...]) -> list[str]:
    """The runbook's failover KPIs asked for with --metrics, each with what it is measured from."""
    if not kpis:
        return []
    rows: list[list[Any]] = []
    failovers = [e for e in _executions(data.rollouts) if e["kind"].endswith("failover") and _seconds(e) is not None]
    for kpi in kpis:
        if kpi == "execution_time":
            longest = max((_seconds(e) or 0.0 for e in failovers), default=None)
            verdict = "-" if longest is None else ("ok" if longest < KPI_FAILOVER_EXECUTION_SECONDS else "ABOVE")
            basis = f"longest of {len(failovers)} finished failover execution(s)"
            rows.append([kpi, longest, f"< {KPI_FAILOVER_EXECUTION_SECONDS:g} s", verdict, basis])
        elif kpi == "impact":
            overall = (data.metrics.get("error-breakdown") or {}).get("overall") or {}
            rate = overall.get("errorRatePercent")
            verdict = "-" if rate is None else ("ok" if rate < KPI_USER_ERROR_RATE_PERCENT else "ABOVE")
            basis = f"client-facing error rate over {overall.get('requests', 0)} requests (metrics window)"
            rows.append([kpi, rate, f"< {KPI_USER_ERROR_RATE_PERCENT:g} % user errors", verdict, basis])
        else:
            basis = "detection times are not recorded yet (issue 15, Deliver 6)"
            rows.append([kpi, None, f"< {KPI_DETECTION_SECONDS:g} s", "not measured", basis])
    return ["## Failover KPIs", "", md_table(["KPI", "Value", "Target", "Verdict", "Measured from"], rows), ""]


def _baseline(report: dict[str, Any]) -> list[str]:
    rows = []
    for subject, judged in report["subjects"].items():
        for check in judged["checks"]:
            base = check.get("baselineP95Ms", "-")
            rows.append([subject, check["check"], check["value"], check["threshold"], base, check["result"]])
    headers = ["Subject", "Check", "Last window", "Threshold", "Baseline p95 (ms)", "Result"]
    head = f"Last {report['window']} against the baseline {report['baselineWindow']} and the SLO thresholds."
    return ["## Baseline comparison", "", head, "", md_table(headers, rows), ""]
