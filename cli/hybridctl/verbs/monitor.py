"""`hybridctl monitor --duration MINUTES`: a live view of health and metrics, or of one question the
runbooks ask while traffic moves: the running rollout (`--failover-mode`), the canary target's own
success rate (`--canary-mode --success-threshold`), the client-facing error rate by operation
(`--user-impact --alert-threshold "error_rate>2%"`), a provider's recovery (`--provider P --recovery-mode`)."""

from __future__ import annotations

import argparse
import operator
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cli.hybridctl import rollouts as rollout
from cli.hybridctl.arguments import Verbs, positive_float
from cli.hybridctl.client import CHECK_FAILED, NOT_FOUND, OK, USAGE, CliError, dumps
from cli.hybridctl.context import Ctx
from cli.hybridctl.output import cell, pairs, table
from cli.hybridctl.timing import scaled
from cli.hybridctl.views import health
from functions.domain.thresholds import CANARY_SUCCESS_PERCENT, GATE_WINDOW_SECONDS, HEALTH_METRICS_WINDOW

CLEAR = "\x1b[2J\x1b[H"

# The runbooks' metric names, each as GET /health/metrics answers it (`data.<field>`), or derived from it.
# The API's own field names are accepted too.
HEALTH_METRICS: dict[str, tuple[str, str]] = {
    "error_rate": ("errorRatePercent", "%"),
    "latency": ("p95LatencyMs", "ms (p95)"),
    "throughput": ("requests", "requests/min"),  # requests / windowSeconds * 60
    "success_rate": ("errorRatePercent", "%"),  # 100 - errorRatePercent
    "fallback_rate": ("fallbackRatePercent", "%"),
    "cache_hit_rate": ("cacheHitRatePercent", "%"),
    "routing_efficiency": ("routingEfficiency", "%"),
    "requests": ("requests", "requests in the window"),
}
API_FIELDS = {field for field, _ in HEALTH_METRICS.values()} | {"windowSeconds"}

# `--alert-threshold "error_rate>2%"`: a metric of the client-facing error breakdown, a comparison, a number.
ALERT_METRICS = ("error_rate", "success_rate")
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
_EXPRESSION = re.compile(r"\s*([a-z_]+)\s*(>=|<=|>|<)\s*(\d+(?:\.\d+)?)\s*(%?)\s*")


@dataclass(frozen=True)
class Alert:
    metric: str
    comparison: str
    value: float

    def holds(self, measured: float | None) -> bool:
        return measured is not None and COMPARISONS[self.comparison](measured, self.value)

    def __str__(self) -> str:
        return f"{self.metric}{self.comparison}{self.value:g}%"


def parse_alert(text: str) -> Alert:
    match = _EXPRESSION.fullmatch(text)
    if not match:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not METRIC<op>NUMBER% (e.g. \"error_rate>2%\"; ops >, >=, <, <=; "
            f"metrics {', '.join(ALERT_METRICS)})"
        )
    metric, comparison, number, _ = match.groups()
    if metric not in ALERT_METRICS:
        raise argparse.ArgumentTypeError(f"'{metric}' cannot be alerted on; use one of {', '.join(ALERT_METRICS)}")
    value = float(number)
    if value > 100:
        raise argparse.ArgumentTypeError(f"{value:g}% is not a percentage between 0 and 100")
    return Alert(metric, comparison, value)


def parse_monitor_metrics(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",")]
    unknown = [m for m in names if m not in HEALTH_METRICS and m not in API_FIELDS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown metric(s) {', '.join(unknown) or repr(text)}; known: {', '.join(HEALTH_METRICS)} "
            f"(or /health/metrics fields: {', '.join(sorted(API_FIELDS))})"
        )
    return names


def register(verbs: Verbs) -> None:
    p = verbs.add("monitor", "live view of health and metrics, a rollout, a canary, user impact or a recovery", monitor)
    p.add_argument("--duration", type=positive_float, required=True, help="minutes (e.g. 2, or 0.5)")
    p.add_argument(
        "--metrics",
        type=parse_monitor_metrics,
        default=["error_rate", "latency"],
        help=f"comma-separated, of {', '.join(HEALTH_METRICS)}",
    )
    p.add_argument("--interval", type=positive_float, default=10.0, help="seconds between samples (default 10)")
    p.add_argument("--window", help="metrics window of each sample (default per mode: 5m; canary 120s; recovery 60s)")
    modes = p.add_mutually_exclusive_group()
    modes.add_argument("--failover-mode", action="store_true", help="the running rollout: steps, weights, gates")
    modes.add_argument("--canary-mode", action="store_true", help="the canary target's own success rate")
    modes.add_argument("--user-impact", action="store_true", help="client-facing error rate by operation type")
    modes.add_argument("--recovery-mode", action="store_true", help="--provider P against the failback thresholds")
    p.add_argument(
        "--success-threshold", type=rollout.percent, metavar="PCT", help="--canary-mode: exit 1 below it (98%%)"
    )
    p.add_argument("--alert-threshold", type=parse_alert, metavar="EXPR", help='--user-impact: e.g. "error_rate>2%%"')
    p.add_argument("--provider", metavar="PROVIDER", help="--recovery-mode: the provider recovering")


def monitor(ctx: Ctx, args: argparse.Namespace) -> int:
    """Samples every --interval seconds for --duration minutes (both times HYBRIDCTL_TIME_SCALE); redraws
    in place on a terminal, one frame (or JSON line) per sample otherwise. Exit 1 when the last sample
    fails its mode's check (plain and failover: the system critical)."""
    mode = _mode(args)
    deadline = time.monotonic() + scaled(args.duration * 60)
    redraw = ctx.out.isatty() and not ctx.json
    samples = 0
    while True:
        sample = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "mode": mode.name, **mode.sample(ctx, args)}
        samples += 1
        if ctx.json:
            print(dumps(sample).replace("\n", ""), file=ctx.out, flush=True)
        else:
            left = max(0.0, deadline - time.monotonic())
            head = f"hybridctl monitor ({mode.name})  {sample['at']}  ({left:.0f} s left, every {args.interval:g} s)"
            frame = head + "\n" + mode.frame(sample, args)
            print((CLEAR if redraw else "") + frame + ("" if redraw else "\n"), file=ctx.out, flush=True)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(scaled(args.interval), remaining))
        if deadline - time.monotonic() <= 0:
            break
    failed = bool(sample["failed"])
    if not ctx.json:
        print(
            f"monitoring done: {samples} sample(s); last: {sample['verdict']}" + (" (exit 1)" if failed else ""),
            file=ctx.out,
            flush=True,
        )
    return CHECK_FAILED if failed else OK


@dataclass(frozen=True)
class Mode:
    name: str
    sample: Callable[[Ctx, argparse.Namespace], dict[str, Any]]
    frame: Callable[[dict[str, Any], argparse.Namespace], str]


def _mode(args: argparse.Namespace) -> Mode:
    if args.success_threshold is not None and not args.canary_mode:
        raise CliError(USAGE, "--success-threshold goes with --canary-mode")
    if args.alert_threshold is not None and not args.user_impact:
        raise CliError(USAGE, "--alert-threshold goes with --user-impact")
    if args.recovery_mode != (args.provider is not None):
        raise CliError(USAGE, "--recovery-mode and --provider P go together")
    if args.failover_mode:
        return Mode("failover", _failover_sample, _failover_frame)
    if args.canary_mode:
        return Mode("canary", _canary_sample, _canary_frame)
    if args.user_impact:
        if args.alert_threshold is None:
            raise CliError(USAGE, '--user-impact needs --alert-threshold, e.g. "error_rate>2%"')
        return Mode("user-impact", _impact_sample, _impact_frame)
    if args.recovery_mode:
        return Mode("recovery", _recovery_sample, _recovery_frame)
    return Mode("health", _health_sample, _health_frame)


# --- health and metrics (the plain mode) ------------------------------------------------------------
def metric_values(metrics: Any, names: list[str]) -> dict[str, Any]:
    """The runbook's metric names as /health/metrics gives them (`data`), or None without data."""
    data = metrics.get("data") if isinstance(metrics, dict) else None
    if not isinstance(data, dict):
        return {name: None for name in names}
    values: dict[str, Any] = {}
    for name in names:
        if name in API_FIELDS:
            values[name] = data.get(name)
            continue
        field, _ = HEALTH_METRICS[name]
        raw = data.get(field)
        if name == "success_rate":
            raw = None if raw is None else round(100.0 - raw, 2)
        elif name == "throughput":
            window = data.get("windowSeconds") or 0
            raw = round(raw / window * 60.0, 2) if raw is not None and window else None
        values[name] = raw
    return values


def _health_metrics(ctx: Ctx, args: argparse.Namespace) -> dict[str, Any]:
    window = args.window or HEALTH_METRICS_WINDOW
    answer = ctx.api.optional("/health/metrics", auth=False, params={"window": window})
    return {"metrics": metric_values(answer, args.metrics), "metricsAvailable": answer is not None}


def _health_sample(ctx: Ctx, args: argparse.Namespace) -> dict[str, Any]:
    system = health(ctx)
    status = system.get("status")
    return {
        "status": status,
        "components": {c["name"]: c.get("status") for c in system.get("components", [])},
        **_health_metrics(ctx, args),
        "verdict": f"system {status}",
        "failed": status == "critical",
    }


def _metrics_table(sample: dict[str, Any], args: argparse.Namespace) -> str:
    if not sample["metricsAvailable"]:
        return f"metrics ({', '.join(args.metrics)}): /health/metrics is not available on this deployment"
    unit = {name: HEALTH_METRICS[name][1] if name in HEALTH_METRICS else "" for name in sample["metrics"]}
    return table(["metric", "value", "unit"], ((k, cell(v), unit[k]) for k, v in sample["metrics"].items()))


def _health_frame(sample: dict[str, Any], args: argparse.Namespace) -> str:
    components = table(["component", "status"], sample["components"].items())
    return f"system: {sample['status']}\n{components}\n{_metrics_table(sample, args)}"


# --- the running rollout ----------------------------------------------------------------------------
def _failover_sample(ctx: Ctx, args: argparse.Namespace) -> dict[str, Any]:
    system = health(ctx, detailed=False)
    route = ctx.api.get("/admin/rollouts")["route"]
    lock = route.get("lock")
    view = ctx.api.get(f"/admin/rollouts/{lock['owner'].rsplit(':', 1)[-1]}") if lock else None
    rollout_view = None
    if view is not None:
        plan = (view.get("input") or {}).get("steps") or []
        rollout_view = {
            "name": view.get("name"),
            "kind": view.get("kind"),
            "status": view.get("status"),
            "source": (view.get("input") or {}).get("source"),
            "target": (view.get("input") or {}).get("target"),
            "plan": plan,
            "step": (lock or {}).get("step", -1) + 1,
            "phase": (lock or {}).get("phase"),
            "steps": [{"percent": s.get("percent"), "weights": s.get("weights")} for s in view.get("steps", [])],
            "gates": [
                {
                    "verdict": g.get("verdict") or g.get("error"),
                    "decision": g.get("decision"),
                    "reasons": g.get("reasons"),
                }
                for g in view.get("gates", [])
            ],
            "awaitingApproval": route.get("awaitingApproval"),
        }
    status = system.get("status")
    return {
        "status": status,
        "weights": route.get("weights"),
        "rollout": rollout_view,
        **_health_metrics(ctx, args),
        "verdict": f"system {status}; " + (f"{rollout_view['kind']} running" if rollout_view else "no rollout running"),
        "failed": status == "critical",
    }


def _failover_frame(sample: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [f"system: {sample['status']}  weights: {rollout.weights_line(sample['weights'])}"]
    running = sample["rollout"]
    if running is None:
        lines.append("rollout: none running")
    else:
        plan = ",".join(map(str, running["plan"])) or "-"
        waiting = ", waiting for approval" if running["awaitingApproval"] else ""
        lines.append(
            f"rollout: {running['kind']} {running['name']} {running['source']} -> {running['target']}, "
            f"step {running['step']}/{len(running['plan']) or '?'} of {plan} % ({running['phase']}{waiting})"
        )
        for number, step in enumerate(running["steps"], 1):
            lines.append(f"  step {number}: {step['percent']}%  weights {rollout.weights_line(step['weights'])}")
        for gate in running["gates"]:
            reasons = "; ".join(gate["reasons"] or [])
            lines.append(f"  gate: {gate['verdict']} -> {gate['decision']}" + (f" ({reasons})" if reasons else ""))
        if not running["gates"]:
            lines.append("  gate: none evaluated yet")
    lines.append(_metrics_table(sample, args))
    return "\n".join(lines)


# --- the canary target ------------------------------------------------------------------------------
def canary_target(ctx: Ctx) -> dict[str, Any]:
    """The running canary's name, source and target; else the latest canary execution's."""
    lock = ctx.api.get("/admin/rollouts")["route"].get("lock")
    if lock is not None and lock.get("kind") == "canary":
        name = lock["owner"].rsplit(":", 1)[-1]
    else:
        executions = ctx.api.get("/admin/rollouts").get("executions", {}).get("canary", [])
        if not executions:
            raise CliError(NOT_FOUND, "no canary is running or has run: start one with `hybridctl canary ...`")
        name = max(executions, key=lambda e: e.get("startDate") or "")["name"]
    view = ctx.api.get(f"/admin/rollouts/{name}")
    given = view.get("input") or {}
    return {"name": name, "status": view.get("status"), "source": given.get("source"), "target": given.get("target")}


def _canary_sample(ctx: Ctx, args: argparse.Namespace) -> dict[str, Any]:
    canary = canary_target(ctx)
    threshold = args.success_threshold if args.success_threshold is not None else CANARY_SUCCESS_PERCENT
    window = args.window or f"{GATE_WINDOW_SECONDS}s"
    outcomes = ctx.api.get("/admin/metrics/provider-outcomes", params={"window": window})
    own = outcomes["providers"].get(canary["target"], {})
    success = own.get("successPercent")
    if success is None:
        verdict = f"{canary['target']}: no attempts in {window}, its success rate is unknown"
    else:
        word = "at or above" if success >= threshold else "BELOW"
        verdict = f"{canary['target']}: success rate {success:g}% {word} {threshold:g}%"
    return {
        "canary": canary,
        "window": window,
        "target": canary["target"],
        "own": own,
        "successThresholdPercent": threshold,
        "verdict": verdict,
        "failed": success is None or success < threshold,
    }


def _canary_frame(sample: dict[str, Any], args: argparse.Namespace) -> str:
    canary, own = sample["canary"], sample["own"]
    return pairs(
        {
            "canary": f"{canary['name']} ({canary['status']}) {canary['source']} -> {canary['target']}",
            "window": sample["window"],
            "target attempts": own.get("attempts"),
            "target failures": own.get("failures"),
            "target success rate": own.get("successPercent"),
            "target p95 (ms)": own.get("p95Ms"),
            "threshold": f"{sample['successThresholdPercent']:g}%",
            "verdict": sample["verdict"],
        }
    )


# --- user impact --------------------------------------------------------------------------------------
def _impact_value(entry: dict[str, Any], metric: str) -> float | None:
    rate = entry.get("errorRatePercent")
    if rate is None:
        return None
    return float(rate) if metric == "error_rate" else round(100.0 - float(rate), 2)


def _impact_sample(ctx: Ctx, args: argparse.Namespace) -> dict[str, Any]:
    alert: Alert = args.alert_threshold
    window = args.window or HEALTH_METRICS_WINDOW
    breakdown = ctx.api.get("/admin/metrics/error-breakdown", params={"window": window})
    rows = {"all": breakdown["overall"], **breakdown.get("byOperation", {})}
    judged = {
        name: {
            "requests": entry.get("requests"),
            "errors": entry.get("errors"),
            alert.metric: _impact_value(entry, alert.metric),
            "byCode": entry.get("byCode"),
            "alert": alert.holds(_impact_value(entry, alert.metric)),
        }
        for name, entry in rows.items()
    }
    firing = [name for name, row in judged.items() if row["alert"]]
    verdict = f"ALERT {alert} on {', '.join(firing)}" if firing else f"no alert ({alert} holds nowhere)"
    return {"window": window, "alert": str(alert), "operations": judged, "verdict": verdict, "failed": bool(firing)}


def _impact_frame(sample: dict[str, Any], args: argparse.Namespace) -> str:
    metric = args.alert_threshold.metric
    rows = (
        (
            name,
            row["requests"],
            row["errors"],
            cell(row[metric]),
            "ALERT" if row["alert"] else "ok",
            cell(row["byCode"]),
        )
        for name, row in sample["operations"].items()
    )
    body = table(["operation", "requests", "errors", metric, "alert", "by code"], rows)
    return f"client-facing, window {sample['window']}, alert when {sample['alert']}\n{body}\n{sample['verdict']}"


# --- recovery -----------------------------------------------------------------------------------------
def _recovery_sample(ctx: Ctx, args: argparse.Namespace) -> dict[str, Any]:
    params = {"window": args.window} if args.window else None
    report = ctx.api.get(f"/admin/metrics/recovery/{args.provider}", params=params)
    verdict = f"{args.provider}: " + ("recovered" if report["recovered"] else "NOT recovered")
    return {
        "recovery": report,
        "verdict": f"{verdict} ({'; '.join(report['reasons'])})",
        "failed": not report["recovered"],
    }


def _recovery_frame(sample: dict[str, Any], args: argparse.Namespace) -> str:
    report = sample["recovery"]
    probes, traffic, limits = report.get("probes") or {}, report["traffic"], report["thresholds"]
    return pairs(
        {
            "provider": report["provider"],
            "probes": f"{probes.get('status', 'no record')}, {probes.get('consecutiveSuccesses', '-')} in a row ok "
            f"(recovers after {limits['probeSuccessesToRecover']}), last {probes.get('lastLatencyMs', '-')} ms",
            "traffic": f"{traffic['attempts']} attempts, {traffic['failures']} failed, success "
            f"{cell(traffic['successPercent'])}%, p95 {cell(traffic['p95Ms'])} ms in {report['window']}",
            "thresholds": f"success >= {limits['successPercent']:g}%, p95 <= {limits['p95LatencyMs']:g} ms "
            f"(from {limits['minRequests']} requests), then healthy for {limits['hysteresisSeconds']:g} s "
            "before an automatic failback",
            "verdict": sample["verdict"],
        }
    )
