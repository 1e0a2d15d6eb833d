"""The synthesized template: tables, router function, IAM, API, cdk-nag and cfn-lint."""

from __future__ import annotations

import ast
import json
import os
from typing import Any

import pytest

from functions.adapters.dynamodb.schema import ALL_TABLES, AUDIT, CLIENT_KEYS, TableSchema
from functions.domain.names import STREAMED_ROUTES
from functions.domain.thresholds import (
    DYNAMODB_ITEM_WRITES_PER_SECOND,
    LATENCY_BUDGET_SECONDS,
    QUOTA_WRITES_PER_REQUEST,
    STREAM_MAX_SECONDS,
)
from stacks.constructs.api import ROUTES
from stacks.constructs.router import ROUTER_HANDLER, STREAMING_BOOTSTRAP
from tests.infrastructure.conftest import REPO_ROOT, Synthesized, role_statements, router_function

ROUTER_ENV_VARS = {
    "FLAGS_TABLE", "HEALTH_TABLE", "CLIENT_KEYS_TABLE", "CACHE_TABLE", "AUDIT_TABLE", "SPEND_TABLE", "QUOTAS_TABLE",
    "BEDROCK_REGION", "BEDROCK_MODEL_ID", "MCP_TOOL_NAME", "DIRECT_PROVIDERS",
    "CACHE_FRESH_TTL_SECONDS", "CACHE_STALE_TTL_SECONDS", "QUOTA_SHARDS",
    "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE",
    "LOG_RETENTION_DAYS", "ALARM_PREFIX", "AWS_LAMBDA_EXEC_WRAPPER",
}  # fmt: skip


def _router(synthesized: Synthesized) -> dict[str, Any]:
    return router_function(synthesized)["Properties"]


def _table_for(synthesized: Synthesized, schema: TableSchema) -> dict[str, Any]:
    reference = _router(synthesized)["Environment"]["Variables"][schema.env_var]
    return synthesized.resources[reference["Ref"]]["Properties"]


def _router_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    return role_statements(synthesized, router_function(synthesized))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _render(value: Any) -> str:
    """Fn::Join of literals and AWS::Partition, rendered for the `aws` partition."""
    if isinstance(value, str):
        return value
    if "Ref" in value and value["Ref"] == "AWS::Partition":
        return "aws"
    separator, parts = value["Fn::Join"]
    return separator.join(_render(part) for part in parts)


def _actions_on(synthesized: Synthesized, logical_id: str) -> set[str]:
    return {
        action
        for statement in _router_statements(synthesized)
        for resource in _as_list(statement["Resource"])
        if resource == {"Fn::GetAtt": [logical_id, "Arn"]}
        for action in _as_list(statement["Action"])
    }


def _api_paths(synthesized: Synthesized) -> dict[str, str]:
    """Logical id of each API resource -> its full path."""
    resources = synthesized.of_type("AWS::ApiGateway::Resource")

    def path_of(logical_id: str) -> str:
        properties = resources[logical_id]["Properties"]
        parent = properties["ParentId"]
        prefix = path_of(parent["Ref"]) if "Ref" in parent else ""
        return f"{prefix}/{properties['PathPart']}"

    return {logical_id: path_of(logical_id) for logical_id in resources}


def _api_methods(synthesized: Synthesized) -> set[tuple[str, str]]:
    paths = _api_paths(synthesized)
    methods = set()
    for method in synthesized.of_type("AWS::ApiGateway::Method").values():
        resource_id = method["Properties"]["ResourceId"]
        path = paths[resource_id["Ref"]] if "Ref" in resource_id else "/"
        methods.add((method["Properties"]["HttpMethod"], path))
    return methods


def test_the_stack_has_seven_tables_six_functions_one_layer_and_one_rest_api(
    synthesized: Synthesized,
) -> None:
    # Given the synthesized stack / When counting resources
    # Then each capability appears once: router, health checker, admin function and its authorizer,
    # the workflow function and the automation function
    synthesized.template.resource_count_is("AWS::DynamoDB::Table", len(ALL_TABLES))
    synthesized.template.resource_count_is("AWS::Lambda::Function", 6)
    synthesized.template.resource_count_is("AWS::Lambda::LayerVersion", 1)
    synthesized.template.resource_count_is("AWS::ApiGateway::RestApi", 1)


@pytest.mark.parametrize("schema", ALL_TABLES, ids=lambda schema: schema.logical_name)
def test_each_table_has_the_key_schema_of_the_store_constants(synthesized: Synthesized, schema: TableSchema) -> None:
    # Given the table the router reaches through the schema's environment variable
    table = _table_for(synthesized, schema)
    # When reading its keys
    expected_keys = [{"AttributeName": schema.partition_key, "KeyType": "HASH"}]
    expected_attributes = [{"AttributeName": schema.partition_key, "AttributeType": schema.partition_type}]
    if schema.sort_key:
        expected_keys.append({"AttributeName": schema.sort_key, "KeyType": "RANGE"})
        expected_attributes.append({"AttributeName": schema.sort_key, "AttributeType": schema.sort_type})
    # Then they are exactly the constants the store and the integration tests use
    assert table["KeySchema"] == expected_keys
    assert table["AttributeDefinitions"] == expected_attributes


@pytest.mark.parametrize("schema", ALL_TABLES, ids=lambda schema: schema.logical_name)
def test_each_table_is_on_demand_encrypted_and_recoverable(synthesized: Synthesized, schema: TableSchema) -> None:
    # Given a table / When reading its settings
    table = _table_for(synthesized, schema)
    # Then it bills per request, has point-in-time recovery and server-side encryption
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True


@pytest.mark.parametrize("schema", ALL_TABLES, ids=lambda schema: schema.logical_name)
def test_a_table_expires_items_only_when_its_schema_names_a_ttl_attribute(
    synthesized: Synthesized, schema: TableSchema
) -> None:
    # Given a table / When reading its TTL
    ttl = _table_for(synthesized, schema).get("TimeToLiveSpecification")
    # Then TTL is on that attribute exactly when the schema sets one
    if schema.ttl_attribute:
        assert ttl == {"AttributeName": schema.ttl_attribute, "Enabled": True}
    else:
        assert ttl is None


def test_the_router_runs_python_on_arm64_with_json_logs_and_active_tracing(synthesized: Synthesized) -> None:
    # Given the router function / When reading its runtime settings
    router = _router(synthesized)
    # Then they are the factory's defaults
    assert router["Handler"] == "functions.handlers.router.stream_handler"
    assert router["Runtime"] == "python3.12"
    assert router["Architectures"] == ["arm64"]
    assert router["TracingConfig"] == {"Mode": "Active"}
    assert router["LoggingConfig"]["LogFormat"] == "JSON"
    assert router["Layers"] == [{"Ref": next(iter(synthesized.of_type("AWS::Lambda::LayerVersion")))}]


def test_the_router_restores_from_a_snapstart_snapshot_and_the_api_invokes_its_live_alias(
    synthesized: Synthesized,
) -> None:
    # Given the router, its versions and aliases
    router_id = next(iter(k for k, v in synthesized.resources.items() if v["Properties"] is _router(synthesized)))
    (alias,) = synthesized.of_type("AWS::Lambda::Alias").values()
    (version,) = synthesized.of_type("AWS::Lambda::Version").values()
    # When reading SnapStart and what the alias points at
    # Then published versions restore from a snapshot, and the API reaches the router through the alias
    assert _router(synthesized)["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert version["Properties"]["FunctionName"] == {"Ref": router_id}
    assert alias["Properties"]["FunctionName"] == {"Ref": router_id}
    assert alias["Properties"]["Name"] == "live"
    uris = [
        json.dumps(m["Properties"]["Integration"]["Uri"])
        for m in synthesized.of_type("AWS::ApiGateway::Method").values()
    ]
    alias_id = next(iter(synthesized.of_type("AWS::Lambda::Alias")))
    assert any(f'"Ref": "{alias_id}"' in uri for uri in uris)
    assert not any(f'["{router_id}", "Arn"]' in uri for uri in uris)  # never $LATEST, which has no snapshot


def test_the_router_logs_to_its_own_log_group_with_the_configured_retention(synthesized: Synthesized) -> None:
    # Given the router's log group
    log_group = synthesized.resources[_router(synthesized)["LoggingConfig"]["LogGroup"]["Ref"]]
    # When reading its retention / Then it is the configured number of days
    assert log_group["Properties"]["RetentionInDays"] == synthesized.config.log_retention_days


def test_the_router_outlives_the_longest_latency_budget(synthesized: Synthesized) -> None:
    # Given the longest operation budget / When reading the router's timeout
    timeout = _router(synthesized)["Timeout"]
    # Then the router can finish (and report) its slowest operation before Lambda stops it
    assert timeout > max(LATENCY_BUDGET_SECONDS.values())


def test_the_router_environment_names_every_setting_and_references_the_tables(
    synthesized: Synthesized,
) -> None:
    # Given the router's environment
    variables = _router(synthesized)["Environment"]["Variables"]
    tables = synthesized.of_type("AWS::DynamoDB::Table")
    # When reading the variable names and the table variables' values
    # Then every setting is present and each table variable refers to a distinct table of this stack
    assert set(variables) == ROUTER_ENV_VARS
    referenced = {variables[schema.env_var]["Ref"] for schema in ALL_TABLES}
    assert referenced == set(tables)
    assert variables["BEDROCK_MODEL_ID"] == synthesized.config.bedrock_model_ids[0]
    # The quota counters' shards keep every item under a partition's writes at the stage's own throttling
    shards = int(variables["QUOTA_SHARDS"])
    config = synthesized.config
    per_second = QUOTA_WRITES_PER_REQUEST * (config.api_throttling_rate_limit + config.api_throttling_burst_limit)
    assert shards >= 2 and per_second / shards <= DYNAMODB_ITEM_WRITES_PER_SECOND / 2


def test_bedrock_is_granted_only_on_the_configured_foundation_models(synthesized: Synthesized) -> None:
    # Given the router's policy statements that mention bedrock
    statements = [
        s for s in _router_statements(synthesized) if any(a.startswith("bedrock:") for a in _as_list(s["Action"]))
    ]
    # When rendering their resources
    resources = {_render(resource) for s in statements for resource in _as_list(s["Resource"])}
    # Then only InvokeModel (which also authorizes Converse) on the exact model ARNs is allowed
    config = synthesized.config
    assert {action for s in statements for action in _as_list(s["Action"])} == {"bedrock:InvokeModel"}
    assert resources == {
        f"arn:aws:bedrock:{config.bedrock_region}::foundation-model/{model_id}" for model_id in config.bedrock_model_ids
    }


def test_the_router_reads_client_keys_and_cannot_touch_the_audit_trail(synthesized: Synthesized) -> None:
    # Given the client-keys and audit tables
    variables = _router(synthesized)["Environment"]["Variables"]
    client_keys = _actions_on(synthesized, variables[CLIENT_KEYS.env_var]["Ref"])
    audit = _actions_on(synthesized, variables[AUDIT.env_var]["Ref"])
    # When reading what the router may do to them / Then keys are read-only and the audit trail out of reach
    assert "dynamodb:GetItem" in client_keys
    assert not client_keys & {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    assert audit == set()


def test_the_api_declares_the_data_plane_and_health_routes(synthesized: Synthesized) -> None:
    # Given the API's methods / When listing (method, path)
    methods = _api_methods(synthesized)
    # Then every documented route exists
    assert {(method, f"/{path}") for method, path in ROUTES} <= methods


def test_unknown_paths_and_methods_reach_the_router(synthesized: Synthesized) -> None:
    # Given the API's methods
    methods = _api_methods(synthesized)
    paths = {path for _, path in methods}
    # When looking for catch-alls / Then the root proxy and every resource accept ANY method
    assert ("ANY", "/{proxy+}") in methods
    assert all(("ANY", path) in methods for path in paths)


def _integrations_by_route(synthesized: Synthesized) -> dict[tuple[str, str], dict[str, Any]]:
    """(method, path) -> the method's integration."""
    paths = _api_paths(synthesized)
    integrations = {}
    for method in synthesized.of_type("AWS::ApiGateway::Method").values():
        resource_id = method["Properties"]["ResourceId"]
        path = paths[resource_id["Ref"]] if "Ref" in resource_id else "/"
        integrations[(method["Properties"]["HttpMethod"], path)] = method["Properties"]["Integration"]
    return integrations


def _uri_tail(integration: dict[str, Any]) -> str:
    """What the integration URI names after the function it invokes (the Lambda API action)."""
    tail: str = integration["Uri"]["Fn::Join"][1][-1]
    return tail


def test_every_method_is_a_lambda_proxy_and_every_buffered_one_has_the_default_maximum_timeout(
    synthesized: Synthesized,
) -> None:
    # Given every API method but the streamed ones / When reading its integration
    integrations = _integrations_by_route(synthesized)
    buffered = [i for route, i in integrations.items() if route not in STREAMED_ROUTES]
    assert len(buffered) == len(integrations) - len(STREAMED_ROUTES) > 0
    # Then each proxies to the router; the buffered ones with API Gateway's 29 s limit (longer needs a quota
    # increase), the synchronous Invoke URI and the default (buffered) transfer mode
    assert all(i["Type"] == "AWS_PROXY" for i in integrations.values())
    assert all(i["TimeoutInMillis"] == 29_000 for i in buffered)
    assert all(i.get("ResponseTransferMode", "BUFFERED") == "BUFFERED" for i in buffered)
    assert all(_uri_tail(i) == "/invocations" for i in buffered)


def test_the_chat_route_streams_through_the_response_streaming_invocation_of_the_live_alias(
    synthesized: Synthesized,
) -> None:
    # Given the integration of POST /v1/chat/completions
    (route,) = STREAMED_ROUTES
    integration = _integrations_by_route(synthesized)[route]
    alias_id = next(iter(synthesized.of_type("AWS::Lambda::Alias")))
    # When reading its transfer mode, URI and timeout
    parts = integration["Uri"]["Fn::Join"][1]
    # Then API Gateway streams it, invokes the alias with InvokeWithResponseStream (API version 2021-11-15)
    # and waits as long as the router may run: past the 29 s of a buffered integration, within the 15 minutes
    # a stream may last
    assert integration["Type"] == "AWS_PROXY"
    assert integration["ResponseTransferMode"] == "STREAM"
    assert ":lambda:path/2021-11-15/functions/" in parts
    assert {"Ref": alias_id} in parts
    assert _uri_tail(integration) == "/response-streaming-invocations"
    timeout_ms = integration["TimeoutInMillis"]
    assert timeout_ms == _router(synthesized)["Timeout"] * 1000 == STREAM_MAX_SECONDS * 1000
    assert 29_000 < timeout_ms <= 15 * 60 * 1000


def test_the_router_runs_its_stream_handler_under_the_streaming_runtime_loop_with_snapstart(
    synthesized: Synthesized,
) -> None:
    # Given the router function
    router = _router(synthesized)
    wrapper = router["Environment"]["Variables"]["AWS_LAMBDA_EXEC_WRAPPER"]
    # When reading its runtime, handler and exec wrapper
    script = REPO_ROOT / os.path.relpath(wrapper, "/var/task")
    # Then the managed Python runtime (SnapStart on) starts the wrapper shipped in the code asset, executable,
    # which runs the streaming loop; the loop serves the router's stream_handler
    assert router["Runtime"] == "python3.12"
    assert router["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert router["Handler"] == ROUTER_HANDLER == "functions.handlers.router.stream_handler"
    assert wrapper == STREAMING_BOOTSTRAP and wrapper.startswith("/var/task/functions/")
    assert script.is_file() and os.access(script, os.X_OK)
    assert "-m functions.handlers.streaming_runtime" in script.read_text()


def test_the_stage_logs_access_traces_and_throttles_as_configured(synthesized: Synthesized) -> None:
    # Given the API stage
    (stage,) = synthesized.of_type("AWS::ApiGateway::Stage").values()
    properties = stage["Properties"]
    # When reading its settings
    (all_methods,) = [s for s in properties["MethodSettings"] if s["HttpMethod"] == "*"]
    # Then access logs go to a log group, tracing is on and throttling comes from the config
    assert "Fn::GetAtt" in properties["AccessLogSetting"]["DestinationArn"]
    assert json.loads(properties["AccessLogSetting"]["Format"])["status"] == "$context.status"
    assert properties["TracingEnabled"] is True
    assert all_methods["ThrottlingRateLimit"] == synthesized.config.api_throttling_rate_limit
    assert all_methods["ThrottlingBurstLimit"] == synthesized.config.api_throttling_burst_limit
    assert all_methods["DataTraceEnabled"] is False


def test_outputs_give_the_api_url_and_every_table_name(synthesized: Synthesized) -> None:
    # Given the stack outputs / When listing them / Then the URL and each table name are there
    outputs = synthesized.outputs
    assert "ApiUrl" in outputs
    assert {f"{schema.logical_name}TableName" for schema in ALL_TABLES} <= set(outputs)


def test_cdk_nag_finds_nothing_unacknowledged(synthesized: Synthesized) -> None:
    # Given the AWS Solutions pack (cdk-nag 3: a validation plugin, acknowledgements via Validations)
    # When it checks the stack
    # Then every finding is fixed or acknowledged with a reason
    assert synthesized.nag_violations == []


def test_cfn_lint_finds_no_problem_in_the_template(synthesized: Synthesized) -> None:
    # Given the synthesized template / When cfn-lint checks it
    # Then it reports nothing beyond the justified ignores
    assert synthesized.cfn_lint_problems == []


def test_every_function_handler_names_a_lambda_handler_in_the_functions_package(synthesized: Synthesized) -> None:
    # Given each function's handler string (`functions.handlers.<module>.lambda_handler`)
    handlers = {f["Properties"]["Handler"] for f in synthesized.of_type("AWS::Lambda::Function").values()}
    assert len(handlers) == 6
    for handler in handlers:
        module, _, name = handler.rpartition(".")
        # When reading the module it names / Then the file exists and defines that function
        path = REPO_ROOT.joinpath(*module.split(".")).with_suffix(".py")
        assert module.startswith("functions.handlers.") and path.is_file(), handler
        tree = ast.parse(path.read_text())
        assert name in {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}, handler
