"""The runbooks' alarms: one CloudWatch alarm per definition of `functions/domain/alarms/definitions.py`, one SNS
topic per severity (alarm and OK actions), and the "complete system outage" composite. With the
rollout state machines, `failover_failure` too (it reads their Step Functions metrics by ARN).

Nothing here holds a number: thresholds, statistics, periods and missing-data treatment come from the
definitions, which take them from `functions/domain/thresholds.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from aws_cdk import Duration, Tags
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions.domain.alarms.definitions import (
    SEVERITIES,
    AlarmDefinition,
    CompositeDefinition,
    MetricQuery,
    Severity,
    alarm_definitions,
    failover_failure,
    system_outage,
)
from stacks.config import StackConfig

SEVERITY_TAG = "severity"


def metric_of(query: MetricQuery, period_s: int) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=query.namespace,
        metric_name=query.metric,
        dimensions_map=query.dimension_map,
        statistic=query.statistic,
        period=Duration.seconds(period_s),
    )


def watched(definition: AlarmDefinition) -> cloudwatch.IMetric:
    """The single metric, or the metric-math expression over the definition's queries."""
    if definition.ratio is None:
        (query,) = definition.queries
        return metric_of(query, definition.period_s)
    return cloudwatch.MathExpression(
        expression=definition.ratio.expression(),
        using_metrics={q.id: metric_of(q, definition.period_s) for q in definition.queries},
        period=Duration.seconds(definition.period_s),
        label=definition.slug,
    )


class RunbookAlarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        state_machines: Mapping[str, sfn.IStateMachine] | None = None,
    ) -> None:
        """`state_machines`: the Workflows construct's machines by name (`GradualFailover`), for failover_failure."""
        super().__init__(scope, construct_id)
        self.alarm_prefix = config.stack_name
        self.key = kms.Key(
            self,
            "TopicsKey",
            description="Encrypts the alarm topics; CloudWatch alarms may use it to publish",
            enable_key_rotation=True,
            removal_policy=config.cdk_removal_policy,
        )
        # CloudWatch publishes to an encrypted topic only with a key it may use (not aws/sns).
        self.key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        self.topics: dict[Severity, sns.Topic] = {
            severity: self._topic(severity, config.alarm_email) for severity in SEVERITIES
        }
        self.definitions = alarm_definitions()
        if state_machines:
            arns = {rollout_kind(name): machine.state_machine_arn for name, machine in state_machines.items()}
            self.definitions = (*self.definitions, failover_failure(arns))
        self.alarms: dict[str, cloudwatch.Alarm] = {d.key: self._alarm(d) for d in self.definitions}
        self.outage_definition = system_outage(config.direct)
        self.outage = self._composite(self.outage_definition)

    def _topic(self, severity: Severity, alarm_email: str | None) -> sns.Topic:
        topic = sns.Topic(
            self,
            f"{severity.title()}Topic",
            topic_name=f"{self.alarm_prefix}-alarms-{severity}",
            display_name=f"Hybrid Routing {severity} alarms",
            master_key=self.key,
            enforce_ssl=True,
        )
        if alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        Tags.of(topic).add(SEVERITY_TAG, severity)
        return topic

    def _notify(self, alarm: cloudwatch.AlarmBase, severity: Severity) -> None:
        action = actions.SnsAction(self.topics[severity])
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        Tags.of(alarm).add(SEVERITY_TAG, severity)

    def _alarm(self, definition: AlarmDefinition) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            _construct_id(definition.key),
            alarm_name=definition.name(self.alarm_prefix),
            alarm_description=_description(definition.severity, definition.summary, definition.runbook),
            metric=watched(definition),
            threshold=definition.threshold,
            comparison_operator=_COMPARISON[definition.comparison],
            evaluation_periods=definition.evaluation_periods,
            datapoints_to_alarm=definition.datapoints_to_alarm,
            treat_missing_data=_MISSING[definition.treat_missing_data],
        )
        self._notify(alarm, definition.severity)
        return alarm

    def _composite(self, definition: CompositeDefinition) -> cloudwatch.CompositeAlarm:
        members = [
            cloudwatch.AlarmRule.from_alarm(self.alarms[k], cloudwatch.AlarmState.ALARM) for k in definition.all_of
        ]
        composite = cloudwatch.CompositeAlarm(
            self,
            _construct_id(definition.key),
            composite_alarm_name=definition.name(self.alarm_prefix),
            alarm_description=_description(definition.severity, definition.summary, definition.runbook),
            alarm_rule=cloudwatch.AlarmRule.all_of(*members),
        )
        self._notify(composite, definition.severity)
        return composite


_COMPARISON = {
    "GreaterThanThreshold": cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    "GreaterThanOrEqualToThreshold": cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    "LessThanThreshold": cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    "LessThanOrEqualToThreshold": cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
}
_MISSING = {
    "breaching": cloudwatch.TreatMissingData.BREACHING,
    "notBreaching": cloudwatch.TreatMissingData.NOT_BREACHING,
    "ignore": cloudwatch.TreatMissingData.IGNORE,
    "missing": cloudwatch.TreatMissingData.MISSING,
}


def rollout_kind(workflow: str) -> str:
    """A Workflows construct name (`GradualFailover`) as its rollout kind (`gradual_failover`)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", workflow).lower()


def _construct_id(key: str) -> str:
    return "".join(part.title() for part in key.split("-")) + "Alarm"


def _description(severity: Severity, summary: str, runbook: str) -> str:
    return f"[{severity}] {summary}. Runbook: {runbook}"
