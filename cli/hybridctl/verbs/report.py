"""`hybridctl report --type TYPE`: a markdown report of status, breakers, the day's audit trail and metrics."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.hybridctl import report as reports
from cli.hybridctl.arguments import Verbs
from cli.hybridctl.client import OK, USAGE, CliError
from cli.hybridctl.context import Ctx


def register(verbs: Verbs) -> None:
    p = verbs.add("report", "markdown report", report)
    p.add_argument("--type", required=True, choices=tuple(reports.TITLES))
    p.add_argument("--output", help="FILE.md (default: stdout)")
    p.add_argument("--event", help="what happened (e.g. failover), shown in the report")
    p.add_argument("--period", help="label of the window (e.g. failover-window), shown in the report")
    p.add_argument("--compare", choices=("baseline",), help="the last window against the 24 h baseline and the SLO")
    p.add_argument("--metrics", type=kpi_list, help=f"failover-effectiveness KPIs: {', '.join(reports.KPIS)}")


def report(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.metrics and args.type != "failover-effectiveness":
        raise CliError(USAGE, "--metrics goes with --type failover-effectiveness")
    request = reports.Request(args.type, args.event, args.period, args.compare, tuple(args.metrics or ()))
    text = reports.render(reports.fetch(ctx, request), request)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        ctx.emit({"output": args.output, "type": args.type}, f"wrote the {args.type} report to {args.output}")
    else:
        print(text, file=ctx.out, flush=True)
    return OK


def kpi_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    unknown = [n for n in names if n not in reports.KPIS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown KPI(s) {', '.join(unknown)}; known: {', '.join(reports.KPIS)}")
    return names
