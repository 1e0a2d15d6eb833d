"""`hybridctl failover`: Direct traffic off a failed provider, at once or gradually (provider-failover.md)."""

from __future__ import annotations

import argparse

from cli.hybridctl import rollouts as rollout
from cli.hybridctl.arguments import Verbs
from cli.hybridctl.client import USAGE, CliError
from cli.hybridctl.context import Ctx


def register(verbs: Verbs) -> None:
    p = verbs.add("failover", "move Direct traffic off a failed provider (immediate or gradual)", failover)
    p.add_argument("--failed-provider", "--from", dest="failed_provider", required=True, metavar="PROVIDER")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--target-provider", "--to", dest="target_provider", metavar="PROVIDER")
    target.add_argument("--auto-select-target", action="store_true", help="the healthiest other Direct provider")
    p.add_argument(
        "--mode",
        choices=("immediate", "gradual"),
        help="default immediate (gradual: the failed provider 50, 25, 0 percent)",
    )
    p.add_argument("--emergency-mode", action="store_true", help="immediate, pre-empting a running canary/failback")
    rollout.rollout_options(p)


def failover(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.emergency_mode and args.mode == "gradual":
        raise CliError(USAGE, "--emergency-mode is an immediate failover; drop --mode gradual")
    kind = "gradual_failover" if args.mode == "gradual" else "immediate_failover"
    body = {"kind": kind, "failedProvider": args.failed_provider}
    body |= {"autoSelectTarget": True} if args.auto_select_target else {"targetProvider": args.target_provider}
    return rollout.start(ctx, args, body, wait_default=kind == "immediate_failover")
