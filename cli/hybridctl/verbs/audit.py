"""`hybridctl audit verify|export`: the audit trail."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.hybridctl.arguments import Verbs
from cli.hybridctl.client import CHECK_FAILED, OK
from cli.hybridctl.context import Ctx
from cli.hybridctl.output import flatten, pairs


def register(verbs: Verbs) -> None:
    p = verbs.add("audit", "the audit trail", audit)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    verbs.add_to(
        actions, "verify", "check the MAC chain and its anchors; exit 1 if a record was altered or the tail cut", audit
    )
    s = verbs.add_to(actions, "export", "export records", audit)
    s.add_argument("--format", choices=("json", "csv"), default="json")
    s.add_argument("--period", choices=("daily", "weekly"), default="daily")
    s.add_argument("--output", help="file (default: stdout)")


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
