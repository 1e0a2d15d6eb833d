"""The rest of the admin API on the local stack: metrics and recommendations (from the local EMF sink),
compliance, versioned config documents, the Bedrock probe, and the public /health/metrics and
/health/alerts."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from functions.adapters.aws import client as aws_client
from functions.adapters.dynamodb.client import dynamodb_client, to_item
from functions.adapters.dynamodb.schema import (
    ROUTING_RULES_KEY,
    TRAFFIC_WEIGHTS_KEY,
)
from functions.app.admin import wiring as admin_deps
from functions.app.chat.wiring import get_dependencies
from functions.domain.thresholds import ROUTING_EFFICIENCY_ALARM_PERCENT, ROUTING_EFFICIENCY_TARGET_PERCENT
from functions.handlers.admin.handler import app as admin_app
from local import metrics_sink
from local.faults import FaultSpec
from tests.support import put_alarm_in_state

BODY = {"model": "m", "messages": [{"role": "user", "content": "disk usage on db-1?"}], "temperature": 0.4}
METRICS_ROUTES = (
    "routing-distribution",
    "provider-latencies",
    "error-breakdown",
    "cache-performance",
    "routing-efficiency",
    "cost-breakdown",
)


@pytest.fixture
def viewer():
    import os

    return {"Authorization": f"Bearer {os.environ['ADMIN_READONLY_TOKEN']}"}


pytestmark = pytest.mark.usefixtures("clean_control_plane")


def tap_metrics():
    """The stdout tap over an empty store. pytest's output capture swaps sys.stdout between test
    phases, which removes the tap a fixture installs: each test arms it in its own body."""
    metrics_sink.install()
    metrics_sink.STORE.clear()
    return metrics_sink.STORE


@pytest.fixture
def admin_settings(monkeypatch):
    """Admin settings of the test's own, given through the admin app's dependency overrides."""

    def override(**fields):
        real = admin_deps.get_admin_dependencies()
        changed = replace(real, settings=real.settings.model_copy(update=fields))
        monkeypatch.setitem(admin_app.dependency_overrides, admin_deps.get_admin_dependencies, lambda: changed)

    return override


def chat(http, local_stack, operation):
    headers = {"Authorization": f"Bearer {local_stack.client_key}", "X-Operation-Type": operation}
    return http.post("/v1/chat/completions", json=BODY, headers=headers)


# --- metrics ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", METRICS_ROUTES)
def test_every_metrics_route_answers_with_its_window(http, admin, name):
    response = http.get(f"/admin/metrics/{name}?window=5m", headers=admin)
    assert response.status_code == 200
    assert response.json()["window"] == "5m" and response.json()["windowSeconds"] == 300


@pytest.mark.parametrize("window", ["soon", "5", "5y", "10s", "30d", "-5m"])
def test_a_malformed_or_out_of_bounds_window_is_refused_with_400(http, admin, window):
    response = http.get(f"/admin/metrics/routing-distribution?window={window}", headers=admin)
    assert response.status_code == 400
    assert "window" in response.json()["error"]["message"]


def test_metrics_routes_need_the_admin_token(http):
    assert http.get("/admin/metrics/routing-distribution").status_code == 401


def test_routing_distribution_counts_the_completions_sent_through_the_router(http, admin, local_stack):
    sink = tap_metrics()
    for operation in ("emergency", "emergency", "infrastructure", "standard"):
        assert chat(http, local_stack, operation).status_code == 200
    report = http.get("/admin/metrics/routing-distribution?window=5m", headers=admin).json()
    assert report["totalRequests"] == 4
    assert report["byOperation"]["emergency"] == {"requests": 2, "percent": 50.0}
    assert report["byRoute"]["direct"]["requests"] == 3 and report["byRoute"]["mcp"]["requests"] == 1
    assert len(sink) >= 4


def test_health_metrics_reports_routing_efficiency_without_auth_or_internal_addresses(http, local_stack):
    tap_metrics()
    for operation in ("emergency", "infrastructure", "standard"):
        chat(http, local_stack, operation)
    response = http.get("/health/metrics")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["requests"] == 3 and data["routingEfficiency"] == 100.0
    assert data["p95LatencyMs"] is not None
    assert "127.0.0.1" not in response.text and "http" not in response.text


def test_health_metrics_refuses_a_bad_window(http):
    assert http.get("/health/metrics?window=forever").status_code == 400


def test_provider_latencies_and_cost_breakdown_name_the_providers_that_served(http, admin, local_stack):
    tap_metrics()
    chat(http, local_stack, "emergency")
    chat(http, local_stack, "standard")
    latencies = http.get("/admin/metrics/provider-latencies", headers=admin).json()
    assert {"bedrock", "mcp"} <= set(latencies["providers"])
    assert latencies["providers"]["bedrock"]["p95Ms"] is not None
    cost = http.get("/admin/metrics/cost-breakdown", headers=admin).json()
    assert cost["byProvider"]["bedrock"]["requests"] == 1
    assert cost["budget"]["warnPercent"] == 80.0


def test_errors_are_broken_down_by_provider_and_code(http, admin, local_stack):
    tap_metrics()
    for provider in ("bedrock", "google", "meta"):  # emergency fails over along the Direct chain
        local_stack.faults.set(FaultSpec(provider=provider, status=503))
    assert chat(http, local_stack, "emergency").status_code >= 500
    report = http.get("/admin/metrics/error-breakdown", headers=admin).json()
    assert report["overall"]["errors"] == 1
    assert sum(report["overall"]["byCode"].values()) == 1


def test_routing_efficiency_reports_its_thresholds(http, admin, local_stack):
    tap_metrics()
    chat(http, local_stack, "infrastructure")
    report = http.get("/admin/metrics/routing-efficiency", headers=admin).json()
    assert report["routingEfficiencyPercent"] == 100.0 and report["status"] == "ok"
    assert report["thresholds"]["targetPercent"] == ROUTING_EFFICIENCY_TARGET_PERCENT
    assert report["thresholds"]["alarmBelowPercent"] == ROUTING_EFFICIENCY_ALARM_PERCENT


def test_cache_performance_counts_hits_of_deterministic_requests(http, admin, local_stack):
    tap_metrics()
    headers = {"Authorization": f"Bearer {local_stack.client_key}", "X-Operation-Type": "standard"}
    body = {**BODY, "temperature": 0, "messages": [{"role": "user", "content": "cache me, extra test"}]}
    for _ in range(2):
        assert http.post("/v1/chat/completions", json=body, headers=headers).status_code == 200
    report = http.get("/admin/metrics/cache-performance", headers=admin).json()
    assert (report["hits"], report["misses"], report["hitRatePercent"]) == (1, 1, 50.0)
    assert report["status"] == "warning" and report["targets"]["hitRateWarnPercent"] == 70.0


@pytest.mark.parametrize("kind", ["routing", "cost-optimization"])
def test_recommendations_answer_with_a_list(http, admin, kind):
    response = http.get(f"/admin/recommendations/{kind}?window=1h", headers=admin)
    assert response.status_code == 200 and isinstance(response.json()["recommendations"], list)


# --- alerts -------------------------------------------------------------------------------------
def test_health_alerts_is_an_empty_list_when_no_alarm_fires(http):
    response = http.get("/health/alerts")
    assert response.status_code == 200 and response.json()["data"] == {"alerts": [], "count": 0}


def test_health_alerts_lists_our_alarms_in_alarm_state_only(http):
    cloudwatch = aws_client("cloudwatch")
    names = ["HybridRouting-test-p95", "Other-test-alarm"]
    for name in names:
        put_alarm_in_state(name)
    try:
        alerts = http.get("/health/alerts").json()["data"]["alerts"]
        assert [a["name"] for a in alerts] == ["HybridRouting-test-p95"]
    finally:
        cloudwatch.delete_alarms(AlarmNames=names)


# --- compliance ---------------------------------------------------------------------------------
def test_gdpr_status_reports_prompt_logging_off_encryption_and_retention(http, admin, admin_settings):
    admin_settings(log_retention_days=30)
    report = http.get("/admin/compliance/gdpr-status", headers=admin).json()
    assert report["checks"]["promptLogging"]["enabled"] is False
    description = report["checks"]["promptLogging"]["description"]
    assert "prompts and completions are never logged" in description and "SHA-256" in description
    assert not re.search(r"[\w/]+\.py\b", json.dumps(report)), "an API answer names no source file"
    tables = report["checks"]["encryptionAtRest"]["tables"]
    assert tables and all(t["encrypted"] for t in tables.values())
    assert report["checks"]["logRetention"]["days"] == 30
    assert report["compliant"] is True


def test_gdpr_status_flags_unset_log_retention(http, admin, admin_settings):
    admin_settings(log_retention_days=None)
    report = http.get("/admin/compliance/gdpr-status", headers=admin).json()
    assert report["compliant"] is False and report["checks"]["logRetention"]["compliant"] is False


def test_data_residency_is_not_compliant_while_a_provider_processes_data_globally(http, admin):
    report = http.get("/admin/compliance/data-residency", headers=admin).json()
    by_provider = {p["provider"]: p for p in report["providers"]}
    assert by_provider["bedrock"] == {
        "provider": "bedrock",
        "region": "eu-central-1",
        "declaredBy": "BEDROCK_REGION",
        "compliant": True,
    }
    assert by_provider["google"]["region"] == "global" and by_provider["google"]["compliant"] is False
    assert report["compliant"] is False


def test_data_residency_is_compliant_when_every_provider_declares_an_eu_region(http, admin, admin_settings):
    admin_settings(google_region="europe-west4", meta_region="eu-west-1")
    report = http.get("/admin/compliance/data-residency", headers=admin).json()
    assert report["compliant"] is True
    assert {p["provider"] for p in report["providers"]} == {"bedrock", "google", "meta", "mcp"}


# --- routing rules ------------------------------------------------------------------------------
def test_routing_rules_default_to_the_matrix(http, admin):
    rules = http.get("/admin/config/routing-rules", headers=admin).json()
    assert rules["version"] == 0 and rules["overrides"] == {}
    assert rules["rules"]["emergency"]["primary"] == "direct" and rules["rules"]["emergency"]["fallback"] is None
    assert rules["rules"]["standard"]["source"] == "matrix"


def test_routing_rules_are_written_versioned_and_audited(http, admin):
    body = {"rules": {"standard": {"primary": "direct", "fallback": "mcp"}}, "reason": "drill"}
    response = http.put("/admin/config/routing-rules", json=body, headers=admin)
    assert response.status_code == 200 and response.json()["version"] == 1
    assert response.json()["effective"]["standard"]["source"] == "override"
    records = http.get("/admin/audit/export?format=json&period=daily", headers=admin).json()["records"]
    assert records[-1]["action"] == "config.routing-rules" and records[-1]["target"] == ROUTING_RULES_KEY


@pytest.mark.parametrize(
    "rules",
    [
        {"emergency": {"primary": "direct", "fallback": "mcp"}},
        {"standard": {"primary": "mcp", "fallback": "mcp"}},
        {"quantum": {"primary": "direct"}},
        {"standard": {"primary": "satellite"}},
    ],
)
def test_invalid_routing_rules_are_refused_with_400(http, admin, rules):
    response = http.put("/admin/config/routing-rules", json={"rules": rules}, headers=admin)
    assert response.status_code == 400


def test_a_routing_rules_write_on_a_stale_version_is_refused_with_409(http, admin):
    body = {"rules": {"standard": {"primary": "direct", "fallback": "mcp"}}}
    assert http.put("/admin/config/routing-rules", json=body, headers=admin).status_code == 200
    stale = http.put("/admin/config/routing-rules", json={**body, "version": 0}, headers=admin)
    assert stale.status_code == 409


def test_a_read_only_token_cannot_write_config(http, viewer):
    assert http.get("/admin/config/routing-rules", headers=viewer).status_code == 200
    body = {"p95_latency_ms": 1500, "error_rate_percent": 1.0}
    assert http.put("/admin/config/slo-thresholds", json=body, headers=viewer).status_code == 403


def test_validate_routing_is_clean_on_defaults(http, admin):
    report = http.get("/admin/config/validate-routing", headers=admin).json()
    assert report["valid"] is True and report["problems"] == []


def test_validate_routing_names_inconsistent_weights_and_a_dangerous_override(http, admin):
    table = get_dependencies().settings.flags_table
    item = to_item({"pk": TRAFFIC_WEIGHTS_KEY, "weights": {"acme": 60}, "version": 1})
    dynamodb_client().put_item(TableName=table, Item=item)
    http.post(
        "/admin/emergency/isolate-component", json={"component": "mcp-router", "action": "isolate"}, headers=admin
    )
    http.post("/admin/config/routing-override", json={"routing_mode": "mcp_only"}, headers=admin)
    report = http.get("/admin/config/validate-routing", headers=admin).json()
    assert report["valid"] is False
    messages = " | ".join(p["message"] for p in report["problems"])
    assert "acme" in messages and "sum to 60" in messages and "mcp_only is active but MCP is isolated" in messages


# --- thresholds, timeout, routing config ------------------------------------------------------
def test_slo_thresholds_are_stored_versioned(http, admin):
    body = {"p95_latency_ms": 1500, "error_rate_percent": 1.0}
    response = http.put("/admin/config/slo-thresholds", json=body, headers=admin)
    assert response.status_code == 200
    assert response.json() | {} == {**body, "version": 1, "appliedByRouter": False}
    assert http.get("/admin/config/slo-thresholds", headers=admin).json()["p95_latency_ms"] == 1500
    assert http.put("/admin/config/slo-thresholds", json={**body, "version": 0}, headers=admin).status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"p95_latency_ms": 5, "error_rate_percent": 1.0},
        {"p95_latency_ms": 1500, "error_rate_percent": 90},
        {"p95_latency_ms": "fast", "error_rate_percent": 1.0},
        {"p95_latency_ms": 1500},
    ],
)
def test_slo_thresholds_out_of_bounds_are_refused(http, admin, body):
    assert http.put("/admin/config/slo-thresholds", json=body, headers=admin).status_code == 400


def test_the_runbook_timeout_update_is_stored(http, admin):
    response = http.post("/admin/config/update", json={"timeout": 15000}, headers=admin)
    assert response.status_code == 200 and response.json()["timeout_ms"] == 15000
    assert response.json()["version"] == 1


@pytest.mark.parametrize("timeout", [0, 999, 120_000, "15s", 1500.5])
def test_an_unbounded_timeout_is_refused(http, admin, timeout):
    assert http.post("/admin/config/update", json={"timeout": timeout}, headers=admin).status_code == 400


def test_routing_thresholds_are_validated_and_stored(http, admin):
    body = {"directBedrockLatencyThreshold": 8000, "mcpLatencyThreshold": 25000, "fallbackAggressiveness": "balanced"}
    response = http.post("/admin/routing/config", json=body, headers=admin)
    assert response.status_code == 200 and response.json()["fallbackAggressiveness"] == "balanced"
    stale = http.post("/admin/routing/config", json={**body, "version": 0}, headers=admin)
    assert stale.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"directBedrockLatencyThreshold": 8000, "fallbackAggressiveness": 1.7},
        {"directBedrockLatencyThreshold": 8000, "fallbackAggressiveness": "reckless"},
        {"directBedrockLatencyThreshold": 10, "fallbackAggressiveness": "balanced"},
        {"fallbackAggressiveness": "balanced"},
    ],
)
def test_invalid_routing_thresholds_are_refused(http, admin, body):
    assert http.post("/admin/routing/config", json=body, headers=admin).status_code == 400


# --- cache settings -----------------------------------------------------------------------------
def test_cache_settings_show_ttls_lru_size_and_mode(http, admin):
    settings = http.get("/admin/config/cache-settings", headers=admin).json()
    assert settings["mode"] == "deterministic" and settings["serveStale"] is True
    assert settings["freshTtlSeconds"] == 900.0 and settings["lruEntries"] == 512 and settings["version"] == 0


def test_cache_settings_updates_merge_and_are_versioned(http, admin):
    response = http.put("/admin/config/cache-settings", json={"mode": "off", "serveStale": False}, headers=admin)
    assert response.status_code == 200 and response.json()["version"] == 1
    settings = http.get("/admin/config/cache-settings", headers=admin).json()
    assert (settings["mode"], settings["serveStale"], settings["freshTtlSeconds"]) == ("off", False, 900.0)
    assert (
        http.put("/admin/config/cache-settings", json={"mode": "off", "version": 0}, headers=admin).status_code == 409
    )


@pytest.mark.parametrize("body", [{}, {"mode": "everything"}, {"freshTtlSeconds": -1}, {"ttl": 5}])
def test_invalid_cache_settings_are_refused(http, admin, body):
    assert http.put("/admin/config/cache-settings", json=body, headers=admin).status_code == 400


# --- bedrock probe ------------------------------------------------------------------------------
def test_the_bedrock_probe_answers_ok_with_latency_and_model(http, admin):
    result = http.post("/admin/bedrock/test", headers=admin).json()
    assert result["ok"] is True and result["latency_ms"] >= 0 and result["model"]


def test_the_bedrock_probe_reports_a_typed_error_code_and_no_provider_text(http, admin, local_stack):
    local_stack.faults.set(FaultSpec(provider="bedrock", status=503))
    result = http.post("/admin/bedrock/test", headers=admin).json()
    assert result["ok"] is False and result["errorCode"] == "provider_unavailable"
    assert set(result) == {"ok", "errorCode", "latency_ms", "model"}


def test_the_bedrock_probe_is_for_operators_only(http, viewer):
    assert http.post("/admin/bedrock/test", headers=viewer).status_code == 403
