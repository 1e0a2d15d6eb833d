"""Secret getters: Secrets Manager over a stubbed client, the environment fallback, caching, failures."""

from __future__ import annotations

import json
import threading

import pytest
from botocore.stub import Stubber
from pydantic import SecretStr

from functions.adapters.secrets import CachedSecret, secret_getter, secrets_manager_client
from functions.domain.errors import ProviderUnavailable
from tests.clock import FakeClock

REGION = "eu-central-1"
ARN = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:google-api-key-AbCdEf"
VALUE = "AIza-very-secret-value"


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def stubber():
    # The getter asks for the client of the ARN's region: the same cached instance as this one.
    with Stubber(secrets_manager_client(REGION)) as stub:
        yield stub
        stub.assert_no_pending_responses()


def secret_answer(secret_string: str) -> dict[str, object]:
    return {"ARN": ARN, "Name": "google-api-key", "VersionId": "v" * 32, "SecretString": secret_string}


def test_a_json_secret_gives_its_api_key(stubber):
    stubber.add_response("get_secret_value", secret_answer(json.dumps({"api_key": VALUE})), {"SecretId": ARN})

    assert secret_getter(ARN, None, "GOOGLE_API_KEY")() == VALUE


def test_a_plain_secret_gives_itself_without_surrounding_whitespace(stubber):
    stubber.add_response("get_secret_value", secret_answer(f"{VALUE}\n"), {"SecretId": ARN})

    assert secret_getter(ARN, None, "GOOGLE_API_KEY")() == VALUE


def test_the_secret_arn_wins_over_the_environment_value(stubber):
    stubber.add_response("get_secret_value", secret_answer(VALUE), {"SecretId": ARN})

    assert secret_getter(ARN, SecretStr("from-env"), "GOOGLE_API_KEY")() == VALUE


def test_making_a_getter_does_not_call_secrets_manager(stubber):
    secret_getter(ARN, None, "GOOGLE_API_KEY")  # the stubber has nothing queued: a call would fail


def test_a_second_call_within_five_minutes_is_served_from_memory(stubber):
    clock = FakeClock()
    getter = CachedSecret(ARN, "GOOGLE_API_KEY", clock=clock)
    stubber.add_response("get_secret_value", secret_answer(VALUE), {"SecretId": ARN})
    getter()

    clock.advance(299)

    assert getter() == VALUE  # a second fetch would find no queued response and fail


def test_after_five_minutes_the_secret_is_fetched_again(stubber):
    clock = FakeClock()
    getter = CachedSecret(ARN, "GOOGLE_API_KEY", clock=clock)
    stubber.add_response("get_secret_value", secret_answer("old-key"), {"SecretId": ARN})
    stubber.add_response("get_secret_value", secret_answer("rotated-key"), {"SecretId": ARN})
    getter()

    clock.advance(300)

    assert getter() == "rotated-key"


def test_concurrent_first_calls_fetch_the_secret_once(stubber):
    getter = secret_getter(ARN, None, "GOOGLE_API_KEY")
    stubber.add_response("get_secret_value", secret_answer(VALUE), {"SecretId": ARN})
    results: list[object] = []

    def call() -> None:
        try:
            results.append(getter())
        except Exception as exc:  # a second fetch would raise from the stubber
            results.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == [VALUE] * 8


@pytest.mark.parametrize("code", ["ResourceNotFoundException", "AccessDeniedException", "InternalServiceError"])
def test_a_secrets_manager_failure_makes_the_provider_unavailable_naming_the_secret(stubber, code):
    stubber.add_client_error("get_secret_value", service_error_code=code, http_status_code=400)

    with pytest.raises(ProviderUnavailable) as caught:
        secret_getter(ARN, SecretStr(VALUE), "GOOGLE_API_KEY")()

    assert "GOOGLE_API_KEY" in caught.value.message
    assert code in caught.value.message
    assert VALUE not in caught.value.message


def test_a_failed_fetch_is_not_cached(stubber):
    getter = secret_getter(ARN, None, "GOOGLE_API_KEY")
    stubber.add_client_error("get_secret_value", service_error_code="InternalServiceError", http_status_code=500)
    stubber.add_response("get_secret_value", secret_answer(VALUE), {"SecretId": ARN})
    with pytest.raises(ProviderUnavailable):
        getter()

    assert getter() == VALUE


@pytest.mark.parametrize(
    "secret_string",
    [
        pytest.param(json.dumps({"key": VALUE}), id="json without api_key"),
        pytest.param(json.dumps({"api_key": ""}), id="empty api_key"),
        pytest.param(json.dumps({"api_key": 12345}), id="api_key not a string"),
        pytest.param("   ", id="blank"),
    ],
)
def test_a_secret_without_a_usable_key_makes_the_provider_unavailable_without_quoting_it(stubber, secret_string):
    stubber.add_response("get_secret_value", secret_answer(secret_string), {"SecretId": ARN})

    with pytest.raises(ProviderUnavailable) as caught:
        secret_getter(ARN, None, "GOOGLE_API_KEY")()

    assert "GOOGLE_API_KEY" in caught.value.message
    assert VALUE not in str(caught.value)


def test_without_an_arn_the_environment_value_is_given():
    assert secret_getter(None, SecretStr(VALUE), "META_API_KEY")() == VALUE


@pytest.mark.parametrize("fallback", [None, SecretStr("")], ids=["unset", "empty"])
def test_with_neither_arn_nor_value_the_getter_raises_unavailable_naming_the_setting(fallback):
    getter = secret_getter(None, fallback, "META_API_KEY")

    with pytest.raises(ProviderUnavailable) as caught:
        getter()

    assert "META_API_KEY" in caught.value.message


def test_a_getter_does_not_show_the_value_in_its_repr():
    assert VALUE not in repr(secret_getter(None, SecretStr(VALUE), "META_API_KEY"))
    assert VALUE not in repr(CachedSecret(ARN, "META_API_KEY"))
