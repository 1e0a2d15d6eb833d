"""The health checker in the synthesized template, and the provider access it shares with the router."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from functions.adapters.dynamodb.schema import ALL_TABLES, HEALTH
from stacks.config import StackConfig
from stacks.constructs.health_checker import HEALTH_CHECK_SCHEDULE
from tests.infrastructure.conftest import (
    EXISTING_META_SECRET,
    Synthesized,
    health_check_function,
    role_statements,
    router_function,
)

PROVIDER_ENV_VARS = {"DIRECT_PROVIDERS", "BEDROCK_REGION", "BEDROCK_MODEL_ID", "MCP_TOOL_NAME"}


def _variables(function: dict[str, Any]) -> dict[str, Any]:
    return function["Properties"]["Environment"]["Variables"]


def _provider_variables(function: dict[str, Any]) -> dict[str, Any]:
    table_vars = {schema.env_var for schema in ALL_TABLES}
    router_only = {
        "MONTHLY_BUDGET_USD",
        "PRICE_TABLE_JSON",
        "CACHE_FRESH_TTL_SECONDS",
        "CACHE_STALE_TTL_SECONDS",
        "QUOTA_SHARDS",
        "LOG_RETENTION_DAYS",
        "ALARM_PREFIX",
        "AWS_LAMBDA_EXEC_WRAPPER",  # the router's streaming runtime loop
    }
    own = {"EVENT_BUS_NAME", "POWERTOOLS_SERVICE_NAME"}
    return {k: v for k, v in _variables(function).items() if k not in table_vars | router_only | own}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _render(value: Any) -> str:
    """Fn::Join of literals and pseudo parameters, rendered for the `aws` partition."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return {"AWS::Partition": "aws", "AWS::Region": "<region>", "AWS::AccountId": "<account>"}[value["Ref"]]
    separator, parts = value["Fn::Join"]
    return separator.join(_render(part) for part in parts)


def _statements_with(synthesized: Synthesized, function: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [
        s for s in role_statements(synthesized, function) if any(a.startswith(prefix) for a in _as_list(s["Action"]))
    ]


def _bedrock_resources(synthesized: Synthesized, function: dict[str, Any]) -> set[str]:
    return {_render(r) for s in _statements_with(synthesized, function, "bedrock:") for r in _as_list(s["Resource"])}


def test_the_health_checker_has_the_factory_settings(synthesized: Synthesized) -> None:
    # Given the health checker and the router / When comparing their runtime settings
    checker, router = health_check_function(synthesized)["Properties"], router_function(synthesized)["Properties"]
    # Then they share runtime, architecture, tracing, JSON logs, code asset and layer
    for setting in ("Runtime", "Architectures", "TracingConfig", "Layers", "Code", "MemorySize"):
        assert checker[setting] == router[setting], setting
    assert checker["LoggingConfig"]["LogFormat"] == "JSON"
    log_group = synthesized.resources[checker["LoggingConfig"]["LogGroup"]["Ref"]]
    assert log_group["Properties"]["RetentionInDays"] == synthesized.config.log_retention_days
    assert _variables(health_check_function(synthesized))["POWERTOOLS_SERVICE_NAME"] == "health-check"


def test_the_health_checker_writes_to_the_health_table_and_the_default_bus(synthesized: Synthesized) -> None:
    variables = _variables(health_check_function(synthesized))
    assert variables["EVENT_BUS_NAME"] == "default"
    assert variables[HEALTH.env_var] == _variables(router_function(synthesized))[HEALTH.env_var]


def test_a_schedule_rule_runs_the_health_checker_every_minute(synthesized: Synthesized) -> None:
    # Given the scheduled rules / When reading the one that invokes the health checker
    checker_id = next(
        name
        for name, f in synthesized.of_type("AWS::Lambda::Function").items()
        if f == health_check_function(synthesized)
    )
    (rule,) = [
        r
        for r in synthesized.of_type("AWS::Events::Rule").values()
        if "ScheduleExpression" in r["Properties"]
        and any(t["Arn"] == {"Fn::GetAtt": [checker_id, "Arn"]} for t in r["Properties"]["Targets"])
    ]
    (target,) = rule["Properties"]["Targets"]
    # Then it fires at rate(1 minute) on the health checker, which EventBridge may invoke
    assert rule["Properties"]["ScheduleExpression"] == HEALTH_CHECK_SCHEDULE == "rate(1 minute)"
    assert rule["Properties"]["State"] == "ENABLED"
    assert target["Arn"] == {"Fn::GetAtt": [checker_id, "Arn"]}
    assert any(
        p["Properties"]["Principal"] == "events.amazonaws.com"
        and p["Properties"]["FunctionName"] == {"Fn::GetAtt": [checker_id, "Arn"]}
        for p in synthesized.of_type("AWS::Lambda::Permission").values()
    )


def test_put_events_is_granted_on_the_default_bus_only(synthesized: Synthesized) -> None:
    # Given the health checker's statements that mention EventBridge
    statements = _statements_with(synthesized, health_check_function(synthesized), "events:")
    # Then PutEvents is allowed on the default bus ARN and nothing else
    assert {a for s in statements for a in _as_list(s["Action"])} == {"events:PutEvents"}
    assert {_render(r) for s in statements for r in _as_list(s["Resource"])} == {
        "arn:aws:events:<region>:<account>:event-bus/default"
    }
    assert _statements_with(synthesized, router_function(synthesized), "events:") == []


def test_the_health_checker_reads_and_writes_the_health_table_only(synthesized: Synthesized) -> None:
    statements = _statements_with(synthesized, health_check_function(synthesized), "dynamodb:")
    tables = {
        r["Fn::GetAtt"][0]
        for s in statements
        for r in _as_list(s["Resource"])
        if isinstance(r, dict) and "Fn::GetAtt" in r
    }
    actions = {a for s in statements for a in _as_list(s["Action"])}
    assert tables == {_variables(health_check_function(synthesized))[HEALTH.env_var]["Ref"]}
    assert {"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem"} <= actions


def test_with_bedrock_only_no_secret_is_created(synthesized: Synthesized) -> None:
    assert len(synthesized.of_type("AWS::SecretsManager::Secret")) == 2  # the admin tokens and their seed
    assert synthesized.provider_secrets == {}
    assert not {"GOOGLE_API_KEY_SECRET_ARN", "META_API_KEY_SECRET_ARN"} & set(
        _variables(health_check_function(synthesized))
    )


def test_google_and_llama_api_each_get_a_documented_secret_both_functions_may_read(all_providers: Synthesized) -> None:
    # Given google and meta (Llama API) enabled / When reading the secrets and the functions
    secrets = all_providers.provider_secrets
    # Then one secret per key, described for the operator, passed by ARN and readable by both
    assert len(secrets) == 2
    assert all("put-secret-value" in s["Properties"]["Description"] for s in secrets.values())
    for function in (router_function(all_providers), health_check_function(all_providers)):
        variables = _variables(function)
        assert {variables["GOOGLE_API_KEY_SECRET_ARN"]["Ref"], variables["META_API_KEY_SECRET_ARN"]["Ref"]} == set(
            secrets
        )
        readable = {
            r["Ref"]
            for s in _statements_with(all_providers, function, "secretsmanager:")
            for r in _as_list(s["Resource"])
        }
        assert readable == set(secrets)


def test_an_existing_secret_arn_is_used_instead_of_creating_one(existing_meta_secret: Synthesized) -> None:
    synthesized = existing_meta_secret
    assert synthesized.provider_secrets == {}
    checker = health_check_function(synthesized)
    assert _variables(checker)["META_API_KEY_SECRET_ARN"] == EXISTING_META_SECRET
    readable = {r for s in _statements_with(synthesized, checker, "secretsmanager:") for r in _as_list(s["Resource"])}
    assert readable == {EXISTING_META_SECRET}


@pytest.mark.parametrize("variant", ["synthesized", "all_providers", "llama_on_bedrock"])
def test_both_functions_get_identical_provider_settings(variant: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    router, checker = router_function(synthesized), health_check_function(synthesized)
    assert PROVIDER_ENV_VARS <= set(_provider_variables(checker))
    assert _provider_variables(router) == _provider_variables(checker)
    assert _bedrock_resources(synthesized, router) == _bedrock_resources(synthesized, checker) != set()


def test_llama_on_bedrock_adds_its_model_to_the_bedrock_grant_and_needs_no_secret(
    llama_on_bedrock: Synthesized,
) -> None:
    config = llama_on_bedrock.config
    expected = {
        f"arn:aws:bedrock:{config.bedrock_region}::foundation-model/{model_id}"
        for model_id in (*config.bedrock_model_ids, config.meta_bedrock_model_id)
    }
    assert _bedrock_resources(llama_on_bedrock, health_check_function(llama_on_bedrock)) == expected
    assert llama_on_bedrock.provider_secrets == {}
    assert _variables(health_check_function(llama_on_bedrock))["META_BEDROCK_MODEL_ID"] == config.meta_bedrock_model_id


def test_the_router_gets_the_budget_prices_and_cache_lifetimes(all_providers: Synthesized) -> None:
    variables = _variables(router_function(all_providers))
    assert variables["MONTHLY_BUDGET_USD"] == "250.0"
    assert json.loads(variables["PRICE_TABLE_JSON"]) == {"gemini-2.0-flash": [0.1, 0.4]}
    assert (variables["CACHE_FRESH_TTL_SECONDS"], variables["CACHE_STALE_TTL_SECONDS"]) == ("3600", "86400")
    assert "MONTHLY_BUDGET_USD" not in _variables(health_check_function(all_providers))


def test_without_a_budget_or_price_overrides_the_router_gets_neither(synthesized: Synthesized) -> None:
    assert not {"MONTHLY_BUDGET_USD", "PRICE_TABLE_JSON"} & set(_variables(router_function(synthesized)))


@pytest.mark.parametrize("variant", ["all_providers", "llama_on_bedrock"])
def test_cdk_nag_finds_nothing_unacknowledged_with_every_provider(variant: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    assert synthesized.nag_violations == []


def test_cfn_lint_finds_no_problem_with_every_provider(all_providers: Synthesized) -> None:
    assert all_providers.cfn_lint_problems == []


@pytest.mark.parametrize(
    "context",
    [
        {"direct_providers": "bedrock,openai"},
        {"meta_mode": "vertex"},
        {"meta_bedrock_model_id": "meta.*"},
        {"google_api_key_secret_arn": "google-key"},
        {"price_overrides": {"m": [-1, 1]}},
    ],
)
def test_a_provider_setting_that_would_misconfigure_the_functions_is_refused(context: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        StackConfig.model_validate(context)
