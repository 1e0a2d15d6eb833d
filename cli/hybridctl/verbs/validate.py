"""`hybridctl validate [--post-failover|--canary-health]`: health, breakers, distribution, audit trail, and
error rate and p95 against the SLO thresholds (client-facing; per provider with --check-all-providers or
--provider P; the canary target alone with --canary-health), the p95 against a baseline window with
--performance-check / --performance-baseline."""

from __future__ import annotations

import argparse
from typing import Any

from cli.hybridctl.arguments import Verbs
from cli.hybridctl.client import CHECK_FAILED, NOT_FOUND, OK, CliError, dumps, not_available
from cli.hybridctl.context import Ctx
from cli.hybridctl.output import table
from cli.hybridctl.verbs.monitor import canary_target
from cli.hybridctl.views import health, weights_text
from functions.domain.names import MCP
from functions.domain.thresholds import GATE_WINDOW_SECONDS, PERFORMANCE_BASELINE_WINDOW, PERFORMANCE_WINDOW

QUALITY_GATES_ISSUE = 16


class Checks(list[dict[str, Any]]):
    def add(self, name: str, ok: bool, detail: str, warning: bool = False) -> None:
        self.append({"check": name, "result": "pass" if ok else ("warn" if warning else "FAIL"), "detail": detail})


def register(verbs: Verbs) -> None:
    p = verbs.add("validate", "check health, breakers, distribution, audit trail, the SLO; exit 1 on failure", validate)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--post-failover", action="store_true")
    mode.add_argument("--canary-health", action="store_true", help="also the canary target's own outcomes (gate)")
    p.add_argument("--check-all-providers", action="store_true", help="every Direct provider against the SLO")
    p.add_argument("--provider", metavar="PROVIDER", help="this provider against the SLO")
    p.add_argument("--performance-check", action="store_true", help="the last window's p95 against a baseline's")
    p.add_argument("--performance-baseline", action="store_true", help="same as --performance-check")
    p.add_argument("--comprehensive", action="store_true", help="all providers and the baseline comparison")
    p.add_argument("--window", default=PERFORMANCE_WINDOW, help=f"the last window (default {PERFORMANCE_WINDOW})")
    p.add_argument(
        "--baseline",
        default=PERFORMANCE_BASELINE_WINDOW,
        help=f"baseline window (default {PERFORMANCE_BASELINE_WINDOW})",
    )
    p.add_argument("--test-suite", metavar="SUITE", help="quality test suite (not available yet: issue 16)")


def validate(ctx: Ctx, args: argparse.Namespace) -> int:
    """/health can serve, breakers closed on every target that takes traffic, the distribution sums
    to 100, the audit trail is intact (and /admin/config/validate-routing, where deployed)."""
    if args.test_suite is not None:
        raise not_available(f"the quality test suite (--test-suite {args.test_suite})", QUALITY_GATES_ISSUE)
    checks = Checks()
    _check_health(ctx, checks)
    weights = ctx.api.get("/admin/routing/traffic-distribution")
    total = sum(weights.get("weights", {}).values())
    checks.add("traffic distribution", total == 100, f"{weights_text(weights.get('weights', {}))} sums to {total}")
    _check_breakers(ctx, checks, weights.get("weights", {}))
    integrity = ctx.api.get("/admin/audit/trail-integrity")
    checks.add("audit trail", integrity.get("status") == "valid", f"trail-integrity: {integrity.get('status')}")
    routing = ctx.api.optional("/admin/config/validate-routing")
    if routing is not None:
        valid = routing.get("valid", routing.get("status") in ("valid", "ok", "pass"))
        checks.add("routing configuration", bool(valid), dumps(routing).replace("\n", " ")[:200])
    _check_slo(ctx, args, checks)
    if args.canary_health:
        _check_canary(ctx, checks)
    failed = [c for c in checks if c["result"] == "FAIL"]
    mode = "post-failover" if args.post_failover else ("canary-health" if args.canary_health else "standard")
    data = {"mode": mode, "valid": not failed, "checks": checks, "failed": [c["check"] for c in failed]}

    def human() -> str:
        verdict = "PASSED" if not failed else f"FAILED: {', '.join(c['check'] for c in failed)}"
        rows = ((c["check"], c["result"], c["detail"]) for c in checks)
        return f"validation ({mode}): {verdict}\n" + table(["check", "result", "detail"], rows)

    ctx.emit(data, human)
    return CHECK_FAILED if failed else OK


def _check_health(ctx: Ctx, checks: Checks) -> None:
    system = health(ctx)
    state = system.get("status")
    detail = f"/health is {state}"
    if state == "degraded":
        bad = [c["name"] for c in system.get("components", []) if c.get("status") != "healthy"]
        detail += f" ({', '.join(bad)})"
    checks.add("health", state != "critical", detail)


def _check_breakers(ctx: Ctx, checks: Checks, weights: dict[str, int]) -> None:
    """Breakers not closed fail the check on a target taking traffic (MCP always may), warn elsewhere."""
    result = ctx.api.get("/admin/health/circuit-breakers")
    carrying = {p for p, w in weights.items() if w > 0} | {MCP}
    states = {t: b.get("state") for t, b in result.get("breakers", {}).items()}
    blocking = sorted(t for t, s in states.items() if s != "closed" and t in carrying)
    idle = sorted(t for t, s in states.items() if s != "closed" and t not in carrying)
    detail = ", ".join(f"{t}={s}" for t, s in states.items())
    checks.add(
        "circuit breakers",
        not blocking,
        detail + (f"; not closed and taking traffic: {', '.join(blocking)}" if blocking else ""),
    )
    if idle:
        checks.add("idle breakers", False, f"not closed but taking no traffic: {', '.join(idle)}", warning=True)
    if not result.get("enabled", True):
        checks.add("breakers enabled", False, "circuit breakers are disabled", warning=True)


def _check_slo(ctx: Ctx, args: argparse.Namespace, checks: Checks) -> None:
    """Error rate and p95 against the SLO thresholds (/admin/metrics/slo-report): client-facing always, per
    provider when asked, the p95 against the baseline window with a performance check. No data (too few
    requests in the window) warns: it proves nothing either way."""
    every = args.check_all_providers or args.comprehensive
    providers = "all" if every else (args.provider or "none")
    compare = args.performance_check or args.performance_baseline or args.comprehensive
    params = {"window": args.window, "baseline": args.baseline if compare else "none", "providers": providers}
    report = ctx.api.get("/admin/metrics/slo-report", params=params)
    for subject, judged in report["subjects"].items():
        label = "client-facing" if subject == "all" else subject
        for check in judged["checks"]:
            detail = _slo_detail(check, judged["requests"], report)
            name = f"{label}: {check['check']}"
            checks.add(name, check["result"] == "pass", detail, warning=check["result"] == "no-data")


def _slo_detail(check: dict[str, Any], requests: int, report: dict[str, Any]) -> str:
    unit = check["unit"]
    value = "-" if check["value"] is None else f"{check['value']:g} {unit}"
    if check["check"] == "p95 against baseline":
        base = check.get("baselineP95Ms")
        degradation = check.get("degradationPercent")
        text = f"p95 {value} vs baseline {'-' if base is None else f'{base:g} ms'} ({report['baselineWindow']})"
        if degradation is not None:
            text += f", {degradation:+g}% (limit +{report['slo']['degradationPercent']:g}%)"
    else:
        text = f"{value} (SLO <= {check['threshold']:g} {unit})"
    if check["result"] == "no-data":
        text += f"; no data: {requests} requests in {report['window']}, fewer than {report['slo']['minRequests']}"
    return text


def _check_canary(ctx: Ctx, checks: Checks) -> None:
    """The canary target's own attempts over one gate window against the gate (success rate and p95)."""
    try:
        canary = canary_target(ctx)
    except CliError as exc:
        if exc.exit_code != NOT_FOUND:
            raise
        checks.add("canary target", False, exc.message)
        return
    window = f"{GATE_WINDOW_SECONDS}s"
    outcomes = ctx.api.get("/admin/metrics/provider-outcomes", params={"window": window})
    own = outcomes["providers"].get(canary["target"], {})
    gate = own.get("gate") or {"verdict": "INCONCLUSIVE", "reasons": ["no outcomes for the target"]}
    detail = (
        f"{canary['name']} ({canary['status']}) target {canary['target']}: {own.get('attempts', 0)} attempts, "
        f"{own.get('failures', 0)} failed in {window}: {gate['verdict']} ({'; '.join(gate['reasons'])})"
    )
    verdict, success = gate["verdict"], own.get("successPercent")
    if verdict == "INCONCLUSIVE" and success is not None and success < outcomes["thresholds"]["success_percent"]:
        verdict = "FAIL"  # too few attempts for a gate to pass, but the ones there are fail: it errors
        detail += f"; its attempts succeed {success:g}% of the time"
    checks.add("canary target", verdict == "PASS", detail, warning=verdict == "INCONCLUSIVE")
