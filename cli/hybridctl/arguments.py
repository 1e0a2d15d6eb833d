"""Argument types, the option groups every verb shares, and `Verbs`, through which each verb registers."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cli.hybridctl.client import DEFAULT_ENDPOINT

Handler = Callable[[Any, argparse.Namespace], int]


def connection(suppress: bool) -> argparse.ArgumentParser:
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


def mutation(suppress: bool = False) -> argparse.ArgumentParser:
    """--reason and --version of a change."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("change")
    group.add_argument(
        "--reason", default=argparse.SUPPRESS if suppress else "", help="why (recorded in the audit trail)"
    )
    group.add_argument(
        "--version",
        type=non_negative,
        default=argparse.SUPPRESS if suppress else None,
        help="the version this change is based on (409, exit 5, if stale)",
    )
    return parent


@dataclass(frozen=True)
class Verbs:
    """The subcommands of hybridctl; `add` gives each the connection options (and `parents`) and its handler."""

    subparsers: Any  # argparse's private _SubParsersAction
    common: argparse.ArgumentParser
    change: argparse.ArgumentParser

    def add(
        self, name: str, help_text: str, handler: Handler, parents: Sequence[argparse.ArgumentParser] = ()
    ) -> argparse.ArgumentParser:
        return self.add_to(self.subparsers, name, help_text, handler, parents)

    def add_to(
        self,
        into: Any,
        name: str,
        help_text: str,
        handler: Handler,
        parents: Sequence[argparse.ArgumentParser] = (),
    ) -> argparse.ArgumentParser:
        """A subcommand under `into` (the subparsers of a verb's actions, or the verbs themselves)."""
        parser: argparse.ArgumentParser = into.add_parser(
            name, help=help_text, description=help_text, parents=[self.common, *parents]
        )
        parser.set_defaults(handler=handler)
        return parser


def non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
    return value


def boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "on", "yes", "1"):
        return True
    if lowered in ("false", "off", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"'{text}' is not true or false")


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
