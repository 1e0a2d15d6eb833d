"""A canary on the local stack under steady traffic (issue 5): at each step the share of Direct requests
answered by the target (`x-hybrid-provider`) matches the step's weight.

The canary is started as an operator starts it (POST /admin/rollouts) and runs its ASL on moto with the
workflow Lambda bound in-process, steps [25, 50, 100], a few seconds' bake. Infrastructure traffic
(Direct primary) flows all along from four client threads. A response counts for a step only if the
step's weights were visible to the router for the whole request: the test watches the route item, and on
each change resets the router's snapshot cache (the router itself re-reads it within
SNAPSHOT_MAX_AGE_SECONDS), tags requests started after that, and drops requests that straddle a change.

Tolerance: the first SAMPLE (350) responses of each step; the target's share must be within TOLERANCE
(10 percentage points) of the step's percentage. Each response is an independent draw (the router's
weighted pick uses `random.random()`), so the count is binomial: the exact two-sided tail
P(|share - p| > 0.10) is 6.5e-7 for p = 0.25 and 1.6e-4 for p = 0.50 at n = 350 (the 100 % step is
exact): a false failure has probability 1.6e-4 < 1e-3, computed exactly by the first test.
"""

from __future__ import annotations

import math
import os
import threading
from collections import defaultdict

import pytest
from starlette.testclient import TestClient

from functions.adapters.dynamodb.audit import audit_log_from
from functions.adapters.dynamodb.config import ConfigStore
from functions.adapters.dynamodb.rollouts import RolloutStore
from functions.adapters.dynamodb.schema import TRAFFIC_WEIGHTS_KEY
from functions.app.chat.wiring import get_dependencies
from functions.domain.audit import AuditEntry
from local import metrics_sink
from tests.polling import eventually
from tests.support import reset_routing_state

STEPS = [25, 50, 100]
BAKE_SECONDS = 10  # 350 answers a step on a loaded 2-core machine, one quota write per request included
SAMPLE = 350
TOLERANCE = 0.10
FALSE_FAILURE_BOUND = 1e-3
CLIENT_THREADS = 8
BODY = {"model": "canary", "messages": [{"role": "user", "content": "cluster status?"}], "temperature": 0.7}


def binomial_tail(n: int, p: float, tolerance: float) -> float:
    """P(|X/n - p| > tolerance) for X ~ Binomial(n, p), exactly."""
    return sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1) if abs(k / n - p) > tolerance)


def test_the_tolerance_makes_a_false_failure_rarer_than_one_in_a_thousand():
    assert sum(binomial_tail(SAMPLE, s / 100, TOLERANCE) for s in STEPS) < FALSE_FAILURE_BOUND


@pytest.fixture
def route(local_stack):
    reset_routing_state(local_stack)
    deps = get_dependencies()
    config = ConfigStore(deps.settings.flags_table, audit_log_from(os.environ))
    rollouts = RolloutStore(config)
    before = rollouts.get()
    assert before.lock is None, f"a rollout holds the route: {before.lock}"
    entry = AuditEntry("test", "seed", TRAFFIC_WEIGHTS_KEY, "canary test starts from bedrock:100")
    config.put(TRAFFIC_WEIGHTS_KEY, {"weights": {"bedrock": 100}}, before.version, entry)
    deps.snapshots.invalidate()
    yield rollouts
    after = rollouts.get()
    if after.lock is None:
        config.put(TRAFFIC_WEIGHTS_KEY, {"weights": dict(before.weights)}, after.version, entry)
    deps.snapshots.invalidate()


class Tagger:
    """The step whose weights the router is known to use now (None while a change is being applied)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.step: int | None = None
        self.generation = 0

    def set(self, step: int | None) -> None:
        with self.lock:
            self.step, self.generation = step, self.generation + 1

    def get(self) -> tuple[int | None, int]:
        with self.lock:
            return self.step, self.generation


def send_steadily(client, tagger: Tagger, stop: threading.Event, seen: dict[int, list[str]], errors: list[int]):
    while not stop.is_set():
        step, generation = tagger.get()
        response = client.post("/v1/chat/completions", json=BODY, headers={"X-Operation-Type": "infrastructure"})
        if response.status_code != 200:
            errors.append(response.status_code)
            continue
        if step is not None and tagger.get() == (step, generation):
            seen[step].append(response.headers["x-hybrid-provider"])


def test_each_canary_step_sends_the_target_its_share_of_traffic(local_stack, route):
    metrics_sink.install()  # the gates read the EMF lines; pytest's capture swapped sys.stdout, removing the tap
    tagger, stop = Tagger(), threading.Event()
    seen: dict[int, list[str]] = defaultdict(list)
    errors: list[int] = []
    with TestClient(local_stack.app) as client:
        client.headers["Authorization"] = f"Bearer {local_stack.client_key}"
        threads = [
            threading.Thread(target=send_steadily, args=(client, tagger, stop, seen, errors), daemon=True)
            for _ in range(CLIENT_THREADS)
        ]
        for thread in threads:
            thread.start()
        try:
            started = client.post(
                "/admin/rollouts",
                headers={"Authorization": f"Bearer {local_stack.admin_token}"},
                json={
                    "kind": "canary",
                    "source": "bedrock",
                    "target": "google",
                    "steps": STEPS,
                    "bakeSeconds": BAKE_SECONDS,
                    "recheckSeconds": 1,
                    "gate": {"windowSeconds": BAKE_SECONDS},
                    "reason": "e2e canary under traffic",
                },
            )
            assert started.status_code == 202, started.text
            status = follow(client, local_stack.admin_token, started.json()["executionArn"], route, tagger)
        finally:
            stop.set()
            for thread in threads:
                thread.join(10)
    assert status == "SUCCEEDED"
    assert not errors, f"{len(errors)} requests failed during the canary: {sorted(set(errors))}"
    for index, percent in enumerate(STEPS):
        sample = seen[index][:SAMPLE]
        assert len(sample) == SAMPLE, f"step {index} ({percent} %): only {len(seen[index])} responses while in force"
        share = sample.count("google") / SAMPLE
        assert abs(share - percent / 100) <= TOLERANCE, f"step {index}: google had {share:.1%}, weights say {percent} %"
        assert set(sample) <= {"google", "bedrock"}


def follow(client, admin_token: str, execution: str, route: RolloutStore, tagger: Tagger, timeout_s: float = 40.0):
    """Watch the route item until the execution ends; on each step's weights, make the router see them."""
    last = None

    def step_then_status() -> str | None:
        nonlocal last
        state = route.get()
        current = (state.lock.step if state.lock else None, dict(state.weights))
        if current != last:
            tagger.set(None)
            get_dependencies().snapshots.invalidate()
            if (
                state.lock is not None
                and state.lock.step >= 0
                and state.weights.get("google") == STEPS[state.lock.step]
            ):
                tagger.set(state.lock.step)
            last = current
        described = client.get(f"/admin/rollouts/{execution}", headers={"Authorization": f"Bearer {admin_token}"})
        if described.status_code == 200 and described.json().get("status") not in (None, "RUNNING"):
            return described.json()["status"]
        return None

    return eventually(step_then_status, timeout=timeout_s, interval=0.05, what=f"the canary {execution} finished")
