"""The stack's outputs: the API URL, each table's name, the admin tokens secret and each state machine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import CfnOutput

if TYPE_CHECKING:
    from stacks.hybrid_routing_stack import HybridRoutingStack


def add_outputs(stack: HybridRoutingStack) -> None:
    """At the stack's top level: an output's logical ID is the name deployments read it by."""
    CfnOutput(stack, "ApiUrl", value=stack.api.rest_api.url, description="Base URL; OpenAI base_url is <ApiUrl>v1")
    for schema, table in stack.tables.items():
        CfnOutput(stack, f"{schema.logical_name}TableName", value=table.table_name)
    CfnOutput(
        stack,
        "AdminTokensSecretArn",
        value=stack.admin.tokens_secret.secret_arn,
        description="Admin API bearer tokens (JSON); see the secret's description to add or rotate tokens",
    )
    for name, machine in stack.workflows.state_machines.items():
        CfnOutput(stack, f"{name}StateMachineArn", value=machine.state_machine_arn)
