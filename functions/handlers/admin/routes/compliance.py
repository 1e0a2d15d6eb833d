"""GDPR status and EU data residency (production-operations.md, "Compliance Validation")."""

from __future__ import annotations

from typing import Any

from functions.app.admin import compliance
from functions.handlers.admin.routes.common import Deps, admin_router

router = admin_router()


@router.get("/gdpr-status")
def gdpr_status(deps: Deps) -> dict[str, Any]:
    return compliance.gdpr_status(deps)


@router.get("/data-residency")
def data_residency(deps: Deps) -> dict[str, Any]:
    return compliance.data_residency(deps)
