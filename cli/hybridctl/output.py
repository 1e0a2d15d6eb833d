"""Human output with the standard library only: aligned columns, key/value blocks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping | list | tuple):
        import json

        return json.dumps(value, default=str, separators=(",", ":"))
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns padded to their widest cell, a dashed rule under the header."""
    text_rows = [[cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in text_rows]
    return "\n".join(lines)


def pairs(items: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """`key: value` lines, keys aligned."""
    entries = list(items.items() if isinstance(items, Mapping) else items)
    if not entries:
        return ""
    width = max(len(k) for k, _ in entries)
    return "\n".join(f"{(k + ':').ljust(width + 1)} {cell(v)}" for k, v in entries)


def flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested metrics as dotted keys, for a table of whatever shape a route answers."""
    if isinstance(data, Mapping):
        out: list[tuple[str, Any]] = []
        for key, value in data.items():
            out += flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return out
    return [(prefix or "value", data)]
