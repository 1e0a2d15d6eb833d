"""The health checker: a function run every minute by an EventBridge schedule that probes the providers,
records their health and publishes transitions on the default bus."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from functions.adapters.dynamodb.schema import HEALTH
from functions.domain.thresholds import HEALTH_PROBE_TIMEOUT_SECONDS
from stacks.constructs.grants import OWNER_WRITES, grant_read_and
from stacks.constructs.lambda_factory import LambdaFactory
from stacks.constructs.providers import ProviderAccess

HEALTH_CHECK_HANDLER = "functions.handlers.health_check.lambda_handler"
HEALTH_CHECK_SCHEDULE = "rate(1 minute)"
EVENT_BUS_NAME = "default"
# Probes run in parallel within the probe timeout; the rest is reads, writes and a cold start.
HEALTH_CHECK_TIMEOUT = Duration.seconds(int(HEALTH_PROBE_TIMEOUT_SECONDS) + 25)


class HealthChecker(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        health_table: dynamodb.ITable,
        providers: ProviderAccess,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function: lambda_.Function = factory.create(
            self,
            "Function",
            handler=HEALTH_CHECK_HANDLER,
            description="Probes every configured provider each minute; records health, publishes transitions",
            environment={
                HEALTH.env_var: health_table.table_name,
                "EVENT_BUS_NAME": EVENT_BUS_NAME,
                **providers.environment,
            },
            timeout=HEALTH_CHECK_TIMEOUT,
            service_name="health-check",
        )
        grant_read_and(health_table, self.function, *OWNER_WRITES)
        bus = events.EventBus.from_event_bus_name(self, "DefaultBus", EVENT_BUS_NAME)
        bus.grant_put_events_to(self.function)
        providers.grant(self.function)
        self.rule = events.Rule(
            self,
            "Schedule",
            description="Runs the provider health checks",
            schedule=events.Schedule.expression(HEALTH_CHECK_SCHEDULE),
            # A missed run is not retried: the next one is a minute away and reads fresher state.
            targets=[targets.LambdaFunction(self.function, retry_attempts=0, max_event_age=Duration.minutes(1))],
        )
