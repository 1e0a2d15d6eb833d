"""Change the feature flags with their audit record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from functions.adapters.dynamodb.config import ConfigStore, Versioned
from functions.adapters.dynamodb.schema import FEATURE_FLAGS_KEY
from functions.app.admin.documents import Edit, change_document
from functions.domain.config.flags import stored_flags


def current_flags(store: ConfigStore) -> tuple[dict[str, bool], int]:
    stored = store.get(FEATURE_FLAGS_KEY)
    return stored_flags(stored.value), stored.version


def change_flags(
    store: ConfigStore, edit: Edit, action: str, change: Callable[[dict[str, bool]], dict[str, bool]]
) -> dict[str, Any]:
    """The flags as `change` makes them from the current ones, written; the answer is the flags and version."""
    flags: dict[str, bool] = {}

    def update(current: Versioned) -> dict[str, Any]:
        flags.update(change(stored_flags(current.value)))
        return {"flags": flags}

    saved = change_document(
        store, FEATURE_FLAGS_KEY, edit, action, update, before=lambda c: {"flags": stored_flags(c.value)}
    )
    return {**flags, "version": saved.version}
