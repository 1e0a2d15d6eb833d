"""AWS WAF in front of the API stage: AWS's common and known-bad-inputs rule groups, and a rate-based
rule that blocks one IP sending more than WAF_RATE_LIMIT_PER_IP requests per window."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from functions.domain.thresholds import WAF_RATE_LIMIT_PER_IP, WAF_RATE_WINDOW_SECONDS

MANAGED_RULE_GROUPS = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")
RATE_RULE = "RateLimitPerIp"
# The common rule set blocks bodies over 8 KB; chat prompts are larger (the router's own limit is 1 MiB,
# MAX_REQUEST_BODY_BYTES), so that one rule only counts.
COUNTED_RULES = {"AWSManagedRulesCommonRuleSet": ("SizeRestrictions_BODY",)}


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


def _rule(name: str, priority: int, statement: wafv2.CfnWebACL.StatementProperty, **action: Any) -> Any:
    """A rule; `action` is `override_action=` for a rule group, `action=` for a rule of our own."""
    return wafv2.CfnWebACL.RuleProperty(
        name=name, priority=priority, statement=statement, visibility_config=_visibility(name), **action
    )


def _managed(name: str, priority: int) -> Any:
    overrides: Any = [
        wafv2.CfnWebACL.RuleActionOverrideProperty(
            name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
        )
        for rule in COUNTED_RULES.get(name, ())
    ]
    group = wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
        vendor_name="AWS", name=name, rule_action_overrides=overrides or None
    )
    statement = wafv2.CfnWebACL.StatementProperty(managed_rule_group_statement=group)
    return _rule(name, priority, statement, override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}))


def _rate_rule(priority: int) -> Any:
    rate = wafv2.CfnWebACL.RateBasedStatementProperty(
        limit=WAF_RATE_LIMIT_PER_IP, aggregate_key_type="IP", evaluation_window_sec=WAF_RATE_WINDOW_SECONDS
    )
    statement = wafv2.CfnWebACL.StatementProperty(rate_based_statement=rate)
    return _rule(RATE_RULE, priority, statement, action=wafv2.CfnWebACL.RuleActionProperty(block={}))


class ApiFirewall(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, rest_api: apigw.RestApi) -> None:
        super().__init__(scope, construct_id)
        rules = [_managed(name, priority) for priority, name in enumerate(MANAGED_RULE_GROUPS)]
        rules.append(_rate_rule(len(rules)))
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            description="Hybrid Routing API: AWS managed rules and a per-IP rate limit",
            rules=rules,
            visibility_config=_visibility("HybridRoutingApi"),
        )
        stage = rest_api.deployment_stage
        self.association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl.attr_arn
        )
        self.association.node.add_dependency(stage)
