"""GDPR status and EU data residency (production-operations.md, "Compliance Validation")."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.dynamodb.client import dynamodb_client
from functions.adapters.providers.settings import get_provider_settings
from functions.domain.errors import DependencyUnavailable
from functions.handlers.admin.routes.common import deps

router = Router()

# A fact of the code, not a setting: nothing in the data plane can switch prompt logging on.
PROMPT_LOGGING_POINTER = (
    "functions/app/chat/serve.py: record() logs and meters operation, route, provider, fallback, reason, "
    "latency, cache and error code only; prompts and completions are never logged, and cache keys are "
    "SHA-256 digests (functions/domain/routing/cache.py)"
)


def _encryption(table: str) -> dict[str, Any]:
    try:
        description = dynamodb_client().describe_table(TableName=table)["Table"]
    except (ClientError, BotoCoreError) as exc:
        raise DependencyUnavailable("the tables' encryption settings cannot be read right now") from exc
    sse = description.get("SSEDescription") or {}
    # DynamoDB encrypts every table at rest; without an SSEDescription the key is AWS owned.
    key = "AWS_OWNED" if not sse else ("AWS_MANAGED_OR_CMK" if sse.get("SSEType") == "KMS" else sse.get("SSEType"))
    return {"encrypted": sse.get("Status", "ENABLED") in ("ENABLED", "UPDATING"), "keyType": key}


@router.get("/admin/compliance/gdpr-status")
def gdpr_status() -> dict[str, Any]:
    settings = deps().settings
    tables = {"flags": settings.flags_table, "health": settings.health_table, "audit": settings.audit_table}
    if settings.cache_table:
        tables["cache"] = settings.cache_table
    encryption = {role: _encryption(name) for role, name in tables.items()}
    retention = settings.log_retention_days
    checks = {
        "promptLogging": {"enabled": False, "compliant": True, "basis": "code", "pointer": PROMPT_LOGGING_POINTER},
        "encryptionAtRest": {"compliant": all(t["encrypted"] for t in encryption.values()), "tables": encryption},
        "logRetention": {
            "days": retention,
            "compliant": retention is not None and retention > 0,
            "note": None if retention else "LOG_RETENTION_DAYS is not set: logs may be kept forever",
        },
    }
    compliant = all(c["compliant"] for c in checks.values())
    return {"status": "compliant" if compliant else "non-compliant", "compliant": compliant, "checks": checks}


@router.get("/admin/compliance/data-residency")
def data_residency() -> dict[str, Any]:
    settings, providers = deps().settings, get_provider_settings()
    allowed = settings.allowed()
    declared: dict[str, tuple[str | None, str]] = {}
    bedrock = (providers.bedrock_region, "BEDROCK_REGION")
    for name in settings.direct():
        if name == "bedrock":
            declared[name] = bedrock
        elif name == "google":
            declared[name] = (settings.google_region, "GOOGLE_REGION")
        elif name == "meta":
            declared[name] = bedrock if providers.meta_mode == "bedrock" else (settings.meta_region, "META_REGION")
    if providers.mcp_server_url:
        declared["mcp"] = (
            (settings.mcp_region, "MCP_REGION") if settings.mcp_region else (settings.aws_region, "AWS_REGION")
        )
    listed = [
        {
            "provider": name,
            "region": region or "unknown",
            "declaredBy": source,
            "compliant": bool(region) and region.strip().lower() in allowed,
        }
        for name, (region, source) in declared.items()
    ]
    compliant = all(p["compliant"] for p in listed)
    return {"compliant": compliant, "allowedRegions": list(allowed), "providers": listed}
