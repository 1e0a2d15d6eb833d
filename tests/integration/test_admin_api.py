"""The admin API on the local stack: the runbooks' calls, auth, versioned writes and the audit trail."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from functions.adapters.dynamodb.client import dynamodb_client
from functions.adapters.dynamodb.schema import TRAFFIC_WEIGHTS_KEY
from functions.app.chat.wiring import get_dependencies
from functions.domain.thresholds import MAX_ADMIN_BODY_BYTES
from tests.polling import eventually

BODY = {"model": "m", "messages": [{"role": "user", "content": "disk usage on db-1?"}], "temperature": 0.4}


pytestmark = pytest.mark.usefixtures("clean_control_plane")


def chat(http, local_stack, operation):
    headers = {"Authorization": f"Bearer {local_stack.client_key}", "X-Operation-Type": operation}
    return http.post("/v1/chat/completions", json=BODY, headers=headers)


def audit_records(http, admin):
    return http.get("/admin/audit/export?format=json&period=daily", headers=admin).json()["records"]


# --- auth ------------------------------------------------------------------------------------
def test_admin_routes_need_a_token_401_and_refuse_a_wrong_one_403(http):
    assert http.get("/admin/feature-flags/bedrock").status_code == 401
    assert http.get("/admin/feature-flags/bedrock", headers={"Authorization": "Bearer nope"}).status_code == 403


def test_a_read_only_token_reads_but_cannot_change(http):
    import os

    viewer = {"Authorization": f"Bearer {os.environ['ADMIN_READONLY_TOKEN']}"}
    assert http.get("/admin/feature-flags/bedrock", headers=viewer).status_code == 200
    refused = http.post("/admin/feature-flags/bedrock/disable-all", headers=viewer)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("POST", "/admin/feature-flags/bedrock/update", {"flag": 7, "enabled": "maybe", "extra": True}),
        ("PUT", "/admin/routing/traffic-distribution", {"weights": "not a map"}),
        ("POST", "/admin/circuit-breaker/reset", {"target": ["x"] * 3}),
        ("POST", "/admin/feature-flags/bedrock/update", "x" * (MAX_ADMIN_BODY_BYTES + 1)),
    ],
)
def test_a_read_only_token_gets_403_before_any_validation_detail_of_its_change(http, method, path, payload):
    import os

    viewer = {"Authorization": f"Bearer {os.environ['ADMIN_READONLY_TOKEN']}"}
    content = payload if isinstance(payload, str) else json.dumps(payload)
    refused = http.request(method, path, content=content, headers=viewer)
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "forbidden" and "read-only" in error["message"] and "flag" not in error["message"]


def test_an_admin_body_over_the_limit_is_refused_413_before_it_is_parsed(http, admin):
    oversized = (
        '{"flag": "ENABLE_DIRECT_BEDROCK_FALLBACK", "enabled": false, "reason": "' + "x" * MAX_ADMIN_BODY_BYTES + '"}'
    )
    refused = http.post("/admin/feature-flags/bedrock/update", content=oversized, headers=admin)
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "payload_too_large"
    assert str(MAX_ADMIN_BODY_BYTES) in refused.json()["error"]["message"]
    at_limit = http.post(
        "/admin/feature-flags/bedrock/update", content='{"flag": 1}'.ljust(MAX_ADMIN_BODY_BYTES), headers=admin
    )
    assert at_limit.status_code == 400  # within the limit: parsed and validated


def test_health_answers_without_auth_and_names_no_internal_address(http):
    body = http.get("/health/detailed").text
    assert "127.0.0.1" not in body and "http://" not in body


# --- feature flags (production-operations.md) -------------------------------------------------
def test_the_five_runbook_flags_are_listed_and_on_by_default(http, admin):
    flags = http.get("/admin/feature-flags/bedrock", headers=admin).json()
    assert {k: v for k, v in flags.items() if k != "version"} == {
        "ENABLE_BEDROCK_SUPPORT_MODE": True,
        "ENABLE_INTELLIGENT_ROUTING": True,
        "ENABLE_DIRECT_BEDROCK_FALLBACK": True,
        "ENABLE_HYBRID_HEALTH_MONITORING": True,
        "ENABLE_PERFORMANCE_OPTIMIZATION": True,
    }


def test_a_flag_update_is_applied_versioned_and_audited(http, admin):
    before = len(audit_records(http, admin))
    response = http.post(
        "/admin/feature-flags/bedrock/update",
        json={"flag": "ENABLE_DIRECT_BEDROCK_FALLBACK", "enabled": False, "reason": "drill"},
        headers=admin,
    )
    assert response.status_code == 200
    assert response.json()["ENABLE_DIRECT_BEDROCK_FALLBACK"] is False and response.json()["version"] == 1
    records = audit_records(http, admin)
    assert len(records) == before + 1
    last = records[-1]
    assert (last["action"], last["actor"], last["reason"]) == ("feature-flag.update", "admin", "drill")
    assert last["before"]["flags"]["ENABLE_DIRECT_BEDROCK_FALLBACK"] is True
    assert last["after"]["flags"]["ENABLE_DIRECT_BEDROCK_FALLBACK"] is False


def test_an_unknown_flag_is_refused_with_the_list_of_valid_ones(http, admin):
    response = http.post(
        "/admin/feature-flags/bedrock/update", json={"flag": "ENABLE_MAGIC", "enabled": True}, headers=admin
    )
    assert response.status_code == 400
    assert "ENABLE_INTELLIGENT_ROUTING" in response.json()["error"]["message"]


def test_an_emergency_disable_stops_direct_routing_within_five_seconds(http, admin, local_stack):
    assert chat(http, local_stack, "emergency").headers["x-hybrid-route"] == "direct"
    assert http.post("/admin/emergency/disable-hybrid-routing", headers=admin).status_code == 200
    eventually(
        lambda: chat(http, local_stack, "emergency").headers["x-hybrid-route"],
        lambda route: route == "mcp",
        timeout=5.5,
        interval=0.2,
        what="direct routing off within 5 s",
    )


# --- routing ----------------------------------------------------------------------------------
def test_force_mcp_routes_everything_to_mcp_until_it_expires(http, admin, local_stack):
    response = http.post(
        "/admin/routing/force-mcp", json={"reason": "Bedrock unavailable", "duration": 3600}, headers=admin
    )
    assert response.status_code == 200 and response.json()["routing_mode"] == "mcp_only"
    assert response.json()["expires_at"] == pytest.approx(time.time() + 3600, abs=5)
    get_dependencies().snapshots.invalidate()
    assert chat(http, local_stack, "emergency").headers["x-hybrid-route"] == "mcp"


@pytest.mark.parametrize("duration", [0, 10, 10**9, "an hour"])
def test_force_mcp_refuses_unbounded_or_malformed_durations(http, admin, duration):
    response = http.post("/admin/routing/force-mcp", json={"reason": "x", "duration": duration}, headers=admin)
    assert response.status_code == 400
    assert "duration" in response.json()["error"]["message"]


def test_bedrock_percentage_moves_the_rest_of_direct_traffic_to_the_other_providers(http, admin):
    response = http.post("/admin/routing/bedrock-percentage", json={"percentage": 10}, headers=admin)
    assert response.status_code == 200
    weights = response.json()["weights"]
    assert weights["bedrock"] == 10 and sum(weights.values()) == 100
    assert http.post("/admin/routing/bedrock-percentage", json={"percentage": 150}, headers=admin).status_code == 400


@pytest.mark.parametrize(
    "weights",
    [{"bedrock": 50, "google": 30}, {"bedrock": 50, "google": 30, "acme": 20}, {"bedrock": 120, "google": -20}],
)
def test_traffic_distribution_must_sum_to_100_over_known_providers(http, admin, weights):
    response = http.put("/admin/routing/traffic-distribution", json={"weights": weights}, headers=admin)
    assert response.status_code == 400


def test_concurrent_updates_on_one_version_give_one_success_409s_and_one_audit_record(http, admin):
    first = http.put("/admin/routing/traffic-distribution", json={"weights": {"bedrock": 100}}, headers=admin).json()[
        "version"
    ]
    before = len(audit_records(http, admin))

    def update(i):
        weights = {"bedrock": 100 - i, "google": i}
        return http.put(
            "/admin/routing/traffic-distribution", json={"weights": weights, "version": first}, headers=admin
        ).status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(update, range(1, 21)))
    assert sorted(statuses) == [200] + [409] * 19
    assert len(audit_records(http, admin)) == before + 1


def test_isolating_direct_bedrock_sends_its_traffic_down_the_chain(http, admin, local_stack):
    response = http.post(
        "/admin/emergency/isolate-component", json={"component": "direct-bedrock", "action": "isolate"}, headers=admin
    )
    assert response.status_code == 200 and response.json()["isolated"] == ["bedrock"]
    get_dependencies().snapshots.invalidate()
    assert chat(http, local_stack, "infrastructure").headers["x-hybrid-provider"] == "google"
    assert (
        http.post(
            "/admin/emergency/isolate-component", json={"component": "flux", "action": "isolate"}, headers=admin
        ).status_code
        == 400
    )


def test_routing_override_mcp_only_is_honoured(http, admin, local_stack):
    response = http.post("/admin/config/routing-override", json={"routing_mode": "mcp_only"}, headers=admin)
    assert response.status_code == 200
    get_dependencies().snapshots.invalidate()
    assert chat(http, local_stack, "infrastructure").headers["x-hybrid-route"] == "mcp"


# --- breakers and status ----------------------------------------------------------------------
def test_circuit_breakers_are_listed_reset_and_enabled(http, admin):
    listed = http.get("/admin/health/circuit-breakers", headers=admin).json()
    assert listed["breakers"]["bedrock"]["state"] == "closed" and listed["enabled"] is True
    assert http.post("/admin/circuit-breaker/reset", headers=admin).json()["breakers"]["bedrock"] == "closed"
    assert http.post("/admin/circuit-breaker/enable", headers=admin).json()["enabled"] is True
    status = http.get("/admin/health/system-status", headers=admin).json()
    assert status["status"] == "healthy" and "bedrock" in status["providers"]


# --- audit ------------------------------------------------------------------------------------
def test_trail_integrity_names_an_altered_record(http, admin):
    http.post("/admin/feature-flags/bedrock/disable-all", json={"reason": "drill"}, headers=admin)
    assert http.get("/admin/audit/trail-integrity", headers=admin).json()["status"] == "valid"
    table = get_dependencies().settings.audit_table
    last = audit_records(http, admin)[-1]["seq"]
    key = {"stream": {"S": "admin"}, "seq": {"N": str(last)}}
    original = dynamodb_client().get_item(TableName=table, Key=key)["Item"]
    dynamodb_client().update_item(
        TableName=table, Key=key, UpdateExpression="SET actor = :a", ExpressionAttributeValues={":a": {"S": "mallory"}}
    )
    try:
        report = http.get("/admin/audit/trail-integrity", headers=admin).json()
        assert (report["status"], report["firstProblemSeq"]) == ("broken", last)
        assert "altered" in report["problem"]
    finally:
        dynamodb_client().put_item(TableName=table, Item=original)
    assert http.get("/admin/audit/trail-integrity", headers=admin).json()["status"] == "valid"


def test_audit_exports_as_json_and_csv_and_refuses_unknown_formats(http, admin):
    http.post("/admin/feature-flags/bedrock/disable-all", headers=admin)
    csv_export = http.get("/admin/audit/export?format=csv&period=weekly", headers=admin)
    assert csv_export.status_code == 200 and csv_export.headers["content-type"].startswith("text/csv")
    assert csv_export.text.splitlines()[0].startswith("seq,at,actor")
    assert http.get("/admin/audit/export?format=xml", headers=admin).status_code == 400


# --- configuration the router applies ----------------------------------------------------------
def _clear(*keys):
    table = get_dependencies().settings.flags_table
    for key in keys:
        dynamodb_client().delete_item(TableName=table, Key={"pk": {"S": key}})
    get_dependencies().snapshots.invalidate()


def test_routing_rules_change_an_operation_s_primary_route_on_the_router(http, admin, local_stack):
    rules = {"rules": {"standard": {"primary": "direct", "fallback": "mcp"}}}
    assert http.put("/admin/config/routing-rules", json=rules, headers=admin).status_code == 200
    try:
        get_dependencies().snapshots.invalidate()
        response = chat(http, local_stack, "standard")
        assert (response.headers["x-hybrid-route"], response.headers["x-hybrid-fallback"]) == ("direct", "false")
    finally:
        _clear("routing-rules")


def test_cache_mode_off_stops_caching_on_the_router(http, admin, local_stack):
    assert http.put("/admin/config/cache-settings", json={"mode": "off"}, headers=admin).status_code == 200
    try:
        get_dependencies().snapshots.invalidate()
        headers = {"Authorization": f"Bearer {local_stack.client_key}"}
        body = {"model": "m", "messages": [{"role": "user", "content": "cache me?"}], "temperature": 0}
        seen = [
            http.post("/v1/chat/completions", json=body, headers=headers).headers["x-hybrid-cache"] for _ in range(2)
        ]
        assert seen == ["miss", "miss"]
    finally:
        _clear("cache-settings")


def test_the_request_timeout_caps_each_provider_attempt(http, admin, local_stack):
    from local.faults import FaultSpec

    assert http.post("/admin/config/update", json={"timeout": 1000}, headers=admin).status_code == 200
    local_stack.faults.set(FaultSpec(provider="bedrock", error_rate=0.0, latency_ms=2000))
    try:
        get_dependencies().snapshots.invalidate()
        response = chat(http, local_stack, "emergency")
        # Uncapped, bedrock's 2 s answer fits its share (half of the 5 s emergency budget); the operator's 1 s cap
        # cuts it, and the next provider of the failover chain answers.
        assert response.status_code == 200
        assert response.headers["x-hybrid-attempts"].split(",") == ["bedrock:timeout", "google:ok"]
        assert response.headers["x-hybrid-provider"] == "google"
    finally:
        local_stack.faults.clear()
        _clear("request-timeout")


def test_weights_cannot_be_set_by_hand_while_a_rollout_holds_them(http, admin):
    from functions.adapters.dynamodb.client import to_item

    table = get_dependencies().settings.flags_table
    held = {
        "pk": TRAFFIC_WEIGHTS_KEY,
        "weights": {"bedrock": 90, "google": 10},
        "version": 3,
        "lock_owner": "arn:aws:states:local:0:execution:canary:run-1",
        "lock_kind": "canary",
    }
    dynamodb_client().put_item(TableName=table, Item=to_item(held))
    response = http.put("/admin/routing/traffic-distribution", json={"weights": {"bedrock": 100}}, headers=admin)
    assert response.status_code == 409
    assert "canary" in response.json()["error"]["message"]
