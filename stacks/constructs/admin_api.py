"""The operators' `/admin` API: the admin function, the TOKEN authorizer in front of it, and the
Secrets Manager secret that holds the bearer tokens.

`/admin` and `/admin/{proxy+}` (ANY) go to the admin function through the authorizer; API Gateway
prefers these explicit resources over the router's root `{proxy+}`, and no other route uses the
authorizer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from aws_cdk import ArnFormat, Duration, Fn, RemovalPolicy, SecretValue, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions.adapters.dynamodb.schema import AUDIT, BREAKER_KEY_PREFIX, CACHE, FLAGS, HEALTH
from functions.domain.thresholds import ADMIN_TOKENS_CACHE_SECONDS, AUTHORIZER_RESULT_CACHE_SECONDS
from stacks.config import StackConfig
from stacks.constructs.api import INTEGRATION_TIMEOUT
from stacks.constructs.grants import OWNER_WRITES, grant_audit_append, grant_read_and, metrics_read_policy
from stacks.constructs.lambda_factory import LambdaFactory
from stacks.constructs.providers import ProviderAccess
from stacks.constructs.tables import Tables

ADMIN_HANDLER = "functions.handlers.admin.handler.lambda_handler"
AUTHORIZER_HANDLER = "functions.handlers.authorizer.lambda_handler"
ADMIN_PATH = "admin"
AUTHORIZER_CACHE_TTL = Duration.seconds(AUTHORIZER_RESULT_CACHE_SECONDS)
# API Gateway refuses (401) an Authorization header that is not a bearer token of plausible length and
# alphabet without invoking the authorizer: junk tokens cost no Lambda call.
IDENTITY_VALIDATION_REGEX = r"^[Bb][Ee][Aa][Rr][Ee][Rr] [A-Za-z0-9._~+/=-]{16,512}$"
# The admin function cannot answer after API Gateway has given up on the integration.
ADMIN_TIMEOUT = INTEGRATION_TIMEOUT
AUTHORIZER_TIMEOUT = Duration.seconds(10)


ADMIN_ACCESS_HELP = (
    "Bearer tokens of the Hybrid Routing admin API, read by its Lambda authorizer (cached "
    + str(ADMIN_TOKENS_CACHE_SECONDS)
    + " s), as "
    '{"tokens":[{"name":"<who>","role":"operator|read-only","token":"<random>"}]}. The stack seeds one '
    "operator token: read it with `aws secretsmanager get-secret-value --secret-id <this ARN>`, then "
    "replace the whole document with `aws secretsmanager put-secret-value --secret-id <this ARN> "
    "--secret-string file://tokens.json` to add, rotate or revoke tokens (one entry per person or tool)."
)
SEED_HELP = (
    "Initial operator token of the Hybrid Routing admin API, copied into the admin tokens secret at "
    "creation. No function reads this secret; once the tokens secret is rewritten it grants nothing."
)
# Alphanumeric only, so the generated token can sit inside a JSON string without escaping.
SEED_TOKEN_LENGTH = 48
# What the rollout routes (functions/handlers/admin/routes/rollouts.py) ask of Step Functions.
MACHINE_ACTIONS = ("states:StartExecution", "states:ListExecutions")
EXECUTION_ACTIONS = ("states:DescribeExecution", "states:GetExecutionHistory", "states:StopExecution")
# Answers to a `.waitForTaskToken` approval. IAM scopes these to activities only: a task token issued
# by a service-integration Task state can only be granted on "*" (the token itself is the capability).
APPROVAL_ACTIONS = ("states:SendTaskSuccess", "states:SendTaskFailure")


class AdminApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        rest_api: apigw.RestApi,
        tables: Tables,
        providers: ProviderAccess,
        metrics_readers: Sequence[lambda_.Function],
        config: StackConfig,
    ) -> None:
        """`metrics_readers`: other functions that answer from CloudWatch too (the router's /health/metrics)."""
        super().__init__(scope, construct_id)
        self.tokens_secret, self.seed_secret = self._tokens_secret(config.cdk_removal_policy)
        self.authorizer_function = factory.create(
            self,
            "Authorizer",
            handler=AUTHORIZER_HANDLER,
            description="Admin API TOKEN authorizer: bearer tokens from Secrets Manager, with their roles",
            environment={"ADMIN_TOKENS_SECRET_ARN": self.tokens_secret.secret_arn},
            timeout=AUTHORIZER_TIMEOUT,
            service_name="admin-authorizer",
        )
        self.tokens_secret.grant_read(self.authorizer_function)

        self.function = factory.create(
            self,
            "Function",
            handler=ADMIN_HANDLER,
            description="Admin API: feature flags, routing, circuit breakers, audit trail",
            environment={
                **{schema.env_var: tables.table(schema).table_name for schema in (FLAGS, HEALTH, AUDIT, CACHE)},
                **providers.environment,  # DIRECT_PROVIDERS, and the Bedrock settings of the live probe
                **config.observability_environment,
            },
            timeout=ADMIN_TIMEOUT,
            service_name="admin",
        )
        self._grant_admin(tables, providers, metrics_readers)

        self.authorizer = apigw.TokenAuthorizer(
            self,
            "TokenAuthorizer",
            handler=self.authorizer_function,
            identity_source=apigw.IdentitySource.header("Authorization"),
            results_cache_ttl=AUTHORIZER_CACHE_TTL,
            validation_regex=IDENTITY_VALIDATION_REGEX,
        )
        integration = apigw.LambdaIntegration(
            self.function, proxy=True, allow_test_invoke=False, timeout=INTEGRATION_TIMEOUT
        )
        admin = rest_api.root.add_resource(ADMIN_PATH)
        for resource in (admin, admin.add_resource("{proxy+}")):
            resource.add_method(
                "ANY", integration, authorizer=self.authorizer, authorization_type=apigw.AuthorizationType.CUSTOM
            )

    def allow_rollouts(self, machines: Mapping[str, sfn.StateMachine]) -> iam.Policy:
        """The rollout routes: STATE_MACHINE_ARNS ({"canary": arn, ...}, keyed by rollout kind) and the
        Step Functions calls they make, on these machines and their executions only."""
        stack = Stack.of(self)
        by_kind = {_kind(name): machine for name, machine in machines.items()}
        self.function.add_environment(
            "STATE_MACHINE_ARNS", stack.to_json_string({k: m.state_machine_arn for k, m in by_kind.items()})
        )
        executions = [
            stack.format_arn(
                service="states",
                resource="execution",
                resource_name=f"{m.state_machine_name}:*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for m in by_kind.values()
        ]
        self.rollouts_policy = iam.Policy(
            self,
            "RolloutsPolicy",
            statements=[
                iam.PolicyStatement(
                    actions=list(MACHINE_ACTIONS), resources=[m.state_machine_arn for m in by_kind.values()]
                ),
                iam.PolicyStatement(actions=list(EXECUTION_ACTIONS), resources=executions),
                iam.PolicyStatement(actions=list(APPROVAL_ACTIONS), resources=["*"]),
            ],
        )
        assert self.function.role is not None
        self.rollouts_policy.attach_to_role(self.function.role)
        return self.rollouts_policy

    def _tokens_secret(self, removal_policy: RemovalPolicy) -> tuple[secretsmanager.Secret, secretsmanager.Secret]:
        """The tokens document, valid from the first deployment with one generated operator token.

        Secrets Manager's generator can only add a top-level key to a template, not a field of an
        entry in the `tokens` list; so the token is generated in a seed secret and spliced into the
        document by a CloudFormation dynamic reference: the template never holds the value.
        """
        seed = secretsmanager.Secret(
            self,
            "OperatorTokenSeed",
            description=SEED_HELP,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=SEED_TOKEN_LENGTH, exclude_punctuation=True, include_space=False
            ),
            removal_policy=removal_policy,
        )
        document = Fn.join(
            "",
            [
                '{"tokens":[{"name":"operator","role":"operator","token":"',
                seed.secret_value.unsafe_unwrap(),  # a {{resolve:secretsmanager:...}} reference
                '"}]}',
            ],
        )
        tokens = secretsmanager.Secret(
            self,
            "Tokens",
            description=ADMIN_ACCESS_HELP,
            secret_string_value=SecretValue.unsafe_plain_text(document),
            removal_policy=removal_policy,
        )
        return tokens, seed

    def _grant_admin(
        self, tables: Tables, providers: ProviderAccess, metrics_readers: Sequence[lambda_.Function]
    ) -> None:
        function = self.function
        grant_read_and(tables.table(FLAGS), function, *OWNER_WRITES)
        # An operator's breaker reset writes the breaker items only, never a health record.
        grant_read_and(tables.table(HEALTH), function, *OWNER_WRITES, key_prefix=BREAKER_KEY_PREFIX)
        tables.table(CACHE).grant_read_data(function)
        grant_audit_append(tables, function)
        tables.audit_trail.grant_verify(function)  # trail-integrity: the records' MACs and the anchors
        self.metrics_policy = metrics_read_policy(self, function)
        providers.grant(function)  # the live Bedrock probe: the router's model grants and provider secrets
        for reader in metrics_readers:
            assert reader.role is not None
            self.metrics_policy.attach_to_role(reader.role)
        # gdpr-status reports each table's encryption.
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:DescribeTable"], resources=[table.table_arn for _, table in tables.items()]
            )
        )


def _kind(name: str) -> str:
    """A Workflows construct name (`GradualFailover`) as its rollout kind (`gradual_failover`)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
