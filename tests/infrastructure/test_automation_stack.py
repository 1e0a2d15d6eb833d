"""Alarm-driven automation in the synthesized template: the rules' patterns are event_patterns' (the
ones the local bus matches), the schedule, the function's environment, and its permissions scoped
to what it does."""

from __future__ import annotations

import json
from typing import Any

from functions.adapters.dynamodb.schema import AUDIT, FLAGS, HEALTH
from functions.domain.rollout.plan import RolloutKind
from functions.shared.event_patterns import alarm_pattern, unhealthy_pattern
from stacks.constructs.automation import AUTOMATION_HANDLER, FAILBACK_CHECK_SCHEDULE
from stacks.constructs.grants import AUDIT_ACTIONS, METRICS_ACTIONS
from tests.infrastructure.conftest import Synthesized, function_with_handler, role_statements, router_function

TABLE_MUTATIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _function(synthesized: Synthesized) -> dict[str, Any]:
    return function_with_handler(synthesized, AUTOMATION_HANDLER)


def _rule(synthesized: Synthesized, rule: Any) -> dict[str, Any]:
    return synthesized.resources[synthesized.logical_id(rule)]["Properties"]


def _function_arn(synthesized: Synthesized) -> dict[str, Any]:
    return {"Fn::GetAtt": [synthesized.logical_id(synthesized.stack.automation.function), "Arn"]}


def _statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    return [s for s in role_statements(synthesized, _function(synthesized)) if s["Effect"] == "Allow"]


def _machine_refs(synthesized: Synthesized) -> list[dict[str, str]]:
    machines = synthesized.stack.workflows.state_machines.values()
    assert len(machines) == len(RolloutKind)
    return sorted(({"Ref": synthesized.logical_id(m)} for m in machines), key=json.dumps)


def _dynamodb_actions_on(synthesized: Synthesized, env_var: str) -> set[str]:
    table_id = _function(synthesized)["Properties"]["Environment"]["Variables"][env_var]["Ref"]
    return {
        action
        for statement in _statements(synthesized)
        if any(resource == "*" or table_id in json.dumps(resource) for resource in _as_list(statement["Resource"]))
        for action in _as_list(statement["Action"])
        if action.startswith("dynamodb:")
    }


def test_the_alarm_rule_pattern_is_the_shared_failover_alarm_pattern(synthesized: Synthesized) -> None:
    # Given the rule for the provider failover alarms / Then its pattern is event_patterns', for this stack's prefix
    rule = _rule(synthesized, synthesized.stack.automation.alarm_rule)
    assert rule["EventPattern"] == alarm_pattern(synthesized.config.stack_name)
    assert rule["EventPattern"]["detail"]["alarmName"] == [
        {"prefix": f"{synthesized.config.stack_name}-provider-failover-"}
    ]


def test_the_health_rule_pattern_is_the_shared_unhealthy_pattern_on_the_checker_bus(synthesized: Synthesized) -> None:
    rule = _rule(synthesized, synthesized.stack.automation.health_rule)
    assert rule["EventPattern"] == unhealthy_pattern()
    # no EventBusName: the default bus, where the health checker puts its events
    assert "EventBusName" not in rule


def test_the_failback_check_runs_every_minute(synthesized: Synthesized) -> None:
    rule = _rule(synthesized, synthesized.stack.automation.failback_rule)
    assert rule["ScheduleExpression"] == FAILBACK_CHECK_SCHEDULE == "rate(1 minute)"


def test_every_automation_rule_invokes_the_automation_function(synthesized: Synthesized) -> None:
    automation = synthesized.stack.automation
    for rule in (automation.alarm_rule, automation.health_rule, automation.failback_rule):
        (target,) = _rule(synthesized, rule)["Targets"]
        assert target["Arn"] == _function_arn(synthesized)
    permissions = [
        p["Properties"]
        for p in synthesized.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == _function_arn(synthesized)
    ]
    assert len(permissions) == 3 and all(p["Principal"] == "events.amazonaws.com" for p in permissions)


def test_the_function_knows_the_four_state_machines_by_kind(synthesized: Synthesized) -> None:
    variables = _function(synthesized)["Properties"]["Environment"]["Variables"]
    rendered = json.dumps(variables["STATE_MACHINE_ARNS"])
    for kind in RolloutKind:
        assert f'\\"{kind.value}\\":' in rendered
    for ref in _machine_refs(synthesized):
        assert json.dumps(ref) in rendered
    router = router_function(synthesized)["Properties"]["Environment"]["Variables"]
    for schema in (FLAGS, HEALTH, AUDIT):
        assert variables[schema.env_var] == router[schema.env_var]
    assert variables["ALARM_PREFIX"] == synthesized.config.stack_name


def test_the_function_may_start_executions_of_the_four_machines_only(synthesized: Synthesized) -> None:
    states = [s for s in _statements(synthesized) if any(a.startswith("states:") for a in _as_list(s["Action"]))]
    actions = {a for s in states for a in _as_list(s["Action"])}
    resources = sorted((r for s in states for r in _as_list(s["Resource"])), key=json.dumps)
    assert actions == {"states:StartExecution"}
    assert resources == _machine_refs(synthesized)


def test_the_function_writes_flags_only_reads_health_and_only_appends_to_the_audit_trail(
    synthesized: Synthesized,
) -> None:
    assert {"dynamodb:PutItem", "dynamodb:GetItem"} <= _dynamodb_actions_on(synthesized, FLAGS.env_var)
    health = _dynamodb_actions_on(synthesized, HEALTH.env_var)
    assert "dynamodb:BatchGetItem" in health and not health & TABLE_MUTATIONS
    assert _dynamodb_actions_on(synthesized, AUDIT.env_var) == set(AUDIT_ACTIONS)


def test_the_function_reads_metrics_and_alarms_and_nothing_else_of_cloudwatch(synthesized: Synthesized) -> None:
    actions = {a for s in _statements(synthesized) for a in _as_list(s["Action"]) if a.startswith("cloudwatch:")}
    assert actions == set(METRICS_ACTIONS)
