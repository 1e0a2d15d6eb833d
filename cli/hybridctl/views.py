"""The reads and texts several verbs share: provider rows, the routing summary, the rollout line, metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cli.hybridctl.context import Ctx
from cli.hybridctl.output import flatten, pairs, table
from functions.domain.names import DIRECT_PROVIDERS, MCP

ADMIN_METRICS = (
    "routing-distribution",
    "provider-latencies",
    "error-breakdown",
    "cache-performance",
    "routing-efficiency",
    "cost-breakdown",
)
MCP_COMPONENT = "mcp-router"


def component_of(name: str) -> str:
    """A provider name as its /health component (bedrock → direct-bedrock, mcp → mcp-router)."""
    if name == MCP:
        return MCP_COMPONENT
    return f"direct-{name}" if name in DIRECT_PROVIDERS else name


def health(ctx: Ctx, detailed: bool = True) -> dict[str, Any]:
    answer: dict[str, Any] = ctx.api.get("/health/detailed" if detailed else "/health", auth=False, accept=(200, 503))
    return answer


def optional_metrics(ctx: Ctx, names: tuple[str, ...] = ADMIN_METRICS) -> dict[str, Any]:
    """The /admin/metrics/* routes that answer; `None` for one not deployed yet."""
    return {name: ctx.api.optional(f"/admin/metrics/{name}") for name in names}


def providers(ctx: Ctx) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One row per target (health, breaker, weight), and the raw answers they come from."""
    detailed = health(ctx)
    system = ctx.api.get("/admin/health/system-status")
    breakers = ctx.api.get("/admin/health/circuit-breakers")
    weights = ctx.api.get("/admin/routing/traffic-distribution")
    components = {c["name"]: c for c in detailed.get("components", [])}
    rows = []
    for target, info in system.get("providers", {}).items():
        component = components.get(component_of(target), {})
        breaker = breakers.get("breakers", {}).get(target, {})
        rows.append(
            {
                "provider": target,
                "status": component.get("status", "unknown"),
                "checker": info.get("health"),
                "breaker": breaker.get("state", info.get("breaker")),
                "weight": weights["weights"].get(target, 0) if target != MCP else None,
                "lastCheck": component.get("lastCheck"),
                "detail": component.get("detail"),
            }
        )
    raw = {"health": detailed, "system": system, "circuitBreakers": breakers, "trafficDistribution": weights}
    return rows, raw


def provider_table(rows: list[dict[str, Any]]) -> str:
    headers = ["provider", "status", "checker", "breaker", "weight", "lastCheck", "detail"]
    return table(headers, ([r[h] for h in headers] for r in rows))


def metrics_text(metrics: dict[str, Any]) -> str:
    blocks = []
    for name, data in metrics.items():
        if data is None:
            blocks.append(f"{name}: not available on this deployment")
        else:
            blocks.append(f"{name}:\n" + table(["metric", "value"], flatten(data)))
    return "\n\n".join(blocks)


def weights_text(weights: dict[str, Any]) -> str:
    """`bedrock:50,google:50`, the distribution as the CLI takes it."""
    return ",".join(f"{p}:{w}" for p, w in weights.items())


def rollout_text(rollouts: dict[str, Any]) -> str:
    """The route's running rollout, else the latest execution (what `status --failover-status` verifies)."""
    lock = rollouts.get("route", {}).get("lock")
    if lock:
        name = lock["owner"].rsplit(":", 1)[-1]
        waiting = ", waiting for approval" if rollouts["route"].get("awaitingApproval") else ""
        return f"rollout: {lock['kind']} {name} running (step {lock['step'] + 1}, {lock['phase']}{waiting})"
    executions = [e | {"kind": k} for k, es in rollouts.get("executions", {}).items() for e in es]
    if not executions:
        return "rollout: none yet"
    last = max(executions, key=lambda e: e.get("startDate") or "")
    return f"rollout: none running; last {last['kind']} {last['name']} {last['status']} (started {last['startDate']})"


def routing_text(override: dict[str, Any], weights: dict[str, Any], breakers_enabled: Any) -> str:
    mode = override.get("mode") or "hybrid"
    if override.get("active"):
        expires = override.get("expires_at")
        until = datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds") if expires else "until changed"
        mode_text = f"{mode} (active, until {until}; reason: {override.get('reason') or '-'})"
    else:
        mode_text = "hybrid (no active override)"
    distribution = weights_text(weights.get("weights", {}))
    return pairs(
        {
            "routing mode": mode_text,
            "traffic distribution": f"{distribution} (version {weights.get('version')})",
            "circuit breakers": "enabled" if breakers_enabled else "DISABLED",
        }
    )
