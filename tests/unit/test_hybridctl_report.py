"""The report's render step is pure: from fetched answers to markdown, no API and no clock."""

from __future__ import annotations

from cli.hybridctl.report import Fetched, Request, render
from cli.hybridctl.views import ADMIN_METRICS
from functions.domain.names import BEDROCK, GOOGLE, MCP


def fetched(**overrides) -> Fetched:
    breakers = {"enabled": True, "breakers": {BEDROCK: {"state": "open", "openedAt": 0, "version": 3}}}
    data = {
        "endpoint": "http://example.test",
        "generated": "2026-01-01T00:00:00+00:00",
        "rows": [
            {
                "provider": BEDROCK,
                "status": "unhealthy",
                "checker": "unhealthy",
                "breaker": "open",
                "weight": 0,
                "lastCheck": None,
                "detail": "a|b",
            }
        ],
        "raw": {
            "health": {"status": "degraded"},
            "system": {"status": "degraded"},
            "circuitBreakers": breakers,
            "trafficDistribution": {"weights": {BEDROCK: 0, GOOGLE: 100}},
        },
        "override": {"mode": None, "active": False},
        "integrity": {"status": "valid"},
        "records": [{"at": 60, "actor": "ops", "action": "routing.weights", "target": GOOGLE, "reason": None}],
        "metrics": dict.fromkeys(ADMIN_METRICS) | {"routing-distribution": {"direct": 1}},
    }
    return Fetched(**(data | overrides))


def test_an_incident_report_reads_the_fetched_answers_only():
    text = render(fetched(), Request(type="incident", event="failover", period="failover-window"))
    assert text.startswith("# Incident report\n\n- **Generated:** 2026-01-01T00:00:00+00:00\n")
    assert "- **Event:** failover\n- **Period:** failover-window\n" in text
    assert "- Traffic distribution: bedrock 0 %, google 100 %" in text
    assert "- Circuit breakers: enabled; not closed: bedrock" in text
    assert "- Audit trail: valid, 1 change(s) in the last day" in text
    assert "| bedrock | unhealthy | unhealthy | open | 0 | - | a\\|b |" in text
    assert "## Timeline (audit trail, last day)" in text
    assert "| 1970-01-01T00:01:00+00:00 | ops | routing.weights | google | - |" in text
    assert "## Failover actions" not in text
    assert "`/admin/metrics/error-breakdown` is not available on this deployment." in text
    focus_first = ["routing-distribution", "error-breakdown", "provider-latencies", "cache-performance"]
    assert [text.index(f"### {name}") for name in focus_first] == sorted(text.index(f"### {n}") for n in focus_first)
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_a_failover_effectiveness_report_lists_the_failover_actions():
    text = render(fetched(records=[]), Request(type="failover-effectiveness"))
    assert "## Failover actions\n\nNo failover action in the last day." in text
    assert "## Audit trail (last day)\n\nIntegrity: **valid**\n\nNo change recorded." in text
    assert "**Event:**" not in text
    assert MCP not in text


def test_a_report_names_what_broke_the_audit_trail():
    problem = "the trail was cut: it ends at record 3, but record 5 was anchored; records 4 to 5 were deleted"
    integrity = {"status": "broken", "cutTail": True, "lastAnchoredSeq": 5, "problem": problem}
    text = render(fetched(integrity=integrity), Request(type="incident", event="failover", period="failover-window"))
    assert f"Integrity: **broken** ({problem})\n" in text
