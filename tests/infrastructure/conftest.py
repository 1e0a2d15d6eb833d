"""The stack synthesized once per test session, from the same cdk.json context the CLI uses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from stacks.config import CONTEXT_KEY, StackConfig
from stacks.constructs.health_checker import HEALTH_CHECK_HANDLER
from stacks.constructs.router import ROUTER_HANDLER
from stacks.hybrid_routing_stack import HybridRoutingStack

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Synthesized:
    config: StackConfig
    stack: HybridRoutingStack
    template: Template

    @cached_property
    def resources(self) -> dict[str, dict[str, Any]]:
        """Read from the template once: each `to_json` is a round trip to the jsii kernel (up to seconds)."""
        return self.template.to_json()["Resources"]

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


def synthesize(**overrides: Any) -> Synthesized:
    """The stack from cdk.json's context, with `overrides` applied to the hybrid-routing settings."""
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    context[CONTEXT_KEY] = {**context[CONTEXT_KEY], **overrides}
    # No stack is bundled: the dependency layer's pip install is not run in tests.
    app = cdk.App(context={**context, "aws:cdk:bundling-stacks": []})
    config = StackConfig.from_context(app.node)
    stack = HybridRoutingStack(app, config.stack_name, config=config)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return Synthesized(config=config, stack=stack, template=Template.from_stack(stack))


@pytest.fixture(scope="session")
def synthesized() -> Synthesized:
    """The default stack, synthesized once per session (about 30 s): no test changes it."""
    return synthesize()
