"""The markdown report of `hybridctl report`: `fetch` reads the admin API, `render` (pure) writes the markdown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cli.hybridctl.context import Ctx
from cli.hybridctl.output import cell, flatten
from cli.hybridctl.views import optional_metrics, providers

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
FAILOVER_ACTIONS = ("routing.", "circuit-breaker.", "emergency.")
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


@dataclass(frozen=True)
class Request:
    type: str
    event: str | None = None
    period: str | None = None


def fetch(ctx: Ctx) -> Fetched:
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    rows, raw = providers(ctx)
    return Fetched(
        endpoint=ctx.api.endpoint,
        generated=generated,
        rows=rows,
        raw=raw,
        override=ctx.api.get("/admin/config/routing-override"),
        integrity=ctx.api.get("/admin/audit/trail-integrity"),
        records=ctx.api.get("/admin/audit/export", params={"format": "json", "period": "daily"}).get("records", []),
        metrics=optional_metrics(ctx),
    )


def render(data: Fetched, request: Request) -> str:
    out = [f"# {TITLES[request.type]}", "", *_header(data, request), ""]
    out += _summary(data) + _status(data) + _breakers(data)
    audit_rows = [
        [_when(r.get("at")), r.get("actor"), r.get("action"), r.get("target"), r.get("reason") or "-"]
        for r in data.records
    ]
    if request.type == "failover-effectiveness":
        out += _failover_actions(audit_rows)
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


def _when(epoch: Any) -> str:
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
        [t, b.get("state"), b.get("reason"), _when(b.get("openedAt")) if b.get("openedAt") else "-", b.get("version")]
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
