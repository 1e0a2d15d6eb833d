"""The authorizer's tokens: from the Secrets Manager document in the stack (held by CachedSecret), from
the environment locally."""

from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber

from functions.adapters.secrets import secrets_manager_client
from functions.handlers import authorizer

REGION = "eu-central-1"
ARN = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:admin-tokens-AbCdEf"
DOCUMENT = {"tokens": [{"name": "ops", "role": "operator", "token": "t-ops"}, {"name": "x", "role": "?", "token": "y"}]}


@pytest.fixture(autouse=True)
def _settings(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("ADMIN_TOKENS_SECRET_ARN", ARN)
    monkeypatch.delenv("ADMIN_TOKEN", raising=False)
    authorizer.reset_cache()
    yield
    authorizer.reset_cache()


def test_tokens_come_from_the_secret_document_fetched_once_while_cached():
    answer = {"ARN": ARN, "Name": "admin-tokens", "VersionId": "v" * 32, "SecretString": json.dumps(DOCUMENT)}
    with Stubber(secrets_manager_client(REGION)) as stub:
        stub.add_response("get_secret_value", answer, {"SecretId": ARN})
        first = authorizer.authorize("Bearer t-ops")
        again = authorizer.authorize("Bearer t-ops")
        stub.assert_no_pending_responses()
    assert first is not None and first.name == "ops" and first.role == "operator"
    assert again == first
    assert [c.name for c in authorizer.credentials()] == ["ops"]  # an unknown role is never a credential


def test_locally_the_tokens_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("ADMIN_TOKENS_SECRET_ARN")
    monkeypatch.setenv("ADMIN_TOKEN", "t-local")
    monkeypatch.setenv("ADMIN_READONLY_TOKEN", "t-view")
    authorizer.reset_cache()
    assert [(c.name, c.role) for c in authorizer.credentials()] == [("admin", "operator"), ("viewer", "read-only")]
    assert authorizer.authorize("Bearer t-nope") is None
