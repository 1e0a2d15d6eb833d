"""What each subcommand does: API calls, then a table (or one JSON document with --json)."""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from cli.hybridctl.client import CHECK_FAILED, NOT_FOUND, OK, USAGE, Api, CliError, dumps
from cli.hybridctl.output import cell, flatten, pairs, table

DIRECT = ("bedrock", "google", "meta")
TARGETS = (*DIRECT, "mcp")
ADMIN_METRICS = (
    "routing-distribution",
    "provider-latencies",
    "error-breakdown",
    "cache-performance",
    "routing-efficiency",
    "cost-breakdown",
)
TRANSITIONS_ISSUE = "#5"  # docs/runbook-map.md: gradual failover / canary workflows


@dataclass
class Ctx:
    api: Api
    json: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)

    def emit(self, data: Any, human: str | Callable[[], str]) -> None:
        text = dumps(data) if self.json else (human() if callable(human) else human)
        print(text, file=self.out, flush=True)


# --- helpers ---------------------------------------------------------------------------------
def component_of(name: str) -> str:
    """A provider name as its /health component (bedrock → direct-bedrock, mcp → mcp-router)."""
    if name == "mcp":
        return "mcp-router"
    return f"direct-{name}" if name in DIRECT else name


def target_of(component: str) -> str:
    if component == "mcp-router":
        return "mcp"
    return component.removeprefix("direct-")


def change(args: argparse.Namespace, **fields: Any) -> dict[str, Any]:
    """A mutation's body: its fields, plus --reason and --version when given."""
    body = {k: v for k, v in fields.items() if v is not None}
    if getattr(args, "reason", None):
        body["reason"] = args.reason
    if getattr(args, "version", None) is not None:
        body["version"] = args.version
    return body


def with_version(text: str, result: dict[str, Any]) -> str:
    return f"{text}\nversion: {result['version']}" if "version" in result else text


def parse_distribution(text: str) -> dict[str, int]:
    """`bedrock:50,google:30,meta:20`: provider names and whole percentages summing to 100."""
    weights: dict[str, int] = {}
    for part in text.split(","):
        match = re.fullmatch(r"\s*([a-z][a-z0-9_-]*)\s*:\s*(\d{1,3})\s*", part)
        if not match:
            raise argparse.ArgumentTypeError(
                f"'{part.strip()}' is not NAME:PERCENT (expected e.g. \"bedrock:50,google:30,meta:20\")"
            )
        name, weight = match.group(1), int(match.group(2))
        if name in weights:
            raise argparse.ArgumentTypeError(f"'{name}' is given twice")
        weights[name] = weight
    total = sum(weights.values())
    if total != 100:
        raise argparse.ArgumentTypeError(f"the percentages sum to {total}, not 100 ({text})")
    return weights


def parse_metrics(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",")]
    if not all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", m) for m in names):
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of metric names")
    return names


def health(ctx: Ctx, detailed: bool = True) -> dict[str, Any]:
    return ctx.api.get("/health/detailed" if detailed else "/health", auth=False, accept=(200, 503))


def optional_metrics(ctx: Ctx, names: tuple[str, ...] = ADMIN_METRICS) -> dict[str, Any]:
    """The /admin/metrics/* routes that answer; `None` for one not deployed yet."""
    return {name: ctx.api.optional(f"/admin/metrics/{name}") for name in names}


def _metrics_text(metrics: dict[str, Any]) -> str:
    blocks = []
    for name, data in metrics.items():
        if data is None:
            blocks.append(f"{name}: not available on this deployment")
        else:
            blocks.append(f"{name}:\n" + table(["metric", "value"], flatten(data)))
    return "\n\n".join(blocks)


# --- status ----------------------------------------------------------------------------------
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
                "weight": weights["weights"].get(target, 0) if target != "mcp" else None,
                "lastCheck": component.get("lastCheck"),
                "detail": component.get("detail"),
            }
        )
    raw = {"health": detailed, "system": system, "circuitBreakers": breakers, "trafficDistribution": weights}
    return rows, raw


def _provider_table(rows: list[dict[str, Any]]) -> str:
    headers = ["provider", "status", "checker", "breaker", "weight", "lastCheck", "detail"]
    return table(headers, ([r[h] for h in headers] for r in rows))


def status(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.health_only:
        return _health_only(ctx, args)
    rows, raw = providers(ctx)
    if args.provider:
        rows = [r for r in rows if r["provider"] == args.provider]
        if not rows:
            known = ", ".join(raw["system"].get("providers", {}))
            raise CliError(NOT_FOUND, f"unknown provider '{args.provider}'; configured: {known}")
    override = ctx.api.get("/admin/config/routing-override")
    data: dict[str, Any] = {
        "status": raw["health"].get("status"),
        "systemStatus": raw["system"].get("status"),
        "providers": rows,
        "routingOverride": override,
        "trafficDistribution": raw["trafficDistribution"],
        "circuitBreakersEnabled": raw["circuitBreakers"].get("enabled"),
    }
    if args.failover_status or args.comprehensive:
        data["featureFlags"] = ctx.api.get("/admin/feature-flags/bedrock")
        data["rollouts"] = ctx.api.optional("/admin/rollouts")
    if args.comprehensive:
        data["components"] = raw["health"].get("components", [])
        data["breakerPolicy"] = raw["circuitBreakers"].get("policy")
        data["auditIntegrity"] = ctx.api.get("/admin/audit/trail-integrity")
        data["metrics"] = optional_metrics(ctx)
        data["healthMetrics"] = ctx.api.optional("/health/metrics", auth=False)
        data["healthAlerts"] = ctx.api.optional("/health/alerts", auth=False)

    def human() -> str:
        if args.compact:
            parts = [
                f"{r['provider']}={r['status']}/{r['breaker']}"
                + (f"/{r['weight']}%" if r["weight"] is not None else "")
                for r in rows
            ]
            return f"{data['status']}  " + "  ".join(parts)
        out = [pairs({"system": data["status"], "admin view": data["systemStatus"], "endpoint": ctx.api.endpoint})]
        out.append(_provider_table(rows))
        if args.provider_health:
            return "\n\n".join(out)
        out.append(_routing_text(data["routingOverride"], data["trafficDistribution"], data["circuitBreakersEnabled"]))
        if data.get("rollouts") is not None:
            out.append(rollout_text(data["rollouts"]))
        if "featureFlags" in data:
            flags = {k: v for k, v in data["featureFlags"].items() if k != "version"}
            out.append("feature flags:\n" + table(["flag", "enabled"], flags.items()))
        if args.comprehensive:
            components = data["components"]
            out.append(
                "components:\n"
                + table(
                    ["component", "status", "lastCheck", "detail"],
                    ([c.get("name"), c.get("status"), c.get("lastCheck"), c.get("detail")] for c in components),
                )
            )
            out.append("breaker policy:\n" + pairs(data["breakerPolicy"] or {}))
            out.append(f"audit trail: {data['auditIntegrity'].get('status')}")
            out.append(_metrics_text(data["metrics"]))
            for key, label in (("healthMetrics", "/health/metrics"), ("healthAlerts", "/health/alerts")):
                value = data[key]
                out.append(
                    f"{label}: not available on this deployment" if value is None else f"{label}:\n{dumps(value)}"
                )
        return "\n\n".join(out)

    ctx.emit(data, human)
    return OK


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


def _routing_text(override: dict[str, Any], weights: dict[str, Any], breakers_enabled: Any) -> str:
    mode = override.get("mode") or "hybrid"
    if override.get("active"):
        expires = override.get("expires_at")
        until = datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds") if expires else "until changed"
        mode_text = f"{mode} (active, until {until}; reason: {override.get('reason') or '-'})"
    else:
        mode_text = "hybrid (no active override)"
    distribution = ",".join(f"{p}:{w}" for p, w in weights.get("weights", {}).items())
    return pairs(
        {
            "routing mode": mode_text,
            "traffic distribution": f"{distribution} (version {weights.get('version')})",
            "circuit breakers": "enabled" if breakers_enabled else "DISABLED",
        }
    )


def _health_only(ctx: Ctx, args: argparse.Namespace) -> int:
    """HEALTHY / DEGRADED / UNHEALTHY (the runbook's health script greps for UNHEALTHY); exit 1 if unhealthy."""
    if args.provider:
        name = component_of(args.provider)
        body = ctx.api.get(f"/health/component/{name}", auth=False, accept=(200, 503))
        state = body.get("status", "unknown")
        unhealthy = state not in ("healthy", "degraded")
        subject = args.provider
    else:
        body = health(ctx, detailed=False)
        state = body.get("status", "unknown")
        unhealthy = state not in ("healthy", "degraded")
        subject = "system"
    word = "UNHEALTHY" if unhealthy else state.upper()
    data = {"subject": subject, "status": state, "healthy": not unhealthy, **body}
    ctx.emit(data, f"{subject}: {word}" + (f" ({state})" if word.lower() != state else ""))
    return CHECK_FAILED if unhealthy else OK


# --- flags -----------------------------------------------------------------------------------
def flags(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.action == "list":
        result = ctx.api.get("/admin/feature-flags/bedrock")
    elif args.action == "set":
        body = change(args, flag=args.flag, enabled=args.value == "on")
        result = ctx.api.post("/admin/feature-flags/bedrock/update", body)
    else:
        result = ctx.api.post("/admin/feature-flags/bedrock/disable-all", change(args))
    rows = [(k, v) for k, v in result.items() if k != "version"]
    ctx.emit(result, lambda: with_version(table(["flag", "enabled"], rows), result))
    return OK


# --- emergency -------------------------------------------------------------------------------
def emergency(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.action == "disable-routing":
        result = ctx.api.post("/admin/emergency/disable-hybrid-routing", change(args))
        version = result.get("flags", {}).get("version")
        text = f"{result.get('status')}: every operation goes to MCP within {result.get('effectiveWithinSeconds')} s"
        ctx.emit(result, f"{text}\nversion: {version}")
        return OK
    if args.action == "isolate":
        action = "restore" if args.restore else "isolate"
        result = ctx.api.post(
            "/admin/emergency/isolate-component", change(args, component=args.component, action=action)
        )
        isolated = ", ".join(result.get("isolated", [])) or "none"
        ctx.emit(result, with_version(f"{args.component}: {action}d\nisolated now: {isolated}", result))
        return OK
    if args.mode is None:
        raise CliError(USAGE, "emergency needs an action (disable-routing, isolate) or --mode multi-provider-outage")
    return _multi_provider_outage(ctx, args)


def _multi_provider_outage(ctx: Ctx, args: argparse.Namespace) -> int:
    """Degraded service for a multi-provider outage, with what this API offers: circuit breakers on
    (failing providers leave rotation at once and fail fast), stale cached answers (served
    automatically when no route can serve, marked `x-hybrid-cache: stale`), and a report of the
    cache settings. MCP is not forced: in such an outage it may be down too (`route force-mcp`)."""
    steps: list[dict[str, Any]] = []
    system = health(ctx)
    steps.append({"step": "health", "result": system.get("status")})
    breakers = ctx.api.get("/admin/health/circuit-breakers")
    if not args.enable_degraded_service:
        steps.append({"step": "circuit breakers", "result": "enabled" if breakers.get("enabled") else "disabled"})
        steps.append({"step": "changes", "result": "none (pass --enable-degraded-service to act)"})
    elif breakers.get("enabled"):
        steps.append({"step": "circuit breakers", "result": "already enabled"})
    else:
        reason = getattr(args, "reason", "") or "multi-provider outage: degraded service"
        result = ctx.api.post("/admin/circuit-breaker/enable", {**change(args), "reason": reason})
        steps.append({"step": "circuit breakers", "result": f"enabled (version {result.get('version')})"})
    cache = ctx.api.optional("/admin/config/cache-settings")
    steps.append(
        {
            "step": "stale cache",
            "result": "served automatically when no route can serve (x-hybrid-cache: stale, x-hybrid-degraded: true)",
        }
    )
    steps.append(
        {
            "step": "cache settings",
            "result": "route not available on this deployment" if cache is None else dumps(cache).replace("\n", " "),
        }
    )
    up = [
        c["name"] for c in system.get("components", []) if c.get("status") == "healthy" and c["name"] != "hybrid-router"
    ]
    mcp_up = "mcp-router" in up
    steps.append(
        {
            "step": "MCP",
            "result": "not forced; mcp-router is healthy: `hybridctl route force-mcp` sends all traffic there"
            if mcp_up
            else "not forced; mcp-router is not healthy either",
        }
    )
    data = {"mode": args.mode, "degradedService": bool(args.enable_degraded_service), "steps": steps}
    ctx.emit(
        data,
        lambda: f"emergency mode: {args.mode}\n" + table(["step", "result"], ((s["step"], s["result"]) for s in steps)),
    )
    return OK


# --- route -----------------------------------------------------------------------------------
def route(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.action == "force-mcp":
        if not args.reason:
            raise CliError(USAGE, "route force-mcp needs --reason (it is recorded with the override)")
        result = ctx.api.post("/admin/routing/force-mcp", change(args, duration=args.duration))
        text = f"every operation forced onto MCP for {args.duration} s (expires at {_when(result.get('expires_at'))})"
    elif args.action == "override":
        result = ctx.api.post(
            "/admin/config/routing-override", change(args, routing_mode=args.mode, duration=args.duration)
        )
        text = f"routing mode {args.mode}" + (f" until {_when(result.get('expires_at'))}" if args.duration else "")
    else:
        result = ctx.api.post("/admin/routing/bedrock-percentage", change(args, percentage=args.percentage))
        text = "traffic distribution: " + ",".join(f"{p}:{w}" for p, w in result.get("weights", {}).items())
    ctx.emit(result, with_version(text, result))
    return OK


def _when(epoch: Any) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds") if epoch else "-"


# --- config ----------------------------------------------------------------------------------
def config(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.action == "get":
        return _config_get(ctx)
    cache_fields = cache_changes(args)
    wants_cache = any(v is not None for v in cache_fields.values())
    if args.traffic_distribution is None and not wants_cache:
        raise CliError(USAGE, "config set needs --traffic-distribution and/or --cache-mode/--cache-ttl/--serve-stale")
    if args.traffic_distribution is not None and wants_cache and args.version is not None:
        raise CliError(USAGE, "--version names the version of one setting: change one setting at a time with it")
    if args.transition_duration is not None and args.traffic_distribution is None:
        raise CliError(USAGE, "--transition-duration goes with --traffic-distribution")
    data: dict[str, Any] = {}
    lines: list[str] = []
    if wants_cache:
        # Checked first, so a missing route changes nothing.
        if ctx.api.optional("/admin/config/cache-settings") is None:
            raise CliError(
                NOT_FOUND, f"cache settings: /admin/config/cache-settings is not available on {ctx.api.endpoint} yet"
            )
    if args.traffic_distribution is not None:
        result = ctx.api.put("/admin/routing/traffic-distribution", change(args, weights=args.traffic_distribution))
        data["trafficDistribution"] = result
        lines.append("traffic distribution: " + ",".join(f"{p}:{w}" for p, w in result["weights"].items()))
        lines.append(f"version: {result['version']}")
        if args.transition_duration is not None:
            note = (
                f"this distribution took effect at once; for a gated transition over {args.transition_duration} s "
                f"run `hybridctl failover --mode gradual` (workflows of issue {TRANSITIONS_ISSUE})"
            )
            data["transition"] = {"requestedSeconds": args.transition_duration, "note": note}
            lines.append(note)
    if wants_cache:
        body = change(args, **{k: v for k, v in cache_fields.items() if v is not None})
        result = ctx.api.put("/admin/config/cache-settings", body)
        data["cacheSettings"] = result
        lines.append("cache settings:\n" + pairs(flatten(result)))
    ctx.emit(data, "\n".join(lines))
    return OK


def cache_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The CLI's cache options as /admin/config/cache-settings fields. `--cache-mode emergency` (the
    runbook's) is deterministic caching that also serves stale answers (unless --serve-stale false)."""
    mode, serve_stale = args.cache_mode, args.serve_stale
    if mode == "emergency":
        mode, serve_stale = "deterministic", True if serve_stale is None else serve_stale
    return {
        "mode": mode,
        "freshTtlSeconds": args.cache_ttl,
        "staleTtlSeconds": args.stale_ttl,
        "serveStale": serve_stale,
    }


def _config_get(ctx: Ctx) -> int:
    weights = ctx.api.get("/admin/routing/traffic-distribution")
    override = ctx.api.get("/admin/config/routing-override")
    breakers = ctx.api.get("/admin/health/circuit-breakers")
    flag_values = ctx.api.get("/admin/feature-flags/bedrock")
    cache = ctx.api.optional("/admin/config/cache-settings")
    data = {
        "trafficDistribution": weights,
        "routingOverride": override,
        "circuitBreakersEnabled": breakers.get("enabled"),
        "featureFlags": flag_values,
        "cacheSettings": cache,
    }

    def human() -> str:
        rows = [(p, weights["weights"].get(p, 0)) for p in weights.get("providers") or weights["weights"]]
        out = [
            f"traffic distribution (version {weights['version']}):\n" + table(["provider", "weight"], rows),
            _routing_text(override, weights, breakers.get("enabled")),
            f"feature flags (version {flag_values.get('version')}):\n"
            + table(["flag", "enabled"], ((k, v) for k, v in flag_values.items() if k != "version")),
            "cache settings: not available on this deployment"
            if cache is None
            else "cache settings:\n" + pairs(flatten(cache)),
        ]
        return "\n\n".join(out)

    ctx.emit(data, human)
    return OK


# --- breakers --------------------------------------------------------------------------------
def breakers(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.action == "list":
        result = ctx.api.get("/admin/health/circuit-breakers")
        rows = [
            (t, b.get("state"), b.get("reason"), _when(b.get("openedAt")), b.get("version"))
            for t, b in result.get("breakers", {}).items()
        ]
        ctx.emit(
            result,
            lambda: (
                f"circuit breakers: {'enabled' if result.get('enabled') else 'DISABLED'}\n"
                + table(["provider", "state", "reason", "openedAt", "version"], rows)
            ),
        )
        return OK
    if args.action == "reset":
        result = ctx.api.post("/admin/circuit-breaker/reset", change(args, provider=args.provider or "all"))
        ctx.emit(result, lambda: table(["provider", "state"], result.get("breakers", {}).items()))
        return OK
    result = ctx.api.post(f"/admin/circuit-breaker/{args.action}", change(args))
    ctx.emit(result, with_version(f"circuit breakers {'enabled' if result.get('enabled') else 'disabled'}", result))
    return OK


# --- validate --------------------------------------------------------------------------------
def validate(ctx: Ctx, args: argparse.Namespace) -> int:
    """/health can serve, breakers closed on every target that takes traffic, the distribution sums
    to 100, the audit trail is intact (and /admin/config/validate-routing, where deployed)."""
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: str, warning: bool = False) -> None:
        checks.append({"check": name, "result": "pass" if ok else ("warn" if warning else "FAIL"), "detail": detail})

    system = health(ctx)
    state = system.get("status")
    check("health", state != "critical", f"/health is {state}", warning=False)
    if state == "degraded":
        bad = [c["name"] for c in system.get("components", []) if c.get("status") != "healthy"]
        checks[-1]["detail"] += f" ({', '.join(bad)})"
    weights = ctx.api.get("/admin/routing/traffic-distribution")
    total = sum(weights.get("weights", {}).values())
    check("traffic distribution", total == 100, f"{_dist(weights)} sums to {total}")
    result = ctx.api.get("/admin/health/circuit-breakers")
    carrying = {p for p, w in weights.get("weights", {}).items() if w > 0} | {"mcp"}
    states = {t: b.get("state") for t, b in result.get("breakers", {}).items()}
    blocking = sorted(t for t, s in states.items() if s != "closed" and t in carrying)
    idle = sorted(t for t, s in states.items() if s != "closed" and t not in carrying)
    detail = ", ".join(f"{t}={s}" for t, s in states.items())
    check(
        "circuit breakers",
        not blocking,
        detail + (f"; not closed and taking traffic: {', '.join(blocking)}" if blocking else ""),
    )
    if idle:
        check("idle breakers", False, f"not closed but taking no traffic: {', '.join(idle)}", warning=True)
    if not result.get("enabled", True):
        check("breakers enabled", False, "circuit breakers are disabled", warning=True)
    integrity = ctx.api.get("/admin/audit/trail-integrity")
    check("audit trail", integrity.get("status") == "valid", f"trail-integrity: {integrity.get('status')}")
    routing = ctx.api.optional("/admin/config/validate-routing")
    if routing is not None:
        valid = routing.get("valid", routing.get("status") in ("valid", "ok", "pass"))
        check("routing configuration", bool(valid), dumps(routing).replace("\n", " ")[:200])
    failed = [c for c in checks if c["result"] == "FAIL"]
    mode = "post-failover" if args.post_failover else ("canary-health" if args.canary_health else "standard")
    data = {"mode": mode, "valid": not failed, "checks": checks, "failed": [c["check"] for c in failed]}

    def human() -> str:
        verdict = "PASSED" if not failed else f"FAILED: {', '.join(c['check'] for c in failed)}"
        rows = ((c["check"], c["result"], c["detail"]) for c in checks)
        return f"validation ({mode}): {verdict}\n" + table(["check", "result", "detail"], rows)

    ctx.emit(data, human)
    return CHECK_FAILED if failed else OK


def _dist(weights: dict[str, Any]) -> str:
    return ",".join(f"{p}:{w}" for p, w in weights.get("weights", {}).items())


# --- monitor ---------------------------------------------------------------------------------
def monitor(ctx: Ctx, args: argparse.Namespace) -> int:
    """Polls /health/detailed (and /health/metrics where deployed) every --interval seconds for
    --duration minutes; redraws in place on a terminal, one frame (or JSON line) per sample otherwise."""
    deadline = time.monotonic() + args.duration * 60
    interval = args.interval
    metrics_route = True
    redraw = ctx.out.isatty() and not ctx.json
    samples = 0
    last_state = None
    while True:
        system = health(ctx)
        metrics = ctx.api.optional("/health/metrics", auth=False) if metrics_route else None
        metrics_route = metrics is not None
        values = {m: _metric(metrics, m) for m in args.metrics}
        last_state = system.get("status")
        samples += 1
        sample = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "status": last_state,
            "components": {c["name"]: c.get("status") for c in system.get("components", [])},
            "metrics": values,
            "metricsAvailable": metrics_route,
        }
        if ctx.json:
            print(dumps(sample).replace("\n", ""), file=ctx.out, flush=True)
        else:
            frame = _frame(sample, args, deadline)
            print(("\x1b[2J\x1b[H" if redraw else "") + frame + ("" if redraw else "\n"), file=ctx.out, flush=True)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(interval, remaining))
        if deadline - time.monotonic() <= 0:
            break
    if not ctx.json:
        print(f"monitoring done: {samples} sample(s), last status {last_state}", file=ctx.out, flush=True)
    return CHECK_FAILED if last_state == "critical" else OK


def _metric(metrics: Any, name: str) -> Any:
    """A metric by its runbook name (error_rate) or camelCase (errorRate), at the top or under data."""
    if not isinstance(metrics, dict):
        return None
    camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)
    for scope in (metrics, metrics.get("data") if isinstance(metrics.get("data"), dict) else {}):
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


# --- audit -----------------------------------------------------------------------------------
def audit(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.action == "verify":
        result = ctx.api.get("/admin/audit/trail-integrity")
        valid = result.get("status") == "valid"
        ctx.emit(result, lambda: "audit trail: " + ("VALID" if valid else "BROKEN") + "\n" + pairs(flatten(result)))
        return OK if valid else CHECK_FAILED
    response = ctx.api.request("GET", "/admin/audit/export", params={"format": args.format, "period": args.period})
    text = response.text
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        count = len(response.json().get("records", [])) if args.format == "json" else max(0, len(text.splitlines()) - 1)
        message = {"output": args.output, "format": args.format, "period": args.period, "records": count}
        ctx.emit(message, f"wrote {count} audit record(s) ({args.period}, {args.format}) to {args.output}")
    else:
        print(text.rstrip("\n"), file=ctx.out, flush=True)
    return OK


# --- report ----------------------------------------------------------------------------------
def report(ctx: Ctx, args: argparse.Namespace) -> int:
    from cli.hybridctl.report import build

    text = build(ctx, args)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        ctx.emit({"output": args.output, "type": args.type}, f"wrote the {args.type} report to {args.output}")
    else:
        print(text, file=ctx.out, flush=True)
    return OK
