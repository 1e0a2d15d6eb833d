"""The local stack keeps its state across restarts (issue 12, Deliver 7): stopped with Ctrl-C or killed,
started again on the same state directory, the audit trail, flags, weights and tokens are as they were;
`--fresh` starts clean; a rollout running when the stack died is ended on restart; `/local/*` refuses a
cross-origin form post and a foreign Host."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from local.gateway import LOCAL_HEADERS
from tests.e2e.local_process import launch, ready_line
from tests.polling import eventually

HOLD = {"bakeSeconds": 0, "recheckSeconds": 1, "gate": {"minRequests": 1_000_000, "maxInconclusive": 600}}


@dataclass
class Stack:
    url: str
    client_key: str
    admin_token: str
    process: subprocess.Popen[str]

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {self.admin_token}"})

    def saved(self) -> None:
        """Wait until the state directory holds every write made so far."""
        with httpx.Client(base_url=self.url, headers=LOCAL_HEADERS) as http:
            writes = http.get("/local/state").json()["writes"]
            eventually(lambda: http.get("/local/state").json()["savedWrites"] >= writes, what="the state saved")

    def stop(self, sig: int) -> None:
        self.process.send_signal(sig)
        self.process.communicate(timeout=30)


@contextmanager
def stack(state: Path, *args: str) -> Iterator[Stack]:
    process = launch(*args, LOCAL_STATE_DIR=str(state))
    match = ready_line(process)
    if match is None:
        process.kill()
        pytest.fail(f"the local stack did not start; exit code {process.poll()}")
    running = Stack(match.group(1), match.group(2), match.group(3), process)
    try:
        yield running
    finally:
        if process.poll() is None:
            running.stop(signal.SIGINT)


def trail(http: httpx.Client) -> list[dict]:
    return http.get("/admin/audit/export?format=json&period=daily").json()["records"]


def observed(http: httpx.Client) -> dict:
    return {
        "flags": http.get("/admin/feature-flags/bedrock").json(),
        "weights": http.get("/admin/routing/traffic-distribution").json(),
        "trail": trail(http),
        "integrity": http.get("/admin/audit/trail-integrity").json(),
    }


def change_flags_and_weights(http: httpx.Client) -> None:
    flag = {"flag": "ENABLE_DIRECT_BEDROCK_FALLBACK", "enabled": False, "reason": "persistence test"}
    assert http.post("/admin/feature-flags/bedrock/update", json=flag).status_code == 200
    weights = {"weights": {"bedrock": 60, "google": 40}, "reason": "persistence test"}
    assert http.put("/admin/routing/traffic-distribution", json=weights).status_code == 200


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_flags_weights_audit_trail_and_tokens_survive_a_restart(tmp_path, stop_signal):
    with stack(tmp_path) as first, first.http() as http:
        change_flags_and_weights(http)
        before = observed(http)
        first.saved()
        first.stop(stop_signal)
    assert len(before["trail"]) >= 2 and before["flags"]["ENABLE_DIRECT_BEDROCK_FALLBACK"] is False
    # the trail is keyed and anchored: after the restart its MACs verify (same key) against the same anchors
    assert before["integrity"]["valid"] is True and before["integrity"]["keyedRecords"] == len(before["trail"])
    assert before["integrity"]["anchors"] >= 1
    with stack(tmp_path) as second, second.http() as http:
        assert (second.client_key, second.admin_token) == (first.client_key, first.admin_token)
        assert observed(http) == before


def test_fresh_starts_clean_and_new_tokens(tmp_path):
    with stack(tmp_path) as first, first.http() as http:
        change_flags_and_weights(http)
    with stack(tmp_path, "--fresh") as second, second.http() as http:
        assert second.admin_token != first.admin_token
        assert trail(http) == []
        assert http.get("/admin/feature-flags/bedrock").json()["ENABLE_DIRECT_BEDROCK_FALLBACK"] is True


def test_a_rollout_running_when_the_stack_is_killed_is_ended_on_restart(tmp_path):
    with stack(tmp_path) as first, first.http() as http:
        body = {"kind": "canary", "source": "bedrock", "target": "google", "steps": [10, 50], "reason": "test", **HOLD}
        started = http.post("/admin/rollouts", json=body)
        assert started.status_code == 202, started.text
        arn = started.json()["executionArn"]
        eventually(lambda: http.get("/admin/rollouts").json()["route"]["weights"] == {"bedrock": 90, "google": 10})
        first.saved()
        first.stop(signal.SIGKILL)
    with stack(tmp_path) as second, second.http() as http:
        route = http.get("/admin/rollouts").json()["route"]
        assert (route["lock"], route["weights"]) == (None, {"bedrock": 100})
        cleanup = [r for r in trail(http) if r["action"] == "rollout.cleanup"]
        assert [r["actor"] for r in cleanup] == [arn]
        assert "stopped while this execution ran" in cleanup[0]["reason"]
        state = httpx.get(f"{second.url}/local/state", headers=LOCAL_HEADERS).json()
        assert [e["status"] for e in state["executions"] if e["executionArn"] == arn] == ["ABORTED"]
        assert http.get("/admin/audit/trail-integrity").json()["valid"] is True


def test_local_routes_refuse_a_cross_origin_form_post_and_a_foreign_host(tmp_path):
    with stack(tmp_path) as running:
        fault = '{"provider": "bedrock", "error_rate": 1.0, "status": 503}'
        simple = {"Content-Type": "text/plain", "Origin": "http://evil.example"}
        refused = httpx.post(f"{running.url}/local/faults", content=fault, headers=simple)
        assert refused.status_code == 403 and "X-Hybrid-Local" in refused.json()["error"]["message"]
        rebound = httpx.post(
            f"{running.url}/local/faults", content=fault, headers={**LOCAL_HEADERS, "Host": "evil.example"}
        )
        assert rebound.status_code == 403 and "Host" in rebound.json()["error"]["message"]
        assert httpx.get(f"{running.url}/local/faults", headers=LOCAL_HEADERS).json() == {"faults": []}
        accepted = httpx.post(f"{running.url}/local/faults", content=fault, headers=LOCAL_HEADERS)
        assert accepted.status_code == 200
