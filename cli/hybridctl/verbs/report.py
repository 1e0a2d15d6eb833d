"""`hybridctl report --type TYPE`: a markdown report of status, breakers, the day's audit trail and metrics."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.hybridctl import report as reports
from cli.hybridctl.arguments import Verbs
from cli.hybridctl.client import OK
from cli.hybridctl.context import Ctx


def register(verbs: Verbs) -> None:
    p = verbs.add("report", "markdown report", report)
    p.add_argument("--type", required=True, choices=tuple(reports.TITLES))
    p.add_argument("--output", help="FILE.md (default: stdout)")
    p.add_argument("--event", help="what happened (e.g. failover), shown in the report")
    p.add_argument("--period", help="label of the window (e.g. failover-window), shown in the report")


def report(ctx: Ctx, args: argparse.Namespace) -> int:
    request = reports.Request(type=args.type, event=args.event, period=args.period)
    text = reports.render(reports.fetch(ctx), request)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        ctx.emit({"output": args.output, "type": args.type}, f"wrote the {args.type} report to {args.output}")
    else:
        print(text, file=ctx.out, flush=True)
    return OK
