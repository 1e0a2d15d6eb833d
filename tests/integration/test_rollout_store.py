"""The route's rollout lock and weights on moto's DynamoDB: conditional, audited, one owner at a time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from functions.adapters.dynamodb.audit import audit_log_from
from functions.adapters.dynamodb.client import dynamodb_client
from functions.adapters.dynamodb.config import ConfigStore
from functions.adapters.dynamodb.rollouts import RolloutStore
from functions.adapters.dynamodb.schema import TRAFFIC_WEIGHTS_KEY
from functions.domain.audit import verify
from functions.domain.errors import NotFound
from functions.domain.rollout.plan import Admission, NotLockOwner, Phase, RolloutAborted, RolloutKind, RolloutLocked

CANARY, FAILBACK = RolloutKind.CANARY, RolloutKind.FAILBACK
GRADUAL, IMMEDIATE = RolloutKind.GRADUAL_FAILOVER, RolloutKind.IMMEDIATE_FAILOVER
START = {"bedrock": 70, "google": 10, "meta": 20}
A, B = "arn:aws:states:us-east-1:1:execution:canary:a", "arn:aws:states:us-east-1:1:execution:failover:b"


@pytest.fixture
def config(tables) -> ConfigStore:
    return ConfigStore(tables["FLAGS_TABLE"], audit_log_from(tables))


@pytest.fixture
def store(config) -> RolloutStore:
    from functions.domain.audit import AuditEntry

    config.put(TRAFFIC_WEIGHTS_KEY, {"weights": START}, 0, AuditEntry("test", "seed", TRAFFIC_WEIGHTS_KEY))
    return RolloutStore(config)


def audit_actions(config: ConfigStore) -> list[str]:
    return [r.entry.action for r in config.audit.records()]


# --- acquire ------------------------------------------------------------------------------------
def test_acquiring_a_free_route_records_the_lock_and_keeps_the_weights(store, config):
    acquired = store.acquire(A, CANARY, ["bedrock"], "google", "release 42")

    assert acquired.admission is Admission.ACQUIRE
    lock = store.get().lock
    assert (lock.owner, lock.kind, lock.sources, lock.target, lock.phase, lock.step) == (
        A,
        CANARY,
        ("bedrock",),
        "google",
        Phase.RUNNING,
        -1,
    )
    assert lock.starting_weights == START and store.get().weights == START
    assert audit_actions(config)[-1] == "rollout.acquire"


def test_the_router_still_reads_plain_weights_from_the_item(store, tables):
    store.acquire(A, CANARY, ["bedrock"], "google")
    raw = dynamodb_client().get_item(TableName=tables["FLAGS_TABLE"], Key={"pk": {"S": TRAFFIC_WEIGHTS_KEY}})["Item"]
    assert {k: int(v["N"]) for k, v in raw["weights"]["M"].items()} == START
    assert raw["lock_owner"]["S"] == A


def test_a_second_canary_is_refused_while_one_runs(store):
    store.acquire(A, CANARY, ["bedrock"], "google")
    with pytest.raises(RolloutLocked):
        store.acquire(B, FAILBACK, ["google"], "bedrock")
    assert store.get().lock.owner == A


def test_a_retried_acquire_by_the_owner_reenters_without_a_write(store):
    first = store.acquire(A, CANARY, ["bedrock"], "google")
    again = store.acquire(A, CANARY, ["bedrock"], "google")
    assert again.admission is Admission.REENTER and again.state.version == first.state.version


def test_a_failover_preempts_a_canary_from_the_live_weights(store, config):
    store.acquire(A, CANARY, ["bedrock"], "google")
    store.set_step(A, 0, {"bedrock": 66, "google": 15, "meta": 19})

    acquired = store.acquire(B, GRADUAL, ["google"], "bedrock", "google failing")

    assert (acquired.admission, acquired.preempted) == (Admission.PREEMPT, A)
    assert store.get().lock.owner == B
    assert store.get().lock.starting_weights == {"bedrock": 66, "google": 15, "meta": 19}
    assert audit_actions(config)[-1] == "rollout.preempt"


def test_a_canary_cannot_preempt_a_failover(store):
    store.acquire(B, IMMEDIATE, ["bedrock"], "google")
    with pytest.raises(RolloutLocked):
        store.acquire(A, CANARY, ["bedrock"], "google")


def test_twenty_concurrent_acquires_leave_exactly_one_owner(store, config):
    owners = [f"arn:aws:states:us-east-1:1:execution:canary:{i}" for i in range(20)]

    def attempt(owner: str) -> str:
        try:
            store.acquire(owner, CANARY, ["bedrock"], "google")
            return owner
        except RolloutLocked:
            return ""

    with ThreadPoolExecutor(max_workers=20) as pool:
        winners = [w for w in pool.map(attempt, owners) if w]

    assert len(winners) == 1
    assert store.get().lock.owner == winners[0]
    assert audit_actions(config).count("rollout.acquire") == 1
    assert verify(config.audit.records(), config.audit.key, config.audit.anchors.read()).valid


# --- steps ---------------------------------------------------------------------------------------
def test_the_owner_sets_a_step_and_its_weights_audited(store, config):
    store.acquire(A, CANARY, ["bedrock"], "google")
    state = store.set_step(A, 2, {"bedrock": 56, "google": 25, "meta": 19})
    assert state.weights == {"bedrock": 56, "google": 25, "meta": 19}
    assert state.lock.step == 2 and state.lock.starting_weights == START
    assert audit_actions(config)[-1] == "rollout.step"


def test_a_dry_run_step_records_the_step_but_leaves_the_weights(store):
    store.acquire(A, CANARY, ["bedrock"], "google")
    state = store.set_step(A, 1, None)
    assert state.weights == START and state.lock.step == 1


def test_set_step_by_a_non_owner_is_refused_and_changes_nothing(store):
    store.acquire(A, CANARY, ["bedrock"], "google")
    before = store.get()
    with pytest.raises(NotLockOwner):
        store.set_step(B, 0, {"bedrock": 0, "google": 100})
    assert store.get() == before


def test_set_step_on_a_free_route_is_refused(store):
    with pytest.raises(NotLockOwner):
        store.set_step(A, 0, {"bedrock": 0, "google": 100})


# --- release -------------------------------------------------------------------------------------
def test_release_with_the_starting_weights_restores_them_exactly_and_frees_the_route(store, config):
    acquired = store.acquire(A, CANARY, ["bedrock"], "google")
    store.set_step(A, 3, {"bedrock": 35, "google": 55, "meta": 10})

    state = store.release(A, acquired.state.lock.starting_weights, "gate failed")

    assert state.weights == START and state.lock is None
    assert audit_actions(config)[-1] == "rollout.rollback"
    assert store.acquire(B, CANARY, ["bedrock"], "google").admission is Admission.ACQUIRE


def test_release_without_weights_keeps_the_last_step(store):
    store.acquire(A, CANARY, ["bedrock"], "google")
    store.set_step(A, 5, {"bedrock": 0, "google": 100, "meta": 0})
    assert store.release(A).weights == {"bedrock": 0, "google": 100, "meta": 0}


def test_release_by_a_non_owner_is_refused(store):
    store.acquire(A, CANARY, ["bedrock"], "google")
    with pytest.raises(NotLockOwner):
        store.release(B, START)
    assert store.get().lock.owner == A


def test_a_retried_release_is_a_no_op(store, config):
    store.acquire(A, CANARY, ["bedrock"], "google")
    store.release(A, START)
    before = len(audit_actions(config))
    assert store.release(A, {"bedrock": 100}).weights == START
    assert len(audit_actions(config)) == before


def test_a_release_by_a_rollout_preempted_meanwhile_is_refused_even_once_the_route_is_free(store):
    store.acquire(A, CANARY, ["bedrock"], "google")
    store.acquire(B, IMMEDIATE, ["google"], "bedrock")
    store.release(B)
    with pytest.raises(NotLockOwner):
        store.release(A, START)
    assert store.get().released_by == B and store.get().weights == START


def test_cleanup_of_a_stopped_canary_restores_its_starting_weights(store, config):
    store.acquire(A, CANARY, ["bedrock"], "google")
    store.set_step(A, 2, {"bedrock": 56, "google": 25, "meta": 19})

    state = store.force_release_if_owner(A, "execution aborted")

    assert state is not None and state.lock is None and state.weights == START
    assert audit_actions(config)[-1] == "rollout.cleanup"


def test_cleanup_of_a_stopped_failover_keeps_its_weights(store):
    store.acquire(B, GRADUAL, ["bedrock"], "google")
    store.set_step(B, 0, {"bedrock": 50, "google": 30, "meta": 20})
    state = store.force_release_if_owner(B)
    assert state.lock is None and state.weights == {"bedrock": 50, "google": 30, "meta": 20}


def test_cleanup_by_a_preempted_execution_leaves_the_new_owner_alone(store):
    store.acquire(A, CANARY, ["bedrock"], "google")
    store.acquire(B, IMMEDIATE, ["google"], "bedrock")
    assert store.force_release_if_owner(A) is None
    assert store.get().lock.owner == B


def test_an_abort_request_is_flagged_on_the_lock(store, config):
    store.acquire(A, CANARY, ["bedrock"], "google")
    token, state = store.request_abort("alice", "bad release")
    assert token is None and state.lock.abort_requested
    assert audit_actions(config)[-1] == "rollout.abort"


def test_an_abort_with_nothing_running_is_not_found(store):
    with pytest.raises(NotFound):
        store.request_abort("alice", "nothing to stop")


# --- manual approval ------------------------------------------------------------------------------
TOKEN = "task-token-0123456789"


def waiting(store: RolloutStore) -> None:
    store.acquire(A, CANARY, ["bedrock"], "google")
    store.set_step(A, 0, {"bedrock": 66, "google": 15, "meta": 19})
    store.await_approval(A, TOKEN, 0)


def test_an_approval_wait_keeps_the_token_on_the_lock_audited_without_it(store, config, tables):
    waiting(store)

    lock = store.get().lock
    assert (lock.phase, lock.step, lock.approval_token) == (Phase.AWAITING_APPROVAL, 0, TOKEN)
    assert store.get().as_dict()["lock"]["approvalPending"] is True
    assert audit_actions(config)[-1] == "rollout.approval.wait"
    raw_audit = dynamodb_client().scan(TableName=tables["AUDIT_TABLE"])["Items"]
    assert TOKEN not in str(raw_audit)  # a capability: never written to the audit trail


def test_a_retried_approval_wait_with_the_same_token_writes_nothing(store):
    waiting(store)
    version = store.get().version
    assert store.await_approval(A, TOKEN, 0).version == version


def test_an_approval_wait_after_an_abort_raises_and_keeps_no_token(store):
    store.acquire(A, CANARY, ["bedrock"], "google")
    store.request_abort("alice", "stop")
    with pytest.raises(RolloutAborted):
        store.await_approval(A, TOKEN, 0)
    assert store.get().lock.approval_token is None


def test_an_approval_wait_by_a_preempted_execution_is_refused(store):
    store.acquire(A, CANARY, ["bedrock"], "google")
    store.acquire(B, IMMEDIATE, ["google"], "bedrock")
    with pytest.raises(NotLockOwner):
        store.await_approval(A, TOKEN, 0)


def test_taking_the_approval_returns_the_token_once_audited_as_grant(store, config):
    waiting(store)

    token, state = store.take_approval("alice", "operator", "looks good")

    assert token == TOKEN and state.lock.approval_token is None and state.lock.phase is Phase.RUNNING
    last = list(config.audit.records())[-1]
    assert (last.entry.action, last.entry.actor, last.entry.role) == ("rollout.approval.grant", "alice", "operator")
    with pytest.raises(NotFound):
        store.take_approval("bob", "operator", "me too")


def test_a_rejection_is_audited_as_reject(store, config):
    waiting(store)
    token, _ = store.take_approval("alice", "operator", "error budget spent", approved=False)
    assert token == TOKEN and audit_actions(config)[-1] == "rollout.approval.reject"


def test_nothing_to_approve_is_not_found(store):
    store.acquire(A, CANARY, ["bedrock"], "google")
    with pytest.raises(NotFound):
        store.take_approval("alice", "operator", "approve what?")


def test_an_abort_during_an_approval_wait_hands_back_the_token(store, config):
    waiting(store)

    token, state = store.request_abort("alice", "bad release", "operator")

    assert token == TOKEN and state.lock.abort_requested and state.lock.approval_token is None
    assert audit_actions(config)[-1] == "rollout.abort"
    assert store.request_abort("alice", "again") == (None, store.get())  # a second abort changes nothing


def test_the_next_step_clears_a_pending_approval(store):
    waiting(store)
    assert store.set_step(A, 1, {"bedrock": 60, "google": 20, "meta": 20}).lock.approval_token is None


def test_every_transition_keeps_the_audit_chain_valid(store, config):
    store.acquire(A, CANARY, ["bedrock"], "google")
    store.set_step(A, 0, {"bedrock": 67, "google": 14, "meta": 19})
    store.record(A, "rollout.gate.proceed", "within thresholds", {"verdict": "PASS"})
    store.release(A, START)
    assert audit_actions(config)[-4:] == ["rollout.acquire", "rollout.step", "rollout.gate.proceed", "rollout.rollback"]
    assert verify(config.audit.records(), config.audit.key, config.audit.anchors.read()).valid
