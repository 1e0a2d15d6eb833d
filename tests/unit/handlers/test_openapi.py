"""The OpenAPI document: a valid OpenAPI 3 description of every route, with its auth scheme."""

import json

from openapi_spec_validator import validate

from functions.handlers.admin.handler import app as admin_app
from functions.handlers.openapi import document
from functions.handlers.router import app as router_app


def _routes(app):
    routes = app._static_routes + app._dynamic_routes
    return {(route.method.lower(), route.openapi_path) for route in routes if route.include_in_schema}


def test_the_document_is_valid_openapi_3():
    spec = json.loads(document())
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_every_route_of_both_functions_is_described():
    paths = json.loads(document())["paths"]
    described = {(method, path) for path, operations in paths.items() for method in operations}
    for app, route in (
        (router_app, ("post", "/v1/chat/completions")),
        (admin_app, ("post", "/admin/routing/force-mcp")),
    ):
        assert route in _routes(app)  # the routes are found at all
        assert _routes(app) <= described


def test_admin_operations_require_the_admin_token_and_chat_the_client_key():
    paths = json.loads(document())["paths"]
    assert paths["/admin/routing/force-mcp"]["post"]["security"] == [{"adminToken": []}]
    assert paths["/v1/chat/completions"]["post"]["security"] == [{"clientKey": []}]
    assert "security" not in paths["/health"]["get"]


def test_request_bodies_are_described_from_the_models():
    paths = json.loads(document())["paths"]
    body = paths["/admin/routing/force-mcp"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ForceMcp"}


def test_the_router_serves_the_document_at_openapi_json_without_auth():
    from functions.handlers.router import app

    event = {
        "path": "/openapi.json",
        "httpMethod": "GET",
        "headers": {},
        "requestContext": {"requestId": "t"},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "multiValueHeaders": {},
        "body": None,
        "isBase64Encoded": False,
        "resource": "/openapi.json",
    }
    result = app.resolve(event, None)
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["info"]["title"] == "Hybrid Routing API"
