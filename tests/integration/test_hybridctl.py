"""hybridctl against the local stack over real HTTP: the runbooks' failover and incident scenarios
end to end, exit codes, --json output, and the token never printed."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from cli.hybridctl.main import main
from functions.domain.routing.breaker import tripped
from tests.support import reset_routing_state

pytestmark = pytest.mark.usefixtures("clean_control_plane")


def as_json(ctl, *argv: str) -> dict:
    code, out, err = ctl(*argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_help_documents_the_exit_codes(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for line in ("0  ok", "1  a check failed", "2  usage error", "3  authentication", "4  not found", "5  conflict"):
        assert line in out
    assert "6  server or connection error" in out


def test_the_bedrock_failover_and_incident_runbooks_end_to_end(ctl, tmp_path):
    # provider-failover.md, detection: every provider healthy.
    assert ctl("status", "--health-only")[:2] == (0, "system: HEALTHY\n")
    code, out, _ = ctl("status", "--provider", "bedrock", "--health-only")
    assert (code, out) == (0, "bedrock: HEALTHY\n")
    code, out, _ = ctl("status", "--provider-health")
    assert code == 0 and "PROVIDER" in out and "bedrock" in out and "mcp" in out

    # Gradual failover, phase 1.
    before = as_json(ctl, "config", "get")["trafficDistribution"]
    assert before["weights"] == {"bedrock": 100}
    code, out, err = ctl(
        "config", "set", "--traffic-distribution", "bedrock:50,google:30,meta:20", "--reason", "bedrock degraded"
    )
    assert code == 0, err
    assert "traffic distribution: bedrock:50,google:30,meta:20" in out
    new_version = int(out.split("version: ")[1].split()[0])
    assert new_version > before["version"]
    code, out, _ = ctl("config", "get")
    assert code == 0
    assert [line.split() for line in out.splitlines()[3:6]] == [["bedrock", "50"], ["google", "30"], ["meta", "20"]]
    assert as_json(ctl, "config", "get")["trafficDistribution"]["weights"] == {"bedrock": 50, "google": 30, "meta": 20}

    # A change based on a version that moved on is refused: 409, exit 5, nothing changed.
    code, _, err = ctl(
        "config", "set", "--traffic-distribution", "bedrock:25,google:50,meta:25", "--version", str(before["version"])
    )
    assert code == 5 and "409" in err
    assert as_json(ctl, "config", "get")["trafficDistribution"]["weights"]["bedrock"] == 50

    # --transition-duration is accepted and says who does gradual transitions.
    code, out, _ = ctl(
        "config", "set", "--traffic-distribution", "bedrock:25,google:50,meta:25", "--transition-duration", "300"
    )
    assert code == 0 and "#5" in out and "took effect at once" in out

    # Watch it for a moment (bounded by --duration).
    started = time.monotonic()
    code, out, _ = ctl("monitor", "--duration", "0.02", "--interval", "0.5", "--metrics", "error_rate,latency")
    assert code == 0 and "system: healthy" in out and "monitoring done" in out
    assert time.monotonic() - started < 10

    # incident-response.md, Bedrock outage: force MCP, then bring Bedrock back at 10 %.
    code, out, err = ctl("route", "force-mcp", "--reason", "Bedrock unavailable", "--duration", "3600")
    assert code == 0, err
    assert "version:" in out
    failover = as_json(ctl, "status", "--failover-status")
    assert failover["routingOverride"]["mode"] == "mcp_only" and failover["routingOverride"]["active"] is True
    code, out, err = ctl("route", "bedrock-percentage", "10", "--reason", "bedrock recovering")
    assert code == 0, err
    weights = as_json(ctl, "config", "get")["trafficDistribution"]["weights"]
    assert weights["bedrock"] == 10 and sum(weights.values()) == 100
    code, out, _ = ctl("route", "override", "hybrid", "--reason", "bedrock back")
    assert code == 0 and "routing mode hybrid" in out

    code, out, _ = ctl("breakers", "reset", "--reason", "post-incident")
    assert code == 0 and "closed" in out
    code, out, _ = ctl("validate", "--post-failover")
    assert code == 0 and "PASSED" in out, out
    code, out, _ = ctl("audit", "verify")
    assert code == 0 and "VALID" in out

    # Post-failover: the incident report, and the audit export.
    report = tmp_path / "failover-incident.md"
    code, out, _ = ctl("report", "--type", "incident", "--event", "failover", "--output", str(report))
    assert code == 0 and str(report) in out
    text = report.read_text()
    for section in ("# Incident report", "## Summary", "## Status", "## Circuit breakers", "## Timeline", "## Metrics"):
        assert section in text
    for action in ("routing.traffic-distribution", "routing.force-mcp", "routing.bedrock-percentage"):
        assert action in text
    export = tmp_path / "audit.csv"
    code, out, _ = ctl("audit", "export", "--format", "csv", "--period", "daily", "--output", str(export))
    assert code == 0 and export.read_text().startswith("seq,at,actor")


@pytest.mark.parametrize("kind", ["performance-impact", "failover-effectiveness"])
def test_the_other_reports_have_their_sections(ctl, kind):
    code, out, _ = ctl("report", "--type", kind)
    assert code == 0
    assert out.startswith("# ") and "## Summary" in out and "## Metrics" in out
    assert ("## Failover actions" in out) == (kind == "failover-effectiveness")


def test_a_wrong_token_is_exit_3_and_no_token_for_an_admin_command_too(ctl):
    code, _, err = ctl("config", "get", token="not-the-token")
    assert code == 3 and "403" in err
    code, _, err = ctl("breakers", "list", token=None)
    assert code == 3 and "401" in err and "HYBRID_ADMIN_TOKEN" in err
    assert ctl("status", "--health-only", token=None)[0] == 0  # /health needs none


@pytest.mark.parametrize(
    ("distribution", "problem"),
    [
        ("bedrock:50,google:30", "sum to 80"),
        ("bedrock:50,google:thirty,meta:20", "not NAME:PERCENT"),
        ("bedrock:50,bedrock:50", "given twice"),
        ("bedrock=100", "not NAME:PERCENT"),
        ("", "not NAME:PERCENT"),
    ],
)
def test_a_bad_distribution_is_a_usage_error_that_changes_nothing(ctl, distribution, problem):
    code, _, err = ctl("config", "set", "--traffic-distribution", distribution)
    assert code == 2 and problem in err
    assert as_json(ctl, "config", "get")["trafficDistribution"]["weights"] == {"bedrock": 100}


def test_a_provider_the_stack_does_not_know_is_refused_by_the_api_as_exit_2(ctl):
    code, _, err = ctl("config", "set", "--traffic-distribution", "bedrock:50,openai:50")
    assert code == 2 and "openai" in err


def test_json_output_parses_for_reads_and_writes(ctl):
    status = as_json(ctl, "status", "--comprehensive")
    assert status["status"] == "healthy" and {r["provider"] for r in status["providers"]} >= {"bedrock", "mcp"}
    assert as_json(ctl, "status", "--health-only")["healthy"] is True
    assert set(as_json(ctl, "breakers", "list")["breakers"]) >= {"bedrock", "google", "meta", "mcp"}
    code, out, _ = ctl("validate", "--canary-health", "--json")  # no canary has run: nothing proves it healthy
    assert code == 1 and json.loads(out)["failed"] == ["canary target"]
    assert as_json(ctl, "audit", "verify")["status"] == "valid"
    flag = as_json(ctl, "flags", "set", "ENABLE_PERFORMANCE_OPTIMIZATION", "off", "--reason", "test")
    assert flag["ENABLE_PERFORMANCE_OPTIMIZATION"] is False and flag["version"] >= 1
    code, out, _ = ctl("monitor", "--duration", "0.01", "--interval", "1", "--json")
    assert code == 0 and all(json.loads(line)["status"] == "healthy" for line in out.splitlines())


def test_flags_and_breaker_switches_print_their_version_and_refuse_a_stale_one(ctl):
    code, out, _ = ctl("flags", "list")
    assert code == 0 and "ENABLE_INTELLIGENT_ROUTING" in out
    code, out, _ = ctl("flags", "set", "ENABLE_INTELLIGENT_ROUTING", "off", "--reason", "drill")
    version = int(out.split("version: ")[1])
    assert code == 0 and version >= 1
    assert ctl("flags", "set", "ENABLE_INTELLIGENT_ROUTING", "on", "--version", str(version - 1))[0] == 5
    code, out, _ = ctl("breakers", "disable", "--reason", "drill")
    assert code == 0 and "circuit breakers disabled" in out and "version:" in out
    # Degraded service is issue 17's: parsed, refused with exit 7, nothing changed.
    code, _, err = ctl("emergency", "--mode", "multi-provider-outage", "--enable-degraded-service")
    assert code == 7 and "not available yet" in err and "issue 17" in err
    assert as_json(ctl, "breakers", "list")["enabled"] is False
    code, out, _ = ctl("emergency", "--mode", "multi-provider-outage")
    assert code == 0 and "circuit breakers  disabled" in out and "stale" in out


def test_emergency_switches(ctl):
    code, out, _ = ctl("emergency", "isolate", "direct-bedrock", "--reason", "drill")
    assert code == 0 and "isolated now: bedrock" in out
    code, out, _ = ctl("emergency", "isolate", "direct-bedrock", "--restore")
    assert code == 0 and "isolated now: none" in out
    code, out, _ = ctl("emergency", "disable-routing", "--reason", "drill")
    assert code == 0 and "hybrid routing disabled" in out and "version:" in out
    assert ctl("emergency")[0] == 2


def test_validate_fails_with_exit_1_when_a_provider_taking_traffic_has_an_open_breaker(ctl, local_stack):
    shared = reset_routing_state(local_stack)
    current = shared.state("bedrock")
    shared._transition("bedrock", current, tripped(current, time.time(), "test: 5xx"))
    code, out, _ = ctl("validate", "--post-failover")
    assert code == 1 and "FAILED: circuit breakers" in out and "bedrock" in out
    # Failed over away from bedrock: its open breaker no longer blocks validation.
    assert ctl("config", "set", "--traffic-distribution", "bedrock:0,google:70,meta:30")[0] == 0
    code, out, _ = ctl("validate", "--post-failover")
    assert code == 0 and "warn" in out


def test_not_found_and_routes_not_deployed_are_exit_4(ctl, gateway, local_stack):
    code, _, err = ctl("status", "--provider", "nosuch", "--health-only")
    assert code == 4 and "unknown component" in err
    headers = {"Authorization": f"Bearer {local_stack.admin_token}"}
    deployed = httpx.get(f"{gateway.url}/admin/config/cache-settings", headers=headers).status_code != 404
    code, out, err = ctl("config", "set", "--cache-mode", "emergency", "--cache-ttl", "7200", "--serve-stale", "true")
    if deployed:  # production-operations.md's emergency caching, on the route that is there now
        assert code == 0, err
        assert "serveStale" in out and "version" in out
        assert as_json(ctl, "config", "get")["cacheSettings"]["serveStale"] is True
    else:
        assert code == 4 and "cache-settings" in err and "not available" in err


def test_an_unreachable_endpoint_is_exit_6(capsys):
    assert main(["--endpoint", "http://127.0.0.1:9", "--timeout", "2", "status", "--health-only"]) == 6
    assert "cannot reach" in capsys.readouterr().err
