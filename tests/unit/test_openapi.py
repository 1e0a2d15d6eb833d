"""The OpenAPI document: a valid OpenAPI 3 description of every route, with its auth scheme."""

import json

from openapi_spec_validator import validate

from functions.admin.handler import app as admin_app
from functions.router.handler import app as router_app
from functions.shared.openapi import document


def _routes(app):
    return {(route.method.lower(), route.openapi_path) for route in app._static_routes + app._dynamic_routes}


def test_the_document_is_valid_openapi_3():
    spec = json.loads(document())
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_every_route_of_both_functions_is_described():
    paths = json.loads(document())["paths"]
    described = {(method, path) for path, operations in paths.items() for method in operations}
    for app in (router_app, admin_app):
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
