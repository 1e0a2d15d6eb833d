"""ASL executed by moto's Step Functions, with Lambda tasks bound to in-process handlers."""

from __future__ import annotations

import json
import uuid

import boto3

from local.lambda_binding import bind, configure_moto, create_function
from tests.polling import eventually
from tests.support import use_local_moto


class RolloutLocked(Exception):
    pass


def _double(event, _context):
    return {"value": event["value"] * 2}


def _locked(_event, _context):
    raise RolloutLocked("bedrock is being rolled out by another execution")


def _definition(function_arn: str, failing_arn: str) -> str:
    return json.dumps(
        {
            "StartAt": "Double",
            "States": {
                "Double": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": function_arn, "Payload.$": "$"},
                    "ResultSelector": {"value.$": "$.Payload.value"},
                    "Next": "Locked",
                },
                "Locked": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": failing_arn, "Payload.$": "$"},
                    "Catch": [{"ErrorEquals": ["RolloutLocked"], "ResultPath": "$.error", "Next": "Refused"}],
                    "End": True,
                },
                "Refused": {"Type": "Pass", "End": True},
            },
        }
    )


def test_a_task_calls_our_handler_and_a_typed_error_is_caught_by_name(local_stack, monkeypatch):
    use_local_moto(monkeypatch, local_stack)
    configure_moto(local_stack.moto_url)
    suffix = uuid.uuid4().hex[:8]
    bind({f"double-{suffix}": _double, f"locked-{suffix}": _locked})
    lambdas, iam = boto3.client("lambda"), boto3.client("iam")
    double = create_function(lambdas, f"double-{suffix}", iam)
    locked = create_function(lambdas, f"locked-{suffix}", iam)
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"binding-{suffix}", definition=_definition(double, locked), roleArn="arn:aws:iam::123456789012:role/x"
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name=f"run-{suffix}", input=json.dumps({"value": 21}))
    described = eventually(
        lambda: sfn.describe_execution(executionArn=execution["executionArn"]),
        lambda described: described["status"] != "RUNNING",
        timeout=30,
        what="the execution finished",
    )
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["value"] == 42
    assert output["error"]["Error"] == "RolloutLocked"
