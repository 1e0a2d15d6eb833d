"""A drill never starts from, or leaves behind, a route a rollout still holds: the next drill's baseline
would otherwise be a half-way failback step (seen: a quota drill starting at bedrock:90/google:10 could
never get back to it)."""

from __future__ import annotations

import os

from functions.adapters.dynamodb.audit import audit_log_from
from functions.adapters.dynamodb.config import ConfigStore
from functions.adapters.dynamodb.rollouts import RolloutStore
from functions.adapters.dynamodb.schema import TRAFFIC_WEIGHTS_KEY
from functions.app.chat.wiring import get_dependencies
from functions.domain.audit import AuditEntry
from functions.domain.rollout.plan import RolloutKind
from local.drill.runner import _stop_rollout
from tests.support import reset_routing_state

OWNER = "arn:aws:states:eu-central-1:123456789012:execution:hybrid-routing-local-failback:left-over"


def test_a_rollout_left_holding_the_route_is_stopped_and_its_starting_weights_restored(local_stack):
    reset_routing_state(local_stack)
    deps = get_dependencies()
    config = ConfigStore(deps.settings.flags_table, audit_log_from(os.environ))
    store = RolloutStore(config)
    before = store.get()
    config.put(TRAFFIC_WEIGHTS_KEY, {"weights": {"bedrock": 0, "google": 100}}, before.version,
               AuditEntry("test", "seed", TRAFFIC_WEIGHTS_KEY))  # fmt: skip
    store.acquire(OWNER, RolloutKind.FAILBACK, ["google"], "bedrock", "failback")
    store.set_step(OWNER, 0, {"bedrock": 10, "google": 90}, reason="step 0")

    _stop_rollout(deps, "the drill ended before this rollout did")

    after = store.get()
    assert after.lock is None
    assert after.weights == {"bedrock": 0, "google": 100}  # the failback's starting weights, not its step
    _stop_rollout(deps, "nothing to do")  # no rollout: changes nothing
    assert store.get().version == after.version
    current = store.get()
    config.put(TRAFFIC_WEIGHTS_KEY, {"weights": {"bedrock": 100}}, current.version,
               AuditEntry("test", "restore", TRAFFIC_WEIGHTS_KEY))  # fmt: skip
    deps.snapshots.invalidate()
