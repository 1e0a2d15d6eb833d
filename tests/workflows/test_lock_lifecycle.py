"""Who holds the route, on moto's Step Functions with the workflow Lambda bound in-process: a safety
failover pre-empts a running canary (which then changes nothing more), and the lock of an execution
stopped from outside is released by the cleanup path (the stack's EventBridge rule; locally
local/execution_watcher.py delivering the same event to the workflow handler)."""

from __future__ import annotations

from typing import Any

from functions.handlers import workflow
from local.execution_watcher import ExecutionWatcher
from tests.workflows.conftest import START, rollout_input, send

STEPS = [25, 100]
FIRST_STEP = {"bedrock": 25, "google": 45, "meta": 30}


def at_first_step(route: dict[str, Any]) -> bool:
    return bool(route["lock"]) and route["lock"]["step"] == 0


def test_an_immediate_failover_preempts_a_baking_canary_which_then_changes_nothing(workflows, chat):
    workflows.seed(START)
    send(chat, 10)
    canary = workflows.start(
        workflows.machine("canary"), rollout_input("google", "bedrock", steps=STEPS, bakeSeconds=2)
    )
    workflows.until(at_first_step)

    failover = workflows.run("immediate_failover", {"source": "bedrock", "target": "google", "reason": "bedrock down"})
    after_failover = workflows.route()
    stopped = workflows.wait(canary)

    assert failover.status == "SUCCEEDED", (failover.error, failover.cause)
    assert (failover.output["plan"]["admission"], failover.output["plan"]["preempted"]) == ("preempt", canary)
    assert after_failover["weights"] == {"bedrock": 0, "google": 70, "meta": 30}  # from the canary's live step
    assert after_failover["lock"] is None
    assert (stopped.status, stopped.error) == ("FAILED", "NotLockOwner"), stopped.cause
    assert workflows.route() == after_failover  # the canary wrote nothing after losing the lock
    assert "Rollback" not in workflows.states_entered(canary)
    preempt = [r for r in workflows.config.audit.records() if r.entry.action == "rollout.preempt"]
    assert len(preempt) == 1 and preempt[0].entry.actor == failover.arn


def test_the_lock_of_a_stopped_canary_is_released_by_the_status_change_event(workflows, chat):
    workflows.seed(START)
    send(chat, 10)
    machine = workflows.machine("canary")
    canary = workflows.start(machine, rollout_input("google", "bedrock", steps=STEPS, bakeSeconds=60))
    assert workflows.until(at_first_step)["weights"] == FIRST_STEP
    events: list[dict[str, Any]] = []

    def on_event(event: dict[str, Any]) -> None:
        events.append(event)
        workflow.handle(event, workflows.deps)

    watcher = ExecutionWatcher(workflows.sfn, [machine], on_event, interval=60)
    assert watcher.poll_once() == []  # still running: nothing to clean up
    workflows.sfn.stop_execution(executionArn=canary, cause="operator stopped it from the console")
    assert workflows.wait(canary).status == "ABORTED"

    assert len(watcher.poll_once()) == 1

    route = workflows.route()
    assert route["weights"] == START and route["lock"] is None
    assert workflows.audit_actions()[-1] == "rollout.cleanup"
    detail = events[0]["detail"]
    assert events[0]["detail-type"] == workflow.EXECUTION_STATUS_CHANGE and events[0]["source"] == "aws.states"
    assert (detail["executionArn"], detail["stateMachineArn"], detail["status"]) == (canary, machine, "ABORTED")
    assert detail["name"] == canary.rsplit(":", 1)[-1] and detail["stopDate"] >= detail["startDate"] > 0
    assert watcher.poll_once() == []  # each execution's event once


def test_the_watcher_delivers_again_after_a_failed_cleanup_and_skips_finished_executions(workflows):
    workflows.seed(START)
    machine = workflows.machine("immediate_failover")
    succeeded = workflows.wait(workflows.start(machine, {"source": "google", "target": "bedrock"}))
    refused = workflows.wait(workflows.start(machine, {"source": "google", "target": "google"}))
    assert (succeeded.status, refused.status) == ("SUCCEEDED", "FAILED")
    calls: list[str] = []

    def flaky(event: dict[str, Any]) -> None:
        calls.append(event["detail"]["executionArn"])
        if len(calls) == 1:
            raise ConnectionError("the workflow Lambda was throttled")

    watcher = ExecutionWatcher(workflows.sfn, [machine], flaky, interval=60)

    assert watcher.poll_once() == []
    assert [e["detail"]["status"] for e in watcher.poll_once()] == ["FAILED"]
    assert calls == [refused.arn, refused.arn] and watcher.poll_once() == []


def test_the_watcher_thread_polls_on_its_own_until_stopped(workflows):
    machine = workflows.machine("immediate_failover")
    refused = workflows.wait(workflows.start(machine, {"source": "google", "target": "google"}))
    seen: list[str] = []
    watcher = ExecutionWatcher(workflows.sfn, [machine], lambda e: seen.append(e["detail"]["executionArn"]), 0.05)

    watcher.start()
    try:
        workflows.until(lambda _route: bool(seen), timeout_s=5)
    finally:
        watcher.stop()

    assert seen == [refused.arn]


def test_a_canary_preempted_while_waiting_for_approval_ends_at_its_timeout_writing_nothing(workflows, chat):
    workflows.seed(START)
    send(chat, 10)
    # Long enough for the failover to pre-empt the canary first, even on a loaded machine.
    approval = {"required": True, "timeoutSeconds": 5}
    canary = workflows.start(
        workflows.machine("canary"), rollout_input("google", "bedrock", steps=STEPS, approval=approval)
    )
    workflows.until(lambda route: bool(route["lock"]) and route["lock"]["approvalPending"])

    failover = workflows.run("immediate_failover", {"source": "bedrock", "target": "google"})
    after_failover = workflows.route()
    stopped = workflows.wait(canary)

    assert failover.status == "SUCCEEDED" and after_failover["weights"] == {"bedrock": 0, "google": 70, "meta": 30}
    assert (stopped.status, stopped.error) == ("FAILED", "NotLockOwner"), stopped.cause
    assert workflows.route() == after_failover
    assert "rollout.approval.timeout" not in workflows.audit_actions()  # the approval was no longer its to time out
