"""`hybridctl offline --model-id M --quick-validation`: the offline quality evaluation of provider-failover.md
("Quality validation after failover"). Parsed here; the quality gates (issue 16) give it its effect."""

from __future__ import annotations

import argparse

from cli.hybridctl.arguments import Verbs
from cli.hybridctl.client import not_available
from cli.hybridctl.context import Ctx

QUALITY_GATES_ISSUE = 16


def register(verbs: Verbs) -> None:
    p = verbs.add("offline", "offline quality evaluation of a model (not available yet: issue 16)", offline)
    p.add_argument("--model-id", required=True, metavar="MODEL")
    p.add_argument("--quick-validation", action="store_true")
    p.add_argument("--test-suite", metavar="SUITE")
    p.add_argument("--quality-threshold", metavar="SCORE")


def offline(ctx: Ctx, args: argparse.Namespace) -> int:
    raise not_available(f"the offline quality evaluation of {args.model_id}", QUALITY_GATES_ISSUE)
