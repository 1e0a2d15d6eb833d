"""Change the versioned configuration documents with their audit record, and check the routing
configuration as stored."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from functions.adapters.dynamodb.schema import (
    CACHE_SETTINGS_KEY,
    FEATURE_FLAGS_KEY,
    ISOLATION_KEY,
    REQUEST_TIMEOUT_KEY,
    ROUTING_OVERRIDE_KEY,
    ROUTING_RULES_KEY,
    TRAFFIC_WEIGHTS_KEY,
)
from functions.app.admin.documents import Edit, change_document
from functions.app.admin.wiring import AdminDependencies
from functions.domain.config.consistency import RoutingConfig, routing_problems
from functions.domain.config.problems import Document
from functions.domain.config.rules import effective_rules, rule_problems
from functions.domain.errors import InvalidRequest

# What every router instance applies within one snapshot refresh (5 s). SLO and routing thresholds
# are read by the alarms and the workflows' health gates, not by the router.
ROUTER_READS = frozenset({ROUTING_RULES_KEY, REQUEST_TIMEOUT_KEY, CACHE_SETTINGS_KEY})

# The item of each document the consistency check reads, in the order it reports them.
DOCUMENT_KEYS = MappingProxyType(
    {
        Document.ROUTING_RULES: ROUTING_RULES_KEY,
        Document.TRAFFIC_WEIGHTS: TRAFFIC_WEIGHTS_KEY,
        Document.FEATURE_FLAGS: FEATURE_FLAGS_KEY,
        Document.ROUTING_OVERRIDE: ROUTING_OVERRIDE_KEY,
        Document.ISOLATION: ISOLATION_KEY,
    }
)


def put_document(deps: AdminDependencies, edit: Edit, key: str, value: dict[str, Any], action: str) -> dict[str, Any]:
    """`value` as the whole document at `key`; the answer says whether the router reads it."""
    saved = change_document(deps.config, key, edit, action, lambda _: value)
    return {**value, "version": saved.version, "appliedByRouter": key in ROUTER_READS}


def rules_view(deps: AdminDependencies) -> dict[str, Any]:
    stored = deps.config.get(ROUTING_RULES_KEY)
    overrides = stored.value.get("rules") or {}
    return {
        "rules": effective_rules(overrides),
        "overrides": overrides,
        "version": stored.version,
        "appliedByRouter": True,
    }


def put_rules(deps: AdminDependencies, edit: Edit, rules: dict[str, Any]) -> dict[str, Any]:
    problems = rule_problems(rules)
    if problems:
        raise InvalidRequest("; ".join(problems))
    saved = put_document(deps, edit, ROUTING_RULES_KEY, {"rules": rules}, "config.routing-rules")
    return {**saved, "effective": effective_rules(rules)}


def check_routing(deps: AdminDependencies) -> dict[str, Any]:
    stored = {document: deps.config.get(key).value for document, key in DOCUMENT_KEYS.items()}
    config = RoutingConfig(
        direct=deps.settings.direct(),
        rules=stored[Document.ROUTING_RULES],
        weights=stored[Document.TRAFFIC_WEIGHTS],
        flags=stored[Document.FEATURE_FLAGS],
        override=stored[Document.ROUTING_OVERRIDE],
        isolation=stored[Document.ISOLATION],
    )
    problems = routing_problems(config, deps.clock())
    return {
        "valid": not any(p.severity == "error" for p in problems),
        "problems": [
            {"severity": p.severity.value, "item": DOCUMENT_KEYS[p.document], "message": p.message} for p in problems
        ],
        "checked": list(DOCUMENT_KEYS.values()),
    }
