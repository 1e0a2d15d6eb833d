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
