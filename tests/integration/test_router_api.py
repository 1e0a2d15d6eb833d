"""The router handler behind the local gateway: moto tables, real adapters, simulated providers."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.adapters.dynamodb.client_keys import hash_key
from functions.adapters.dynamodb.schema import ROUTING_OVERRIDE_KEY, health_key
from functions.app.chat.wiring import get_dependencies
from functions.domain.routing.matrix import ROUTING_MATRIX, OperationType
from local.faults import FaultSpec
from tests.support import emf_now, reset_routing_state

BODY = {"model": "any", "messages": [{"role": "user", "content": "Summarise the incident."}], "temperature": 0.7}


@pytest.fixture(autouse=True)
def _clean(local_stack):
    reset_routing_state(local_stack)
    yield
    reset_routing_state(local_stack)


def _chat(client, operation=None, body=None, **headers):
    if operation:
        headers["X-Operation-Type"] = operation
    return client.post("/v1/chat/completions", json=body or BODY, headers=headers)


@pytest.mark.parametrize("operation", list(OperationType))
def test_each_operation_type_is_served_on_the_route_the_matrix_prescribes(client, operation):
    response = _chat(client, operation.value)
    assert response.status_code == 200, response.text
    assert response.headers["x-hybrid-route"] == ROUTING_MATRIX[operation].primary.value
    assert response.headers["x-hybrid-fallback"] == "false"
    assert response.headers["x-hybrid-cache"] == "miss"
    assert response.headers["x-request-id"]
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"]
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"] > 0


def test_the_operation_type_can_come_from_metadata(client):
    response = _chat(client, body={**BODY, "metadata": {"operation_type": "infrastructure"}})
    assert response.headers["x-hybrid-route"] == "direct"
    assert response.headers["x-hybrid-provider"] == "bedrock"


def test_without_operation_type_a_request_is_standard_and_goes_to_mcp(client):
    response = _chat(client)
    assert (response.headers["x-hybrid-route"], response.headers["x-hybrid-provider"]) == ("mcp", "mcp")


def test_when_bedrock_fails_an_infrastructure_request_fails_over_to_google_the_next_in_its_chain(client, local_stack):
    local_stack.faults.set(FaultSpec(provider="bedrock", status=503))
    response = _chat(client, "infrastructure")
    assert response.status_code == 200
    assert (response.headers["x-hybrid-route"], response.headers["x-hybrid-provider"]) == ("direct", "google")
    assert response.headers["x-hybrid-fallback"] == "true"


def test_when_every_direct_provider_fails_an_infrastructure_request_falls_back_to_mcp(client, local_stack):
    for provider in ("bedrock", "google", "meta"):
        local_stack.faults.set(FaultSpec(provider=provider, status=503))
    response = _chat(client, "infrastructure")
    assert response.status_code == 200
    assert (response.headers["x-hybrid-route"], response.headers["x-hybrid-fallback"]) == ("mcp", "true")


def test_when_bedrock_fails_an_emergency_request_fails_over_along_the_direct_chain_never_to_mcp(client, local_stack):
    local_stack.faults.set(FaultSpec(provider="bedrock", status=503))
    response = _chat(client, "emergency")
    assert response.status_code == 200
    assert (response.headers["x-hybrid-route"], response.headers["x-hybrid-provider"]) == ("direct", "google")
    assert response.headers["x-hybrid-attempts"].split(",")[-1] == "google:ok"


def test_an_error_answer_names_its_request_operation_and_every_attempt_and_says_when_to_retry(client, local_stack):
    # Given every Direct provider failing every request
    direct = ("bedrock", "google", "meta")
    for provider in direct:
        local_stack.faults.set(FaultSpec(provider=provider, status=503))
    tried_before = sum(local_stack.faults.requests(p) for p in direct)
    # When an emergency request (no route fallback) fails
    response = _chat(client, "emergency")
    # Then the 503 says which request and operation it was, each attempt, and when to come back
    assert response.status_code == 503
    attempts = response.headers["x-hybrid-attempts"].split(",")
    assert set(attempts) == {f"{p}:503" for p in direct}
    assert len(attempts) == sum(local_stack.faults.requests(p) for p in direct) - tried_before
    assert response.headers["x-hybrid-operation"] == "emergency"
    assert response.headers["x-request-id"]
    assert int(response.headers["retry-after"]) >= 1
    assert f"(attempts: {', '.join(attempts)})" in response.json()["error"]["message"]


def test_a_served_answer_lists_the_failed_attempts_before_the_one_that_answered(client, local_stack):
    # Given bedrock failing, google healthy
    local_stack.faults.set(FaultSpec(provider="bedrock", status=503))
    # When an infrastructure request fails over
    response = _chat(client, "infrastructure")
    # Then its attempts end with the answering provider's, after bedrock's failures
    assert response.status_code == 200
    *failed, answered = response.headers["x-hybrid-attempts"].split(",")
    assert failed and set(failed) == {"bedrock:503"}
    assert answered == f"{response.headers['x-hybrid-provider']}:ok"


def test_throttled_direct_providers_give_an_emergency_request_a_429(client, local_stack):
    for provider in ("bedrock", "google", "meta"):
        local_stack.faults.set(FaultSpec(provider=provider, status=429))
    response = _chat(client, "emergency")
    assert response.status_code == 429
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_when_mcp_fails_a_standard_request_falls_back_to_bedrock(client, local_stack):
    local_stack.faults.set(FaultSpec(provider="mcp", status=503))
    response = _chat(client, "standard")
    assert response.status_code == 200
    assert (response.headers["x-hybrid-route"], response.headers["x-hybrid-provider"]) == ("direct", "bedrock")
    assert response.headers["x-hybrid-fallback"] == "true"


def test_an_mcp_only_override_in_the_flags_table_reroutes_emergency_after_the_snapshot_refresh(client):
    table = get_dependencies().settings.flags_table
    ddb = boto3.client("dynamodb")
    ddb.put_item(
        TableName=table,
        Item={
            "pk": {"S": ROUTING_OVERRIDE_KEY},
            "mode": {"S": "mcp_only"},
            "expires_at": {"N": str(int(time.time()) + 600)},
            "version": {"N": "1"},
        },
    )
    try:
        get_dependencies().snapshots.invalidate()
        response = _chat(client, "emergency")
        assert response.headers["x-hybrid-route"] == "mcp"
    finally:
        ddb.delete_item(TableName=table, Key={"pk": {"S": ROUTING_OVERRIDE_KEY}})
        get_dependencies().snapshots.invalidate()


def test_steady_state_requests_make_no_dynamodb_read_and_one_write_each(client):
    # Given a router whose client key's quota window was read just now
    from functions.adapters.dynamodb.client import dynamodb_client
    from functions.adapters.dynamodb.quotas import QuotaCounters
    from tests.clock import FakeClock

    deps = get_dependencies()
    saved = deps.quotas
    deps.quotas = QuotaCounters(deps.settings.quotas_table, deps.settings.quota_shards, clock=FakeClock(time.time()))
    _chat(client, "emergency")
    calls: list[str] = []
    events = dynamodb_client().meta.events
    handler = lambda model, **_: calls.append(model.name)  # noqa: E731
    events.register("before-call.dynamodb", handler)
    # When five more requests are served
    try:
        for _ in range(5):
            assert _chat(client, "emergency").status_code == 200
    finally:
        events.unregister("before-call.dynamodb", handler)
        deps.quotas = saved
    # Then each made one DynamoDB call: its quota counter's ADD (the token usage of the one before riding on it)
    assert calls == ["UpdateItem"] * 5


# --- authentication -------------------------------------------------------------------------
def test_a_request_without_a_client_key_is_401(client):
    response = client.post("/v1/chat/completions", json=BODY, headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_a_request_with_an_unknown_client_key_is_401(client):
    response = client.post("/v1/chat/completions", json=BODY, headers={"Authorization": "Bearer hr-nope"})
    assert response.status_code == 401


def test_client_keys_are_stored_as_digests_only(local_stack):
    table = get_dependencies().settings.client_keys_table
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    assert any(item["key_hash"]["S"] == hash_key(local_stack.client_key) for item in items)
    assert local_stack.client_key not in json.dumps(items)


# --- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("{not json", "not valid JSON"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"role": "user", "content": 42}]}, "messages.0.content"),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}, "temperature"),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, "max_tokens"),
        ({"model": "m", "messages": [{"role": "wizard", "content": "hi"}]}, "role"),
        ([1, 2, 3], "body"),
    ],
)
def test_bad_bodies_get_a_400_in_openai_shape_naming_the_problem(client, body, needle):
    kwargs = {"content": body} if isinstance(body, str) else {"json": body}
    response = client.post("/v1/chat/completions", headers={"Content-Type": "application/json"}, **kwargs)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert needle.lower() in error["message"].lower() or needle == (error.get("param") or "")


def test_an_unknown_operation_type_is_a_400_listing_the_valid_ones(client):
    response = _chat(client, "urgent")
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "urgent" in message and all(op.value in message for op in OperationType)


def test_a_body_over_one_megabyte_is_413(client):
    huge = {"model": "m", "messages": [{"role": "user", "content": "x" * 1_100_000}]}
    response = client.post("/v1/chat/completions", json=huge)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_a_wrong_method_is_405_and_an_unknown_path_is_404(client):
    wrong = client.get("/v1/chat/completions")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    missing = client.get("/v2/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": json_values,
        "messages": json_values
        | st.lists(
            st.fixed_dictionaries(
                {"role": st.sampled_from(["user", "system", "assistant", "x"]), "content": json_values}
            ),
            max_size=3,
        ),
        "temperature": json_values,
        "max_tokens": json_values,
        "stop": json_values,
        "stream": json_values,
        "metadata": json_values,
        "top_p": json_values,
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_generated_bodies_never_produce_a_5xx(client, body):
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert set(response.json()["error"]) >= {"type", "message", "code"}


# --- health ------------------------------------------------------------------------------------
def test_health_is_healthy_when_every_route_is_up(client):
    assert client.get("/health").json() == {"status": "healthy"}


def test_health_detailed_lists_the_runbook_components_with_status_and_last_check(client):
    _chat(client, "emergency")
    components = {c["name"]: c for c in client.get("/health/detailed").json()["components"]}
    assert {"hybrid-router", "direct-bedrock", "mcp-router", "support-manager"} <= set(components)
    assert {"direct-google", "direct-meta"} <= set(components)
    assert components["direct-bedrock"]["status"] == "healthy"
    assert components["direct-bedrock"]["lastCheck"]


def test_an_unknown_component_is_404_listing_the_known_ones(client):
    response = client.get("/health/component/flux-capacitor")
    assert response.status_code == 404, response.text
    assert "mcp-router" in response.json()["error"]["message"]


def test_health_is_critical_and_503_when_no_route_can_serve(client):
    table = get_dependencies().settings.health_table
    ddb = boto3.client("dynamodb")
    for target in ("bedrock", "google", "meta", "mcp"):
        ddb.put_item(
            TableName=table,
            Item={
                "pk": {"S": health_key(target)},
                "status": {"S": "unhealthy"},
                "checked_at": {"N": str(int(time.time()))},
            },
        )
    get_dependencies().snapshots.invalidate()
    try:
        response = client.get("/health")
        assert (response.status_code, response.json()["status"]) == (503, "critical")
        assert client.get("/health/component/mcp-router").json()["status"] == "unhealthy"
        assert _chat(client, "standard").status_code == 503
    finally:
        for target in ("bedrock", "google", "meta", "mcp"):
            ddb.delete_item(TableName=table, Key={"pk": {"S": health_key(target)}})
        get_dependencies().snapshots.invalidate()


def test_health_is_degraded_when_one_route_is_down(client):
    table = get_dependencies().settings.health_table
    ddb = boto3.client("dynamodb")
    ddb.put_item(TableName=table, Item={"pk": {"S": health_key("mcp")}, "status": {"S": "unhealthy"}})
    get_dependencies().snapshots.invalidate()
    try:
        response = client.get("/health")
        assert (response.status_code, response.json()["status"]) == (200, "degraded")
    finally:
        ddb.delete_item(TableName=table, Key={"pk": {"S": health_key("mcp")}})
        get_dependencies().snapshots.invalidate()


def test_the_routing_decision_line_and_emf_count_a_request_s_attempts_and_retries(client, local_stack, caplog):
    from local import metrics_sink

    # Given bedrock failing, so that an infrastructure request retries and fails over
    local_stack.faults.set(FaultSpec(provider="bedrock", status=503))
    metrics_sink.install()  # pytest's capture swaps sys.stdout between phases: tap the EMF lines again
    started = emf_now()
    # When it is served
    with caplog.at_level("INFO"):
        response = _chat(client, "infrastructure")
    attempts = response.headers["x-hybrid-attempts"].split(",")
    assert len(attempts) >= 2
    # Then its log line lists the attempts, and its EMF record counts them and the retries among them
    (decision,) = [r for r in caplog.records if r.getMessage() == "routing-decision"]
    assert decision.attempts == attempts
    (emf,) = [r for r in metrics_sink.STORE.since(started) if "Attempts" in r.values]
    assert (emf.values["Attempts"], emf.values["Retries"]) == ((len(attempts),), (len(attempts) - 1,))
