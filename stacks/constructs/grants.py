"""Grants more than one function needs, written once."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from functions.adapters.dynamodb.schema import AUDIT
from stacks.constructs.tables import Tables

# Appending to the audit trail is a Put inside TransactWriteItems (authorized as PutItem); reading
# its head and records is Query and GetItem. Nothing may rewrite or remove a record, and
# `grant_read_write_data` would also allow UpdateItem, DeleteItem and BatchWriteItem.
AUDIT_ACTIONS = ("dynamodb:PutItem", "dynamodb:Query", "dynamodb:GetItem")
# What the owners of the control plane's items write (the admin API, workflows and automation the flags;
# the health checker the health records, the admin API the breaker items of an operator's reset): whole
# items, each a Put conditional on the version it was read at, alone or in a TransactWriteItems with its
# audit record, which IAM authorizes item by item (a Put as PutItem, a ConditionCheck as
# ConditionCheckItem, which the read grant holds). No function updates, deletes or batch-writes them.
OWNER_WRITES = ("dynamodb:PutItem",)
LEADING_KEYS = "dynamodb:LeadingKeys"
# The metrics and alarm states the admin API reports and the workflows' gates read. Neither API
# supports resource-level permissions.
METRICS_ACTIONS = ("cloudwatch:GetMetricData", "cloudwatch:ListMetrics", "cloudwatch:DescribeAlarms")


def grant_audit_append(tables: Tables, function: lambda_.Function) -> None:
    """Append-only access to the audit trail (and the table's key, as the table grants give for the
    others), the MAC key to seal each record with, and the anchor stream to put the trail's head to."""
    function.add_to_role_policy(
        iam.PolicyStatement(actions=list(AUDIT_ACTIONS), resources=[tables.table(AUDIT).table_arn])
    )
    if tables.key is not None:
        tables.key.grant_encrypt_decrypt(function)
    tables.audit_trail.grant_append(function)


def grant_read_and(
    table: dynamodb.ITable, function: lambda_.Function, *writes: str, key_prefix: str | None = None
) -> None:
    """CDK's read grant on a table plus exactly `writes` (no Delete or BatchWrite unless named), on the
    items whose partition key starts with `key_prefix` only when one is given; and the table's key for
    writing when it has a customer-managed one."""
    table.grant_read_data(function)
    if not writes:
        return
    if key_prefix is None:
        table.grant(function, *writes)
    else:
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=list(writes),
                resources=[table.table_arn],
                conditions={"ForAllValues:StringLike": {LEADING_KEYS: [f"{key_prefix}*"]}},
            )
        )
    if table.encryption_key is not None:
        table.encryption_key.grant_encrypt_decrypt(function)


def metrics_read_policy(scope: Construct, function: lambda_.Function) -> iam.Policy:
    """CloudWatch reads in a policy of its own, so its cdk-nag acknowledgement (resource "*") names
    exactly these actions."""
    assert function.role is not None
    policy = iam.Policy(
        scope,
        "MetricsReadPolicy",
        statements=[iam.PolicyStatement(actions=list(METRICS_ACTIONS), resources=["*"])],
        roles=[function.role],
    )
    function.node.add_dependency(policy)
    return policy
