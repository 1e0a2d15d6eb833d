"""The consistency check over the stored routing configuration, at a given time."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from functions.domain.config.consistency import RoutingConfig, override_problems, routing_problems
from functions.domain.config.override import override_active, override_document
from functions.domain.config.problems import Document, Problem, Severity

DIRECT = ("bedrock", "google", "meta")
NOW = 1_000_000.0


def test_the_defaults_are_consistent():
    assert routing_problems(RoutingConfig(direct=DIRECT), NOW) == []


def test_an_expired_override_is_only_information_whatever_it_forced():
    override = {"mode": "mcp_only", "expires_at": NOW}
    assert override_problems(override, DIRECT, {"mcp"}, NOW) == [
        Problem(Severity.INFO, Document.ROUTING_OVERRIDE, "an expired 'mcp_only' override is still stored")
    ]


def test_an_active_mcp_only_override_with_mcp_isolated_is_an_error():
    config = RoutingConfig(
        direct=DIRECT, override={"mode": "mcp_only", "expires_at": NOW + 60}, isolation={"targets": ["mcp"]}
    )
    problems = routing_problems(config, NOW)
    assert Problem(Severity.ERROR, Document.ROUTING_OVERRIDE, "mcp_only is active but MCP is isolated") in problems
    assert problems[-1] == Problem(
        Severity.WARNING, Document.ISOLATION, "MCP is isolated: MCP-primary operations rely on fallback"
    )


def test_direct_only_with_every_direct_provider_isolated_is_an_error():
    config = RoutingConfig(direct=DIRECT, override={"mode": "direct_only"}, isolation={"targets": list(DIRECT)})
    messages = [(p.severity, p.message) for p in routing_problems(config, NOW)]
    assert (Severity.ERROR, "direct_only is active but every Direct provider is isolated") in messages
    assert (Severity.ERROR, "no configured, non-isolated provider has weight") in messages


def test_weights_on_an_unconfigured_provider_are_errors_of_the_weights_document():
    config = RoutingConfig(direct=("bedrock",), weights={"weights": {"bedrock": 50, "google": 40}})
    assert [(p.document, p.message) for p in routing_problems(config, NOW)] == [
        (Document.TRAFFIC_WEIGHTS, "weights for unconfigured providers: google"),
        (Document.TRAFFIC_WEIGHTS, "weights sum to 90, not 100"),
    ]


def test_flags_that_disable_hybrid_routing_and_the_fallback_are_reported():
    flags = {"flags": {"ENABLE_INTELLIGENT_ROUTING": False, "ENABLE_DIRECT_BEDROCK_FALLBACK": False, "X": True}}
    problems = routing_problems(RoutingConfig(direct=DIRECT, flags=flags), NOW)
    assert [p.severity for p in problems] == [Severity.WARNING, Severity.WARNING, Severity.INFO]
    assert problems[0].message == "unknown flags stored: X"
    assert all(p.document is Document.FEATURE_FLAGS for p in problems)


@given(st.integers(min_value=60, max_value=7 * 86_400), st.floats(min_value=0, max_value=1e9))
def test_an_override_is_active_for_its_duration_and_not_after(duration, now):
    document = override_document("mcp_only", "drill", duration, now)
    assert override_active(document, now)
    assert not override_active(document, document["expires_at"])


def test_a_hybrid_or_empty_override_is_never_active_and_one_without_expiry_always_is():
    assert not override_active({}, NOW)
    assert not override_active(override_document("hybrid", "back", None, NOW), NOW)
    assert override_active(override_document("direct_only", "drill", None, NOW), NOW + 1e9)
