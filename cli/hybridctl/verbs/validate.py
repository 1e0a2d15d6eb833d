"""`hybridctl validate [--post-failover|--canary-health]`: health, breakers, distribution and audit trail."""

from __future__ import annotations

import argparse
from typing import Any

from cli.hybridctl.arguments import Verbs
from cli.hybridctl.client import CHECK_FAILED, OK, dumps
from cli.hybridctl.context import Ctx
from cli.hybridctl.output import table
from cli.hybridctl.views import health, weights_text
from functions.domain.names import MCP


class Checks(list[dict[str, Any]]):
    def add(self, name: str, ok: bool, detail: str, warning: bool = False) -> None:
        self.append({"check": name, "result": "pass" if ok else ("warn" if warning else "FAIL"), "detail": detail})


def register(verbs: Verbs) -> None:
    p = verbs.add("validate", "check health, breakers, distribution, audit trail; exit 1 on failure", validate)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--post-failover", action="store_true")
    mode.add_argument("--canary-health", action="store_true")


def validate(ctx: Ctx, args: argparse.Namespace) -> int:
    """/health can serve, breakers closed on every target that takes traffic, the distribution sums
    to 100, the audit trail is intact (and /admin/config/validate-routing, where deployed)."""
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
