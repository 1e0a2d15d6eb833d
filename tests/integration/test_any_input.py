"""Every route, data plane and admin, answers any input with a 2xx or a 4xx in the JSON error shape."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from functions.domain.thresholds import QUOTED_INPUT_CHARS
from tests.support import clear_control_config, reset_routing_state

CHAT = '{"model":"m","messages":[{"role":"user","content":"x"}]%s}'


@pytest.fixture(scope="module")
def raw(local_stack):
    with TestClient(local_stack.app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def routes(raw):
    document = raw.get("/openapi.json").json()
    return sorted((path, method.upper()) for path, operations in document["paths"].items() for method in operations)


@pytest.fixture(autouse=True)
def _clean(local_stack):
    yield
    clear_control_config()
    reset_routing_state(local_stack)


def _auth(local_stack, path):
    token = local_stack.admin_token if path.startswith("/admin") else local_stack.client_key
    return {"Authorization": f"Bearer {token}"}


def _assert_json_answer(response):
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert set(response.json()["error"]) >= {"type", "message", "code"}
        assert "Q" * (QUOTED_INPUT_CHARS + 1) not in response.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", "[" * 10_000 + "]" * 10_000),
        ("/v1/chat/completions", CHAT % (',"max_tokens":' + "1" * 5000)),
        ("/v1/chat/completions", CHAT % ',"user":"\\udfff"'),
        ("/v1/chat/completions", CHAT % ',"stop":"\\udfff","temperature":0'),
        ("/v1/chat/completions", CHAT % ',"metadata":{"operation_type":"\\udfff"}'),
        ("/admin/routing/traffic-distribution", '{"weights":{"\\udfff":100}}'),
        ("/admin/routing/traffic-distribution", '{"weights":' + "{" * 10_000 + "}" * 10_000 + "}"),
        ("/admin/routing/traffic-distribution", '{"weights":{"bedrock":' + "1" * 5000 + "}}"),
        ("/admin/routing/traffic-distribution", '{"weights":{"' + "Q" * 10_000 + '":100}}'),
    ],
)
def test_malformed_json_gets_a_400_naming_the_problem(raw, local_stack, path, body):
    method = raw.post if path.startswith("/v1") else raw.put
    response = method(path, content=body, headers=_auth(local_stack, path))
    assert response.status_code == 400, response.text
    _assert_json_answer(response)


def test_a_surrogate_in_stop_is_refused_naming_stop(raw, local_stack):
    response = raw.post("/v1/chat/completions", content=CHAT % ',"stop":"\\udfff"', headers=_auth(local_stack, "/v1"))
    assert (response.status_code, response.json()["error"]["param"]) == (400, "stop")


def test_a_two_megabyte_admin_body_gets_a_413_in_json(raw, local_stack):
    body = '{"weights":{"bedrock":100},"x":"' + "x" * 2 * 1024 * 1024 + '"}'
    response = raw.put("/admin/routing/traffic-distribution", content=body, headers=_auth(local_stack, "/admin"))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_long_path_parameters_are_quoted_by_a_short_prefix_only(raw, local_stack):
    for path in ("/health/component/" + "Q" * 5000, "/admin/rollouts/" + "Q" * 5000):
        _assert_json_answer(raw.get(path, headers=_auth(local_stack, path)))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    segment=st.text(max_size=30),
    query=st.dictionaries(
        st.sampled_from(["window", "format", "period", "provider", "x"]), st.text(max_size=20), max_size=3
    ),
    headers=st.dictionaries(
        st.sampled_from(["X-Operation-Type", "X-Hybrid-Cache", "X-Other"]), header_text, max_size=2
    ),
    body=st.one_of(st.binary(max_size=200), json_values.map(lambda v: __import__("json").dumps(v).encode())),
)
def test_every_route_in_the_openapi_document_answers_any_input_without_a_5xx(
    raw, local_stack, routes, data, segment, query, headers, body
):
    path, method = data.draw(st.sampled_from(routes))
    url = re.sub(r"\{[^}]+\}", quote(segment, safe="") or "x", path)
    response = raw.request(method, url, params=query, headers={**headers, **_auth(local_stack, path)}, content=body)
    _assert_json_answer(response)
    if method != "GET" and response.status_code < 300:
        clear_control_config()
        reset_routing_state(local_stack)
