"""The feature flags of the router (production-operations.md): every flag on unless stored otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from functions.domain.errors import InvalidRequest, quoted
from functions.domain.routing.decision import DEFAULT_FLAGS, FEATURE_FLAGS

INTELLIGENT_ROUTING = "ENABLE_INTELLIGENT_ROUTING"


def stored_flags(document: Mapping[str, Any]) -> dict[str, bool]:
    """The flags of a stored flags document over the defaults."""
    return {**DEFAULT_FLAGS, **(document.get("flags") or {})}


def check_flag(name: str) -> None:
    if name not in FEATURE_FLAGS:
        raise InvalidRequest(f"unknown flag {quoted(name)}; valid flags: {', '.join(FEATURE_FLAGS)}")


def all_off() -> dict[str, bool]:
    return dict.fromkeys(FEATURE_FLAGS, False)
