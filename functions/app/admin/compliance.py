"""GDPR status and EU data residency (production-operations.md, "Compliance Validation")."""

from __future__ import annotations

from typing import Any

from functions.adapters.dynamodb.tables import table_encryption
from functions.app.admin.wiring import AdminDependencies
from functions.domain.names import BEDROCK, GOOGLE, MCP, META

# A fact of the code, not a setting: nothing in the data plane can switch prompt logging on.
PROMPT_LOGGING_BASIS = (
    "the router logs and meters a request's operation, route, provider, fallback, reason, latency, cache "
    "outcome and error code only; prompts and completions are never logged, and cache keys are SHA-256 "
    "digests of the request"
)


def gdpr_status(deps: AdminDependencies) -> dict[str, Any]:
    settings = deps.settings
    tables = {"flags": settings.flags_table, "health": settings.health_table, "audit": settings.audit_table}
    if settings.cache_table:
        tables["cache"] = settings.cache_table
    encryption: dict[str, dict[str, Any]] = {}
    for role, name in tables.items():
        found = table_encryption(name)
        encryption[role] = {"encrypted": found.encrypted, "keyType": found.key_type}
    retention = settings.log_retention_days
    checks: dict[str, dict[str, Any]] = {
        "promptLogging": {"enabled": False, "compliant": True, "basis": "code", "description": PROMPT_LOGGING_BASIS},
        "encryptionAtRest": {"compliant": all(t["encrypted"] for t in encryption.values()), "tables": encryption},
        "logRetention": {
            "days": retention,
            "compliant": retention is not None and retention > 0,
            "note": None if retention else "LOG_RETENTION_DAYS is not set: logs may be kept forever",
        },
    }
    compliant = all(c["compliant"] for c in checks.values())
    return {"status": "compliant" if compliant else "non-compliant", "compliant": compliant, "checks": checks}


def _declared_regions(deps: AdminDependencies) -> dict[str, tuple[str | None, str]]:
    """Where each provider processes data, and the setting that declares it."""
    settings, providers = deps.settings, deps.providers
    bedrock = (providers.bedrock_region, "BEDROCK_REGION")
    declared: dict[str, tuple[str | None, str]] = {}
    for name in settings.direct():
        if name == BEDROCK:
            declared[name] = bedrock
        elif name == GOOGLE:
            declared[name] = (settings.google_region, "GOOGLE_REGION")
        elif name == META:
            declared[name] = bedrock if providers.meta_mode == "bedrock" else (settings.meta_region, "META_REGION")
    if providers.mcp_server_url:
        declared[MCP] = (
            (settings.mcp_region, "MCP_REGION") if settings.mcp_region else (settings.aws_region, "AWS_REGION")
        )
    return declared


def data_residency(deps: AdminDependencies) -> dict[str, Any]:
    allowed = deps.settings.allowed()
    listed = [
        {
            "provider": name,
            "region": region or "unknown",
            "declaredBy": source,
            "compliant": region is not None and region.strip().lower() in allowed,
        }
        for name, (region, source) in _declared_regions(deps).items()
    ]
    compliant = all(p["compliant"] for p in listed)
    return {"compliant": compliant, "allowedRegions": list(allowed), "providers": listed}
