"""`hybridctl config get|set`: the routing and cache configuration."""

from __future__ import annotations

import argparse
from typing import Any

from cli.hybridctl.arguments import Verbs, boolean, non_negative, parse_distribution
from cli.hybridctl.client import NOT_FOUND, OK, USAGE, CliError, not_available
from cli.hybridctl.context import Ctx, change
from cli.hybridctl.output import flatten, pairs, table
from cli.hybridctl.views import routing_text, weights_text

CACHE_SETTINGS = "/admin/config/cache-settings"
DEGRADED_SERVICE_ISSUE = 17


def register(verbs: Verbs) -> None:
    p = verbs.add("config", "routing and cache configuration", config)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    verbs.add_to(actions, "get", "show the configuration", config)
    s = verbs.add_to(actions, "set", "change the configuration", config, [verbs.change])
    s.add_argument(
        "--traffic-distribution",
        type=parse_distribution,
        metavar='"P:N,..."',
        help='Direct traffic weights, e.g. "bedrock:50,google:30,meta:20" (must sum to 100)',
    )
    s.add_argument("--transition-duration", type=non_negative, metavar="SECONDS", help="accepted; see the output")
    s.add_argument(
        "--cache-mode",
        choices=("deterministic", "off", "emergency"),
        help="emergency: deterministic caching that also serves stale answers",
    )
    s.add_argument("--cache-ttl", type=non_negative, metavar="SECONDS", help="fresh TTL of cached answers")
    s.add_argument("--stale-ttl", type=non_negative, metavar="SECONDS", help="how long stale answers may be served")
    s.add_argument("--serve-stale", type=boolean, metavar="true|false")
    queue = s.add_argument_group("request queuing (not available yet: issue 17)")
    queue.add_argument("--request-queuing", choices=("enabled", "disabled"))
    queue.add_argument("--queue-size", type=non_negative, metavar="N")
    queue.add_argument("--queue-timeout", type=non_negative, metavar="SECONDS")


def config(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.action == "get":
        return _config_get(ctx)
    queuing = {"--request-queuing": args.request_queuing, "--queue-size": args.queue_size}
    queuing["--queue-timeout"] = args.queue_timeout
    if any(v is not None for v in queuing.values()):
        given = " ".join(f"{k} {v}" for k, v in queuing.items() if v is not None)
        raise not_available(f"request queuing ({given})", DEGRADED_SERVICE_ISSUE)
    cache_fields = {k: v for k, v in cache_changes(args).items() if v is not None}
    _check_set(args, wants_cache=bool(cache_fields))
    data: dict[str, Any] = {}
    lines: list[str] = []
    if cache_fields and ctx.api.optional(CACHE_SETTINGS) is None:  # checked first, so a missing route changes nothing
        raise CliError(NOT_FOUND, f"cache settings: {CACHE_SETTINGS} is not available on {ctx.api.endpoint} yet")
    if args.traffic_distribution is not None:
        _set_distribution(ctx, args, data, lines)
    if cache_fields:
        result = ctx.api.put(CACHE_SETTINGS, change(args, **cache_fields))
        data["cacheSettings"] = result
        lines.append("cache settings:\n" + pairs(flatten(result)))
    ctx.emit(data, "\n".join(lines))
    return OK


def _check_set(args: argparse.Namespace, wants_cache: bool) -> None:
    if args.traffic_distribution is None and not wants_cache:
        raise CliError(USAGE, "config set needs --traffic-distribution and/or --cache-mode/--cache-ttl/--serve-stale")
    if args.traffic_distribution is not None and wants_cache and args.version is not None:
        raise CliError(USAGE, "--version names the version of one setting: change one setting at a time with it")
    if args.transition_duration is not None and args.traffic_distribution is None:
        raise CliError(USAGE, "--transition-duration goes with --traffic-distribution")


def _set_distribution(ctx: Ctx, args: argparse.Namespace, data: dict[str, Any], lines: list[str]) -> None:
    result = ctx.api.put("/admin/routing/traffic-distribution", change(args, weights=args.traffic_distribution))
    data["trafficDistribution"] = result
    lines.append("traffic distribution: " + weights_text(result["weights"]))
    lines.append(f"version: {result['version']}")
    if args.transition_duration is not None:
        note = (
            f"this distribution took effect at once; for a gated transition over {args.transition_duration} s "
            "run `hybridctl failover --mode gradual` (workflows of issue #5)"
        )
        data["transition"] = {"requestedSeconds": args.transition_duration, "note": note}
        lines.append(note)


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
    cache = ctx.api.optional(CACHE_SETTINGS)
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
            routing_text(override, weights, breakers.get("enabled")),
            f"feature flags (version {flag_values.get('version')}):\n"
            + table(["flag", "enabled"], ((k, v) for k, v in flag_values.items() if k != "version")),
            "cache settings: not available on this deployment"
            if cache is None
            else "cache settings:\n" + pairs(flatten(cache)),
        ]
        return "\n\n".join(out)

    ctx.emit(data, human)
    return OK
