"""statemachines/failback, gradual_failover and immediate_failover executed on the local stack's moto, the
workflow Lambda bound in-process: each runs to its exact final weights, reacts to a failed gate as its
ASL documents (failback rolls back, a gradual failover stops where it is), and is refused while a
rollout it may not pre-empt holds the route."""

from __future__ import annotations

import pytest

from functions.domain.rollout.plan import RolloutKind
from tests.workflows.conftest import GATE, START, failing_bedrock, rollout_input, send

# google back to bedrock (failback) or off google onto bedrock (failovers); meta is a bystander
FAILBACK_STEP_60 = {"bedrock": 60, "google": 24, "meta": 16}
GRADUAL_PHASE_20 = {"bedrock": 60, "google": 20, "meta": 20}
FAILED_OVER = {"bedrock": 80, "google": 0, "meta": 20}
HOLDER = "arn:aws:states:us-east-1:123456789012:execution:other:holder"


def assert_completed(workflows, done, weights: dict[str, int]) -> None:
    assert done.status == "SUCCEEDED", (done.error, done.cause)
    route = workflows.route()
    assert route["weights"] == weights and route["lock"] is None


def assert_ended(workflows, done, error: str, weights: dict[str, int], last_action: str) -> None:
    """The execution failed with `error`, left `weights`, released the lock, and audited it last."""
    assert (done.status, done.error) == ("FAILED", error), done.cause
    route = workflows.route()
    assert route["weights"] == weights and route["lock"] is None
    assert workflows.audit_actions()[-1] == last_action


# --- success paths -----------------------------------------------------------------------------------
def test_a_healthy_failback_returns_all_traffic_to_the_recovered_provider(workflows, chat):
    workflows.seed(START)
    send(chat, 10)

    done = workflows.run("failback", rollout_input("google", "bedrock", steps=[60, 100]))

    assert_completed(workflows, done, {"bedrock": 100, "google": 0, "meta": 0})
    entered = workflows.states_entered(done.arn)
    # one passing gate per step; a loaded machine may send too little steady traffic in a step's first second,
    # which is an INCONCLUSIVE re-check, never a pass
    assert entered.count("EvaluateGate") - entered.count("Recheck") == 2


def test_a_healthy_gradual_failover_drains_the_failing_provider_phase_by_phase(workflows, chat):
    workflows.seed(START)
    send(chat, 10)

    done = workflows.run("gradual_failover", rollout_input("google", "bedrock", steps=[20, 0]))

    assert_completed(workflows, done, FAILED_OVER)  # meta, a bystander, keeps its 20
    steps = [r.entry.after["weights"] for r in workflows.config.audit.records() if r.entry.action == "rollout.step"]
    assert steps == [GRADUAL_PHASE_20, FAILED_OVER]


def test_an_immediate_failover_moves_the_failing_providers_share_at_once_without_gates(workflows):
    workflows.seed(START)

    done = workflows.run("immediate_failover", {"source": "google", "target": "bedrock"})

    assert_completed(workflows, done, FAILED_OVER)
    entered = workflows.states_entered(done.arn)
    assert entered.count("SetStep") == 1 and "EvaluateGate" not in entered


# --- failed gates ------------------------------------------------------------------------------------
def test_a_failback_whose_gate_fails_rolls_back_to_the_exact_starting_weights(workflows, chat, local_stack):
    workflows.seed(START)
    failing_bedrock(local_stack, chat)

    done = workflows.run("failback", rollout_input("google", "bedrock", steps=[60, 100]))

    assert_ended(workflows, done, "GateFailed", START, "rollout.rollback")


def test_a_failback_without_traffic_to_judge_stops_where_it_is(workflows, chat):
    workflows.seed(START)
    quiet = {**GATE, "maxInconclusive": 1}

    done = workflows.run("failback", rollout_input("google", "bedrock", steps=[60, 100], gate=quiet))

    assert_ended(workflows, done, "GateInconclusive", FAILBACK_STEP_60, "rollout.release")


def test_a_gradual_failover_whose_gate_fails_stops_and_never_routes_back_to_the_failing_provider(
    workflows, chat, local_stack
):
    workflows.seed(START)
    failing_bedrock(local_stack, chat)

    done = workflows.run("gradual_failover", rollout_input("google", "bedrock", steps=[20, 0]))

    assert_ended(workflows, done, "GateFailed", GRADUAL_PHASE_20, "rollout.release")  # the last step stays


# --- one rollout at a time -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "holder_kind"),
    [
        ("failback", RolloutKind.CANARY),
        ("gradual_failover", RolloutKind.IMMEDIATE_FAILOVER),
        ("immediate_failover", RolloutKind.GRADUAL_FAILOVER),
    ],
)
def test_a_rollout_is_refused_while_one_it_may_not_preempt_holds_the_route(workflows, name, holder_kind):
    workflows.seed(START)
    workflows.deps.rollouts.acquire(HOLDER, holder_kind, ["meta"], "bedrock", "the first rollout")
    workflows.deps.rollouts.set_step(HOLDER, 0, {"bedrock": 70, "google": 30, "meta": 0})
    before = workflows.route()

    done = workflows.run(name, rollout_input("google", "bedrock", steps=[50, 100] if name == "failback" else None))

    assert (done.status, done.error) == ("FAILED", "RolloutLocked"), done.cause
    assert workflows.route() == before  # the holder's lock and weights untouched
    assert "SetStep" not in workflows.states_entered(done.arn)
