"""The Hybrid Routing stack: tables, the dependency layer, the router function and its REST API,
the provider access the functions share, the scheduled health checker, the admin API (its
function and Lambda authorizer) on the same REST API, and the rollout workflows (Step Functions).

The stack owns tags and the cdk-nag acknowledgements; each construct owns one capability.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import Acknowledgment, CfnElement, CfnOutput, Duration, Stack, Tags, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from functions.adapters.dynamodb.schema import AUDIT, CACHE, CLIENT_KEYS, FLAGS, HEALTH
from functions.domain.thresholds import LATENCY_BUDGET_SECONDS
from stacks.config import StackConfig
from stacks.constructs.admin_api import AdminApi
from stacks.constructs.alarms import RunbookAlarms
from stacks.constructs.api import RouterApi
from stacks.constructs.automation import Automation
from stacks.constructs.dashboards import Dashboards
from stacks.constructs.dependencies_layer import (
    PYTHON_VERSION,
    RUNTIME,
    DependenciesLayer,
)
from stacks.constructs.health_checker import HealthChecker
from stacks.constructs.lambda_factory import LambdaFactory, functions_code
from stacks.constructs.providers import ProviderAccess
from stacks.constructs.tables import Tables
from stacks.constructs.workflows import Workflows

REPO_ROOT = Path(__file__).resolve().parent.parent
ROUTER_HANDLER = "functions.handlers.router.lambda_handler"
# The longest operation budget bounds a request (retries and fallbacks included); the margin
# lets the router answer its own timeout error instead of being killed mid-response.
ROUTER_TIMEOUT = Duration.seconds(int(max(LATENCY_BUDGET_SECONDS.values())) + 15)


class HybridRoutingStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description="Hybrid Routing: serverless AI-request router", **kwargs)
        Tags.of(self).add("project", "hybrid-routing")

        self.tables = Tables(
            self,
            "Tables",
            removal_policy=config.cdk_removal_policy,
            deletion_protection=config.deletion_protection,
            customer_managed_key=config.table_encryption == "customer_managed",
        )
        layer = DependenciesLayer(
            self,
            "Dependencies",
            requirements=REPO_ROOT / "functions" / "requirements.txt",
            removal_policy=config.cdk_removal_policy,
        ).layer
        self.providers = ProviderAccess(self, "Providers", config=config, removal_policy=config.cdk_removal_policy)
        factory = LambdaFactory(
            code=functions_code(REPO_ROOT),
            layers=[layer],
            log_retention=config.log_retention,
            removal_policy=config.cdk_removal_policy,
            service_name="router",
        )
        self.router = factory.create(
            self,
            "Router",
            handler=ROUTER_HANDLER,
            description="OpenAI-compatible router: decides direct or MCP, calls the provider",
            environment=self._router_environment(config),
            timeout=ROUTER_TIMEOUT,
        )
        self._grant_router()
        self.health_checker = HealthChecker(
            self,
            "HealthChecker",
            factory=factory,
            health_table=self.tables.table(HEALTH),
            provider_environment=self.providers.environment,
        )
        self.providers.grant(self.health_checker.function)
        self.api = RouterApi(
            self,
            "RouterApi",
            handler=self.router,
            stage_name=config.api_stage_name,
            throttling_rate_limit=config.api_throttling_rate_limit,
            throttling_burst_limit=config.api_throttling_burst_limit,
            log_retention=config.log_retention,
            removal_policy=config.cdk_removal_policy,
        )
        self.admin = AdminApi(
            self,
            "Admin",
            factory=factory,
            rest_api=self.api.rest_api,
            tables=self.tables,
            provider_environment=self.providers.environment,
            removal_policy=config.cdk_removal_policy,
        )
        # The admin API's live Bedrock probe: the same model grants and provider secrets.
        self.providers.grant(self.admin.function)
        for name, value in self._observability_environment(config).items():
            self.admin.function.add_environment(name, value)
        # /health/metrics and /health/alerts read CloudWatch from the router too.
        self.admin.metrics_policy.attach_to_role(self.router.role)
        # gdpr-status reports each table's encryption.
        self.admin.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:DescribeTable"], resources=[table.table_arn for _, table in self.tables.items()]
            )
        )

        self.workflows = Workflows(
            self,
            "Workflows",
            factory=factory,
            tables=self.tables,
            definitions=REPO_ROOT / "statemachines",
            alarm_prefix=config.stack_name,
            log_retention=config.log_retention,
            removal_policy=config.cdk_removal_policy,
        )
        # Failover alarms and unhealthy events start failovers; a schedule starts failbacks after recovery.
        self.automation = Automation(
            self,
            "Automation",
            factory=factory,
            tables=self.tables,
            state_machines=self.workflows.state_machines,
            alarm_prefix=config.stack_name,
            direct_providers=config.direct_providers,
        )
        # Operators start, follow, abort and approve rollouts from the admin API.
        self.admin.allow_rollouts(self.workflows.state_machines)

        self.alarms = RunbookAlarms(
            self,
            "Alarms",
            alarm_prefix=config.stack_name,
            direct_providers=config.direct,
            alarm_email=config.alarm_email,
            removal_policy=config.cdk_removal_policy,
            state_machines=self.workflows.state_machines,  # failover_failure reads their executions
        )
        self.dashboards = Dashboards(
            self,
            "Dashboards",
            prefix=config.stack_name,
            alarms=[*self.alarms.alarms.values(), self.alarms.outage],
            definitions=self.alarms.definitions,
            router_logs=self.router.log_group,
            health_check_logs=self.health_checker.function.log_group,
            rest_api=self.api.rest_api,
            access_logs=self.api.access_logs,
            state_machines=self.workflows.state_machines,
            alarm_index=self.alarms.alarms,
        )

        CfnOutput(self, "ApiUrl", value=self.api.rest_api.url, description="Base URL; OpenAI base_url is <ApiUrl>v1")
        for schema, table in self.tables.items():
            CfnOutput(self, f"{schema.logical_name}TableName", value=table.table_name)
        CfnOutput(
            self,
            "AdminTokensSecretArn",
            value=self.admin.tokens_secret.secret_arn,
            description="Admin API bearer tokens (JSON); see the secret's description to add or rotate tokens",
        )
        for name, machine in self.workflows.state_machines.items():
            CfnOutput(self, f"{name}StateMachineArn", value=machine.state_machine_arn)
        self._acknowledge_nag_findings()

    def _router_environment(self, config: StackConfig) -> dict[str, str]:
        environment = {schema.env_var: table.table_name for schema, table in self.tables.items()}
        environment |= self.providers.environment
        environment |= self._observability_environment(config)
        environment |= {
            "CACHE_FRESH_TTL_SECONDS": str(config.cache_fresh_ttl_seconds),
            "CACHE_STALE_TTL_SECONDS": str(config.cache_stale_ttl_seconds),
        }
        if config.monthly_budget_usd is not None:
            environment["MONTHLY_BUDGET_USD"] = str(config.monthly_budget_usd)
        if config.price_overrides:
            environment["PRICE_TABLE_JSON"] = json.dumps(
                {model: list(prices) for model, prices in sorted(config.price_overrides.items())},
                separators=(",", ":"),
            )
        return environment

    @staticmethod
    def _observability_environment(config: StackConfig) -> dict[str, str]:
        """What the metrics, alerts and compliance answers need to know of the deployment."""
        return {"LOG_RETENTION_DAYS": str(config.log_retention_days), "ALARM_PREFIX": config.stack_name}

    def _grant_router(self) -> None:
        self.tables.table(FLAGS).grant_read_write_data(self.router)
        self.tables.table(HEALTH).grant_read_write_data(self.router)
        self.tables.table(CACHE).grant_read_write_data(self.router)
        self.tables.table(CLIENT_KEYS).grant_read_data(self.router)
        self.tables.table(AUDIT).grant_write_data(self.router)
        self.providers.grant(self.router)

    def _acknowledge_nag_findings(self) -> None:
        """Every cdk-nag finding this stack accepts, each with its reason.

        cdk-nag 3 reads CDK's native acknowledgements (`Validations.of(...).acknowledge`), which
        cover the construct and everything below it.
        """
        for function in (
            self.router,
            self.health_checker.function,
            self.admin.function,
            self.admin.authorizer_function,
            self.workflows.function,
            self.automation.function,
        ):
            self._acknowledge_function(function)
        _acknowledge(
            self.admin.metrics_policy,
            (
                "AwsSolutions-IAM5[Resource::*]",
                "cloudwatch:GetMetricData and cloudwatch:DescribeAlarms support no resource-level permissions",
            ),
        )
        _acknowledge(
            self.workflows.metrics_policy,
            (
                "AwsSolutions-IAM5[Resource::*]",
                "The health gates' cloudwatch:GetMetricData and DescribeAlarms support no resource-level permissions",
            ),
        )
        _acknowledge(
            self.automation.metrics_policy,
            (
                "AwsSolutions-IAM5[Resource::*]",
                "Recovery checks' cloudwatch:GetMetricData and DescribeAlarms support no resource-level permissions",
            ),
        )
        self._acknowledge_state_machines()
        self._acknowledge_rollouts_policy()
        _acknowledge(
            self.admin.tokens_secret,
            (
                "AwsSolutions-SMG4",
                "Static admin bearer tokens, issued and rotated by operators with put-secret-value",
            ),
        )
        _acknowledge(
            self.admin.seed_secret,
            ("AwsSolutions-SMG4", "Seeds the first operator token once; inert after the first rotation"),
        )
        for secret in self.providers.secrets.values():
            if isinstance(secret, Construct):
                _acknowledge(
                    secret,
                    (
                        "AwsSolutions-SMG4",
                        "A third-party API key: the provider issues it, Secrets Manager cannot rotate it",
                    ),
                )
        _acknowledge(
            self.api.rest_api,
            ("AwsSolutions-APIG2", "The router validates bodies (pydantic) and answers OpenAI-shaped 400s"),
            ("AwsSolutions-APIG3", "No WAF yet: stage throttling and client-key checks in the router"),
            ("AwsSolutions-APIG4", "The router authenticates hashed client keys (OpenAI Bearer keys)"),
            ("AwsSolutions-COG4", "Callers are OpenAI SDKs with API keys, not Cognito users"),
            (_IAM4_API_GATEWAY_LOGS, "API Gateway's account CloudWatch role: the AWS-documented policy"),
        )

    def _acknowledge_state_machines(self) -> None:
        function = self.workflows.function
        assert isinstance(function.node.default_child, CfnElement)
        function_arn = f"<{self.get_logical_id(function.node.default_child)}.Arn>"
        for machine in self.workflows.state_machines.values():
            _acknowledge(
                machine.role,
                (
                    "AwsSolutions-IAM5[Resource::*]",
                    "X-Ray trace APIs and CloudWatch Logs' log-delivery APIs support no resource-level permissions",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{function_arn}:*]",
                    "CDK's grant_invoke: the workflow function and its versions, no other function",
                ),
            )

    def _acknowledge_rollouts_policy(self) -> None:
        """The admin API's rollout routes: executions of our four machines, and approval answers."""
        executions = []
        for machine in self.workflows.state_machines.values():
            assert isinstance(machine.node.default_child, CfnElement)
            name = f"<{self.get_logical_id(machine.node.default_child)}.Name>"
            resource = f"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{name}:*"
            executions.append(
                (f"AwsSolutions-IAM5[Resource::{resource}]", "Executions of this rollout state machine, no other")
            )
        _acknowledge(
            self.admin.rollouts_policy,
            *executions,
            (
                "AwsSolutions-IAM5[Resource::*]",
                "states:SendTaskSuccess/SendTaskFailure answer approval task tokens, which IAM cannot scope",
            ),
        )

    def _acknowledge_function(self, function: lambda_.Function) -> None:
        assert function.role is not None
        _acknowledge(
            function.role,
            ("AwsSolutions-IAM5[Resource::*]", "X-Ray trace APIs support no resource-level permissions"),
        )
        if self.tables.key is not None:
            _acknowledge(
                function.role,
                (
                    "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
                    "CDK table grant, scoped to the tables' key",
                ),
                ("AwsSolutions-IAM5[Action::kms:ReEncrypt*]", "CDK table grant, scoped to the tables' key"),
            )
        _acknowledge(
            function,
            (
                "AwsSolutions-L1",
                f"{RUNTIME} matches the layer's wheels (pip --python-version {PYTHON_VERSION})",
            ),
        )


_IAM4_API_GATEWAY_LOGS = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]"
)


def _acknowledge(scope: Construct, *findings: tuple[str, str]) -> None:
    rules = (Acknowledgment(id=rule, reason=reason) for rule, reason in findings)
    Validations.of(scope).acknowledge(*rules)
