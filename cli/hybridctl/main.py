"""`hybridctl`: argument parsing, the endpoint and token, and exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from cli.hybridctl import commands, dashboard, drill
from cli.hybridctl import rollouts as rollout_verbs
from cli.hybridctl.client import DEFAULT_ENDPOINT, OK, USAGE, Api, CliError, dumps

EPILOG = """\
endpoint and token:
  --endpoint or HYBRID_ENDPOINT (default http://127.0.0.1:8080, the local gateway of `make run`);
  --token or HYBRID_ADMIN_TOKEN or ADMIN_TOKEN (never printed). /health* needs no token.

output:
  human tables by default; --json prints one JSON document (monitor: one JSON line per sample).

exit codes:
  0  ok
  1  a check failed (validate found problems, status --health-only unhealthy, audit trail broken,
     monitor's last sample critical)
  2  usage error (bad arguments, or the API refused the request as invalid: 400/422)
  3  authentication error (401/403: no token, wrong token, read-only token)
  4  not found, or the route is not deployed on this endpoint yet (404)
  5  conflict (409): the --version given is stale; read the current one and retry
  6  server or connection error (5xx, 429, timeout, endpoint unreachable)

runbook commands (provider-failover.md, incident-response.md, production-operations.md):
  hybridctl status --provider bedrock --health-only
  hybridctl config set --traffic-distribution "bedrock:50,google:30,meta:20" --reason "bedrock degraded"
  hybridctl monitor --duration 2 --metrics error_rate,latency
  hybridctl route force-mcp --reason "Bedrock unavailable" --duration 3600
  hybridctl route bedrock-percentage 10
  hybridctl validate --post-failover
  hybridctl report --type incident --output failover-incident.md
  hybridctl failover --failed-provider bedrock --auto-select-target --emergency-mode
  hybridctl failover --from bedrock --to google --reason "Bedrock service unavailable"
  hybridctl canary --source-provider bedrock --target-provider google --traffic-percentage 5 --duration 300
  hybridctl failback --original-provider bedrock --current-provider google --auto-trigger --health-threshold 99%
  hybridctl rollback --provider bedrock --target-provider google --reason "provider maintenance"
  hybridctl rollouts status [NAME --wait] | rollouts abort --reason ... | rollouts approve [--reject]
  hybridctl dashboard create --name "AI Provider Failover" --metrics "provider_health,failover_events,recovery_time" \
      --alerts "failover_failure,extended_outage"   (names the stack's dashboard and its URL)
  hybridctl status --dashboard failover --refresh 10 [--count N]

rollouts (failover, canary, failback, rollback):
  --wait follows the rollout (step, weights, gate verdicts) to a summary; the default on a terminal,
  and everywhere for immediate failover and rollback. With --wait, exit 0 means it completed and 1
  that it rolled back, stopped or failed; --no-wait prints the execution name and exits 0.
  A start refused because another rollout holds the route exits 5 and names the holder.
"""


DRILL_SCENARIOS = "bedrock-outage, latency-spike, quota-exhaustion, mcp-outage, multi-provider-outage, budget-exhausted"


class Parser(argparse.ArgumentParser):
    """Usage errors end with exit 2 (argparse's), as everywhere."""


def _globals(suppress: bool) -> argparse.ArgumentParser:
    """--endpoint/--token/--json/--timeout, accepted before or after the subcommand."""
    default = argparse.SUPPRESS if suppress else None
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection and output")
    group.add_argument(
        "--endpoint", default=default, help=f"API base URL (HYBRID_ENDPOINT; default {DEFAULT_ENDPOINT})"
    )
    group.add_argument("--token", default=default, help="admin token (HYBRID_ADMIN_TOKEN or ADMIN_TOKEN)")
    group.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS if suppress else False, help="JSON output"
    )
    group.add_argument(
        "--timeout", type=float, default=argparse.SUPPRESS if suppress else 15.0, help="seconds per call"
    )
    return parent


def _mutation(suppress: bool = False) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("change")
    group.add_argument(
        "--reason", default=argparse.SUPPRESS if suppress else "", help="why (recorded in the audit trail)"
    )
    group.add_argument(
        "--version",
        type=_non_negative,
        default=argparse.SUPPRESS if suppress else None,
        help="the version this change is based on (409, exit 5, if stale)",
    )
    return parent


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
    return value


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "on", "yes", "1"):
        return True
    if lowered in ("false", "off", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"'{text}' is not true or false")


def build_parser() -> argparse.ArgumentParser:
    common, change = _globals(suppress=True), _mutation()
    parser = Parser(
        prog="hybridctl",
        description="Operator CLI of Hybrid Routing: status, routing controls, breakers, validation, reports.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_globals(suppress=False)],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, help_text: str, handler: Callable, parents: Sequence = (), into=sub
    ) -> argparse.ArgumentParser:
        p = into.add_parser(name, help=help_text, description=help_text, parents=[common, *parents])
        p.set_defaults(handler=handler)
        return p

    p = command("status", "system and provider status", dashboard.status)
    p.add_argument("--provider", help="one provider (bedrock, google, meta, mcp) or component (mcp-router)")
    p.add_argument("--provider-health", action="store_true", help="the provider table only")
    p.add_argument("--failover-status", action="store_true", help="routing mode, distribution, breakers, flags")
    p.add_argument("--health-only", action="store_true", help="HEALTHY/DEGRADED/UNHEALTHY; exit 1 when unhealthy")
    p.add_argument("--comprehensive", action="store_true", help="everything, metrics routes included")
    p.add_argument("--compact", action="store_true", help="one line")
    dashboard.add_status_arguments(p, _positive_float, _non_negative)  # --dashboard failover --refresh N

    p = command("flags", "feature flags", commands.flags)
    flag_sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    command("list", "list the flags and their version", commands.flags, into=flag_sub)
    s = command("set", "turn one flag on or off", commands.flags, [change], into=flag_sub)
    s.add_argument("flag", help="e.g. ENABLE_INTELLIGENT_ROUTING")
    s.add_argument("value", choices=("on", "off"))
    command("disable-all", "turn every flag off", commands.flags, [change], into=flag_sub)

    p = command("emergency", "emergency switches", commands.emergency, [_mutation(suppress=True)])
    p.add_argument("--mode", choices=("multi-provider-outage",), help="emergency mode to report on / activate")
    p.add_argument(
        "--enable-degraded-service",
        action="store_true",
        help="act: make sure circuit breakers are on (stale cache answers are then served when no route can)",
    )
    em_sub = p.add_subparsers(dest="action", required=False, metavar="ACTION")
    command(
        "disable-routing",
        "send every operation to MCP (disable hybrid routing)",
        commands.emergency,
        [change],
        into=em_sub,
    )
    s = command("isolate", "take a component out of rotation", commands.emergency, [change], into=em_sub)
    s.add_argument("component", help="direct-bedrock, direct-google, direct-meta, mcp-router")
    s.add_argument("--restore", action="store_true", help="put it back into rotation")

    p = command("route", "routing controls", commands.route)
    route_sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = command("force-mcp", "every operation onto MCP for a while", commands.route, [change], into=route_sub)
    s.add_argument("--duration", type=_non_negative, required=True, help="seconds (60 .. 604800)")
    s = command("override", "routing mode override", commands.route, [change], into=route_sub)
    s.add_argument("mode", choices=("hybrid", "mcp_only", "direct_only"))
    s.add_argument("--duration", type=_non_negative, help="seconds (60 .. 604800); none: until changed")
    s = command("bedrock-percentage", "Bedrock's share of Direct traffic", commands.route, [change], into=route_sub)
    s.add_argument("percentage", type=_non_negative, help="0 .. 100")

    p = command("config", "routing and cache configuration", commands.config)
    config_sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    command("get", "show the configuration", commands.config, into=config_sub)
    s = command("set", "change the configuration", commands.config, [change], into=config_sub)
    s.add_argument(
        "--traffic-distribution",
        type=commands.parse_distribution,
        metavar='"P:N,..."',
        help='Direct traffic weights, e.g. "bedrock:50,google:30,meta:20" (must sum to 100)',
    )
    s.add_argument("--transition-duration", type=_non_negative, metavar="SECONDS", help="accepted; see the output")
    s.add_argument(
        "--cache-mode",
        choices=("deterministic", "off", "emergency"),
        help="emergency: deterministic caching that also serves stale answers",
    )
    s.add_argument("--cache-ttl", type=_non_negative, metavar="SECONDS", help="fresh TTL of cached answers")
    s.add_argument("--stale-ttl", type=_non_negative, metavar="SECONDS", help="how long stale answers may be served")
    s.add_argument("--serve-stale", type=_bool, metavar="true|false")

    p = command("breakers", "circuit breakers", commands.breakers)
    br_sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    command("list", "state of every breaker", commands.breakers, into=br_sub)
    s = command("reset", "close breakers (all, or one provider)", commands.breakers, [change], into=br_sub)
    s.add_argument("provider", nargs="?", choices=("bedrock", "google", "meta", "mcp", "all"))
    command("enable", "turn circuit breaking on", commands.breakers, [change], into=br_sub)
    command("disable", "turn circuit breaking off", commands.breakers, [change], into=br_sub)

    p = command("validate", "check health, breakers, distribution, audit trail; exit 1 on failure", commands.validate)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--post-failover", action="store_true")
    mode.add_argument("--canary-health", action="store_true")

    p = command("monitor", "live view of health and metrics", commands.monitor)
    p.add_argument("--duration", type=_positive_float, required=True, help="minutes (e.g. 2, or 0.5)")
    p.add_argument(
        "--metrics", type=commands.parse_metrics, default=["error_rate", "latency"], help="e.g. error_rate,latency"
    )
    p.add_argument("--interval", type=_positive_float, default=10.0, help="seconds between samples (default 10)")

    p = command("report", "markdown report", commands.report)
    p.add_argument("--type", required=True, choices=("incident", "performance-impact", "failover-effectiveness"))
    p.add_argument("--output", help="FILE.md (default: stdout)")
    p.add_argument("--event", help="what happened (e.g. failover), shown in the report")
    p.add_argument("--period", help="label of the window (e.g. failover-window), shown in the report")

    p = command("drill", "failover drill on a local stack started for it (needs the repository)", drill.drill)
    p.add_argument("scenario", help=f"one of: {DRILL_SCENARIOS}")
    p.add_argument("--compression", type=_positive_float, default=30.0, help="time compression (default 30)")
    p.add_argument("--rate", type=_positive_float, default=28.0, help="requests per second (default 28)")
    p.add_argument("--out", default="drill-reports", help="report directory (default drill-reports)")

    p = command("audit", "the audit trail", commands.audit)
    audit_sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    command("verify", "check the hash chain; exit 1 if broken", commands.audit, into=audit_sub)
    s = command("export", "export records", commands.audit, into=audit_sub)
    s.add_argument("--format", choices=("json", "csv"), default="json")
    s.add_argument("--period", choices=("daily", "weekly"), default="daily")
    s.add_argument("--output", help="file (default: stdout)")

    dashboard.add_arguments(command)  # dashboard create
    rollout_verbs.add_arguments(command)  # failover, canary, failback, rollback, rollouts
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else USAGE
    endpoint = args.endpoint or os.environ.get("HYBRID_ENDPOINT") or DEFAULT_ENDPOINT
    token = args.token or os.environ.get("HYBRID_ADMIN_TOKEN") or os.environ.get("ADMIN_TOKEN")
    api = Api(endpoint, token, timeout=args.timeout)
    ctx = commands.Ctx(api=api, json=args.json)
    try:
        return args.handler(ctx, args)
    except CliError as exc:
        if exc.exit_code == USAGE and exc.status is None:
            parser.print_usage(sys.stderr)
        print(dumps(exc.as_dict()) if args.json else f"hybridctl: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    finally:
        api.close()
    return OK


if __name__ == "__main__":
    sys.exit(main())
