"""hybridctl's rollout verbs against the local stack over real HTTP: the runbook's `failover`, `rollback`,
`canary` and `failback` lines start real executions (bake 0), `--wait` follows them to a summary and
the exit code is the outcome."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.polling import eventually
from tests.support import wait_for_rollout

FAST = ("--bake-seconds", "0", "--poll", "0.1")
HOLD = (*FAST, "--recheck-seconds", "1", "--sample-size", "1000000")


pytestmark = pytest.mark.usefixtures("rollouts")  # the route at its defaults, no rollout left running


def started_name(out: str) -> str:
    match = re.search(r"^started \w+ (\S+): ", out, re.MULTILINE)
    assert match, out
    return match.group(1)


def weights(http, admin) -> dict:
    return http.get("/admin/rollouts", headers=admin).json()["route"]["weights"]


def test_the_runbooks_failover_from_to_waits_shows_the_step_and_ends_with_a_summary(ctl, http, admin):
    code, out, err = ctl("failover", "--from", "bedrock", "--to", "google", "--reason", "Bedrock unavailable", *FAST)
    assert code == 0, err
    assert "started immediate_failover" in out and "step 1/1: 0%  weights bedrock:0,google:100" in out
    assert "SUCCEEDED: completed" in out
    assert weights(http, admin) == {"bedrock": 0, "google": 100}


def test_emergency_failover_with_auto_select_target_answers_json(ctl, http, admin):
    code, out, err = ctl(
        "failover", "--failed-provider", "bedrock", "--auto-select-target", "--emergency-mode", "--json", *FAST
    )
    assert code == 0, err
    # The workflow Lambda runs in this process: its one-line JSON logs may land in the captured stdout.
    document = json.loads("\n".join(line for line in out.splitlines() if not line.startswith('{"')))
    assert (document["status"], document["kind"], document["weights"]) == (
        "SUCCEEDED",
        "immediate_failover",
        {"bedrock": 0, "google": 100},
    )


def test_rollback_moves_traffic_away_from_the_provider(ctl, http, admin):
    code, _, err = ctl(
        "rollback", "--provider", "bedrock", "--target-provider", "meta", "--reason", "maintenance", *FAST
    )
    assert code == 0, err
    assert weights(http, admin) == {"bedrock": 0, "meta": 100}


def test_a_canary_that_cannot_prove_its_target_rolls_back_and_exits_1(ctl, http, admin):
    code, out, _ = ctl(
        "canary", "--source-provider", "bedrock", "--target-provider", "google", "--traffic-percentage", "50",
        "--recheck-seconds", "0", "--sample-size", "1000000", "--wait", *FAST,
    )  # fmt: skip
    assert code == 1
    assert "step 1/3: 50%" in out and "gate: INCONCLUSIVE -> hold" in out and "GateInconclusive" in out
    assert weights(http, admin) == {"bedrock": 100}


def test_a_second_rollout_exits_5_naming_the_holder_and_canary_rollback_aborts_it(ctl, http, admin):
    code, out, err = ctl("canary", "--source-provider", "bedrock", "--target-provider", "google", "--no-wait", *HOLD)
    assert code == 0, err
    name = started_name(out)
    eventually(lambda: http.get("/admin/rollouts", headers=admin).json()["route"]["lock"])
    code, _, err = ctl("failback", "--original-provider", "google", "--current-provider", "bedrock", *FAST)
    assert code == 5 and name in err and "rollouts abort" in err

    code, _, err = ctl("canary", "--update-traffic", "10")  # a gated move to N % is issue 15's Deliver 4
    assert code == 7 and "not available yet: moving a running canary to 10%" in err
    code, out, err = ctl("canary", "--rollback", "--reason", "drill")
    assert code == 0 and f"abort requested for {name}" in out
    assert wait_for_rollout(http, admin, name)["error"] == "RolloutAborted"
    assert weights(http, admin) == {"bedrock": 100}


def test_update_traffic_approves_the_waiting_step_of_a_canary(ctl, http, admin, google_proven):
    code, out, err = ctl(
        "canary", "--source-provider", "bedrock", "--target-provider", "google", "--steps", "10,50",
        "--sample-size", "5", "--require-approval", "--approval-timeout", "60", "--recheck-seconds", "1",
        "--no-wait", *FAST,
    )  # fmt: skip
    assert code == 0, err
    name = started_name(out)
    eventually(lambda: http.get("/admin/rollouts", headers=admin).json()["route"]["awaitingApproval"])
    assert ctl("canary", "--update-traffic", "75")[0] == 2  # the next planned step is 50 %
    code, out, err = ctl("canary", "--update-traffic", "50", "--reason", "step looks good")
    assert code == 0, err
    code, out, _ = ctl("rollouts", "status", name, "--wait", "--poll", "0.1")
    assert code == 0 and "SUCCEEDED" in out and "gate: PASS -> proceed" in out
    assert weights(http, admin) == {"bedrock": 50, "google": 50}


def test_rollouts_abort_force_stops_a_baking_failback_at_once(ctl, http, admin):
    code, out, err = ctl(
        "failback", "--original-provider", "google", "--current-provider", "bedrock", "--steps", "30,100",
        "--bake-seconds", "600", "--no-wait",
    )  # fmt: skip
    assert code == 0, err
    name = started_name(out)
    eventually(lambda: weights(http, admin).get("google") == 30)
    code, out, err = ctl("rollouts", "abort", "--force", "--reason", "failback drill")
    assert code == 0 and "stopped now" in out, err
    assert wait_for_rollout(http, admin, name)["status"] == "ABORTED"
    eventually(lambda: http.get("/admin/rollouts", headers=admin).json()["route"]["lock"] is None)
    assert weights(http, admin) == {"bedrock": 100}


def test_failback_with_auto_trigger_does_not_start_while_the_provider_is_unhealthy(ctl, clean_control_plane):
    from functions.adapters.dynamodb.client import dynamodb_client, to_item
    from functions.adapters.dynamodb.schema import health_key
    from functions.app.chat.wiring import get_dependencies

    table = get_dependencies().settings.health_table
    dynamodb_client().put_item(TableName=table, Item=to_item({"pk": health_key("bedrock"), "status": "unhealthy"}))
    code, out, _ = ctl(
        "failback", "--original-provider", "bedrock", "--current-provider", "google", "--auto-trigger", *FAST
    )
    assert code == 1 and "failback not started" in out


def test_rollouts_status_lists_the_route_and_recent_executions(ctl):
    ctl("failover", "--from", "bedrock", "--to", "google", *FAST)
    code, out, _ = ctl("rollouts", "status")
    assert code == 0 and "none running" in out and "immediate_failover" in out and "SUCCEEDED" in out
    code, out, _ = ctl("status", "--failover-status")  # the runbook's "Verify failover success"
    assert code == 0 and "rollout: none running; last immediate_failover" in out and "SUCCEEDED" in out


def test_bad_rollout_arguments_are_usage_errors(ctl):
    assert ctl("failover", "--failed-provider", "bedrock")[0] == 2  # no target
    assert ctl("canary", "--source-provider", "bedrock", "--success-threshold", "120%")[0] == 2
    assert ctl("failover", "--from", "bedrock", "--to", "bedrock", *FAST)[0] == 2  # the API's 400
    assert ctl("failover", "--from", "bedrock", "--auto-select-target", "--emergency-mode", "--mode", "gradual")[0] == 2
    start = time.monotonic()
    assert ctl("rollouts", "abort", "--reason", "nothing runs")[0] == 4
    assert time.monotonic() - start < 5
