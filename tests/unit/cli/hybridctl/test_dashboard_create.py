"""`hybridctl dashboard create` (provider-failover.md, "Monitoring Dashboard"): the dashboards are part of
the stack, so the verb names the deployed one and its console URL in the stack's region; usage errors exit 2.
No API call is made (the network is off in unit tests)."""

from __future__ import annotations

import json

import pytest

from cli.hybridctl.main import main

RUNBOOK = [
    "dashboard",
    "create",
    "--name",
    "AI Provider Failover",
    "--metrics",
    "provider_health,failover_events,recovery_time",
    "--alerts",
    "failover_failure,extended_outage",
]
EXECUTE_API = "https://a1b2c3.execute-api.eu-central-1.amazonaws.com/prod"


@pytest.fixture(autouse=True)
def _no_region(monkeypatch):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "HYBRID_STACK_NAME", "HYBRID_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


def _json(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_runbooks_dashboard_create_names_the_deployed_failover_dashboard_in_the_endpoints_region(capsys):
    answer = _json(capsys, "--endpoint", EXECUTE_API, *RUNBOOK)
    assert (answer["created"], answer["deployedByStack"]) == (False, True)
    assert (answer["dashboard"], answer["region"]) == ("HybridRouting-failover", "eu-central-1")
    assert answer["url"] == (
        "https://eu-central-1.console.aws.amazon.com/cloudwatch/home?region=eu-central-1"
        "#dashboards/dashboard/HybridRouting-failover"
    )
    assert answer["localPage"] is None
    assert list(answer["metrics"]) == ["provider_health", "failover_events", "recovery_time"]
    assert answer["alerts"]["failover_failure"] == ["HybridRouting-critical-failover-failure"]
    assert answer["alerts"]["extended_outage"] == [
        f"HybridRouting-critical-extended-outage-{t}" for t in ("bedrock", "google", "meta", "mcp")
    ]


def test_the_human_answer_says_nothing_is_created_and_gives_the_url(capsys):
    assert main(["--endpoint", EXECUTE_API, *RUNBOOK]) == 0
    out = capsys.readouterr().out
    assert "nothing to create" in out and "deployed with the stack" in out
    assert "#dashboards/dashboard/HybridRouting-failover" in out


@pytest.mark.parametrize(
    ("name", "dashboard"),
    [
        ("Compliance and Security Metrics", "security"),
        ("CloudWatch Hybrid Routing Dashboard", "main"),
        ("P95 Latency and Performance Metrics", "performance"),
        ("Cost Tracking and Budget Monitoring", "cost"),
        ("Prod-routing", "routing"),
    ],
)
def test_the_runbooks_other_dashboard_names_map_to_the_stacks_dashboards(capsys, monkeypatch, name, dashboard):
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("HYBRID_STACK_NAME", "Prod")
    answer = _json(capsys, "dashboard", "create", "--name", name)
    assert (answer["dashboard"], answer["region"]) == (f"Prod-{dashboard}", "us-west-2")


def test_on_the_local_stack_without_a_region_it_points_to_the_local_page(capsys):
    answer = _json(capsys, "--endpoint", "http://127.0.0.1:8080", *RUNBOOK)
    assert (answer["region"], answer["url"]) == (None, None)
    assert answer["localPage"] == "http://127.0.0.1:8080/local/dashboard"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["dashboard", "create", "--name", "Weather"], "no dashboard of the stack matches 'Weather'"),
        (["dashboard", "create", "--name", "AI Provider Failover", "--metrics", "uptime"], "unknown metric(s) uptime"),
        (["dashboard", "create", "--name", "failover", "--alerts", "pager"], "unknown alert(s) pager"),
        (["dashboard", "create", "--name", "cost", "--metrics", "provider_health"], "its widgets are fixed"),
        (["status", "--refresh", "10"], "--refresh goes with --dashboard failover"),
    ],
)
def test_bad_input_is_a_usage_error_naming_the_problem(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--dashboard", "failover", "--count", "0"], ["--dashboard", "cost"]])
def test_status_dashboard_options_are_checked_by_the_parser(capsys, argv):
    assert main(["status", *argv]) == 2
