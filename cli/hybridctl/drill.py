"""`hybridctl drill SCENARIO`: a failover drill (provider-failover.md, "Training & Drills") on a local stack
started for it, in this process: steady traffic, the scenario's fault, hands off while breakers, health
checks, alarms and workflows act, the fault lifted, failback; then the report (markdown, PNG, JSON).

It needs the repository (the local stack is not part of the hybridctl package): run it from a checkout,
as `make drill SCENARIO=...` does. Exit 0 when every KPI is within the runbook's target, 1 otherwise."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from cli.hybridctl.client import CHECK_FAILED, OK, USAGE, CliError

REPOSITORY = Path(__file__).resolve().parents[2]


def drill(ctx, args: argparse.Namespace) -> int:
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
