"""What keeps the audit trail from being rewritten unseen: its MAC key (a KMS HMAC key, whose material
never leaves KMS) and the log stream its head is anchored to outside the table.

Only the appenders (the admin API, the workflows, the automation) may GenerateMac and put anchors; only
the verifier (the admin API's trail-integrity) may VerifyMac and read them. No function may delete the
anchors or their stream, and the table's writers cannot MAC without the key.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions.domain.names import AUDIT_ANCHOR_ENV, AUDIT_ANCHOR_LOG_GROUP_SUFFIX, AUDIT_ANCHOR_STREAM, AUDIT_KEY_ENV
from stacks.config import StackConfig

APPEND_KEY_ACTIONS = ("kms:GenerateMac",)
VERIFY_KEY_ACTIONS = ("kms:VerifyMac",)
APPEND_ANCHOR_ACTIONS = ("logs:PutLogEvents",)
VERIFY_ANCHOR_ACTIONS = ("logs:GetLogEvents",)


class AuditTrailProtection(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        removal_policy = config.cdk_removal_policy
        # HMAC keys have no automatic rotation. IAM grants the MAC operations to the roles below, and the key
        # policy denies them to every other principal of the account (`restrict_key`, once all are granted).
        self.key = kms.Key(
            self,
            "MacKey",
            description="Hybrid Routing audit trail: the MAC that chains its records",
            key_spec=kms.KeySpec.HMAC_256,
            key_usage=kms.KeyUsage.GENERATE_VERIFY_MAC,
            removal_policy=removal_policy,
        )
        # Anchors are the trail's evidence: kept as long as the trail (no expiry).
        self.anchors = logs.LogGroup(
            self,
            "Anchors",
            log_group_name=f"/{config.stack_name}/{AUDIT_ANCHOR_LOG_GROUP_SUFFIX}",
            retention=logs.RetentionDays.INFINITE,
            removal_policy=removal_policy,
        )
        self._roles: dict[str, list[iam.IRole]] = {action: [] for action in (*APPEND_KEY_ACTIONS, *VERIFY_KEY_ACTIONS)}
        self.stream = logs.LogStream(
            self,
            "Head",
            log_group=self.anchors,
            log_stream_name=AUDIT_ANCHOR_STREAM,
            removal_policy=removal_policy,
        )

    def grant_append(self, function: lambda_.Function) -> None:
        """MAC new records and anchor the head; the key ARN and anchor log group in the environment."""
        self._grant(function, APPEND_KEY_ACTIONS, APPEND_ANCHOR_ACTIONS)
        function.add_environment(AUDIT_KEY_ENV, self.key.key_arn)
        function.add_environment(AUDIT_ANCHOR_ENV, self.anchors.log_group_name)

    def grant_verify(self, function: lambda_.Function) -> None:
        """Check the records' MACs and read the anchors."""
        self._grant(function, VERIFY_KEY_ACTIONS, VERIFY_ANCHOR_ACTIONS)

    def restrict_key(self) -> None:
        """The key policy: each MAC operation denied to every principal but the roles granted it (an account
        administrator's `kms:*` included), so nothing but the appenders can MAC a forged record."""
        for action, roles in self._roles.items():
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"Only{action.split(':')[1]}ByTheGrantedRoles",
                    effect=iam.Effect.DENY,
                    principals=[iam.AnyPrincipal()],
                    actions=[action],
                    resources=["*"],
                    conditions={"StringNotEquals": {"aws:PrincipalArn": [role.role_arn for role in roles]}},
                )
            )

    def _grant(self, function: lambda_.Function, key_actions: tuple[str, ...], anchor_actions: tuple[str, ...]) -> None:
        assert function.role is not None
        for action in key_actions:
            self._roles[action].append(function.role)
        function.add_to_role_policy(iam.PolicyStatement(actions=list(key_actions), resources=[self.key.key_arn]))
        function.add_to_role_policy(
            iam.PolicyStatement(actions=list(anchor_actions), resources=[self.anchors.log_group_arn])
        )
