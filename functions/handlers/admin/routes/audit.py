"""The audit trail: chain integrity and exports (production-operations.md, "Compliance")."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from functions.domain.audit import verify
from functions.domain.errors import InvalidRequest
from functions.handlers.admin.routes.common import deps

router = Router()
PERIODS = {"daily": 86_400, "weekly": 7 * 86_400, "monthly": 31 * 86_400}
FIELDS = ("seq", "at", "actor", "role", "action", "target", "reason", "before", "after", "prev_hash", "hash")


@router.get("/admin/audit/trail-integrity")
def trail_integrity() -> dict[str, Any]:
    report = verify(deps().audit.records())
    return {"status": "valid" if report.valid else "broken", **report.as_dict()}


@router.get("/admin/audit/export")
def export() -> Response[str]:
    params = router.current_event.query_string_parameters or {}
    fmt, period = params.get("format", "json"), params.get("period", "daily")
    if fmt not in ("json", "csv"):
        raise InvalidRequest(f"format must be json or csv (got '{fmt}')")
    if period not in PERIODS:
        raise InvalidRequest(f"period must be one of {', '.join(PERIODS)} (got '{period}')")
    since = time.time() - PERIODS[period]
    records = [r.as_dict() for r in deps().audit.records(since=since)]
    if fmt == "json":
        return Response(200, "application/json", json.dumps({"period": period, "records": records}, default=str))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS)
    writer.writeheader()
    for record in records:
        writer.writerow({k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in record.items()})
    return Response(
        200, "text/csv", out.getvalue(), headers={"content-disposition": f"attachment; filename=audit-{period}.csv"}
    )
