"""The local stack as `make run` starts it: a separate process, called over HTTP on 127.0.0.1."""

from __future__ import annotations

import signal

import httpx
import pytest
from openai import OpenAI

from functions.domain.routing.matrix import ROUTING_MATRIX, OperationType
from local.gateway import LOCAL_HEADERS as LOCAL
from tests.e2e.local_process import launch, ready_line


def test_the_ready_line_reports_the_client_key_given_in_the_environment(running):
    assert running.client_key == "hr-e2e-test-key"


@pytest.mark.parametrize("operation", list(OperationType))
def test_the_openai_client_gets_a_completion_on_the_route_the_matrix_prescribes(running, operation):
    client = OpenAI(base_url=f"{running.url}/v1", api_key=running.client_key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="hybrid-default",
        messages=[{"role": "user", "content": "Is the payment service healthy?"}],
        extra_headers={"X-Operation-Type": operation.value},
    )
    completion = raw.parse()
    assert raw.headers["x-hybrid-route"] == ROUTING_MATRIX[operation].primary.value
    assert raw.headers["x-hybrid-fallback"] == "false"
    assert completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.total_tokens > 0


def test_the_openai_client_raises_authentication_error_for_a_wrong_key(running):
    import openai

    client = OpenAI(base_url=f"{running.url}/v1", api_key="hr-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])


def test_an_injected_bedrock_outage_fails_infrastructure_over_to_google_until_cleared(running):
    headers = {"Authorization": f"Bearer {running.client_key}", "X-Operation-Type": "infrastructure"}
    body = {"model": "m", "messages": [{"role": "user", "content": "check the cluster"}]}
    with httpx.Client(base_url=running.url, timeout=30, headers=LOCAL) as http:
        fault = http.post(
            "/local/faults", json={"provider": "bedrock", "error_rate": 1.0, "status": 503, "latency_ms": 0}
        )
        assert fault.status_code == 200
        during = http.post("/v1/chat/completions", json=body, headers=headers)
        assert during.status_code == 200
        assert (during.headers["x-hybrid-provider"], during.headers["x-hybrid-fallback"]) == ("google", "true")
        assert http.delete("/local/faults").status_code == 200
        after = http.post("/v1/chat/completions", json=body, headers=headers)
        assert (after.headers["x-hybrid-route"], after.headers["x-hybrid-fallback"]) == ("direct", "false")


def test_a_bad_fault_is_a_400_naming_the_field(running):
    response = httpx.post(f"{running.url}/local/faults", headers=LOCAL, json={"provider": "acme", "error_rate": 3})
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "provider" in message and "error_rate" in message


def test_health_answers_without_auth_over_raw_http(running):
    response = httpx.get(f"{running.url}/health")
    assert (response.status_code, response.json()) == (200, {"status": "healthy"})
    detailed = httpx.get(f"{running.url}/health/detailed").json()
    assert {c["name"] for c in detailed["components"]} >= {
        "hybrid-router",
        "direct-bedrock",
        "mcp-router",
        "support-manager",
    }


def test_ctrl_c_stops_the_stack_cleanly():
    process = launch()
    ready_line(process)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=20)[1]
    assert process.returncode == 0
    assert "stopped" in output and "Traceback" not in output
