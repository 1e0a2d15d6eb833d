"""The security dashboard's counts: the admin authorizer's verdicts and the admin function's refusals of
read-only callers, each one EMF line in the dimension set {Outcome, service}, never carrying the token."""

from __future__ import annotations

import json

import pytest

from functions.app.admin.access import Caller, require_operator
from functions.domain.errors import Forbidden
from functions.domain.names import (
    AUTH_ALLOWED,
    AUTH_FORBIDDEN,
    AUTH_READONLY_REFUSED,
    AUTH_UNAUTHORIZED,
    AUTHORIZATION_METRIC,
    NAMESPACE,
    SERVICE,
)
from functions.handlers import authorizer

TOKEN = "s3cret-operator-token-Zq8"
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/admin/routing/force-mcp"


@pytest.fixture(autouse=True)
def _tokens(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ADMIN_TOKENS_SECRET_ARN", raising=False)
    monkeypatch.setenv("ADMIN_TOKEN", TOKEN)
    monkeypatch.delenv("ADMIN_READONLY_TOKEN", raising=False)
    authorizer.reset_cache()
    yield
    authorizer.reset_cache()


def _outcomes(out: str) -> list[str]:
    """The Outcome of every AdminAuthorization EMF line printed, after checking the line's shape."""
    outcomes = []
    for line in out.splitlines():
        if not line.startswith("{") or AUTHORIZATION_METRIC not in line:
            continue
        document = json.loads(line)
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE
        assert directive["Dimensions"] == [["Outcome", "service"]]
        assert directive["Metrics"] == [{"Name": AUTHORIZATION_METRIC, "Unit": "Count"}]
        assert document["service"] == SERVICE and document[AUTHORIZATION_METRIC] == [1.0]
        outcomes.append(document["Outcome"])
    return outcomes


@pytest.mark.parametrize(
    ("authorization", "outcome"),
    [(f"Bearer {TOKEN}", AUTH_ALLOWED), ("Bearer not-a-known-token", AUTH_FORBIDDEN)],
    ids=["operator-token", "unknown-token"],
)
def test_each_authorizer_verdict_is_counted_once_by_its_outcome(capfd, authorization: str, outcome: str) -> None:
    # When the authorizer judges a well-formed bearer token
    authorizer.lambda_handler({"authorizationToken": authorization, "methodArn": METHOD_ARN}, None)
    # Then exactly one count of its verdict is printed, and the token appears nowhere in the output
    out = capfd.readouterr().out
    assert _outcomes(out) == [outcome]
    assert "known-token" not in out and TOKEN not in out


def test_a_malformed_authorization_is_counted_as_unauthorized_and_still_answers_401(capfd) -> None:
    # When the header is not a bearer token / Then API Gateway's 'Unauthorized' error is raised as before
    with pytest.raises(authorizer.UnauthorizedError):
        authorizer.lambda_handler({"authorizationToken": f"Basic {TOKEN}", "methodArn": METHOD_ARN}, None)
    out = capfd.readouterr().out
    assert _outcomes(out) == [AUTH_UNAUTHORIZED]
    assert TOKEN not in out


def test_a_read_only_caller_refused_a_change_is_counted_and_an_operator_is_not(capfd) -> None:
    # When a read-only caller asks for a change / Then 403 (Forbidden) and one readonly-refused count
    with pytest.raises(Forbidden):
        require_operator(Caller("viewer", "read-only"))
    assert _outcomes(capfd.readouterr().out) == [AUTH_READONLY_REFUSED]
    # And an operator passes without any count from the admin function
    assert require_operator(Caller("admin", "operator")).principal == "admin"
    assert _outcomes(capfd.readouterr().out) == []
