"""Every admin write is a compare-and-set on what it read, in one transaction with its audit record: concurrent
writers without a version all land, each with exactly one record; a reset under contention is a 2xx or a clean
409; and an audit append that fails leaves the item as it was."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any

import pytest

from functions.adapters.dynamodb.breakers import breaker_key
from functions.adapters.dynamodb.client import dynamodb_client
from functions.adapters.dynamodb.schema import AUDIT, HEALTH
from functions.app.chat.wiring import get_dependencies
from functions.domain.names import BEDROCK

pytestmark = pytest.mark.usefixtures("clean_control_plane")

FLAGS = (
    "ENABLE_BEDROCK_SUPPORT_MODE",
    "ENABLE_INTELLIGENT_ROUTING",
    "ENABLE_DIRECT_BEDROCK_FALLBACK",
    "ENABLE_HYBRID_HEALTH_MONITORING",
    "ENABLE_PERFORMANCE_OPTIMIZATION",
)
CACHE_FIELDS = ("freshTtlSeconds", "staleTtlSeconds", "serveStale", "mode")


def records_of(http, admin, action: str, tag: str) -> list[dict[str, Any]]:
    """This test's records of `action` (their reasons carry `tag`), in seq order."""
    records = http.get("/admin/audit/export?format=json&period=daily", headers=admin).json()["records"]
    return sorted((r for r in records if r["action"] == action and tag in r["reason"]), key=lambda r: r["seq"])


def concurrently(calls: list[Callable[[], Any]]) -> list[Any]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def assert_each_change_follows_the_last(records: list[dict[str, Any]], first_before: Any, final: Any) -> None:
    """No lost update: every record's `before` is its predecessor's `after` (each change was made from the
    document the previous one wrote), and the document now is the last record's `after`."""
    assert records[0]["before"] == first_before
    for previous, record in pairwise(records):
        assert record["before"] == previous["after"], f"record {record['seq']} was not based on {previous['seq']}"
    assert records[-1]["after"] == final


@pytest.mark.parametrize("writers", [2, 16])
def test_concurrent_unversioned_flag_changes_on_different_flags_all_land_each_audited_once(http, admin, writers):
    tag = uuid.uuid4().hex[:8]
    changes = [(FLAGS[i % len(FLAGS)], False) for i in range(writers)]

    def change(i: int) -> Callable[[], Any]:
        flag, enabled = changes[i]
        body = {"flag": flag, "enabled": enabled, "reason": f"{tag} writer {i}"}
        return lambda: http.post("/admin/feature-flags/bedrock/update", json=body, headers=admin)

    answers = concurrently([change(i) for i in range(writers)])

    assert [a.status_code for a in answers] == [200] * writers, [a.text for a in answers if a.status_code != 200]
    now = http.get("/admin/feature-flags/bedrock", headers=admin).json()
    assert all(now[flag] is False for flag, _ in changes)  # every change present
    assert now["version"] == writers
    records = records_of(http, admin, "feature-flag.update", tag)
    assert sorted(r["reason"] for r in records) == sorted(f"{tag} writer {i}" for i in range(writers))
    assert_each_change_follows_the_last(records, {"flags": dict.fromkeys(FLAGS, True)}, records[-1]["after"])
    assert {"flags": {k: v for k, v in now.items() if k != "version"}} == records[-1]["after"]


@pytest.mark.parametrize("writers", [2, 16])
def test_concurrent_unversioned_disable_hybrid_routing_and_flag_changes_on_one_flag_lose_nothing(http, admin, writers):
    """The same field: one emergency switch and flag updates of that flag, all based on one another."""
    tag = uuid.uuid4().hex[:8]
    flag = "ENABLE_INTELLIGENT_ROUTING"

    def change(i: int) -> Callable[[], Any]:
        reason = f"{tag} writer {i}"
        if i % 2:
            return lambda: http.post("/admin/emergency/disable-hybrid-routing", json={"reason": reason}, headers=admin)
        body = {"flag": flag, "enabled": True, "reason": reason}
        return lambda: http.post("/admin/feature-flags/bedrock/update", json=body, headers=admin)

    answers = concurrently([change(i) for i in range(writers)])

    assert [a.status_code for a in answers] == [200] * writers, [a.text for a in answers if a.status_code != 200]
    records = records_of(http, admin, "feature-flag.update", tag) + records_of(
        http, admin, "emergency.disable-hybrid-routing", tag
    )
    records.sort(key=lambda r: r["seq"])
    assert len(records) == writers
    now = http.get("/admin/feature-flags/bedrock", headers=admin).json()
    assert now["version"] == writers
    final = {"flags": {k: v for k, v in now.items() if k != "version"}}
    assert_each_change_follows_the_last(records, {"flags": dict.fromkeys(FLAGS, True)}, final)
    last_is_switch = records[-1]["action"] == "emergency.disable-hybrid-routing"
    assert now[flag] is (not last_is_switch)


@pytest.mark.parametrize("writers", [2, 16])
def test_concurrent_unversioned_cache_settings_on_the_same_and_other_fields_lose_nothing(http, admin, writers):
    tag = uuid.uuid4().hex[:8]

    def setting(i: int) -> dict[str, Any]:
        field = CACHE_FIELDS[i % len(CACHE_FIELDS)]
        value = {"mode": "off", "serveStale": False}.get(field, 10 + i)
        return {field: value}

    def change(i: int) -> Callable[[], Any]:
        body = {**setting(i), "reason": f"{tag} writer {i}"}
        return lambda: http.put("/admin/config/cache-settings", json=body, headers=admin)

    answers = concurrently([change(i) for i in range(writers)])

    assert [a.status_code for a in answers] == [200] * writers, [a.text for a in answers if a.status_code != 200]
    records = records_of(http, admin, "config.cache-settings", tag)
    assert sorted(r["reason"] for r in records) == sorted(f"{tag} writer {i}" for i in range(writers))
    for record in records:  # each change present in what its own write stored
        writer = int(record["reason"].rsplit(" ", 1)[1])
        assert setting(writer).items() <= record["after"].items()
    now = http.get("/admin/config/cache-settings", headers=admin).json()
    stored = {k: now[k] for k in CACHE_FIELDS if k not in now["ttlsFromDeployment"] and k in records[-1]["after"]}
    assert_each_change_follows_the_last(records, {}, stored)
    assert now["version"] == writers
    for i in range(writers):  # the last write of each field is what the settings say now
        (field, value), *_ = setting(i).items()
        last = [r for r in records if field in setting(int(r["reason"].rsplit(" ", 1)[1]))][-1]
        assert now[field] == last["after"][field]
        assert value == last["after"][field] or last["reason"] != f"{tag} writer {i}"


@pytest.mark.parametrize("writers", [2, 16])
def test_concurrent_unversioned_bedrock_percentages_each_split_the_weights_the_last_one_wrote(http, admin, writers):
    assert (
        http.put("/admin/routing/traffic-distribution", json={"weights": {"bedrock": 100}}, headers=admin).status_code
        == 200
    )
    tag = uuid.uuid4().hex[:8]

    def change(i: int) -> Callable[[], Any]:
        body = {"percentage": 100 - 3 * i, "reason": f"{tag} writer {i}"}
        return lambda: http.post("/admin/routing/bedrock-percentage", json=body, headers=admin)

    answers = concurrently([change(i) for i in range(writers)])

    assert [a.status_code for a in answers] == [200] * writers, [a.text for a in answers if a.status_code != 200]
    records = records_of(http, admin, "routing.bedrock-percentage", tag)
    assert len(records) == writers
    for previous, record in pairwise(records):
        assert record["before"] == previous["after"]["weights"]
    now = http.get("/admin/routing/traffic-distribution", headers=admin).json()
    assert now["weights"] == records[-1]["after"]["weights"]


# --- breaker resets ----------------------------------------------------------------------------
def _breaker_version() -> int:
    table = get_dependencies().settings.health_table
    item = (
        dynamodb_client()
        .get_item(TableName=table, Key={HEALTH.partition_key: {"S": breaker_key(BEDROCK)}}, ConsistentRead=True)
        .get("Item")
    )
    return int(item["version"]["N"]) if item else 0


def test_sixty_four_concurrent_breaker_resets_answer_2xx_or_a_clean_409_each_success_with_one_record(http, admin):
    tag = uuid.uuid4().hex[:8]
    version = _breaker_version()

    def reset(i: int) -> Callable[[], Any]:
        body = {"provider": BEDROCK, "reason": f"{tag} reset {i}"}
        return lambda: http.post("/admin/circuit-breaker/reset", json=body, headers=admin)

    answers = concurrently([reset(i) for i in range(64)])

    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {200, 409}, [a.text for a in answers if a.status_code not in (200, 409)]
    for refused in (a for a in answers if a.status_code == 409):
        assert refused.json()["error"]["code"] and "nothing changed" in refused.json()["error"]["message"]
    successes = {f"{tag} reset {i}" for i, a in enumerate(answers) if a.status_code == 200}
    assert successes  # at least the first reset of a quiet breaker lands
    records = records_of(http, admin, "circuit-breaker.reset", tag)
    assert sorted(r["reason"] for r in records) == sorted(successes)  # one record each, none for a refusal
    assert _breaker_version() == version + len(successes)  # and no record without its change
    assert http.get("/admin/audit/trail-integrity", headers=admin).json()["status"] == "valid"


def test_a_versioned_reset_on_a_stale_breaker_version_is_a_409_that_changes_nothing(http, admin):
    first = http.post("/admin/circuit-breaker/reset", json={"provider": BEDROCK}, headers=admin).json()
    stale = first["versions"][BEDROCK] - 1
    refused = http.post("/admin/circuit-breaker/reset", json={"provider": BEDROCK, "version": stale}, headers=admin)
    assert refused.status_code == 409 and f"not {stale}" in refused.json()["error"]["message"]
    assert _breaker_version() == first["versions"][BEDROCK]


# --- a failed audit append --------------------------------------------------------------------
@pytest.fixture
def failing_audit_append() -> Iterator[list[int]]:
    """Every transaction's audit Put made to fail its condition, inside the real transaction on moto:
    the transaction is cancelled, its other writes with it. Yields the count of transactions so failed."""
    failed: list[int] = []
    audit_table = get_dependencies().settings.audit_table

    def fail_the_audit_put(params: dict[str, Any], **_: Any) -> None:
        for element in params.get("TransactItems", []):
            put = element.get("Put") or {}
            if put.get("TableName") == audit_table:
                put["ConditionExpression"] = "attribute_exists(#seq)"  # a new seq never exists
                failed.append(1)

    events = dynamodb_client().meta.events
    events.register("before-parameter-build.dynamodb.TransactWriteItems", fail_the_audit_put)
    try:
        yield failed
    finally:
        events.unregister("before-parameter-build.dynamodb.TransactWriteItems", fail_the_audit_put)


def _audit_count() -> int:
    table = get_dependencies().settings.audit_table
    response = dynamodb_client().query(
        TableName=table,
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": AUDIT.partition_key},
        ExpressionAttributeValues={":s": {"S": "admin"}},
        Select="COUNT",
        ConsistentRead=True,
    )
    return int(response["Count"])


def test_a_flag_change_whose_audit_record_fails_leaves_the_flags_unchanged(http, admin, failing_audit_append):
    before, records = http.get("/admin/feature-flags/bedrock", headers=admin).json(), _audit_count()
    body = {"flag": "ENABLE_INTELLIGENT_ROUTING", "enabled": False, "reason": "audit will fail"}
    answer = http.post("/admin/feature-flags/bedrock/update", json=body, headers=admin)
    assert answer.status_code == 409 and "nothing changed" in answer.json()["error"]["message"]
    assert failing_audit_append  # the failure went through the real transaction
    assert http.get("/admin/feature-flags/bedrock", headers=admin).json() == before
    assert _audit_count() == records


def test_a_breaker_reset_whose_audit_record_fails_leaves_the_breaker_unchanged(http, admin, failing_audit_append):
    version, records = _breaker_version(), _audit_count()
    answer = http.post("/admin/circuit-breaker/reset", json={"provider": BEDROCK}, headers=admin)
    assert answer.status_code == 409 and "nothing changed" in answer.json()["error"]["message"]
    assert failing_audit_append
    assert _breaker_version() == version and _audit_count() == records


@pytest.mark.usefixtures("rollouts")
def test_a_rollout_start_whose_audit_record_fails_starts_nothing(http, admin, failing_audit_append):
    def canaries() -> list[str]:  # the newest canary executions: a new one would come first
        return [e["executionArn"] for e in http.get("/admin/rollouts", headers=admin).json()["executions"]["canary"]]

    executions, records = canaries(), _audit_count()
    body = {"kind": "canary", "source": "bedrock", "target": "google", "bakeSeconds": 0, "reason": "audit will fail"}
    answer = http.post("/admin/rollouts", json=body, headers=admin)
    assert answer.status_code == 409 and "nothing changed" in answer.json()["error"]["message"]
    assert failing_audit_append
    assert canaries() == executions
    assert http.get("/admin/rollouts", headers=admin).json()["route"]["lock"] is None
    assert _audit_count() == records
