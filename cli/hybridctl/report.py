"""`hybridctl report`: a markdown report from the status, the breakers, the last day's audit trail
and the metrics routes that are deployed."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from cli.hybridctl.commands import Ctx, optional_metrics, providers
from cli.hybridctl.output import cell, flatten

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


def build(ctx: Ctx, args: argparse.Namespace) -> str:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    rows, raw = providers(ctx)
    override = ctx.api.get("/admin/config/routing-override")
    integrity = ctx.api.get("/admin/audit/trail-integrity")
    records = ctx.api.get("/admin/audit/export", params={"format": "json", "period": "daily"}).get("records", [])
    metrics = optional_metrics(ctx)
    weights = raw["trafficDistribution"].get("weights", {})
    breakers = raw["circuitBreakers"]
    out = [f"# {TITLES[args.type]}", ""]
    header = {"Generated": now, "Endpoint": ctx.api.endpoint, "System status": raw["health"].get("status")}
    if args.event:
        header["Event"] = args.event
    if args.period:
        header["Period"] = args.period
    out += [f"- **{k}:** {v}" for k, v in header.items()] + [""]

    open_breakers = [t for t, b in breakers.get("breakers", {}).items() if b.get("state") != "closed"]
    out += [
        "## Summary",
        "",
        f"- Health: **{raw['health'].get('status')}** (admin view: {raw['system'].get('status')})",
        f"- Routing mode: {override.get('mode') or 'hybrid'}"
        + (" (override active)" if override.get("active") else ""),
        "- Traffic distribution: " + ", ".join(f"{p} {w} %" for p, w in weights.items()),
        f"- Circuit breakers: {'enabled' if breakers.get('enabled') else 'disabled'}; not closed: "
        + (", ".join(open_breakers) or "none"),
        f"- Audit trail: {integrity.get('status')}, {len(records)} change(s) in the last day",
        "",
        "## Status",
        "",
        md_table(
            ["Provider", "Status", "Checker", "Breaker", "Weight", "Last check", "Detail"],
            [
                [r["provider"], r["status"], r["checker"], r["breaker"], r["weight"], r["lastCheck"], r["detail"]]
                for r in rows
            ],
        ),
        "",
        "## Circuit breakers",
        "",
        md_table(
            ["Provider", "State", "Reason", "Opened at", "Version"],
            [
                [
                    t,
                    b.get("state"),
                    b.get("reason"),
                    _when(b.get("openedAt")) if b.get("openedAt") else "-",
                    b.get("version"),
                ]
                for t, b in breakers.get("breakers", {}).items()
            ],
        ),
        "",
    ]
    audit_rows = [
        [_when(r.get("at")), r.get("actor"), r.get("action"), r.get("target"), r.get("reason") or "-"] for r in records
    ]
    if args.type == "failover-effectiveness":
        actions = [r for r in audit_rows if str(r[2]).startswith(FAILOVER_ACTIONS)]
        out += [
            "## Failover actions",
            "",
            md_table(["At", "Actor", "Action", "Target", "Reason"], actions)
            if actions
            else "No failover action in the last day.",
            "",
        ]
    out += [
        "## Audit trail (last day)" if args.type != "incident" else "## Timeline (audit trail, last day)",
        "",
        f"Integrity: **{integrity.get('status')}**",
        "",
        md_table(["At", "Actor", "Action", "Target", "Reason"], audit_rows) if audit_rows else "No change recorded.",
        "",
        "## Metrics",
        "",
    ]
    focus = FOCUS[args.type]
    for name in (*focus, *(n for n in metrics if n not in focus)):
        data = metrics[name]
        out.append(f"### {name}")
        out.append("")
        if data is None:
            out.append(f"`/admin/metrics/{name}` is not available on this deployment.")
        else:
            out.append(md_table(["Metric", "Value"], [[k, v] for k, v in flatten(data)]))
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"
