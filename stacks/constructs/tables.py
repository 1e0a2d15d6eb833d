"""The DynamoDB tables, created from the key-schema constants the store and the tests also use."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from functions.adapters.dynamodb.schema import ALL_TABLES, TableSchema
from stacks.config import StackConfig
from stacks.constructs.audit_trail import AuditTrailProtection


class Tables(Construct):
    """On-demand tables with point-in-time recovery, TTL where the schema names one, and SSE."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        removal_policy = config.cdk_removal_policy
        self.key = (
            kms.Key(
                self,
                "Key",
                description="Hybrid Routing tables",
                enable_key_rotation=True,
                removal_policy=removal_policy,
            )
            if config.table_encryption == "customer_managed"
            else None
        )
        self._tables = {
            schema.logical_name: self._table(schema, removal_policy, config.deletion_protection)
            for schema in ALL_TABLES
        }
        self.audit_trail = AuditTrailProtection(self, "AuditTrail", config=config)  # the audit table's MAC key, anchors

    def table(self, schema: TableSchema) -> dynamodb.Table:
        return self._tables[schema.logical_name]

    def items(self) -> list[tuple[TableSchema, dynamodb.Table]]:
        return [(schema, self._tables[schema.logical_name]) for schema in ALL_TABLES]

    def _table(self, schema: TableSchema, removal_policy: RemovalPolicy, deletion_protection: bool) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            schema.logical_name,
            partition_key=_attribute(schema.partition_key, schema.partition_type),
            sort_key=_attribute(schema.sort_key, schema.sort_type) if schema.sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=schema.ttl_attribute,
            encryption=(
                dynamodb.TableEncryption.CUSTOMER_MANAGED if self.key else dynamodb.TableEncryption.AWS_MANAGED
            ),
            encryption_key=self.key,
            deletion_protection=deletion_protection,
            removal_policy=removal_policy,
        )


def _attribute(name: str, attribute_type: str) -> dynamodb.Attribute:
    kind = dynamodb.AttributeType.NUMBER if attribute_type == "N" else dynamodb.AttributeType.STRING
    return dynamodb.Attribute(name=name, type=kind)
