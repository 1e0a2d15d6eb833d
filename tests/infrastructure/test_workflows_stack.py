"""The rollout workflows in the synthesized template: one state machine per ASL file, shown as
written, with logging and tracing; the workflow function's grants; the cleanup rule."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from functions.adapters.dynamodb.schema import AUDIT, FLAGS, HEALTH
from functions.handlers.workflow import EXECUTION_STATUS_CHANGE
from stacks.constructs.grants import AUDIT_ACTIONS, METRICS_ACTIONS
from stacks.constructs.workflows import WORKFLOW_HANDLER, workflow_name
from tests.infrastructure.conftest import (
    REPO_ROOT,
    Synthesized,
    function_with_handler,
    role_statements,
    router_function,
)

ASL_FILES = sorted((REPO_ROOT / "statemachines").glob("*.asl.json"))
PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")
TERMINAL_FAILURES = {"FAILED", "TIMED_OUT", "ABORTED"}
AUDIT_MUTATIONS = {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:*"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _workflow_function_id(synthesized: Synthesized) -> str:
    return synthesized.logical_id(synthesized.stack.workflows.function)


def _machine_id(synthesized: Synthesized, path: Path) -> str:
    return synthesized.logical_id(synthesized.stack.workflows.state_machines[workflow_name(path)])


def _machine(synthesized: Synthesized, path: Path) -> dict[str, Any]:
    return synthesized.resources[_machine_id(synthesized, path)]["Properties"]


def _rendered(definition: Any) -> str:
    """The definition as CloudFormation sends it before substitution: a string or an Fn::Join of strings."""
    if isinstance(definition, str):
        return definition
    separator, parts = definition["Fn::Join"]
    assert all(isinstance(part, str) for part in parts), "the definition holds a CloudFormation token"
    return separator.join(parts)


def _cleanup_rule(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.resources[synthesized.logical_id(synthesized.stack.workflows.cleanup_rule)]["Properties"]


def test_the_stack_has_one_state_machine_per_asl_file(synthesized: Synthesized) -> None:
    # Given the four ASL files / When counting state machines
    assert len(ASL_FILES) == 4
    # Then each file has its own state machine
    synthesized.template.resource_count_is("AWS::StepFunctions::StateMachine", len(ASL_FILES))
    assert {workflow_name(path) for path in ASL_FILES} == set(synthesized.stack.workflows.state_machines)


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda path: path.name)
def test_each_definition_string_is_its_asl_file_as_written(synthesized: Synthesized, path: Path) -> None:
    # Given the state machine of the file / When rendering its definition
    definition = _rendered(_machine(synthesized, path)["DefinitionString"])
    # Then the template shows the file unchanged, placeholders included
    assert definition == path.read_text()


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda path: path.name)
def test_each_placeholder_is_substituted_with_the_workflow_function_arn(synthesized: Synthesized, path: Path) -> None:
    # Given the placeholders of the file / When reading the machine's substitutions
    placeholders = set(PLACEHOLDER.findall(path.read_text()))
    substitutions = _machine(synthesized, path)["DefinitionSubstitutions"]
    # Then every placeholder, and only these, is the workflow function's ARN
    assert placeholders == set(substitutions) == {"WorkflowFunctionArn"}
    assert substitutions["WorkflowFunctionArn"] == {"Fn::GetAtt": [_workflow_function_id(synthesized), "Arn"]}


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda path: path.name)
def test_each_state_machine_logs_every_event_without_execution_data_and_traces(
    synthesized: Synthesized, path: Path
) -> None:
    # Given the state machine of the file
    machine = _machine(synthesized, path)
    logging = machine["LoggingConfiguration"]
    (destination,) = logging["Destinations"]
    log_group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    # Then it logs ALL events to a log group of its own, without inputs and outputs, and is traced
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is False
    assert synthesized.resources[log_group_id]["Type"] == "AWS::Logs::LogGroup"
    assert synthesized.resources[log_group_id]["Properties"]["RetentionInDays"] == synthesized.config.log_retention_days
    assert machine["TracingConfiguration"] == {"Enabled": True}


def test_every_state_machine_has_a_log_group_of_its_own(synthesized: Synthesized) -> None:
    log_groups = [
        _machine(synthesized, path)["LoggingConfiguration"]["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]
        for path in ASL_FILES
    ]
    assert ASL_FILES
    assert len({json.dumps(group) for group in log_groups}) == len(ASL_FILES)


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda path: path.name)
def test_each_state_machine_role_may_invoke_the_workflow_function(synthesized: Synthesized, path: Path) -> None:
    # Given the machine's role / When reading its Lambda statements
    role_id = _machine(synthesized, path)["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        statement
        for policy in synthesized.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "lambda:" in json.dumps(statement["Action"])
    ]
    # Then it invokes the workflow function (and its versions) and no other function
    resources = {json.dumps(resource) for statement in statements for resource in _as_list(statement["Resource"])}
    assert statements
    assert all(_workflow_function_id(synthesized) in resource for resource in resources)


def test_the_cleanup_rule_matches_the_terminal_failures_of_exactly_these_state_machines(
    synthesized: Synthesized,
) -> None:
    # Given the cleanup rule / When reading its pattern
    pattern = _cleanup_rule(synthesized)["EventPattern"]
    # Then it matches failed, timed-out and aborted executions of the four machines, nothing else
    assert ASL_FILES
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == [EXECUTION_STATUS_CHANGE]
    assert set(pattern["detail"]["status"]) == TERMINAL_FAILURES
    assert sorted(pattern["detail"]["stateMachineArn"], key=json.dumps) == sorted(
        ({"Ref": _machine_id(synthesized, path)} for path in ASL_FILES), key=json.dumps
    )


def test_the_cleanup_rule_invokes_the_workflow_function(synthesized: Synthesized) -> None:
    # Given the cleanup rule's target
    (target,) = _cleanup_rule(synthesized)["Targets"]
    function_arn = {"Fn::GetAtt": [_workflow_function_id(synthesized), "Arn"]}
    # Then it is the workflow function, which EventBridge may invoke
    assert target["Arn"] == function_arn
    assert any(
        p["Properties"]["Principal"] == "events.amazonaws.com" and p["Properties"]["FunctionName"] == function_arn
        for p in synthesized.of_type("AWS::Lambda::Permission").values()
    )


def test_the_workflow_function_reads_the_tables_the_router_uses(synthesized: Synthesized) -> None:
    # Given the workflow function's environment
    variables = function_with_handler(synthesized, WORKFLOW_HANDLER)["Properties"]["Environment"]["Variables"]
    router = router_function(synthesized)["Properties"]["Environment"]["Variables"]
    # Then the flags, audit and health tables are the router's, and the gates read CloudWatch
    for schema in (FLAGS, AUDIT, HEALTH):
        assert variables[schema.env_var] == router[schema.env_var]
    assert variables["METRICS_SOURCE"] == "cloudwatch"
    assert variables["ALARM_PREFIX"] == synthesized.config.stack_name


def _actions_on(synthesized: Synthesized, env_var: str) -> set[str]:
    """The workflow role's actions on the table (its ARN or anything under it), or on every resource."""
    function = function_with_handler(synthesized, WORKFLOW_HANDLER)
    table_id = function["Properties"]["Environment"]["Variables"][env_var]["Ref"]
    return {
        action
        for statement in role_statements(synthesized, function)
        if statement["Effect"] == "Allow"
        and any(resource == "*" or table_id in json.dumps(resource) for resource in _as_list(statement["Resource"]))
        for action in _as_list(statement["Action"])
        if action.startswith("dynamodb:")
    }


def test_the_workflow_role_only_appends_to_the_audit_table(synthesized: Synthesized) -> None:
    # Given the workflow role's DynamoDB actions on the audit table
    actions = _actions_on(synthesized, AUDIT.env_var)
    # Then it puts, queries and gets; it can neither rewrite nor remove a record
    assert actions == set(AUDIT_ACTIONS)
    assert not actions & AUDIT_MUTATIONS


def test_the_workflow_role_writes_flags_and_only_reads_health(synthesized: Synthesized) -> None:
    assert {"dynamodb:PutItem", "dynamodb:GetItem"} <= _actions_on(synthesized, FLAGS.env_var)
    health = _actions_on(synthesized, HEALTH.env_var)
    assert "dynamodb:GetItem" in health
    assert not health & {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}


def test_the_workflow_role_reads_metrics_and_alarm_states(synthesized: Synthesized) -> None:
    function = function_with_handler(synthesized, WORKFLOW_HANDLER)
    actions = {
        action
        for statement in role_statements(synthesized, function)
        for action in _as_list(statement["Action"])
        if action.startswith("cloudwatch:")
    }
    assert actions == set(METRICS_ACTIONS)


def test_each_state_machine_arn_is_an_output(synthesized: Synthesized) -> None:
    outputs = synthesized.outputs
    assert ASL_FILES
    for path in ASL_FILES:
        assert outputs[f"{workflow_name(path)}StateMachineArn"]["Value"] == {"Ref": _machine_id(synthesized, path)}


def test_cdk_nag_finds_nothing_unacknowledged_with_the_workflows(synthesized: Synthesized) -> None:
    assert synthesized.nag_violations == []


def test_cfn_lint_finds_no_problem_with_the_workflows(synthesized: Synthesized) -> None:
    assert synthesized.cfn_lint_problems == []
