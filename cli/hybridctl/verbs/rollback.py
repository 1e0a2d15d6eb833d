"""`hybridctl rollback --provider P`: an immediate failover away from a provider."""

from __future__ import annotations

import argparse
from typing import Any

from cli.hybridctl import rollouts as rollout
from cli.hybridctl.arguments import Verbs
from cli.hybridctl.context import Ctx


def register(verbs: Verbs) -> None:
    p = verbs.add("rollback", "immediate failover away from a provider", rollback)
    p.add_argument("--provider", required=True, metavar="PROVIDER")
    p.add_argument("--target-provider", metavar="PROVIDER", help="default: the healthiest other Direct provider")
    rollout.rollout_options(p)


def rollback(ctx: Ctx, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"kind": "immediate_failover", "failedProvider": args.provider}
    body |= {"targetProvider": args.target_provider} if args.target_provider else {"autoSelectTarget": True}
    return rollout.start(ctx, args, body, wait_default=True)
