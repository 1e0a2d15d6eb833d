"""Every cdk-nag finding the stack accepts, with its reason, as data; `acknowledge` applies them.

cdk-nag 3 reads CDK's native acknowledgements (`Validations.of(scope).acknowledge`), which cover the
scope and everything below it.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from constructs import IConstruct

from stacks.constructs.dependencies_layer import PYTHON_VERSION, RUNTIME

if TYPE_CHECKING:
    from stacks.hybrid_routing_stack import HybridRoutingStack


class Scope(StrEnum):
    """The constructs a finding is acknowledged on (`scopes` resolves each in a stack)."""

    FUNCTIONS = "every function"
    FUNCTION_ROLES = "every function's role"
    KEY_USER_ROLES = "every function's role, when the tables have a customer-managed key"
    ADMIN_METRICS_POLICY = "the admin API's CloudWatch read policy"
    WORKFLOW_METRICS_POLICY = "the workflow function's CloudWatch read policy"
    AUTOMATION_METRICS_POLICY = "the automation function's CloudWatch read policy"
    STATE_MACHINE_ROLES = "every state machine's role"
    ROLLOUTS_POLICY = "the admin API's rollouts policy"
    ADMIN_TOKENS_DOCUMENT = "the admin API's tokens secret"
    OPERATOR_SEED = "the admin API's seed token secret"
    PROVIDER_SECRETS = "the provider API-key secrets"
    REST_API = "the REST API"


@dataclass(frozen=True)
class Finding:
    """`rule` may name one of `logical_ids`' keys in braces: one acknowledgement per logical ID then."""

    rule: str
    reason: str
    applies_to: Scope


IAM5_ANY_RESOURCE = "AwsSolutions-IAM5[Resource::*]"
_CLOUDWATCH_READS = "cloudwatch:GetMetricData and DescribeAlarms support no resource-level permissions"
_EXECUTIONS = "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution"
_API_GATEWAY_LOGS_POLICY = "arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
_KEY_GRANT = "CDK table grant, scoped to the tables' key"
_API_KEY = "A third-party API key: the provider issues it, Secrets Manager cannot rotate it"

FINDINGS: tuple[Finding, ...] = (
    Finding(IAM5_ANY_RESOURCE, "X-Ray trace APIs support no resource-level permissions", Scope.FUNCTION_ROLES),
    Finding("AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", _KEY_GRANT, Scope.KEY_USER_ROLES),
    Finding("AwsSolutions-IAM5[Action::kms:ReEncrypt*]", _KEY_GRANT, Scope.KEY_USER_ROLES),
    Finding(
        "AwsSolutions-L1",
        f"{RUNTIME} matches the layer's wheels (pip --python-version {PYTHON_VERSION})",
        Scope.FUNCTIONS,
    ),
    Finding(IAM5_ANY_RESOURCE, f"The admin API's {_CLOUDWATCH_READS}", Scope.ADMIN_METRICS_POLICY),
    Finding(IAM5_ANY_RESOURCE, f"The health gates' {_CLOUDWATCH_READS}", Scope.WORKFLOW_METRICS_POLICY),
    Finding(IAM5_ANY_RESOURCE, f"Recovery checks' {_CLOUDWATCH_READS}", Scope.AUTOMATION_METRICS_POLICY),
    Finding(
        IAM5_ANY_RESOURCE,
        "X-Ray trace APIs and CloudWatch Logs' log-delivery APIs support no resource-level permissions",
        Scope.STATE_MACHINE_ROLES,
    ),
    Finding(
        "AwsSolutions-IAM5[Resource::<{workflow_function}.Arn>:*]",
        "CDK's grant_invoke: the workflow function and its versions, no other function",
        Scope.STATE_MACHINE_ROLES,
    ),
    Finding(
        f"AwsSolutions-IAM5[Resource::{_EXECUTIONS}:<{{state_machine}}.Name>:*]",
        "Executions of this rollout state machine, no other",
        Scope.ROLLOUTS_POLICY,
    ),
    Finding(
        IAM5_ANY_RESOURCE,
        "states:SendTaskSuccess/SendTaskFailure answer approval task tokens, which IAM cannot scope",
        Scope.ROLLOUTS_POLICY,
    ),
    Finding(
        "AwsSolutions-SMG4",
        "Static admin bearer tokens, issued and rotated by operators with put-secret-value",
        Scope.ADMIN_TOKENS_DOCUMENT,
    ),
    Finding(
        "AwsSolutions-SMG4", "Seeds the first operator token once; inert after the first rotation", Scope.OPERATOR_SEED
    ),
    Finding("AwsSolutions-SMG4", _API_KEY, Scope.PROVIDER_SECRETS),
    Finding(
        "AwsSolutions-APIG2", "The router validates bodies (pydantic) and answers OpenAI-shaped 400s", Scope.REST_API
    ),
    Finding("AwsSolutions-APIG4", "The router authenticates hashed client keys (OpenAI Bearer keys)", Scope.REST_API),
    Finding("AwsSolutions-COG4", "Callers are OpenAI SDKs with API keys, not Cognito users", Scope.REST_API),
    Finding(
        f"AwsSolutions-IAM4[Policy::{_API_GATEWAY_LOGS_POLICY}]",
        "API Gateway's account CloudWatch role: the AWS-documented policy",
        Scope.REST_API,
    ),
)


def acknowledge(stack: HybridRoutingStack, findings: Sequence[Finding] = FINDINGS) -> None:
    targets, logical_ids = scopes(stack), _logical_ids(stack)
    for finding in findings:
        for rule in _rules(finding.rule, logical_ids):
            for target in targets[finding.applies_to]:
                Validations.of(target).acknowledge(Acknowledgment(id=rule, reason=finding.reason))


def scopes(stack: HybridRoutingStack) -> dict[Scope, list[IConstruct]]:
    functions = [
        stack.router.function,
        stack.health_checker.function,
        stack.admin.function,
        stack.admin.authorizer_function,
        stack.workflows.function,
        stack.automation.function,
    ]
    roles: list[IConstruct] = [function.role for function in functions if function.role is not None]
    return {
        Scope.FUNCTIONS: list(functions),
        Scope.FUNCTION_ROLES: roles,
        Scope.KEY_USER_ROLES: roles if stack.tables.key is not None else [],
        Scope.ADMIN_METRICS_POLICY: [stack.admin.metrics_policy],
        Scope.WORKFLOW_METRICS_POLICY: [stack.workflows.metrics_policy],
        Scope.AUTOMATION_METRICS_POLICY: [stack.automation.metrics_policy],
        Scope.STATE_MACHINE_ROLES: [machine.role for machine in stack.workflows.state_machines.values()],
        Scope.ROLLOUTS_POLICY: [stack.admin.rollouts_policy],
        Scope.ADMIN_TOKENS_DOCUMENT: [stack.admin.tokens_secret],
        Scope.OPERATOR_SEED: [stack.admin.seed_secret],
        Scope.PROVIDER_SECRETS: list(stack.providers.secrets.values()),
        Scope.REST_API: [stack.api.rest_api],
    }


def _logical_ids(stack: HybridRoutingStack) -> dict[str, list[str]]:
    """The logical IDs a rule may name, as cdk-nag writes them in a finding."""
    machines = stack.workflows.state_machines.values()
    return {
        "workflow_function": [_logical_id(stack, stack.workflows.function)],
        "state_machine": [_logical_id(stack, machine) for machine in machines],
    }


def _logical_id(stack: Stack, construct: IConstruct) -> str:
    element = construct.node.default_child
    assert isinstance(element, CfnElement)
    return stack.get_logical_id(element)


def _rules(rule: str, logical_ids: Mapping[str, Sequence[str]]) -> list[str]:
    names = [name for _, name, _, _ in string.Formatter().parse(rule) if name]
    if not names:
        return [rule]
    (name,) = names
    return [rule.format_map({name: logical_id}) for logical_id in logical_ids[name]]
