"""`hybridctl monitor --duration MINUTES`: a live view of health and metrics."""

from __future__ import annotations

import argparse
import re
import time
from datetime import UTC, datetime
from typing import Any

from cli.hybridctl.arguments import Verbs, parse_metrics, positive_float
from cli.hybridctl.client import CHECK_FAILED, OK, dumps
from cli.hybridctl.context import Ctx
from cli.hybridctl.output import cell, table
from cli.hybridctl.views import health

CLEAR = "\x1b[2J\x1b[H"


def register(verbs: Verbs) -> None:
    p = verbs.add("monitor", "live view of health and metrics", monitor)
    p.add_argument("--duration", type=positive_float, required=True, help="minutes (e.g. 2, or 0.5)")
    p.add_argument("--metrics", type=parse_metrics, default=["error_rate", "latency"], help="e.g. error_rate,latency")
    p.add_argument("--interval", type=positive_float, default=10.0, help="seconds between samples (default 10)")


def monitor(ctx: Ctx, args: argparse.Namespace) -> int:
    """Polls /health/detailed (and /health/metrics where deployed) every --interval seconds for
    --duration minutes; redraws in place on a terminal, one frame (or JSON line) per sample otherwise."""
    deadline = time.monotonic() + args.duration * 60
    redraw = ctx.out.isatty() and not ctx.json
    metrics_route = True
    samples = 0
    while True:
        sample = _sample(ctx, args.metrics, metrics_route)
        metrics_route = sample["metricsAvailable"]
        samples += 1
        if ctx.json:
            print(dumps(sample).replace("\n", ""), file=ctx.out, flush=True)
        else:
            frame = _frame(sample, args, deadline)
            print((CLEAR if redraw else "") + frame + ("" if redraw else "\n"), file=ctx.out, flush=True)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(args.interval, remaining))
        if deadline - time.monotonic() <= 0:
            break
    if not ctx.json:
        print(f"monitoring done: {samples} sample(s), last status {sample['status']}", file=ctx.out, flush=True)
    return CHECK_FAILED if sample["status"] == "critical" else OK


def _sample(ctx: Ctx, names: list[str], metrics_route: bool) -> dict[str, Any]:
    """One reading; /health/metrics is asked again only while it answers."""
    system = health(ctx)
    metrics = ctx.api.optional("/health/metrics", auth=False) if metrics_route else None
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": system.get("status"),
        "components": {c["name"]: c.get("status") for c in system.get("components", [])},
        "metrics": {m: _metric(metrics, m) for m in names},
        "metricsAvailable": metrics is not None,
    }


def _metric(metrics: Any, name: str) -> Any:
    """A metric by its runbook name (error_rate) or camelCase (errorRate), at the top or under data."""
    if not isinstance(metrics, dict):
        return None
    camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)
    data = metrics.get("data")
    for scope in (metrics, data if isinstance(data, dict) else {}):
        for key in (name, camel):
            if key in scope:
                return scope[key]
    return None


def _frame(sample: dict[str, Any], args: argparse.Namespace, deadline: float) -> str:
    left = max(0.0, deadline - time.monotonic())
    head = (
        f"hybridctl monitor  {sample['at']}  system: {sample['status']}  ({left:.0f} s left, every {args.interval:g} s)"
    )
    components = table(["component", "status"], sample["components"].items())
    if sample["metricsAvailable"]:
        metrics = table(["metric", "value"], ((k, cell(v)) for k, v in sample["metrics"].items()))
    else:
        metrics = f"metrics ({', '.join(args.metrics)}): /health/metrics is not available on this deployment"
    return f"{head}\n{components}\n{metrics}"
