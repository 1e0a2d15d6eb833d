"""The rollout routes of the admin API on the local stack: real executions of the ASL files on moto with
the workflow Lambda bound in-process (bake 0), driven the way operators do (issue 5, Deliver 4 and 6)."""

from __future__ import annotations

import os
import time
from dataclasses import replace

import pytest

from functions.adapters.dynamodb.client import dynamodb_client
from functions.adapters.dynamodb.snapshot import SnapshotStore
from functions.app.admin.wiring import get_admin_dependencies
from functions.app.chat.wiring import get_dependencies
from functions.domain.names import TARGETS
from tests.polling import eventually
from tests.support import wait_for_rollout

# A gate that never has enough traffic to decide: the rollout holds its step, re-checking every second,
# until an operator acts (the hold is the workflow's, bounded by maxInconclusive).
HOLD = {"bakeSeconds": 0, "recheckSeconds": 1, "gate": {"minRequests": 1_000_000, "maxInconclusive": 600}}


def start(http, admin, **body):
    return http.post("/admin/rollouts", json={"bakeSeconds": 0, "reason": "test", **body}, headers=admin)


def route(http, admin) -> dict:
    return http.get("/admin/rollouts", headers=admin).json()["route"]


def gate_count(http, admin, execution: str) -> int:
    return len(http.get(f"/admin/rollouts/{execution}", headers=admin).json()["gates"])


# Tests that start executions use `rollouts`; those refused before anything starts need no clean-up.


@pytest.mark.usefixtures("rollouts")
def test_an_immediate_failover_moves_the_failed_providers_traffic_and_is_audited_with_the_operator(http, admin):
    response = start(http, admin, kind="immediate_failover", failedProvider="bedrock", targetProvider="google")
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["kind"] == "immediate_failover" and started["name"].startswith("immediate-failover-")
    done = wait_for_rollout(http, admin, started["name"])
    assert done["status"] == "SUCCEEDED", done
    assert done["weights"] == {"bedrock": 0, "google": 100}
    assert [s["percent"] for s in done["steps"]] == [0]
    by_arn = http.get(f"/admin/rollouts/{started['executionArn']}", headers=admin).json()
    assert (by_arn["name"], by_arn["status"]) == (started["name"], "SUCCEEDED")
    after = route(http, admin)
    assert (after["weights"], after["lock"], after["awaitingApproval"]) == ({"bedrock": 0, "google": 100}, None, False)
    records = http.get("/admin/audit/export?format=json&period=daily", headers=admin).json()["records"]
    started_by = [r for r in records if r["action"] == "rollout.start"][-1]
    assert started_by["actor"] != "workflow" and started_by["role"] == "operator"
    assert started_by["after"]["executionArn"] == started["executionArn"]


@pytest.mark.usefixtures("rollouts")
def test_auto_select_target_picks_the_healthiest_other_direct_provider(http, admin):
    http.put("/admin/routing/traffic-distribution", json={"weights": {"bedrock": 60, "meta": 40}}, headers=admin)
    # meta carries more traffic than google: it takes over.
    started = start(http, admin, kind="immediate_failover", failedProvider="bedrock", autoSelectTarget=True).json()
    assert started["target"] == "meta"
    assert wait_for_rollout(http, admin, started["name"])["weights"] == {"bedrock": 0, "meta": 100}


@pytest.mark.usefixtures("rollouts")
def test_auto_select_target_skips_an_unhealthy_provider(http, admin, clean_control_plane):
    from functions.adapters.dynamodb.client import to_item
    from functions.adapters.dynamodb.schema import health_key

    table = get_dependencies().settings.health_table
    dynamodb_client().put_item(TableName=table, Item=to_item({"pk": health_key("google"), "status": "unhealthy"}))
    started = start(http, admin, kind="immediate_failover", failedProvider="bedrock", autoSelectTarget=True).json()
    assert started["target"] == "meta"
    wait_for_rollout(http, admin, started["name"])


@pytest.mark.usefixtures("rollouts")
def test_a_canary_holding_its_step_shows_progress_and_gate_verdicts_then_abort_rolls_it_back(http, admin):
    started = start(http, admin, kind="canary", source="bedrock", target="google", steps=[10, 50], **HOLD).json()
    assert (started["status"], started["holdsRoute"]) == ("RUNNING", True)  # answered once it took the route
    name = started["name"]
    eventually(lambda: gate_count(http, admin, name) >= 1)
    held = http.get(f"/admin/rollouts/{name}", headers=admin).json()
    assert held["status"] == "RUNNING" and held["holdsRoute"]
    assert (held["step"], held["percent"], held["weights"]) == (0, 10, {"bedrock": 90, "google": 10})
    assert held["gates"][0]["verdict"] == "INCONCLUSIVE" and held["gates"][0]["decision"] == "hold"
    listed = http.get("/admin/rollouts", headers=admin).json()
    assert listed["route"]["lock"]["owner"] == started["executionArn"]
    assert listed["route"]["lock"]["kind"] == "canary"
    assert name in [e["name"] for e in listed["executions"]["canary"]]

    aborted = http.post("/admin/rollouts/abort", json={"reason": "operator drill"}, headers=admin)
    assert aborted.status_code == 200 and aborted.json()["abortRequested"] is True
    done = wait_for_rollout(http, admin, name)
    assert (done["status"], done["error"]) == ("FAILED", "RolloutAborted")
    assert route(http, admin)["weights"] == {"bedrock": 100} and route(http, admin)["lock"] is None


@pytest.mark.usefixtures("rollouts")
def test_a_second_rollout_is_refused_with_409_naming_the_holder_but_a_failover_preempts_a_canary(http, admin):
    canary = start(http, admin, kind="canary", source="bedrock", target="google", **HOLD).json()
    eventually(lambda: route(http, admin)["lock"])
    refused = start(http, admin, kind="failback", source="google", target="bedrock")
    assert refused.status_code == 409
    assert canary["executionArn"] in refused.json()["error"]["message"]

    failover = start(http, admin, kind="immediate_failover", failedProvider="google", targetProvider="meta")
    assert failover.status_code == 202 and failover.json()["preempts"] == canary["executionArn"]
    assert wait_for_rollout(http, admin, failover.json()["name"])["status"] == "SUCCEEDED"
    preempted = wait_for_rollout(http, admin, canary["name"])
    assert (preempted["status"], preempted["error"]) == ("FAILED", "NotLockOwner")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "canary", "source": "bedrock"}, "target"),
        ({"kind": "canary", "source": "bedrock", "target": "bedrock"}, "both"),
        ({"kind": "canary", "source": "bedrock", "target": "azure"}, "azure"),
        ({"kind": "canary", "source": "bedrock", "target": "google", "steps": [50, 10]}, "increase"),
        ({"kind": "canary", "source": "bedrock", "autoSelectTarget": True}, "autoSelectTarget"),
        ({"kind": "rainbow", "source": "bedrock", "target": "google"}, "kind"),
        ({"kind": "canary", "source": "bedrock", "target": "google", "bakeSeconds": -1}, "bakeSeconds"),
        ({"kind": "canary", "source": "bedrock", "target": "google", "surprise": 1}, "surprise"),
    ],
)
def test_bad_rollout_requests_get_a_4xx_naming_the_problem(http, admin, body, field):
    response = http.post("/admin/rollouts", json=body, headers=admin)
    assert 400 <= response.status_code < 500, response.text
    assert field in response.text


def test_a_read_only_token_reads_rollouts_but_cannot_start_abort_or_approve(http, admin):
    viewer = {"Authorization": f"Bearer {os.environ['ADMIN_READONLY_TOKEN']}"}
    assert http.get("/admin/rollouts", headers=viewer).status_code == 200
    refused = [
        http.post("/admin/rollouts", json={"kind": "canary", "source": "bedrock", "target": "google"}, headers=viewer),
        http.post("/admin/rollouts/abort", json={"reason": "x"}, headers=viewer),
        http.post("/admin/rollouts/approve", json={"approve": True}, headers=viewer),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403]


@pytest.mark.usefixtures("rollouts")
def test_a_forced_abort_stops_a_baking_canary_now_and_the_cleanup_restores_its_starting_weights(http, admin):
    started = start(http, admin, kind="canary", source="bedrock", target="google", steps=[20, 60], bakeSeconds=600)
    name = started.json()["name"]
    eventually(lambda: route(http, admin)["weights"].get("google") == 20)  # step 1 set, baking for 10 minutes
    aborted = http.post("/admin/rollouts/abort", json={"reason": "bad canary", "force": True}, headers=admin)
    assert aborted.status_code == 200 and aborted.json()["stopped"] is True
    assert wait_for_rollout(http, admin, name)["status"] == "ABORTED"
    released = eventually(lambda: (r := route(http, admin))["lock"] is None and r)
    assert released["weights"] == {"bedrock": 100}


@pytest.mark.usefixtures("rollouts")
def test_a_forced_abort_releases_a_lock_left_by_an_execution_that_already_ended(http, admin):
    from functions.domain.rollout.plan import RolloutKind

    ended = start(http, admin, kind="immediate_failover", failedProvider="meta", targetProvider="google").json()
    assert wait_for_rollout(http, admin, ended["name"])["status"] == "SUCCEEDED"
    # Its lock, as if its release had been lost: only an operator can free the route now.
    store = get_admin_dependencies().rollouts
    store.acquire(ended["executionArn"], RolloutKind.CANARY, ["bedrock"], "google", "lost release")
    assert http.post("/admin/rollouts/abort", json={"reason": "flag only"}, headers=admin).json()["stopped"] is False
    assert route(http, admin)["lock"]["owner"] == ended["executionArn"]

    forced = http.post("/admin/rollouts/abort", json={"reason": "stale lock", "force": True}, headers=admin).json()
    assert forced["stopped"] is True and forced["route"]["lock"] is None


def test_without_state_machines_a_start_is_503_naming_what_is_missing(http, admin, monkeypatch):
    from functions.adapters.stepfunctions import RolloutControl
    from functions.handlers.admin.handler import app as admin_app

    unconfigured = replace(get_admin_dependencies(), workflows=RolloutControl({}))
    monkeypatch.setitem(admin_app.dependency_overrides, get_admin_dependencies, lambda: unconfigured)
    response = start(http, admin, kind="canary", source="bedrock", target="google")
    assert response.status_code == 503 and "not configured" in response.json()["error"]["message"]


@pytest.mark.usefixtures("rollouts")
def test_an_unknown_execution_is_404_and_abort_without_a_rollout_is_404(http, admin):
    assert http.get("/admin/rollouts/canary-nope", headers=admin).status_code == 404
    assert http.post("/admin/rollouts/abort", json={"reason": "nothing runs"}, headers=admin).status_code == 404


@pytest.mark.usefixtures("rollouts")
def test_the_router_honours_the_weights_a_rollout_sets_within_one_snapshot_refresh(
    http, admin, client, monkeypatch, clean_control_plane
):
    """Deliver 6: the router reads the rollout's weights from its snapshot, at a step and after rollback."""
    deps = get_dependencies()
    refresh_s = 0.3  # the snapshot's max age, compressed from 5 s
    snapshots = SnapshotStore(deps.settings.flags_table, deps.settings.health_table, TARGETS, refresh_s)
    monkeypatch.setattr(deps, "snapshots", snapshots)

    def providers(n: int) -> list[str]:
        headers = {"X-Operation-Type": "emergency"}
        body = {"model": "m", "messages": [{"role": "user", "content": "status?"}]}
        return [
            client.post("/v1/chat/completions", json=body, headers=headers).headers["x-hybrid-provider"]
            for _ in range(n)
        ]

    assert set(providers(5)) == {"bedrock"}
    started = start(http, admin, kind="canary", source="bedrock", target="google", steps=[50], **HOLD).json()
    eventually(lambda: route(http, admin)["weights"].get("google") == 50)
    time.sleep(refresh_s)
    shares = providers(200)
    google = shares.count("google") / len(shares)
    # 200 draws at p = 0.5: standard deviation 3.5 points; 12 points is 3.4 of them (false failure < 0.1 %).
    assert set(shares) == {"bedrock", "google"} and abs(google - 0.5) < 0.12, google

    http.post("/admin/rollouts/abort", json={"reason": "back"}, headers=admin)
    wait_for_rollout(http, admin, started["name"])
    time.sleep(refresh_s)
    assert set(providers(20)) == {"bedrock"}


# --- manual approval ---------------------------------------------------------------------------
def start_waiting_for_approval(http, admin, gate) -> dict:
    approval = {"required": True, "timeoutSeconds": 60}
    started = start(
        http,
        admin,
        kind="canary",
        source="bedrock",
        target="google",
        steps=[10, 50],
        gate=gate,
        approval=approval,
        recheckSeconds=1,
    )
    assert started.status_code == 202, started.text
    eventually(lambda: route(http, admin)["awaitingApproval"])
    return started.json()


@pytest.mark.usefixtures("rollouts")
def test_an_approved_step_goes_on_and_the_canary_completes(http, admin, google_proven):
    started = start_waiting_for_approval(http, admin, google_proven)
    waiting = http.get(f"/admin/rollouts/{started['name']}", headers=admin).json()
    # Re-checks may come first (too little traffic yet): the gate that let the step through is the last one.
    assert waiting["route"]["awaitingApproval"] and waiting["gates"][-1]["verdict"] == "PASS"
    assert "approval_token" not in str(waiting) and "approvalToken" not in str(waiting)

    approved = http.post("/admin/rollouts/approve", json={"approve": True, "reason": "looks good"}, headers=admin)
    assert approved.status_code == 200, approved.text
    done = wait_for_rollout(http, admin, started["name"])
    assert done["status"] == "SUCCEEDED", done
    assert route(http, admin)["weights"] == {"bedrock": 50, "google": 50}
    records = http.get("/admin/audit/export?format=json&period=daily", headers=admin).json()["records"]
    assert any(r["action"] == "rollout.approval.grant" and r["role"] == "operator" for r in records)


@pytest.mark.usefixtures("rollouts")
def test_a_rejected_step_rolls_the_canary_back(http, admin, google_proven):
    started = start_waiting_for_approval(http, admin, google_proven)
    rejected = http.post("/admin/rollouts/approve", json={"approve": False, "reason": "not yet"}, headers=admin)
    assert rejected.status_code == 200
    done = wait_for_rollout(http, admin, started["name"])
    assert (done["status"], done["error"]) == ("FAILED", "ApprovalRejected")
    assert route(http, admin)["weights"] == {"bedrock": 100}


@pytest.mark.usefixtures("rollouts")
def test_an_abort_answers_a_waiting_approval_at_once(http, admin, google_proven):
    started = start_waiting_for_approval(http, admin, google_proven)
    aborted = http.post("/admin/rollouts/abort", json={"reason": "stop", "execution": started["name"]}, headers=admin)
    assert aborted.json()["approvalAnswered"] is True
    done = wait_for_rollout(http, admin, started["name"])
    assert (done["status"], done["error"]) == ("FAILED", "RolloutAborted")
    assert route(http, admin)["weights"] == {"bedrock": 100}


@pytest.mark.usefixtures("rollouts")
def test_approve_with_nothing_waiting_is_404(http, admin):
    assert http.post("/admin/rollouts/approve", json={"approve": True}, headers=admin).status_code == 404
