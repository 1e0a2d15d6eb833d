"""`hybridctl`: argument parsing, the endpoint and token, and exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from cli.hybridctl.arguments import Verbs, connection, mutation
from cli.hybridctl.client import DEFAULT_ENDPOINT, OK, USAGE, Api, CliError, dumps
from cli.hybridctl.context import Ctx
from cli.hybridctl.verbs import VERBS

EPILOG = """\
endpoint and token:
  --endpoint or HYBRID_ENDPOINT (default http://127.0.0.1:8080, the local gateway of `make run`);
  --token or HYBRID_ADMIN_TOKEN or ADMIN_TOKEN (never printed). /health* needs no token.

output:
  human tables by default; --json prints one JSON document (monitor: one JSON line per sample).

exit codes:
  0  ok
  1  a check failed (validate found problems, status --health-only unhealthy or --compact critical, audit
     trail broken, monitor's last sample failed its mode's check)
  2  usage error (bad arguments, or the API refused the request as invalid: 400/422)
  3  authentication error (401/403: no token, wrong token, read-only token)
  4  not found, or the route is not deployed on this endpoint yet (404)
  5  conflict (409): the --version given is stale; read the current one and retry
  6  server or connection error (5xx, 429, timeout, endpoint unreachable)
  7  not available yet: a runbook verb or flag a later issue gives its effect (offline and --test-suite:
     issue 16; --request-queuing and --enable-degraded-service: issue 17); parsed, nothing changed

timing (drills, the runbook replay):
  HYBRIDCTL_TIME_SCALE multiplies every duration the CLI waits out itself (monitor --duration and
  --interval, status --dashboard --refresh); HYBRIDCTL_REFRESH_COUNT stops a live view with no --count.
  Durations sent to the API (a rollout's --duration/--bake-seconds) are never scaled.

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


class Parser(argparse.ArgumentParser):
    """Usage errors end with exit 2 (argparse's), as everywhere."""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="hybridctl",
        description="Operator CLI of Hybrid Routing: status, routing controls, breakers, validation, reports.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[connection(suppress=False)],
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    verbs = Verbs(subparsers, common=connection(suppress=True), change=mutation())
    for verb in VERBS:
        verb.register(verbs)
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
    ctx = Ctx(api=api, json=args.json)
    try:
        code: int = args.handler(ctx, args)
        return code
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
