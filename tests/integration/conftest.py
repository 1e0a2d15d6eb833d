"""Shared fixtures for the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from local.faults import FaultRegistry
from local.servers import ServerHandle


@dataclass(frozen=True)
class ProviderSimulators:
    """The local provider simulators on a free port of 127.0.0.1, with their fault registry."""

    server: ServerHandle
    faults: FaultRegistry

    @property
    def bedrock_endpoint_url(self) -> str:
        return f"{self.server.url}/bedrock"

    @property
    def mcp_url(self) -> str:
        return f"{self.server.url}/mcp"


@pytest.fixture(scope="session")
def _provider_simulators_server() -> Iterator[ProviderSimulators]:
    from local.providers_app import build_providers_app
    from local.servers import start_uvicorn

    faults = FaultRegistry()
    server = start_uvicorn(build_providers_app(faults), "127.0.0.1", 0)
    try:
        yield ProviderSimulators(server=server, faults=faults)
    finally:
        server.stop()


@pytest.fixture
def provider_simulators(_provider_simulators_server: ProviderSimulators) -> Iterator[ProviderSimulators]:
    """The simulators, with no fault in force when the test starts or after it ends."""
    _provider_simulators_server.faults.clear()
    yield _provider_simulators_server
    _provider_simulators_server.faults.clear()


# --- the local stack's gateway app, in-process --------------------------------------------------
@pytest.fixture(scope="module")
def http(local_stack):
    """The gateway app with no credentials (health, auth tests, admin calls with `admin`)."""
    from starlette.testclient import TestClient

    with TestClient(local_stack.app) as client:
        yield client


@pytest.fixture(scope="module")
def client(local_stack):
    """The gateway app as a data-plane client: the client key on every request."""
    from starlette.testclient import TestClient

    with TestClient(local_stack.app) as client:
        client.headers["Authorization"] = f"Bearer {local_stack.client_key}"
        yield client


@pytest.fixture
def admin(local_stack):
    """Headers of an operator."""
    return {"Authorization": f"Bearer {local_stack.admin_token}"}


@pytest.fixture
def tables(monkeypatch, local_stack):
    """Tables of the test's own (unique prefix) on the local stack's moto, fresh clients, and the
    weights item removed afterwards. Modules with other needs define their own `tables`."""
    import boto3

    from functions.adapters.dynamodb.client import dynamodb_client
    from functions.adapters.dynamodb.schema import TRAFFIC_WEIGHTS_KEY
    from local.tables import create_tables
    from tests.support import unique_prefix, use_local_moto

    use_local_moto(monkeypatch, local_stack)
    for name, value in (
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "t"),
        ("AWS_SECRET_ACCESS_KEY", "t"),
    ):
        monkeypatch.setenv(name, value)
    names = create_tables(boto3.client("dynamodb", region_name="us-east-1"), prefix=unique_prefix())
    yield names
    dynamodb_client().delete_item(TableName=names["FLAGS_TABLE"], Key={"pk": {"S": TRAFFIC_WEIGHTS_KEY}})
    use_local_moto(monkeypatch, local_stack)  # drop the clients bound to this test's region


@pytest.fixture
def clean_control_plane(local_stack):
    """Every control-plane setting at its default and every target healthy, before and after."""
    from tests.support import clear_control_config, reset_routing_state

    clear_control_config()
    reset_routing_state(local_stack)
    yield
    clear_control_config()
    reset_routing_state(local_stack)
