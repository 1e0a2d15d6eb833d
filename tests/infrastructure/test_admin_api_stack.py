"""The admin API in the synthesized template: the admin function, its TOKEN authorizer, the tokens
secret, the `/admin` routes and the admin role's least-privilege grants."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from functions.adapters.dynamodb.schema import AUDIT, CACHE, CLIENT_KEYS, FLAGS, HEALTH
from functions.handlers import authorizer as authorizer_module
from functions.handlers.authorizer import parse_credentials
from stacks.constructs.admin_api import ADMIN_HANDLER, AUTHORIZER_HANDLER
from tests.infrastructure.conftest import (
    Synthesized,
    function_with_handler,
    role_statements,
    router_function,
)

FACTORY_SETTINGS = ("Runtime", "Architectures", "TracingConfig", "Layers", "Code")
AUDIT_MUTATIONS = {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:*"}


def _admin(synthesized: Synthesized) -> dict[str, Any]:
    return function_with_handler(synthesized, ADMIN_HANDLER)


def _authorizer_function(synthesized: Synthesized) -> dict[str, Any]:
    return function_with_handler(synthesized, AUTHORIZER_HANDLER)


def _function_id(synthesized: Synthesized, function: dict[str, Any]) -> str:
    return next(name for name, f in synthesized.of_type("AWS::Lambda::Function").items() if f == function)


def _role_id(function: dict[str, Any]) -> str:
    return function["Properties"]["Role"]["Fn::GetAtt"][0]


def _variables(function: dict[str, Any]) -> dict[str, Any]:
    return function["Properties"]["Environment"]["Variables"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _tokens_secret_id(synthesized: Synthesized) -> str:
    return synthesized.logical_id(synthesized.stack.admin.tokens_secret)


def _table_id(synthesized: Synthesized, env_var: str) -> str:
    return _variables(router_function(synthesized))[env_var]["Ref"]


def _actions_on(statements: list[dict[str, Any]], logical_id: str) -> set[str]:
    """Actions allowed on the table (its ARN or anything under it), or on every resource."""
    return {
        action
        for statement in statements
        if statement["Effect"] == "Allow"
        and any(resource == "*" or logical_id in json.dumps(resource) for resource in _as_list(statement["Resource"]))
        for action in _as_list(statement["Action"])
    }


def _methods(synthesized: Synthesized) -> list[tuple[str, str, dict[str, Any]]]:
    """(HTTP method, full path, properties) of every API method."""
    resources = synthesized.of_type("AWS::ApiGateway::Resource")

    def path_of(logical_id: str) -> str:
        properties = resources[logical_id]["Properties"]
        parent = properties["ParentId"]
        prefix = path_of(parent["Ref"]) if "Ref" in parent else ""
        return f"{prefix}/{properties['PathPart']}"

    methods = []
    for method in synthesized.of_type("AWS::ApiGateway::Method").values():
        properties = method["Properties"]
        resource_id = properties["ResourceId"]
        path = path_of(resource_id["Ref"]) if "Ref" in resource_id else "/"
        methods.append((properties["HttpMethod"], path, properties))
    return methods


def _is_admin(path: str) -> bool:
    return path == "/admin" or path.startswith("/admin/")


def _integration_target(synthesized: Synthesized, properties: dict[str, Any]) -> str:
    """The logical id of the function a Lambda proxy integration invokes, directly or through an alias."""
    uri = json.dumps(properties["Integration"]["Uri"])
    (function_id,) = set(re.findall(r'"Fn::GetAtt": \["([A-Za-z0-9]+)", "Arn"\]', uri)) or {
        alias_id for alias_id in re.findall(r'"Ref": "([A-Za-z0-9]+)"', uri) if alias_id in synthesized.resources
    }
    target = synthesized.resources[function_id]
    if target["Type"] == "AWS::Lambda::Alias":
        return str(target["Properties"]["FunctionName"]["Ref"])
    return function_id


def test_the_admin_and_authorizer_functions_have_the_factory_settings(synthesized: Synthesized) -> None:
    # Given the router and the two admin-API functions
    router = router_function(synthesized)["Properties"]
    for function, service in ((_admin(synthesized), "admin"), (_authorizer_function(synthesized), "admin-authorizer")):
        properties = function["Properties"]
        # When comparing their runtime settings / Then they are the factory's, with their own log group
        for setting in FACTORY_SETTINGS:
            assert properties[setting] == router[setting], setting
        assert properties["LoggingConfig"]["LogFormat"] == "JSON"
        log_group = synthesized.resources[properties["LoggingConfig"]["LogGroup"]["Ref"]]
        assert log_group["Properties"]["RetentionInDays"] == synthesized.config.log_retention_days
        assert properties["LoggingConfig"]["LogGroup"] != router["LoggingConfig"]["LogGroup"]
        assert _variables(function)["POWERTOOLS_SERVICE_NAME"] == service
        assert properties["Timeout"] <= 29  # API Gateway's integration limit


def test_the_admin_function_reads_its_settings_from_the_environment(synthesized: Synthesized) -> None:
    # Given the admin function's environment
    variables = _variables(_admin(synthesized))
    router = _variables(router_function(synthesized))
    # When reading the table variables / Then they name the router's tables, and only those it uses
    for schema in (FLAGS, HEALTH, AUDIT, CACHE):
        assert variables[schema.env_var] == router[schema.env_var], schema.env_var
    assert CLIENT_KEYS.env_var not in variables
    assert variables["DIRECT_PROVIDERS"] == synthesized.config.direct_providers
    assert variables["BEDROCK_MODEL_ID"] == synthesized.config.bedrock_model_ids[0]  # the live probe
    assert "ADMIN_TOKENS_SECRET_ARN" not in variables


def test_the_authorizer_is_told_the_tokens_secret_and_nothing_else(synthesized: Synthesized) -> None:
    variables = _variables(_authorizer_function(synthesized))
    assert variables["ADMIN_TOKENS_SECRET_ARN"] == {"Ref": _tokens_secret_id(synthesized)}
    assert set(variables) == {"ADMIN_TOKENS_SECRET_ARN", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"}


def test_the_token_authorizer_reads_the_authorization_header_and_a_revoked_token_fails_within_60_seconds(
    synthesized: Synthesized,
) -> None:
    # Given the one authorizer
    (authorizer,) = synthesized.of_type("AWS::ApiGateway::Authorizer").values()
    properties = authorizer["Properties"]
    # Then it is a TOKEN authorizer on the Authorization header, run by the authorizer function; its verdict
    # cache plus the function's cache of the tokens secret stay within 60 s
    assert properties["Type"] == "TOKEN"
    assert properties["IdentitySource"] == "method.request.header.Authorization"
    assert properties["AuthorizerResultTtlInSeconds"] + authorizer_module.CACHE_SECONDS <= 60
    assert properties["AuthorizerResultTtlInSeconds"] > 0
    assert _function_id(synthesized, _authorizer_function(synthesized)) in json.dumps(properties["AuthorizerUri"])


@pytest.mark.parametrize(
    ("header", "valid"),
    [
        ("Bearer " + "a" * 48, True),
        ("bearer " + "Zz0-_.~+/=" * 5, True),
        ("Bearer short", False),
        ("Basic " + "a" * 48, False),
        ("Bearer " + "a" * 600, False),
        ("Bearer " + "a" * 40 + " '; DROP", False),
        ("", False),
    ],
)
def test_the_authorizer_is_not_invoked_for_a_header_that_is_no_plausible_bearer_token(
    synthesized: Synthesized, header: str, valid: bool
) -> None:
    # Given the authorizer's identity-validation expression (API Gateway answers 401 without a call)
    (authorizer,) = synthesized.of_type("AWS::ApiGateway::Authorizer").values()
    expression = authorizer["Properties"]["IdentityValidationExpression"]
    # When matching a header / Then only well-formed bearer tokens reach the function
    assert (re.fullmatch(expression, header) is not None) is valid


def test_api_gateway_may_invoke_the_authorizer(synthesized: Synthesized) -> None:
    authorizer_arn = {"Fn::GetAtt": [_function_id(synthesized, _authorizer_function(synthesized)), "Arn"]}
    assert any(
        p["Properties"]["FunctionName"] == authorizer_arn and p["Properties"]["Principal"] == "apigateway.amazonaws.com"
        for p in synthesized.of_type("AWS::Lambda::Permission").values()
    )


def test_admin_and_its_proxy_accept_any_method(synthesized: Synthesized) -> None:
    admin_methods = {(method, path) for method, path, _ in _methods(synthesized) if _is_admin(path)}
    assert admin_methods == {("ANY", "/admin"), ("ANY", "/admin/{proxy+}")}


def test_every_admin_method_uses_the_custom_authorizer_and_the_admin_function(synthesized: Synthesized) -> None:
    # Given the authorizer and the admin function
    (authorizer_id,) = synthesized.of_type("AWS::ApiGateway::Authorizer")
    admin_id = _function_id(synthesized, _admin(synthesized))
    # When reading every method under /admin
    admin_methods = [properties for _, path, properties in _methods(synthesized) if _is_admin(path)]
    # Then each is authorized by the Lambda authorizer and proxies to the admin function
    assert admin_methods
    for properties in admin_methods:
        assert properties["AuthorizationType"] == "CUSTOM"
        assert properties["AuthorizerId"] == {"Ref": authorizer_id}
        assert properties["Integration"]["Type"] == "AWS_PROXY"
        assert _integration_target(synthesized, properties) == admin_id


def test_no_other_method_uses_an_authorizer_and_each_reaches_the_router(synthesized: Synthesized) -> None:
    # Given every method outside /admin
    router_id = _function_id(synthesized, router_function(synthesized))
    others = [(method, path, properties) for method, path, properties in _methods(synthesized) if not _is_admin(path)]
    # Then none is behind an authorizer (the router checks client keys) and each proxies to the router
    assert others
    for method, path, properties in others:
        assert properties["AuthorizationType"] == "NONE", (method, path)
        assert "AuthorizerId" not in properties, (method, path)
        assert _integration_target(synthesized, properties) == router_id, (method, path)


def test_the_openapi_document_is_served_by_the_router_without_authorization(synthesized: Synthesized) -> None:
    router_id = _function_id(synthesized, router_function(synthesized))
    (properties,) = [p for method, path, p in _methods(synthesized) if (method, path) == ("GET", "/openapi.json")]
    assert properties["AuthorizationType"] == "NONE"
    assert _integration_target(synthesized, properties) == router_id


@pytest.mark.parametrize("variant", ["synthesized", "customer_managed"])
def test_the_admin_role_may_only_append_to_and_read_the_audit_trail(
    variant: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    # Given every statement of the admin role's policies
    statements = role_statements(synthesized, _admin(synthesized))
    # When collecting what it may do on the audit table
    audit = _actions_on(statements, _table_id(synthesized, AUDIT.env_var))
    # Then it may put, query and get (and describe the table, for gdpr-status), never update or delete a record
    assert {"dynamodb:PutItem", "dynamodb:Query", "dynamodb:GetItem"} <= audit
    assert not audit & AUDIT_MUTATIONS
    assert not {a for a in audit if a.startswith("dynamodb:")} - {
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:GetItem",
        "dynamodb:DescribeTable",
    }


def test_the_admin_role_reads_and_writes_flags_and_health_and_only_reads_the_cache(synthesized: Synthesized) -> None:
    statements = role_statements(synthesized, _admin(synthesized))
    read_write = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem"}  # conditional puts, no updates
    for schema in (FLAGS, HEALTH):
        assert read_write <= _actions_on(statements, _table_id(synthesized, schema.env_var)), schema.env_var
    cache = _actions_on(statements, _table_id(synthesized, CACHE.env_var))
    assert "dynamodb:GetItem" in cache
    assert not cache & {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    assert _actions_on(statements, _table_id(synthesized, CLIENT_KEYS.env_var)) <= {
        a for s in statements if s["Resource"] == "*" for a in _as_list(s["Action"])
    } | {"dynamodb:DescribeTable"}  # nothing beyond the resource-less APIs and describing the table


def test_the_admin_role_reads_cloudwatch_metrics_and_alarms_only(synthesized: Synthesized) -> None:
    # Given the admin role's statements on every resource
    statements = role_statements(synthesized, _admin(synthesized))
    cloudwatch = [s for s in statements if any(a.startswith("cloudwatch:") for a in _as_list(s["Action"]))]
    # Then exactly the read APIs (no resource-level permissions exist for them); the router shares the
    # policy for /health/metrics and /health/alerts, the authorizer has none of it
    assert {a for s in cloudwatch for a in _as_list(s["Action"])} == {
        "cloudwatch:GetMetricData",
        "cloudwatch:ListMetrics",
        "cloudwatch:DescribeAlarms",
    }
    assert all(s["Resource"] == "*" for s in cloudwatch)
    router = [
        s
        for s in role_statements(synthesized, router_function(synthesized))
        if "cloudwatch:" in json.dumps(s["Action"])
    ]
    assert {a for s in router for a in _as_list(s["Action"])} == {a for s in cloudwatch for a in _as_list(s["Action"])}
    authorizer = role_statements(synthesized, _authorizer_function(synthesized))
    assert not [s for s in authorizer if "cloudwatch:" in json.dumps(s["Action"])]


def test_the_admin_role_invokes_the_same_bedrock_models_as_the_router(synthesized: Synthesized) -> None:
    def bedrock(function: dict[str, Any]) -> list[Any]:
        return [
            (s["Action"], s["Resource"])
            for s in role_statements(synthesized, function)
            if "bedrock:" in json.dumps(s["Action"])
        ]

    assert bedrock(_admin(synthesized)) == bedrock(router_function(synthesized)) != []


@pytest.mark.parametrize("variant", ["synthesized", "customer_managed"])
def test_the_authorizer_alone_reads_the_tokens_secret(variant: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    # Given every IAM policy in the stack that mentions the tokens secret
    secret_ids = {_tokens_secret_id(synthesized), synthesized.logical_id(synthesized.stack.admin.seed_secret)}
    readers = {
        role["Ref"]
        for policy in synthesized.of_type("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(secret_id in json.dumps(statement["Resource"]) for secret_id in secret_ids)
        for role in policy["Properties"]["Roles"]
    }
    # Then the authorizer's role is the only one, and it may only read the tokens (not the seed)
    authorizer = _authorizer_function(synthesized)
    assert readers == {_role_id(authorizer)}
    statements = [s for s in role_statements(synthesized, authorizer) if "secretsmanager:" in json.dumps(s["Action"])]
    assert {a for s in statements for a in _as_list(s["Action"])} == {
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
    }
    assert [s["Resource"] for s in statements] == [{"Ref": _tokens_secret_id(synthesized)}]


def test_the_authorizer_touches_no_table_and_no_model(synthesized: Synthesized) -> None:
    actions = {
        a for s in role_statements(synthesized, _authorizer_function(synthesized)) for a in _as_list(s["Action"])
    }
    assert actions  # the authorizer's own grants (its secret, traces) are there to be checked
    assert not {a for a in actions if a.split(":")[0] in {"dynamodb", "bedrock", "cloudwatch"}}


def test_the_tokens_secret_starts_as_a_document_the_authorizer_accepts(synthesized: Synthesized) -> None:
    # Given the tokens secret: a JSON template around a reference to a generated seed token
    properties = synthesized.resources[_tokens_secret_id(synthesized)]["Properties"]
    seed_id = synthesized.logical_id(synthesized.stack.admin.seed_secret)
    separator, parts = properties["SecretString"]["Fn::Join"]
    # When CloudFormation resolves the reference (simulated with a sample token)
    assert {"Ref": seed_id} in parts
    rendered = separator.join("seed" if part == {"Ref": seed_id} else part for part in parts)
    document = re.sub(r"\{\{resolve:secretsmanager:seed:SecretString:::\}\}", "s3cretT0ken", rendered)
    # Then the authorizer parses one operator token from it, and no value is in the template
    (credential,) = parse_credentials(document)
    assert (credential.name, credential.role) == ("operator", "operator")
    seed = synthesized.resources[seed_id]["Properties"]["GenerateSecretString"]
    assert seed["ExcludePunctuation"] is True and seed["PasswordLength"] >= 32
    assert "put-secret-value" in properties["Description"] and '"tokens"' in properties["Description"]


def test_the_tokens_secret_arn_is_an_output(synthesized: Synthesized) -> None:
    outputs = synthesized.outputs
    assert outputs["AdminTokensSecretArn"]["Value"] == {"Ref": _tokens_secret_id(synthesized)}


@pytest.mark.parametrize("variant", ["synthesized", "customer_managed"])
def test_cdk_nag_finds_nothing_unacknowledged_with_the_admin_api(variant: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    assert synthesized.nag_violations == []


@pytest.mark.parametrize("variant", ["synthesized", "customer_managed"])
def test_cfn_lint_finds_no_problem_with_the_admin_api(variant: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    assert synthesized.cfn_lint_problems == []
