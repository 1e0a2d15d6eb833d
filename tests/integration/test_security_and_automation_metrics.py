"""The security and failover dashboards' counts on the local stack: admin authorizations through the
gateway's authorizer emulation, one audited-change count per audit record written (by action category),
and one automation-decision count per decision. Each is one EMF line in {<dimension>, service}."""

from __future__ import annotations

import json
import os

import pytest

from functions.adapters.dynamodb.audit import audit_log_from
from functions.adapters.dynamodb.config import ConfigStore
from functions.app.automation.settings import AutomationSettings
from functions.app.automation.wiring import build_dependencies
from functions.domain.audit import AuditEntry
from functions.domain.errors import VersionConflict
from functions.handlers import automation
from functions.shared.observability import (
    AUDIT_DIMENSION,
    AUDIT_METRIC,
    AUTHORIZATION_DIMENSION,
    AUTHORIZATION_METRIC,
    AUTOMATION_DIMENSION,
    AUTOMATION_METRIC,
    SERVICE,
)

MACHINES = {
    kind: f"arn:aws:states:us-east-1:123456789012:stateMachine:unused-{kind}"
    for kind in ("canary", "failback", "gradual_failover", "immediate_failover")
}


def _counts(out: str, metric: str, dimension: str) -> list[str]:
    """The `dimension` value of each EMF count of `metric` printed, after checking its dimension set."""
    values = []
    for line in out.splitlines():
        if not line.startswith("{") or f'"{metric}"' not in line:
            continue
        document = json.loads(line)
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        if metric not in {m["Name"] for m in directive["Metrics"]}:
            continue
        assert directive["Dimensions"] == [[dimension, "service"]] and document["service"] == SERVICE
        assert document[metric] == [1.0]
        values.append(document[dimension])
    return values


def test_admin_calls_are_counted_by_the_authorizers_verdict_and_the_read_only_refusal(http, admin, capfd) -> None:
    capfd.readouterr()
    viewer = {"Authorization": f"Bearer {os.environ['ADMIN_READONLY_TOKEN']}"}
    # When an operator reads, a viewer tries a change, and an unknown token and a non-bearer header call
    assert http.get("/admin/feature-flags/bedrock", headers=admin).status_code == 200
    assert http.post("/admin/routing/bedrock-percentage", json={"percentage": 10}, headers=viewer).status_code == 403
    assert http.get("/admin/feature-flags/bedrock", headers={"Authorization": "Bearer nope"}).status_code == 403
    assert http.get("/admin/feature-flags/bedrock", headers={"Authorization": "Basic nope"}).status_code == 401
    # Then each verdict is counted once, and the viewer's refused change once more by the admin function
    out = capfd.readouterr().out
    assert _counts(out, AUTHORIZATION_METRIC, AUTHORIZATION_DIMENSION) == [
        "allowed",
        "allowed",
        "readonly-refused",
        "forbidden",
        "unauthorized",
    ]
    assert os.environ["ADMIN_READONLY_TOKEN"] not in out and os.environ["ADMIN_TOKEN"] not in out


def test_each_audit_record_written_is_counted_by_its_action_category(tables, capfd) -> None:
    config = ConfigStore(tables["FLAGS_TABLE"], audit_log_from(tables))
    capfd.readouterr()
    # When a change is written, and then a stale write of the same item is refused
    config.put("routing-override", {"mode": "mcp_only"}, 0, AuditEntry("ops", "routing.override", "routing"))
    with pytest.raises(VersionConflict):
        config.put("routing-override", {"mode": "hybrid"}, 0, AuditEntry("ops", "routing.override", "routing"))
    config.record(AuditEntry("ops", "breaker.reset", "bedrock"))
    # Then one count per record written, by category; the refused write wrote no record and counts nothing
    assert _counts(capfd.readouterr().out, AUDIT_METRIC, AUDIT_DIMENSION) == ["routing", "breaker"]


def test_each_automation_decision_is_counted_by_its_outcome(tables, capfd) -> None:
    settings = AutomationSettings.model_validate({**tables, "STATE_MACHINE_ARNS": json.dumps(MACHINES)})
    deps = build_dependencies(settings)
    capfd.readouterr()
    # When automation receives an event it does not act on, and a failback check with nothing failed over
    answer = automation.handle({"detail-type": "Something Else", "detail": {}}, deps)
    automation.handle({"detail-type": "Scheduled Event", "detail": {}}, deps)
    # Then one "ignored" decision is counted (audited as such); the empty check decides nothing
    out = capfd.readouterr().out
    assert answer["outcome"] == "ignored"
    assert _counts(out, AUTOMATION_METRIC, AUTOMATION_DIMENSION) == ["ignored"]
    assert _counts(out, AUDIT_METRIC, AUDIT_DIMENSION) == ["automation"]
