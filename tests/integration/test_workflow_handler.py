"""The workflow Lambda's actions on moto's DynamoDB, with the metrics and alarms the gates read faked."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid

import pytest

from functions.adapters.dynamodb.audit import audit_log_from
from functions.adapters.dynamodb.config import ConfigStore
from functions.adapters.dynamodb.rollouts import RolloutStore
from functions.adapters.dynamodb.schema import TRAFFIC_WEIGHTS_KEY
from functions.app.workflow import settings as workflow_settings
from functions.app.workflow import tasks, wiring
from functions.app.workflow.commands import AcquireInput
from functions.app.workflow.settings import WorkflowSettings
from functions.app.workflow.wiring import WorkflowDependencies
from functions.domain.audit import AuditEntry
from functions.domain.errors import InvalidRequest
from functions.domain.reports.metrics import Cell, Counts, Latency, MetricsSnapshot
from functions.domain.rollout.gates import GateFailed, GateInconclusive
from functions.domain.rollout.plan import NotLockOwner, RolloutAborted, RolloutLocked
from functions.domain.thresholds import APPROVAL_TIMEOUT_SECONDS
from functions.handlers import workflow
from functions.shared.observability import NAMESPACE
from local.gateway import LocalLambdaContext
from local.metrics_sink import LocalMetrics, LocalMetricsStore
from tests.clock import FakeClock

START = {"bedrock": 100}
CANARY_A = "arn:aws:states:us-east-1:1:execution:canary:a"
FAILOVER_B = "arn:aws:states:us-east-1:1:execution:failover:b"


class FakeMetrics:
    """What the gate reads for the target: `requests`, `errors` and a p95 per query."""

    def __init__(self) -> None:
        self.requests, self.errors, self.p95 = 100.0, 0.0, 500.0

    def query(self, window_s: int) -> MetricsSnapshot:
        cells = (Cell("direct", "google", "standard", Counts(self.requests, self.errors)),) if self.requests else ()
        latency = {"provider": {"google": Latency(p95_ms=self.p95)}} if self.requests else {}
        return MetricsSnapshot(window_s=window_s, cells=cells, latency=latency)


@pytest.fixture
def alarms() -> dict[str, str]:
    return {}


@pytest.fixture
def deps(tables, alarms) -> WorkflowDependencies:
    settings = WorkflowSettings.model_validate(tables)
    config = ConfigStore(tables["FLAGS_TABLE"], audit_log_from(tables))
    config.put(TRAFFIC_WEIGHTS_KEY, {"weights": START}, 0, AuditEntry("test", "seed", TRAFFIC_WEIGHTS_KEY))
    source = FakeMetrics()
    return WorkflowDependencies(settings, RolloutStore(config), lambda: source, lambda names, target: alarms)


def run(deps, **event):
    return workflow.handle(event, deps)


def canary(deps, owner=CANARY_A, **extra):
    return run(deps, action="acquire", owner=owner, kind="canary", source=["bedrock"], target="google", **extra)


def gate(deps, owner=CANARY_A, **extra):
    return run(deps, action="evaluate_gate", owner=owner, target="google", **extra)


# --- acquire -------------------------------------------------------------------------------------
def test_acquire_answers_the_plan_with_runbook_defaults_and_the_starting_weights(deps):
    answer = canary(deps)
    assert answer["steps"] == [5, 10, 25, 50, 75, 100] and answer["bakeSeconds"] == 120
    assert answer["admission"] == "acquire" and answer["lock"]["startingWeights"] == START


def test_acquire_takes_steps_and_bake_time_from_the_input(deps):
    answer = canary(deps, steps=[50, 100], bakeSeconds=1)
    assert (answer["steps"], answer["bakeSeconds"]) == ([50, 100], 1)


def test_a_second_rollout_is_refused_with_a_typed_error(deps):
    canary(deps)
    with pytest.raises(RolloutLocked):
        canary(deps, owner="arn:aws:states:us-east-1:1:execution:canary:other")


def test_a_failover_preempts_the_canary_and_the_canary_then_loses_its_steps(deps):
    canary(deps)
    answer = run(deps, action="acquire", owner=FAILOVER_B, kind="immediate_failover", source="google", target="bedrock")
    assert (answer["admission"], answer["preempted"]) == ("preempt", CANARY_A)
    with pytest.raises(NotLockOwner):
        run(deps, action="set_step", owner=CANARY_A, step=1, steps=[5, 10])


def test_invalid_input_is_an_invalid_request(deps):
    with pytest.raises(InvalidRequest):
        run(deps, action="acquire", owner=CANARY_A, kind="sideways", source=["bedrock"], target="google")
    with pytest.raises(InvalidRequest):
        run(deps, action="teleport", owner=CANARY_A)
    with pytest.raises(InvalidRequest):
        canary(deps, steps=[50, 10])


# --- steps and gates -----------------------------------------------------------------------------
def test_a_canary_runs_to_100_percent_through_passing_gates_and_releases(deps):
    plan = canary(deps, steps=[5, 50, 100])
    step, tally = 0, {}
    while step is not None:
        moved = run(deps, action="set_step", owner=CANARY_A, step=step, steps=plan["steps"])
        assert moved["weights"]["google"] == plan["steps"][step] and sum(moved["weights"].values()) == 100
        verdict = gate(deps, tally=tally)
        assert (verdict["verdict"], verdict["decision"]) == ("PASS", "proceed")
        step, tally = moved["nextStep"], verdict["tally"]
    released = run(deps, action="release", owner=CANARY_A)
    assert released["weights"] == {"bedrock": 0, "google": 100} and released["lock"] is None


def test_a_dry_run_evaluates_but_leaves_the_weights(deps):
    plan = canary(deps, dryRun=True)
    moved = run(deps, action="set_step", owner=CANARY_A, step=2, steps=plan["steps"], dryRun=True)
    assert moved["weights"] == START and moved["plannedWeights"] == {"bedrock": 75, "google": 25}


def test_one_failed_gate_holds_and_two_in_a_row_raise_gate_failed_then_rollback_restores(deps):
    plan = canary(deps)
    run(deps, action="set_step", owner=CANARY_A, step=3, steps=plan["steps"])
    deps.metrics().errors = 5  # 95 % success
    first = gate(deps)
    assert (first["verdict"], first["decision"]) == ("FAIL", "hold")
    with pytest.raises(GateFailed):
        gate(deps, tally=first["tally"])
    restored = run(deps, action="rollback", owner=CANARY_A, reason="gate failed")
    assert restored["weights"] == START and restored["lock"] is None


def test_no_traffic_is_inconclusive_and_ends_in_gate_inconclusive_not_promotion(deps):
    canary(deps)
    deps.metrics().requests = 0
    tally = {}
    for _ in range(3):
        answer = gate(deps, tally=tally)
        assert (answer["verdict"], answer["decision"]) == ("INCONCLUSIVE", "hold")
        tally = answer["tally"]
    with pytest.raises(GateInconclusive):
        gate(deps, tally=tally)


# --- a gate reads only its step's traffic ---------------------------------------------------------
STEP_AT = 1_800_000_000.0  # when the step's weights are set (epoch seconds, the clocks below)


def emf_line(at: float, errors: int, latency_ms: float = 200.0) -> str:
    """One routed request to google, as the router's EMF line (the local sink's input)."""
    cell = {"Route": "direct", "Provider": "google", "OperationType": "standard"}
    names = [{"Name": "Requests"}, {"Name": "Errors"}, {"Name": "Latency", "Unit": "Milliseconds"}]
    directive = {"Namespace": NAMESPACE, "Dimensions": [list(cell)], "Metrics": names}
    meta = {"Timestamp": int(at * 1000), "CloudWatchMetrics": [directive]}
    return json.dumps({"_aws": meta, **cell, "Requests": [1.0], "Errors": [float(errors)], "Latency": [latency_ms]})


@pytest.fixture
def timed(deps):
    """`deps` on a real local metrics sink and a clock the test moves: the step starts at STEP_AT."""
    clock = FakeClock(STEP_AT)
    store = LocalMetricsStore(clock=clock)
    source = LocalMetrics(store, clock=clock)
    rollouts = RolloutStore(deps.rollouts.config, clock=clock)
    timed = WorkflowDependencies(deps.settings, rollouts, lambda: source, deps.alarms, clock)
    return timed, store, clock


def test_errors_before_the_step_do_not_fail_its_gate(timed):
    deps, store, clock = timed
    plan = canary(deps)
    for i in range(30):  # the target failing every request until 10 s before the step
        assert store.ingest_line(emf_line(STEP_AT - 40 + i, errors=1))
    run(deps, action="set_step", owner=CANARY_A, step=0, steps=plan["steps"])
    assert deps.rollouts.get().lock.step_started_at == STEP_AT
    for i in range(25):  # the step's own traffic: all good
        store.ingest_line(emf_line(STEP_AT + 1 + i, errors=0))
    clock.advance(30)

    answer = gate(deps, windowSeconds=120)

    assert (answer["verdict"], answer["decision"]) == ("PASS", "proceed")
    metrics = answer["evidence"]["metrics"]
    assert (metrics["window_s"], metrics["requests"], metrics["errors"]) == (30, 25, 0)


def test_too_few_requests_since_the_step_is_held_inconclusive_and_rechecked(timed):
    deps, store, clock = timed
    plan = canary(deps)
    for i in range(50):  # plenty of good traffic, all of it before the step
        store.ingest_line(emf_line(STEP_AT - 60 + i, errors=0))
    run(deps, action="set_step", owner=CANARY_A, step=1, steps=plan["steps"])
    store.ingest_line(emf_line(STEP_AT + 1, errors=0))
    clock.advance(2)

    held = gate(deps, windowSeconds=120)

    assert (held["verdict"], held["decision"]) == ("INCONCLUSIVE", "hold")
    assert held["evidence"]["metrics"]["window_s"] == 2 and held["evidence"]["metrics"]["requests"] == 1
    for i in range(20):
        store.ingest_line(emf_line(STEP_AT + 2 + i * 0.1, errors=0))
    clock.advance(3)  # STEP_AT + 5
    assert gate(deps, windowSeconds=120, tally=held["tally"])["verdict"] == "PASS"


@pytest.mark.parametrize("alarms", [{"HybridRouting-google-5xx": "ALARM"}])
def test_an_alarm_watching_the_target_fails_the_gate(deps):
    canary(deps)
    answer = gate(deps)
    assert answer["verdict"] == "FAIL" and "ALARM" in answer["reasons"][0]


def test_an_operator_abort_stops_the_rollout_at_its_next_gate(deps):
    canary(deps)
    deps.rollouts.request_abort("alice", "wrong build")
    with pytest.raises(RolloutAborted):
        gate(deps)
    assert run(deps, action="rollback", owner=CANARY_A)["weights"] == START


def test_a_gate_of_a_preempted_execution_is_refused(deps):
    canary(deps)
    run(deps, action="acquire", owner=FAILOVER_B, kind="gradual_failover", source=["google"], target="bedrock")
    with pytest.raises(NotLockOwner):
        gate(deps)


def test_a_rollback_of_an_execution_preempted_meanwhile_is_refused_even_once_the_route_is_free(deps):
    canary(deps)
    run(deps, action="acquire", owner=FAILOVER_B, kind="immediate_failover", source="google", target="bedrock")
    run(deps, action="release", owner=FAILOVER_B)
    with pytest.raises(NotLockOwner):
        run(deps, action="rollback", owner=CANARY_A, error="States.Timeout")


def test_a_rollback_after_the_lock_was_released_is_a_no_op(deps):
    canary(deps)
    run(deps, action="release", owner=CANARY_A)
    assert run(deps, action="rollback", owner=CANARY_A)["lock"] is None


# --- manual approval ------------------------------------------------------------------------------
def audit_actions(deps) -> list[str]:
    return [r.entry.action for r in deps.rollouts.config.audit.records()]


def test_approval_is_off_by_default_and_its_timeout_comes_from_the_input(deps):
    assert canary(deps)["approval"] == {"required": False, "timeoutSeconds": APPROVAL_TIMEOUT_SECONDS}
    run(deps, action="release", owner=CANARY_A)
    assert canary(deps, approval={"required": True, "timeoutSeconds": 5})["approval"] == {
        "required": True,
        "timeoutSeconds": 5,
    }


@pytest.mark.parametrize("approval", [{"required": True, "timeoutSeconds": 0}, {"required": True, "wait": 1}])
def test_a_bad_approval_input_is_an_invalid_request(deps, approval):
    with pytest.raises(InvalidRequest):
        canary(deps, approval=approval)


def test_await_approval_keeps_the_task_token_on_the_lock(deps):
    plan = canary(deps, approval={"required": True})
    run(deps, action="set_step", owner=CANARY_A, step=0, steps=plan["steps"])

    answer = run(deps, action="await_approval", owner=CANARY_A, token="tok-1", step=0)

    assert answer["awaitingApproval"] and answer["lock"]["phase"] == "awaiting_approval"
    assert answer["lock"]["approvalPending"] and "tok-1" not in str(answer)
    assert deps.rollouts.get().lock.approval_token == "tok-1"
    assert audit_actions(deps)[-1] == "rollout.approval.wait"


def test_await_approval_after_an_abort_raises_rollout_aborted(deps):
    canary(deps)
    deps.rollouts.request_abort("alice", "wrong build")
    with pytest.raises(RolloutAborted):
        run(deps, action="await_approval", owner=CANARY_A, token="tok-1", step=0)


def test_an_unanswered_approval_is_audited_as_timed_out_before_the_rollback(deps):
    plan = canary(deps)
    run(deps, action="set_step", owner=CANARY_A, step=0, steps=plan["steps"])
    run(deps, action="await_approval", owner=CANARY_A, token="tok-1", step=0)

    restored = run(deps, action="rollback", owner=CANARY_A, error="States.Timeout")

    assert restored["weights"] == START and restored["lock"] is None
    assert audit_actions(deps)[-2:] == ["rollout.approval.timeout", "rollout.rollback"]


def test_a_stop_for_another_reason_records_no_approval_timeout(deps):
    canary(deps)
    run(deps, action="release", owner=CANARY_A, error="GateInconclusive")
    assert "rollout.approval.timeout" not in audit_actions(deps)


# --- cleanup -------------------------------------------------------------------------------------
def test_the_execution_status_event_of_a_stopped_canary_releases_its_lock(deps):
    plan = canary(deps)
    run(deps, action="set_step", owner=CANARY_A, step=2, steps=plan["steps"])
    event = {
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "detail": {"executionArn": CANARY_A, "status": "ABORTED"},
    }
    answer = workflow.handle(event, deps)
    assert answer["released"] and answer["weights"] == START and answer["lock"] is None


def test_cleanup_of_an_execution_that_holds_nothing_changes_nothing(deps):
    canary(deps)
    answer = run(deps, action="cleanup", owner="arn:aws:states:us-east-1:1:execution:x:y", status="FAILED")
    assert not answer["released"] and answer["lock"]["owner"] == CANARY_A


# --- the Lambda entry point ------------------------------------------------------------------------
def test_the_lambda_handler_reads_its_tables_from_the_environment(tables, monkeypatch):
    for name, value in tables.items():
        monkeypatch.setenv(name, value)
    wiring.get_dependencies.cache_clear()
    workflow_settings.get_settings.cache_clear()
    context = LocalLambdaContext("workflow", aws_request_id=str(uuid.uuid4()), started=time.monotonic())
    try:
        answer = workflow.lambda_handler(
            {"action": "acquire", "owner": CANARY_A, "kind": "failback", "source": ["google"], "target": "bedrock"},
            context,
        )
        assert answer["steps"] == [10, 25, 50, 75, 100] and answer["bakeSeconds"] == 180
        assert workflow.lambda_handler({"action": "release", "owner": CANARY_A}, context)["lock"] is None
    finally:
        wiring.get_dependencies.cache_clear()
        workflow_settings.get_settings.cache_clear()


# --- log keys --------------------------------------------------------------------------------------
def test_a_tasks_log_keys_stay_on_its_thread_and_end_with_it(deps):
    """The local stack runs workflow tasks in the router's process: another thread's log line, written
    while a task runs, must not carry the task's action and owner, and the task's own keys end with it."""
    from functions.shared.observability import logger

    lines: list[dict] = []

    class Capture(logging.Handler):  # formats in the emitting thread, as the real handler does
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(self.format(record)))

    capture = Capture()
    capture.setFormatter(logger.registered_formatter)
    original = tasks.TASKS[AcquireInput]

    def acquire_and_log_elsewhere(cmd, task_deps):
        other = threading.Thread(target=lambda: logger.info("router-line"))
        other.start()
        other.join()
        logger.info("task-line")
        return original(cmd, task_deps)

    logger.addHandler(capture)
    tasks.TASKS[AcquireInput] = acquire_and_log_elsewhere
    try:
        canary(deps)
        logger.info("after-line")
    finally:
        tasks.TASKS[AcquireInput] = original
        logger.removeHandler(capture)
    by_message = {entry["message"]: entry for entry in lines}
    assert by_message["task-line"]["action"] == "acquire" and by_message["task-line"]["owner"] == CANARY_A
    assert "action" not in by_message["router-line"] and "owner" not in by_message["router-line"]
    assert "action" not in by_message["after-line"]
