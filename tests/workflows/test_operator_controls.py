"""Operator controls on running executions (moto's Step Functions, the workflow Lambda bound in-process):
abort, manual approval between steps (approve, reject, no answer in time), dry run, and the audit trail
of every transition. The admin API's part is played here by the RolloutStore calls and the Step
Functions callbacks it makes (see the functions/adapters/dynamodb/rollouts.py docstring)."""

from __future__ import annotations

import json
from typing import Any

from functions.domain.rollout.plan import ApprovalRejected, RolloutAborted
from tests.workflows.conftest import START, rollout_input, send

STEPS = [25, 100]
FIRST_STEP = {"bedrock": 25, "google": 45, "meta": 30}  # bedrock's step; google and meta keep their 3:2
END = {"bedrock": 100, "google": 0, "meta": 0}


def approval(timeout_s: int = 30) -> dict[str, Any]:
    return {"required": True, "timeoutSeconds": timeout_s}


def at_first_step(route: dict[str, Any]) -> bool:
    return bool(route["lock"]) and route["lock"]["step"] == 0


def awaiting_approval(route: dict[str, Any]) -> bool:
    return bool(route["lock"]) and route["lock"]["approvalPending"]


def start_until_approval(workflows, chat, name: str = "canary", **extra: Any) -> tuple[str, dict[str, Any]]:
    """A healthy rollout started with approval on; its execution ARN and the route once it waits."""
    workflows.seed(START)
    send(chat, 10)
    execution_input = rollout_input("google", "bedrock", **{"steps": STEPS, "approval": approval(), **extra})
    arn = workflows.start(workflows.machine(name), execution_input)
    return arn, workflows.until(awaiting_approval)


def end_the_wait(workflows, arn: str, token: str | None, error: str, cause: str):
    """The admin API's part after taking the token: fail the waiting task, then the execution's end."""
    assert token is not None
    workflows.sfn.send_task_failure(taskToken=token, error=error, cause=cause)
    return workflows.wait(arn)


# --- abort ---------------------------------------------------------------------------------------
def test_an_abort_while_the_canary_bakes_rolls_back_to_the_starting_weights(workflows, chat):
    workflows.seed(START)
    send(chat, 10)
    arn = workflows.start(workflows.machine("canary"), rollout_input("google", "bedrock", steps=STEPS, bakeSeconds=1))
    assert workflows.until(at_first_step)["weights"] == FIRST_STEP

    token, _ = workflows.deps.rollouts.request_abort("alice", "wrong build", "operator")
    done = workflows.wait(arn)

    assert token is None  # it was baking, not waiting for an approval: the gate reads the flag
    assert (done.status, done.error) == ("FAILED", "RolloutAborted"), done.cause
    route = workflows.route()
    assert route["weights"] == START and route["lock"] is None
    assert workflows.audit_actions()[-2:] == ["rollout.abort", "rollout.rollback"]


# --- manual approval -------------------------------------------------------------------------------
def test_an_approved_canary_goes_on_to_100_percent(workflows, chat):
    arn, waiting = start_until_approval(workflows, chat)
    assert waiting["weights"] == FIRST_STEP and waiting["lock"]["phase"] == "awaiting_approval"

    token, _ = workflows.deps.rollouts.take_approval("alice", "operator", "dashboards look good")
    workflows.sfn.send_task_success(taskToken=token, output=json.dumps({"approvedBy": "alice"}))
    done = workflows.wait(arn)

    assert done.status == "SUCCEEDED", (done.error, done.cause)
    route = workflows.route()
    assert route["weights"] == END and route["lock"] is None
    assert workflows.states_entered(arn).count("AwaitApproval") == 1  # after the first gate, never after the last
    assert done.output["approved"] == {"approvedBy": "alice"}


def test_an_unanswered_approval_rolls_the_canary_back(workflows, chat):
    arn, _ = start_until_approval(workflows, chat, approval=approval(timeout_s=1))

    done = workflows.wait(arn)

    assert (done.status, done.error) == ("FAILED", "ApprovalTimedOut"), done.cause
    route = workflows.route()
    assert route["weights"] == START and route["lock"] is None
    assert workflows.audit_actions()[-3:] == ["rollout.approval.wait", "rollout.approval.timeout", "rollout.rollback"]


def test_an_unanswered_approval_stops_a_failback_where_it_is(workflows, chat):
    arn, _ = start_until_approval(workflows, chat, "failback", approval=approval(timeout_s=1))

    done = workflows.wait(arn)

    assert (done.status, done.error) == ("FAILED", "ApprovalTimedOut"), done.cause
    assert "weights reached are kept" in done.cause
    route = workflows.route()
    assert route["weights"] == FIRST_STEP and route["lock"] is None
    assert workflows.audit_actions()[-3:] == ["rollout.approval.wait", "rollout.approval.timeout", "rollout.release"]


def test_a_rejected_step_rolls_the_canary_back(workflows, chat):
    arn, _ = start_until_approval(workflows, chat)

    token, _ = workflows.deps.rollouts.take_approval("alice", "operator", "error budget spent", approved=False)
    done = end_the_wait(workflows, arn, token, ApprovalRejected.__name__, "error budget spent")

    assert (done.status, done.error) == ("FAILED", "ApprovalRejected"), done.cause
    assert workflows.route()["weights"] == START and workflows.route()["lock"] is None
    assert workflows.audit_actions()[-3:] == ["rollout.approval.wait", "rollout.approval.reject", "rollout.rollback"]


def test_an_abort_while_waiting_for_approval_ends_the_wait_and_rolls_back(workflows, chat):
    arn, _ = start_until_approval(workflows, chat)

    token, _ = workflows.deps.rollouts.request_abort("alice", "wrong build", "operator")
    done = end_the_wait(workflows, arn, token, RolloutAborted.__name__, "wrong build")

    assert (done.status, done.error) == ("FAILED", "RolloutAborted"), done.cause
    assert workflows.route()["weights"] == START and workflows.route()["lock"] is None
    assert workflows.audit_actions()[-3:] == ["rollout.approval.wait", "rollout.abort", "rollout.rollback"]


def test_a_rejected_step_stops_a_gradual_failover_where_it_is(workflows, chat):
    arn, waiting = start_until_approval(workflows, chat, "gradual_failover", steps=[20, 0])
    first_phase = {"bedrock": 60, "google": 20, "meta": 20}  # google drained to 20, bedrock takes the rest
    assert waiting["weights"] == first_phase

    token, _ = workflows.deps.rollouts.take_approval("alice", "operator", "hold here", approved=False)
    done = end_the_wait(workflows, arn, token, ApprovalRejected.__name__, "hold here")

    assert (done.status, done.error) == ("FAILED", "ApprovalRejected"), done.cause
    route = workflows.route()
    assert route["weights"] == first_phase and route["lock"] is None


# --- dry run ---------------------------------------------------------------------------------------
def test_a_dry_run_evaluates_every_gate_but_never_moves_the_weights(workflows, chat):
    workflows.seed(START)
    send(chat, 10)

    done = workflows.run("canary", rollout_input("google", "bedrock", steps=[10, 50, 100], dryRun=True))

    assert done.status == "SUCCEEDED", (done.error, done.cause)
    route = workflows.route()
    assert route["weights"] == START and route["lock"] is None
    assert workflows.states_entered(done.arn).count("EvaluateGate") == 3
    steps = [r for r in workflows.config.audit.records() if r.entry.action == "rollout.step"]
    assert len(steps) == 3 and all(r.entry.after["weights"] == START for r in steps)


# --- the audit trail ---------------------------------------------------------------------------------
def test_every_transition_of_a_canary_is_in_the_audit_trail_in_order(workflows, chat):
    arn, _ = start_until_approval(workflows, chat)
    token, _ = workflows.deps.rollouts.take_approval("alice", "operator", "go on")
    workflows.sfn.send_task_success(taskToken=token, output="{}")
    assert workflows.wait(arn).status == "SUCCEEDED"

    records = list(workflows.config.audit.records())[1:]  # after the seed

    assert [r.entry.action for r in records] == [
        "rollout.acquire",
        "rollout.step",
        "rollout.gate.proceed",
        "rollout.approval.wait",
        "rollout.approval.grant",
        "rollout.step",
        "rollout.gate.proceed",
        "rollout.release",
    ]
    assert {r.entry.actor for r in records} == {arn, "alice"}
    assert [r.entry.after["weights"] for r in records if r.entry.action == "rollout.step"] == [FIRST_STEP, END]
    assert all(token not in json.dumps(r.as_dict()) for r in records)
