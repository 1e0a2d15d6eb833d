"""Static checks of every state machine in statemachines/: the structure Step Functions would reject
or that would hide a bug (a dangling Next, an unreachable state, a Task without error handling)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from functions.domain.rollout.errors import CAUGHT, RETRYABLE, TASK_TIMEOUT
from functions.domain.thresholds import (
    APPROVAL_TIMEOUT_MAX_SECONDS,
    CANARY_BAKE_SECONDS,
    CANARY_STEPS,
    FAILBACK_BAKE_SECONDS,
    FAILBACK_STEPS,
    ROLLOUT_EXECUTION_TIMEOUT_SECONDS,
)
from tests.paths import STATEMACHINES

FILES = sorted(STATEMACHINES.glob("*.asl.json"))
EXPECTED = {"canary", "failback", "gradual_failover", "immediate_failover"}
LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
KNOWN_ERRORS = {*CAUGHT, *RETRYABLE, *LAMBDA_ERRORS, TASK_TIMEOUT, "States.ALL"}
TERMINAL = {"Succeed", "Fail"}
INVOKE = "arn:aws:states:::lambda:invoke"
WAIT_FOR_TOKEN = f"{INVOKE}.waitForTaskToken"
GATED = {"canary", "failback", "gradual_failover"}  # the workflows with health gates and manual approval


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _targets(state: dict[str, Any]) -> list[str]:
    found = [state["Next"]] if "Next" in state else []
    found += [choice["Next"] for choice in state.get("Choices", [])]
    found += [state["Default"]] if "Default" in state else []
    found += [c["Next"] for c in state.get("Catch", [])]
    return found


def _reachable(machine: dict[str, Any]) -> set[str]:
    seen, todo = set(), [machine["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen or name not in machine["States"]:
            continue
        seen.add(name)
        todo.extend(_targets(machine["States"][name]))
    return seen


def test_every_workflow_has_its_file():
    assert {p.name.removesuffix(".asl.json") for p in FILES} >= EXPECTED


@pytest.fixture(params=FILES, ids=lambda p: p.name)
def machine(request) -> dict[str, Any]:
    return _load(request.param)


def test_is_valid_json_with_jsonpath_only(machine):
    assert machine.get("QueryLanguage", "JSONPath") == "JSONPath"
    for name, state in machine["States"].items():
        assert state.get("QueryLanguage", "JSONPath") == "JSONPath", name
        assert "Arguments" not in state and "Output" not in state and "Assign" not in state, name
    assert "{%" not in json.dumps(machine)  # no JSONata expression anywhere


def test_every_target_exists_and_every_state_is_reachable(machine):
    states = machine["States"]
    assert machine["StartAt"] in states
    for name, state in states.items():
        for target in _targets(state):
            assert target in states, f"{name} -> {target}"
    assert _reachable(machine) == set(states), set(states) - _reachable(machine)


def test_every_state_ends_or_goes_on(machine):
    for name, state in machine["States"].items():
        if state["Type"] in TERMINAL:
            assert "Next" not in state and "End" not in state, name
        elif state["Type"] == "Choice":
            assert state["Choices"] and "Default" in state, name
        else:
            assert ("Next" in state) != bool(state.get("End")), name


def test_there_is_a_way_out_from_every_state(machine):
    states = machine["States"]
    exits = {n for n, s in states.items() if s["Type"] in TERMINAL or s.get("End")}
    for name in states:
        sub = {"StartAt": name, "States": states}
        assert _reachable(sub) & exits, f"{name} can never end"


def test_every_task_invokes_the_workflow_lambda_with_retry_and_catch(machine):
    tasks = {n: s for n, s in machine["States"].items() if s["Type"] == "Task"}
    assert tasks
    for name, task in tasks.items():
        assert task["Resource"] in {INVOKE, WAIT_FOR_TOKEN}, name
        assert task["Parameters"]["FunctionName"] == "${WorkflowFunctionArn}", name
        assert task.get("Retry") or task.get("Catch"), name
        retried = {e for r in task.get("Retry", []) for e in r["ErrorEquals"]}
        assert LAMBDA_ERRORS <= retried, name
        for handler in (*task.get("Retry", []), *task.get("Catch", [])):
            assert set(handler["ErrorEquals"]) <= KNOWN_ERRORS, (name, handler["ErrorEquals"])
        catches = task.get("Catch", [])
        assert catches and catches[-1]["ErrorEquals"] == ["States.ALL"], f"{name} lets an error escape"
        payload = task["Parameters"].get("Payload") or {}
        if payload:
            assert payload["owner.$"] == "$$.Execution.Id", name


def test_every_wait_for_a_token_passes_the_token_and_ends_on_timeout_reject_or_abort(machine):
    """An approval hands its task token to the workflow Lambda, cannot wait forever, and each way it can end
    (no answer in time, a rejection, an abort, a pre-emption) is caught by name."""
    waits = {n: s for n, s in machine["States"].items() if s.get("Resource") == WAIT_FOR_TOKEN}
    for name, task in waits.items():
        assert task["Parameters"]["Payload"]["token.$"] == "$$.Task.Token", name
        assert "TimeoutSecondsPath" in task or "TimeoutSeconds" in task, f"{name} may wait forever"
        caught = [c["ErrorEquals"][0] for c in task["Catch"]]
        assert {TASK_TIMEOUT, "ApprovalRejected", "RolloutAborted", "NotLockOwner"} <= set(caught), name
    for name, state in machine["States"].items():
        if state["Type"] == "Task" and name not in waits:
            assert "$$.Task.Token" not in json.dumps(state), f"{name} has no token to pass"


@pytest.mark.parametrize("stem", sorted(GATED))
def test_each_gated_workflow_asks_for_approval_and_outlives_its_longest_approvals(stem):
    machine = _load(STATEMACHINES / f"{stem}.asl.json")
    approvals = [s for s in machine["States"].values() if s.get("Resource") == WAIT_FOR_TOKEN]
    assert len(approvals) == 1 and approvals[0]["Parameters"]["Payload"]["action"] == "await_approval"
    assert machine["TimeoutSeconds"] == ROLLOUT_EXECUTION_TIMEOUT_SECONDS
    longest = max(
        (len(steps) - 1) * APPROVAL_TIMEOUT_MAX_SECONDS + len(steps) * bake
        for steps, bake in ((CANARY_STEPS, CANARY_BAKE_SECONDS), (FAILBACK_STEPS, FAILBACK_BAKE_SECONDS))
    )
    assert ROLLOUT_EXECUTION_TIMEOUT_SECONDS > longest


def test_every_wait_reads_its_seconds_from_the_state(machine):
    waits = {name: state for name, state in machine["States"].items() if state["Type"] == "Wait"}
    assert waits  # every workflow waits: a bake, a re-check or a gate's retry
    for name, state in waits.items():
        assert "SecondsPath" in state and "Seconds" not in state, name


def test_every_exit_after_taking_the_lock_releases_it(machine):
    """Every path from Acquire to a terminal state passes a Task that releases (release, rollback, cleanup),
    except the exits that hold nothing: refused, invalid input, or pre-empted (the lock is someone else's)."""
    states = machine["States"]
    releasing = {
        n
        for n, s in states.items()
        if s["Type"] == "Task"
        and (s["Parameters"].get("Payload") or {}).get("action") in {"release", "rollback", "cleanup"}
    }
    holds_nothing = {"Refused", "InvalidInput", "Preempted"}
    acquire = states["Acquire"]
    start = [acquire["Next"]] + [c["Next"] for c in acquire["Catch"] if c["Next"] not in holds_nothing]

    def leaks(name: str, seen: frozenset[str]) -> bool:
        if name in releasing or name in holds_nothing or name in seen:
            return False
        state = states[name]
        if state["Type"] in TERMINAL or state.get("End"):
            return True
        return any(leaks(t, seen | {name}) for t in _targets(state))

    assert not any(leaks(n, frozenset()) for n in start)
