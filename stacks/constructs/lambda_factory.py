"""One factory for every function, so runtime, architecture, logging and tracing never drift apart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Duration, IgnoreMode, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions.domain.names import NAMESPACE
from stacks.constructs.dependencies_layer import ARCHITECTURE, RUNTIME

# The asset is the repository root filtered down to the `functions` package, so handler strings
# read `functions.handlers.<name>.lambda_handler` exactly as the package is imported locally.
_CODE_EXCLUDES = ["*", ".*", "!functions", "!functions/**", "__pycache__", "*.pyc", "requirements.txt"]


def functions_code(repo_root: Path) -> lambda_.Code:
    return lambda_.Code.from_asset(str(repo_root), exclude=_CODE_EXCLUDES, ignore_mode=IgnoreMode.GLOB)


class LambdaFactory:
    """Builds functions that share one code asset, one dependency layer and one set of defaults."""

    def __init__(
        self,
        *,
        code: lambda_.Code,
        layers: Sequence[lambda_.ILayerVersion],
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        self._code = code
        self._layers = list(layers)
        self._log_retention = log_retention
        self._removal_policy = removal_policy

    def create(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        environment: Mapping[str, str],
        timeout: Duration,
        service_name: str,
        memory_size: int = 1024,
        snap_start: bool = False,
        reserved_concurrency: int | None = None,
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            scope, f"{construct_id}Logs", retention=self._log_retention, removal_policy=self._removal_policy
        )
        # An explicit role instead of AWSLambdaBasicExecutionRole: logs go to this log group only.
        role = iam.Role(
            scope,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of {construct_id}",
        )
        log_group.grant_write(role)
        return lambda_.Function(
            scope,
            construct_id,
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=self._code,
            layers=self._layers,
            role=role,
            memory_size=memory_size,
            timeout=timeout,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snap_start else None,
            reserved_concurrent_executions=reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            log_group=log_group,
            environment={
                "POWERTOOLS_SERVICE_NAME": service_name,
                "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
                **environment,
            },
        )
