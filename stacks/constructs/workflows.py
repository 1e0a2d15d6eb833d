"""The rollout workflows: one Step Functions state machine per ASL file in `statemachines/`, the
workflow function behind every Task state, and the EventBridge rule that has the function clean up
after an execution that failed, timed out or was aborted (its lock and weights).

The definitions are read as text and substituted by CloudFormation (`DefinitionSubstitutions`), so
the template shows each ASL file as written. For the same reason an execution's time bound belongs
in the file (a top-level `TimeoutSeconds`): CDK applies `StateMachine(timeout=...)` only to
definitions it builds itself, and silently drops it for `DefinitionBody.from_string`.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions.adapters.dynamodb.schema import AUDIT, FLAGS, HEALTH
from functions.shared.event_patterns import CLEANUP_STATUSES, EXECUTION_EVENT_SOURCE, EXECUTION_STATUS_CHANGE
from stacks.config import StackConfig
from stacks.constructs.grants import OWNER_WRITES, grant_audit_append, grant_read_and, metrics_read_policy
from stacks.constructs.lambda_factory import LambdaFactory
from stacks.constructs.tables import Tables

WORKFLOW_HANDLER = "functions.handlers.workflow.lambda_handler"
WORKFLOW_TIMEOUT = Duration.seconds(60)
ASL_SUFFIX = ".asl.json"
FUNCTION_ARN_PLACEHOLDER = "WorkflowFunctionArn"


def asl_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{ASL_SUFFIX}"))


def workflow_name(path: Path) -> str:
    """`gradual_failover.asl.json` -> `GradualFailover`."""
    return "".join(part.capitalize() for part in path.name.removesuffix(ASL_SUFFIX).split("_"))


class Workflows(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        tables: Tables,
        definitions: Path,
        config: StackConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = factory.create(
            self,
            "Function",
            handler=WORKFLOW_HANDLER,
            description="Rollout workflows' Task states: lock, weights, health gates, rollback, cleanup",
            environment={
                **{schema.env_var: tables.table(schema).table_name for schema in (FLAGS, HEALTH, AUDIT)},
                "METRICS_SOURCE": "cloudwatch",
                "ALARM_PREFIX": config.stack_name,
            },
            timeout=WORKFLOW_TIMEOUT,
            memory_size=512,
            service_name="workflow",
        )
        self._grant_function(tables)
        self.state_machines: dict[str, sfn.StateMachine] = {
            workflow_name(path): self._state_machine(path, config.log_retention, config.cdk_removal_policy)
            for path in asl_files(definitions)
        }
        self.cleanup_rule = events.Rule(
            self,
            "CleanupRule",
            description="Releases the lock of a rollout execution that failed, timed out or was aborted",
            event_pattern=events.EventPattern(
                source=[EXECUTION_EVENT_SOURCE],
                detail_type=[EXECUTION_STATUS_CHANGE],
                detail={
                    "status": list(CLEANUP_STATUSES),
                    "stateMachineArn": [machine.state_machine_arn for machine in self.state_machines.values()],
                },
            ),
            targets=[targets.LambdaFunction(self.function, retry_attempts=4, max_event_age=Duration.hours(1))],
        )

    def _grant_function(self, tables: Tables) -> None:
        function = self.function
        grant_read_and(tables.table(FLAGS), function, *OWNER_WRITES)
        tables.table(HEALTH).grant_read_data(function)
        grant_audit_append(tables, function)
        self.metrics_policy = metrics_read_policy(self, function)  # the gates read metrics and alarms

    def _state_machine(
        self, path: Path, log_retention: logs.RetentionDays, removal_policy: RemovalPolicy
    ) -> sfn.StateMachine:
        name = workflow_name(path)
        stem = path.name.removesuffix(ASL_SUFFIX)
        machine_name = f"{Stack.of(self).stack_name}-{stem.replace('_', '-')}"
        # The /aws/vendedlogs/ prefix keeps CloudWatch Logs' resource policy from growing per log group.
        log_group = logs.LogGroup(
            self,
            f"{name}Logs",
            log_group_name=f"/aws/vendedlogs/states/{machine_name}",
            retention=log_retention,
            removal_policy=removal_policy,
        )
        machine = sfn.StateMachine(
            self,
            name,
            state_machine_name=machine_name,
            definition_body=sfn.DefinitionBody.from_string(path.read_text()),
            definition_substitutions={FUNCTION_ARN_PLACEHOLDER: self.function.function_arn},
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )
        self.function.grant_invoke(machine)
        return machine
