"""statemachines/canary.asl.json executed on the local stack's moto, the workflow Lambda bound in-process:
the canary moves Direct traffic from google to bedrock (see conftest for the traffic the gates read)."""

from __future__ import annotations

from functions.domain.rollout.plan import RolloutKind
from tests.workflows.conftest import GATE, START, failing_bedrock, rollout_input, send


def canary_input(**extra):
    return rollout_input("google", "bedrock", **extra)


def test_a_healthy_canary_runs_every_step_to_100_percent_and_releases(workflows, chat):
    workflows.seed(START)
    assert send(chat, 10).count("bedrock") == 10

    done = workflows.run("canary", canary_input(steps=[25, 60, 100], reason="release 42"))

    assert done.status == "SUCCEEDED", (done.error, done.cause)
    route = workflows.route()
    assert route["weights"] == {"bedrock": 100, "google": 0, "meta": 0}
    assert route["lock"] is None
    assert done.output["result"]["weights"] == route["weights"]
    entered = workflows.states_entered(done.arn)
    assert entered.count("SetStep") == 3 and entered.count("EvaluateGate") == 3 and "Rollback" not in entered


def test_a_failed_gate_rolls_back_to_the_exact_starting_weights(workflows, chat, local_stack):
    workflows.seed(START)
    failing_bedrock(local_stack, chat)  # served by google, but bedrock's own attempts fail the gate

    done = workflows.run("canary", canary_input(steps=[25, 60, 100], gate={**GATE, "consecutiveFailures": 2}))

    assert (done.status, done.error) == ("FAILED", "GateFailed"), done.cause
    assert "rolled back to its starting weights" in done.cause
    route = workflows.route()
    assert route["weights"] == START and route["lock"] is None
    entered = workflows.states_entered(done.arn)
    assert entered.count("EvaluateGate") == 2  # one blip holds and re-checks, two in a row roll back
    assert "Rollback" in entered and "Release" not in entered


def test_inconclusive_with_no_traffic_ends_in_rollback_not_promotion(workflows, chat):
    workflows.seed({"bedrock": 100})
    quiet = {**GATE, "minRequests": 1, "maxInconclusive": 2}

    done = workflows.run("canary", {**canary_input(steps=[50, 100], gate=quiet), "source": "bedrock", "target": "meta"})

    assert (done.status, done.error) == ("FAILED", "GateInconclusive"), done.cause
    route = workflows.route()
    assert route["weights"] == {"bedrock": 100} and route["lock"] is None
    entered = workflows.states_entered(done.arn)
    assert entered.count("EvaluateGate") == 3 and entered.count("Recheck") == 2  # bounded re-checks
    assert entered.count("SetStep") == 1 and "Release" not in entered


def test_a_second_canary_on_the_same_route_is_refused_and_changes_nothing(workflows):
    workflows.seed(START)
    holder = "arn:aws:states:us-east-1:123456789012:execution:canary:holder"
    workflows.deps.rollouts.acquire(holder, RolloutKind.CANARY, ["google"], "bedrock", "first canary")
    workflows.deps.rollouts.set_step(holder, 0, {"bedrock": 60, "google": 24, "meta": 16}, reason="step 0")
    before = workflows.route()

    done = workflows.run("canary", canary_input(steps=[25, 100]))

    assert (done.status, done.error) == ("FAILED", "RolloutLocked"), done.cause
    assert workflows.route() == before  # the first canary's lock and weights untouched
    assert "SetStep" not in workflows.states_entered(done.arn)
    workflows.deps.rollouts.release(holder, before["lock"]["startingWeights"], "test done")
