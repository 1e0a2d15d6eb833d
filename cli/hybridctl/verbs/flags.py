"""`hybridctl flags list|set|disable-all`: the feature flags."""

from __future__ import annotations

import argparse

from cli.hybridctl.arguments import Verbs
from cli.hybridctl.client import OK
from cli.hybridctl.context import Ctx, change, with_version
from cli.hybridctl.output import table


def register(verbs: Verbs) -> None:
    p = verbs.add("flags", "feature flags", flags)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    verbs.add_to(actions, "list", "list the flags and their version", flags)
    s = verbs.add_to(actions, "set", "turn one flag on or off", flags, [verbs.change])
    s.add_argument("flag", help="e.g. ENABLE_INTELLIGENT_ROUTING")
    s.add_argument("value", choices=("on", "off"))
    verbs.add_to(actions, "disable-all", "turn every flag off", flags, [verbs.change])


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
