"""The edge in the template: WAF on the API stage and the router's reserved concurrency."""

from __future__ import annotations

from typing import Any

from functions.domain.thresholds import ROUTER_RESERVED_CONCURRENCY, WAF_RATE_LIMIT_PER_IP, WAF_RATE_WINDOW_SECONDS
from tests.infrastructure.conftest import Synthesized, router_function


def _web_acl(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    ((logical_id, acl),) = synthesized.of_type("AWS::WAFv2::WebACL").items()
    return logical_id, acl["Properties"]


def test_the_web_acl_runs_the_managed_rule_groups_then_a_per_ip_rate_limit(synthesized: Synthesized) -> None:
    # Given the one web ACL / When reading its rules in priority order
    _, acl = _web_acl(synthesized)
    rules = sorted(acl["Rules"], key=lambda r: r["Priority"])
    managed = [r["Statement"]["ManagedRuleGroupStatement"] for r in rules[:2]]
    rate = rules[2]["Statement"]["RateBasedStatement"]
    # Then it allows by default, blocks what AWS's common and known-bad-inputs groups find (the common
    # group's 8 KB body rule only counts: prompts are larger), and blocks an IP over the rate limit
    assert acl["Scope"] == "REGIONAL" and acl["DefaultAction"] == {"Allow": {}}
    assert [(m["VendorName"], m["Name"]) for m in managed] == [
        ("AWS", "AWSManagedRulesCommonRuleSet"),
        ("AWS", "AWSManagedRulesKnownBadInputsRuleSet"),
    ]
    assert all(r["OverrideAction"] == {"None": {}} for r in rules[:2])
    assert managed[0]["RuleActionOverrides"] == [{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
    assert "RuleActionOverrides" not in managed[1]
    assert rate == {
        "Limit": WAF_RATE_LIMIT_PER_IP,
        "AggregateKeyType": "IP",
        "EvaluationWindowSec": WAF_RATE_WINDOW_SECONDS,
    }
    assert rules[2]["Action"] == {"Block": {}}
    assert all(r["VisibilityConfig"]["CloudWatchMetricsEnabled"] for r in rules)


def test_the_web_acl_is_associated_with_the_api_stage(synthesized: Synthesized) -> None:
    # Given the association / When reading what it protects
    logical_id, _ = _web_acl(synthesized)
    (association,) = synthesized.of_type("AWS::WAFv2::WebACLAssociation").values()
    (stage_id,) = synthesized.of_type("AWS::ApiGateway::Stage")
    (api_id,) = synthesized.of_type("AWS::ApiGateway::RestApi")
    # Then it is this ACL on this API's stage
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [logical_id, "Arn"]}
    arn = str(association["Properties"]["ResourceArn"])
    assert f"'Ref': '{api_id}'" in arn and f"'Ref': '{stage_id}'" in arn
    assert stage_id in association["DependsOn"]


def test_the_router_has_reserved_concurrency(synthesized: Synthesized) -> None:
    # Given the router / When reading its concurrency / Then a flood cannot take more, nor others starve it
    assert router_function(synthesized)["Properties"]["ReservedConcurrentExecutions"] == ROUTER_RESERVED_CONCURRENCY
