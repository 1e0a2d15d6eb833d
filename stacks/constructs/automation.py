"""Alarm-driven automation: the automation function and the EventBridge rules that invoke it.

* the per-provider failover alarms entering ALARM (names starting with
  f"{alarm_prefix}-provider-failover-"): a failover of that provider;
* the health checker's `Provider Health Changed` events to unhealthy (default bus): an immediate failover;
* a one-minute schedule: the failback check.

The rules' patterns are functions/shared/event_patterns.py's, the same the local stack's bus matches.
The function may start executions of the rollout state machines (StartExecution on those four
only), read and write the flags table (its claims and cooldowns,
the route's weights), read the health table, append to the audit trail and read metrics and alarms.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions.adapters.dynamodb.schema import AUDIT, FLAGS, HEALTH
from functions.domain.rollout.plan import RolloutKind
from functions.shared.event_patterns import alarm_pattern, unhealthy_pattern
from stacks.config import StackConfig
from stacks.constructs.grants import OWNER_WRITES, grant_audit_append, grant_read_and, metrics_read_policy
from stacks.constructs.lambda_factory import LambdaFactory
from stacks.constructs.tables import Tables
from stacks.constructs.workflows import ASL_SUFFIX, workflow_name

AUTOMATION_HANDLER = "functions.handlers.automation.lambda_handler"
AUTOMATION_TIMEOUT = Duration.seconds(30)
FAILBACK_CHECK_SCHEDULE = "rate(1 minute)"  # thresholds.FAILBACK_CHECK_INTERVAL_SECONDS
EVENT_RETRY_ATTEMPTS = 2


def cdk_pattern(pattern: Mapping[str, Any]) -> events.EventPattern:
    """An event_patterns dict as CDK's EventPattern (it renders back to the same JSON)."""
    return events.EventPattern(
        source=list(pattern["source"]), detail_type=list(pattern["detail-type"]), detail=dict(pattern["detail"])
    )


class Automation(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        tables: Tables,
        state_machines: Mapping[str, sfn.StateMachine],
        config: StackConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        alarm_prefix = config.stack_name
        machines = {kind: state_machines[workflow_name(Path(f"{kind.value}{ASL_SUFFIX}"))] for kind in RolloutKind}
        self.function = factory.create(
            self,
            "Function",
            handler=AUTOMATION_HANDLER,
            description="Starts failovers from failover alarms and health events, and failbacks after recovery",
            environment={
                **{schema.env_var: tables.table(schema).table_name for schema in (FLAGS, HEALTH, AUDIT)},
                "STATE_MACHINE_ARNS": Stack.of(self).to_json_string(
                    {kind.value: machine.state_machine_arn for kind, machine in machines.items()}
                ),
                "ALARM_PREFIX": alarm_prefix,
                "DIRECT_PROVIDERS": config.direct_providers,
                "METRICS_SOURCE": "cloudwatch",
            },
            timeout=AUTOMATION_TIMEOUT,
            memory_size=512,
            service_name="automation",
        )
        self._grant(tables, machines.values())
        target = targets.LambdaFunction(
            self.function, retry_attempts=EVENT_RETRY_ATTEMPTS, max_event_age=Duration.hours(1)
        )
        self.alarm_rule = events.Rule(
            self,
            "FailoverAlarmRule",
            description="A provider failover alarm entered ALARM: fail that provider over",
            event_pattern=cdk_pattern(alarm_pattern(alarm_prefix)),
            targets=[target],
        )
        self.health_rule = events.Rule(
            self,
            "UnhealthyRule",
            description="The health checker marked a provider unhealthy: fail it over at once",
            event_pattern=cdk_pattern(unhealthy_pattern()),
            targets=[target],
        )
        self.failback_rule = events.Rule(
            self,
            "FailbackSchedule",
            description="Checks failed-over providers for recovery; starts their failback after the hysteresis",
            schedule=events.Schedule.expression(FAILBACK_CHECK_SCHEDULE),
            # A missed check is not retried: the next one is a minute away and reads fresher state.
            targets=[targets.LambdaFunction(self.function, retry_attempts=0, max_event_age=Duration.minutes(1))],
        )

    def _grant(self, tables: Tables, machines: Any) -> None:
        function: lambda_.Function = self.function
        grant_read_and(tables.table(FLAGS), function, *OWNER_WRITES)
        tables.table(HEALTH).grant_read_data(function)
        grant_audit_append(tables, function)
        self.metrics_policy = metrics_read_policy(self, function)  # recovery: metrics and the provider's alarms
        for machine in machines:
            machine.grant_start_execution(function)
