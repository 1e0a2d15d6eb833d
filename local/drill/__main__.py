"""`python -m local.drill SCENARIO [--compression N] [--rate R] [--out DIR]`: one drill on a local stack
started for it; prints progress and the KPI table, writes the report. Exit 0 when every KPI is within the
runbook's target, 1 otherwise, 2 on bad arguments."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from functions.domain.thresholds import DRILL_DEFAULT_COMPRESSION
from local.drill.scenarios import SCENARIOS, Compression


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m local.drill", description=__doc__)
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--compression", type=float, default=DRILL_DEFAULT_COMPRESSION, help="time compression factor")
    p.add_argument("--rate", type=float, default=28.0, help="requests per second")
    p.add_argument("--out", type=Path, default=Path("drill-reports"), help="report directory")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.compression < 1 or args.rate <= 0:
        print("--compression must be >= 1 and --rate > 0", file=sys.stderr)
        return 2
    logging.disable(logging.WARNING)
    from local.drill.runner import DrillSettings, run

    settings = DrillSettings(rate_rps=args.rate, compression=Compression(args.compression), out_dir=args.out)
    result = run(SCENARIOS[args.scenario], settings=settings)
    return 0 if result.kpis.meets_runbook else 1


if __name__ == "__main__":
    sys.exit(main())
