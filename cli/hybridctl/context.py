"""What a verb works with: the API, the output (a table, or one JSON document with --json), a change's body."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from cli.hybridctl.client import Api, dumps


@dataclass
class Ctx:
    api: Api
    json: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)

    def emit(self, data: Any, human: str | Callable[[], str]) -> None:
        text = dumps(data) if self.json else (human() if callable(human) else human)
        print(text, file=self.out, flush=True)


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


def when(epoch: Any) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds") if epoch else "-"
