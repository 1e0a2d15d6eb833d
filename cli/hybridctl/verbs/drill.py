"""`hybridctl drill SCENARIO`: a failover drill (provider-failover.md, "Training & Drills") on a local stack started
for it in this process, then its report. Needs a repository checkout (the local stack is not part of the package);
exit 0 when every KPI meets the runbook's target, 1 otherwise."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from cli.hybridctl.arguments import Verbs, positive_float
from cli.hybridctl.client import CHECK_FAILED, OK, USAGE, CliError
from cli.hybridctl.context import Ctx

REPOSITORY = Path(__file__).resolve().parents[3]
SCENARIO_NAMES = "bedrock-outage, latency-spike, quota-exhaustion, mcp-outage, multi-provider-outage, budget-exhausted"


def register(verbs: Verbs) -> None:
    p = verbs.add("drill", "failover drill on a local stack started for it (needs the repository)", drill)
    p.add_argument("scenario", help=f"one of: {SCENARIO_NAMES}")
    p.add_argument("--compression", type=positive_float, default=30.0, help="time compression (default 30)")
    p.add_argument("--rate", type=positive_float, default=28.0, help="requests per second (default 28)")
    p.add_argument("--out", default="drill-reports", help="report directory (default drill-reports)")


def drill(ctx: Ctx, args: argparse.Namespace) -> int:
    if not (REPOSITORY / "local" / "drill").is_dir():
        raise CliError(USAGE, "hybridctl drill runs the local stack: run it from a repository checkout")
    sys.path.insert(0, str(REPOSITORY))
    from local.drill.runner import DrillSettings, run
    from local.drill.scenarios import SCENARIOS, Compression

    if args.scenario not in SCENARIOS:
        raise CliError(USAGE, f"unknown scenario {args.scenario!r}: one of {', '.join(sorted(SCENARIOS))}")
    if args.compression < 1:
        raise CliError(USAGE, "--compression must be 1 (real time) or more")
    logging.disable(logging.WARNING)
    os.environ.setdefault("HEALTH_CHECK_INTERVAL_SECONDS", "3600")  # the drill runs the checker, compressed
    settings = DrillSettings(rate_rps=args.rate, compression=Compression(args.compression), out_dir=Path(args.out))
    quiet = open(os.devnull, "w")
    real_stdout, sys.stdout = sys.stdout, quiet
    try:
        result = run(SCENARIOS[args.scenario], settings=settings)
    finally:
        sys.stdout = real_stdout
        quiet.close()
    summary = json.loads(result.json_path.read_text())
    ctx.emit(
        {**summary, "report": str(result.report_path), "chart": str(result.chart_path)},
        lambda: f"report {result.report_path}, chart {result.chart_path}",
    )
    return OK if result.kpis.meets_runbook else CHECK_FAILED
