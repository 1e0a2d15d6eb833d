"""The stack synthesized once per configuration variant and test session, from the cdk.json context the CLI uses."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint
from constructs import Construct

from stacks.config import CONTEXT_KEY, StackConfig
from stacks.constructs.health_checker import HEALTH_CHECK_HANDLER
from stacks.constructs.router import ROUTER_HANDLER
from stacks.hybrid_routing_stack import HybridRoutingStack

REPO_ROOT = Path(__file__).resolve().parents[2]
MCP_URL = "https://mcp.example.com/mcp"
EXISTING_META_SECRET = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:llama-key-AbCdEf"
# W3005: CDK adds an explicit DependsOn on a function's role next to the GetAtt; harmless.
CFN_LINT_IGNORED = ("W3005",)

# Each variant's settings over cdk.json's; each is synthesized at most once per session.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    # Customer-managed keys, a destroy policy, an MCP server and a provider secret of the stack's own.
    "customer_managed": {
        "table_encryption": "customer_managed",
        "removal_policy": "destroy",
        "deletion_protection": False,
        "mcp_server_url": MCP_URL,
        "direct_providers": "bedrock,google",
    },
    "all_providers": {
        "direct_providers": "bedrock,google,meta",
        "mcp_server_url": MCP_URL,
        "monthly_budget_usd": 250,
        "price_overrides": {"gemini-2.0-flash": [0.1, 0.4]},
    },
    "llama_on_bedrock": {"direct_providers": "bedrock,meta", "meta_mode": "bedrock"},
    "existing_meta_secret": {"direct_providers": "bedrock,meta", "meta_api_key_secret_arn": EXISTING_META_SECRET},
}


@dataclass(frozen=True)
class Synthesized:
    config: StackConfig
    stack: HybridRoutingStack
    template: Template

    @cached_property
    def template_json(self) -> dict[str, Any]:
        """Read from the template once: each `to_json` is a round trip to the jsii kernel (up to seconds)."""
        return self.template.to_json()

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template_json["Resources"]

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        return self.template_json["Outputs"]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: r for name, r in self.resources.items() if r["Type"] == resource_type}

    def logical_id(self, construct: Construct) -> str:
        child = construct.node.default_child
        assert isinstance(child, cdk.CfnElement)
        return self.stack.get_logical_id(child)

    @property
    def provider_secrets(self) -> dict[str, dict[str, Any]]:
        """The provider API-key secrets: every secret but the admin API's tokens and their seed."""
        admin = {self.logical_id(self.stack.admin.tokens_secret), self.logical_id(self.stack.admin.seed_secret)}
        return {name: r for name, r in self.of_type("AWS::SecretsManager::Secret").items() if name not in admin}

    @cached_property
    def nag_violations(self) -> list[tuple[str, list[str]]]:
        """What the AWS Solutions pack finds unacknowledged: (rule, construct paths) per finding."""
        report = AwsSolutionsChecks(verbose=True).validate_scope(self.stack)
        return [(v.rule_name, [r.construct_path for r in v.violating_resources]) for v in report.violations]

    @cached_property
    def cfn_lint_problems(self) -> list[str]:
        """cfn-lint's matches on the template, beyond the justified ignores."""
        matches = lint(
            json.dumps(self.template_json),
            config=ManualArgs(regions=["us-east-1"], ignore_checks=list(CFN_LINT_IGNORED)),
        )
        return [f"{m.rule.id} {m.message}" for m in matches]


def function_with_handler(synthesized: Synthesized, handler: str) -> dict[str, Any]:
    (function,) = [
        f for f in synthesized.of_type("AWS::Lambda::Function").values() if f["Properties"]["Handler"] == handler
    ]
    return function


def router_function(synthesized: Synthesized) -> dict[str, Any]:
    return function_with_handler(synthesized, ROUTER_HANDLER)


def health_check_function(synthesized: Synthesized) -> dict[str, Any]:
    return function_with_handler(synthesized, HEALTH_CHECK_HANDLER)


def role_statements(synthesized: Synthesized, function: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of the inline policies attached to `function`'s role."""
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in synthesized.of_type("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


@functools.cache
def synthesize(variant: str) -> Synthesized:
    """The stack from cdk.json's context with the variant's settings applied, synthesized once per session."""
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    context[CONTEXT_KEY] = {**context[CONTEXT_KEY], **VARIANTS[variant]}
    # No stack is bundled: the dependency layer's pip install is not run in tests.
    app = cdk.App(context={**context, "aws:cdk:bundling-stacks": []})
    config = StackConfig.from_context(app.node)
    stack = HybridRoutingStack(app, config.stack_name, config=config)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return Synthesized(config=config, stack=stack, template=Template.from_stack(stack))


@pytest.fixture(scope="session")
def synthesized() -> Synthesized:
    """The default stack: no test changes it."""
    return synthesize("default")


@pytest.fixture(scope="session")
def customer_managed() -> Synthesized:
    return synthesize("customer_managed")


@pytest.fixture(scope="session")
def all_providers() -> Synthesized:
    return synthesize("all_providers")


@pytest.fixture(scope="session")
def llama_on_bedrock() -> Synthesized:
    return synthesize("llama_on_bedrock")


@pytest.fixture(scope="session")
def existing_meta_secret() -> Synthesized:
    return synthesize("existing_meta_secret")
