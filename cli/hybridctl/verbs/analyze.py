"""`hybridctl analyze --event failover --root-cause-analysis [--include-logs]`: the day's failover timeline
(rollouts, automation, breaker and routing changes from the audit trail, rollout executions), the failing
providers and their error codes, as markdown (or --json). Log excerpts (--include-logs) are issue 15's
Deliver 6: until then the analysis is printed and the command exits 7 saying so."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.hybridctl.arguments import Verbs
from cli.hybridctl.client import OK, not_available
from cli.hybridctl.context import Ctx
from cli.hybridctl.report import FAILOVER_ACTIONS, epoch_text, md_table

LOG_EXCERPTS_ISSUE = 15  # Deliver 6: CloudWatch Logs Insights on AWS, the local stack's log store locally


def register(verbs: Verbs) -> None:
    p = verbs.add("analyze", "root-cause analysis of an event: timeline, failing providers, error codes", analyze)
    p.add_argument("--event", choices=("failover",), default="failover")
    p.add_argument("--root-cause-analysis", action="store_true", help="also the failing providers and error codes")
    p.add_argument("--include-logs", action="store_true", help="log excerpts (not available yet: issue 15)")


def _timeline(ctx: Ctx) -> list[dict[str, Any]]:
    records = ctx.api.get("/admin/audit/export", params={"format": "json", "period": "daily"}).get("records", [])
    events = [
        {"at": epoch_text(r.get("at")), "source": "audit", "what": r.get("action"), "target": r.get("target"),
         "by": r.get("actor"), "detail": r.get("reason") or ""}
        for r in records
        if str(r.get("action", "")).startswith(FAILOVER_ACTIONS)
    ]  # fmt: skip
    rollouts = ctx.api.optional("/admin/rollouts") or {}
    for kind, executions in rollouts.get("executions", {}).items():
        for e in executions:
            events.append({"at": e.get("startDate"), "source": "rollout", "what": f"{kind} started",
                           "target": e.get("name"), "by": "-", "detail": e.get("status")})  # fmt: skip
            if e.get("stopDate"):
                events.append({"at": e.get("stopDate"), "source": "rollout", "what": f"{kind} {e.get('status')}",
                               "target": e.get("name"), "by": "-", "detail": ""})  # fmt: skip
    return sorted(events, key=lambda e: str(e["at"] or ""))


def _failing(ctx: Ctx) -> list[dict[str, Any]]:
    breakdown = ctx.api.get("/admin/metrics/error-breakdown", params={"window": "24h"})
    breakers = ctx.api.get("/admin/health/circuit-breakers").get("breakers", {})
    found = []
    for provider, entry in breakdown.get("byProvider", {}).items():
        state = (breakers.get(provider) or {}).get("state")
        if entry.get("errors") or (state and state != "closed"):
            found.append({"provider": provider, "errors": entry.get("errors"), "requests": entry.get("requests"),
                          "errorRatePercent": entry.get("errorRatePercent"), "byCode": entry.get("byCode"),
                          "breaker": state})  # fmt: skip
    return sorted(found, key=lambda f: -(f["errors"] or 0))


def analyze(ctx: Ctx, args: argparse.Namespace) -> int:
    data: dict[str, Any] = {"event": args.event, "timeline": _timeline(ctx)}
    if args.root_cause_analysis:
        data["failingProviders"] = _failing(ctx)
    first = next((e for e in data["timeline"] if e["source"] in ("audit", "rollout")), None)
    data["firstEvent"] = first

    def human() -> str:
        out = [f"# Analysis: {args.event}", ""]
        rows = [[e["at"], e["source"], e["what"], e["target"], e["by"], e["detail"]] for e in data["timeline"]]
        out += ["## Timeline (last day)", ""]
        out.append(md_table(["At", "Source", "What", "Target", "By", "Detail"], rows) if rows else "Nothing recorded.")
        if args.root_cause_analysis:
            failing = data["failingProviders"]
            out += ["", "## Failing providers (last 24 h)", ""]
            cells = [[f["provider"], f["errors"], f["requests"], f["errorRatePercent"], f["byCode"], f["breaker"]]
                     for f in failing]  # fmt: skip
            headers = ["Provider", "Errors", "Requests", "Error rate %", "By code", "Breaker"]
            out.append(md_table(headers, cells) if cells else "No provider errors in the window.")
        return "\n".join(out) + "\n"

    ctx.emit(data, human)
    if args.include_logs:
        error = not_available("log excerpts (--include-logs)", LOG_EXCERPTS_ISSUE)
        print(f"hybridctl: {error.message}", file=sys.stderr)
        return error.exit_code
    return OK
