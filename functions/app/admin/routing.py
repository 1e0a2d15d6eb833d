"""Change the routing controls with their audit record: the override (force-MCP), the Direct weights,
Bedrock's share, and isolated components."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from functions.adapters.dynamodb.config import ConfigStore, Versioned
from functions.adapters.dynamodb.schema import ISOLATION_KEY, ROUTING_OVERRIDE_KEY, TRAFFIC_WEIGHTS_KEY
from functions.app.admin.documents import Edit, change_document
from functions.app.admin.wiring import AdminDependencies
from functions.domain.config.override import override_active, override_document
from functions.domain.config.traffic import (
    bedrock_share,
    check_weights,
    component_target,
    isolated_after,
    stored_weights,
)
from functions.domain.errors import VersionConflict


def set_override(deps: AdminDependencies, edit: Edit, mode: str, duration_s: int | None, action: str) -> dict[str, Any]:
    value = override_document(mode, edit.reason or action, duration_s, deps.clock())
    saved = change_document(deps.config, ROUTING_OVERRIDE_KEY, edit, action, lambda _: value)
    return {"routing_mode": mode, "expires_at": value["expires_at"], "version": saved.version}


def override_view(deps: AdminDependencies) -> dict[str, Any]:
    current = deps.config.get(ROUTING_OVERRIDE_KEY)
    return {**current.value, "active": override_active(current.value, deps.clock()), "version": current.version}


def weights_view(deps: AdminDependencies) -> dict[str, Any]:
    stored = deps.config.get(TRAFFIC_WEIGHTS_KEY)
    return {
        "weights": stored_weights(stored.value),
        "version": stored.version,
        "providers": list(deps.settings.direct()),
    }


def set_weights(
    store: ConfigStore,
    configured: tuple[str, ...],
    edit: Edit,
    weights: dict[str, int] | Callable[[dict[str, int]], dict[str, int]],
    action: str,
) -> dict[str, Any]:
    """Weights set by hand (or made from the current ones by `weights`), refused while a rollout holds them."""
    written: dict[str, int] = {}

    def update(current: Versioned) -> dict[str, Any]:
        if current.value.get("lock_owner"):
            raise VersionConflict(
                f"a {current.value.get('lock_kind', 'rollout')} holds the traffic weights "
                f"({current.value['lock_owner']}); abort it before setting weights by hand"
            )
        new = weights(stored_weights(current.value)) if callable(weights) else weights
        check_weights(new, configured)
        written.clear()
        written.update(new)
        return {"weights": new}

    if not callable(weights):
        check_weights(weights, configured)  # refused before anything is read
    saved = change_document(store, TRAFFIC_WEIGHTS_KEY, edit, action, update, before=lambda c: stored_weights(c.value))
    return {"weights": written, "version": saved.version}


def set_bedrock_percentage(deps: AdminDependencies, edit: Edit, percentage: int, action: str) -> dict[str, Any]:
    """Bedrock's share, the rest split over the weights as read by the same compare-and-set."""
    configured = deps.settings.direct()
    return set_weights(
        deps.config, configured, edit, lambda current: bedrock_share(percentage, configured, current), action
    )


def isolate(store: ConfigStore, edit: Edit, component: str, action: Literal["isolate", "restore"]) -> dict[str, Any]:
    target = component_target(component)
    isolated: list[str] = []

    def update(current: Versioned) -> dict[str, Any]:
        isolated.extend(isolated_after(current.value.get("targets") or [], target, action))
        return {"targets": isolated}

    saved = change_document(store, ISOLATION_KEY, edit, f"emergency.{action}-component", update, target=component)
    return {"component": component, "action": action, "isolated": isolated, "version": saved.version}
