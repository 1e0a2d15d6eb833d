"""The audit trail: chain integrity and exports (production-operations.md, "Compliance")."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from aws_lambda_powertools.event_handler import Response

from functions.app.admin.audit import exported_records, trail_integrity
from functions.handlers.admin.routes.common import Deps, admin_router

router = admin_router()
FIELDS = (
    "seq",
    "at",
    "actor",
    "role",
    "action",
    "target",
    "reason",
    "before",
    "after",
    "prev_hash",
    "hash",
    "prev_mac",
    "mac",
)


@router.get("/trail-integrity")
def get_trail_integrity(deps: Deps) -> dict[str, Any]:
    return trail_integrity(deps)


@router.get("/export")
def export(deps: Deps) -> Response[str]:
    params = router.current_event.query_string_parameters or {}
    fmt, period = params.get("format", "json"), params.get("period", "daily")
    records = exported_records(deps, fmt, period)
    if fmt == "json":
        return Response(200, "application/json", json.dumps({"period": period, "records": records}, default=str))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS)
    writer.writeheader()
    for record in records:
        writer.writerow({k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in record.items()})
    headers = {"content-disposition": f"attachment; filename=audit-{period}.csv"}
    return Response(200, "text/csv", out.getvalue(), headers=headers)
