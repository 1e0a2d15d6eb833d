"""Shared fixtures for the integration tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from cli.hybridctl import main as hybridctl_main
from functions.adapters.dynamodb.client import dynamodb_client
from functions.adapters.dynamodb.schema import TRAFFIC_WEIGHTS_KEY
from functions.app.admin.wiring import get_admin_dependencies
from functions.app.chat.wiring import get_dependencies
from local import metrics_sink
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
def fake_aws_credentials(monkeypatch) -> None:
    """Credentials for botocore to sign with, for a client that talks to a local server."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


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


# --- rollouts -------------------------------------------------------------------------------------
def reset_route() -> None:
    """The route's item (weights and lock) back to its default, seen by the router at once."""
    deps = get_dependencies()
    dynamodb_client().delete_item(TableName=deps.settings.flags_table, Key={"pk": {"S": TRAFFIC_WEIGHTS_KEY}})
    deps.snapshots.invalidate()


@pytest.fixture
def rollouts(http, admin) -> Iterator[None]:
    """The route at its default weights with no rollout, before and after the test: one left running is
    stopped (it can write nothing more), then the item is reset. Tests that send traffic or change
    health also use `clean_control_plane`."""
    reset_route()
    yield
    if get_admin_dependencies().rollouts.get().lock:
        http.post("/admin/rollouts/abort", json={"reason": "test teardown", "force": True}, headers=admin)
    reset_route()


@pytest.fixture
def google_proven(http, admin, client, clean_control_plane) -> Iterator[dict]:
    """Gate evidence: google served requests successfully (weights google:100 for a moment, then back to
    bedrock:100), and emergency traffic keeps flowing while the test runs, the router seeing each new
    step's weights at once, since a gate reads only the traffic since its step started. Answers a gate
    that PASSes on it."""
    metrics_sink.install()  # pytest's capture swaps sys.stdout between phases: tap the EMF lines again
    metrics_sink.STORE.clear()
    body = {"model": "m", "messages": [{"role": "user", "content": "ping"}]}
    emergency = {"X-Operation-Type": "emergency"}
    for weights in ({"google": 100}, None, {"bedrock": 100}):
        if weights is None:
            served = [client.post("/v1/chat/completions", json=body, headers=emergency) for _ in range(8)]
            assert {r.headers["x-hybrid-provider"] for r in served} == {"google"}
            continue
        http.put("/admin/routing/traffic-distribution", json={"weights": weights}, headers=admin)
        get_dependencies().snapshots.invalidate()
    stop = threading.Event()

    def steady() -> None:
        while not stop.wait(0.02):
            metrics_sink.install()  # pytest swaps sys.stdout between setup and call: keep the EMF tap on
            get_dependencies().snapshots.invalidate()  # tests only: no 5 s wait for a step's weights
            client.post("/v1/chat/completions", json=body, headers=emergency)

    sender = threading.Thread(target=steady, name="gate-evidence", daemon=True)
    sender.start()
    yield {"minRequests": 5, "windowSeconds": 60}
    stop.set()
    sender.join(10.0)


# --- hybridctl over real HTTP --------------------------------------------------------------------
@pytest.fixture(scope="module")
def gateway(local_stack):
    from local.servers import start_uvicorn

    handle = start_uvicorn(local_stack.app)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def ctl(gateway, local_stack, capsys, monkeypatch):
    """Run `hybridctl ARGS` in-process against the gateway: (exit code, stdout, stderr). With
    token=None the CLI sees no token at all (the stack's own ADMIN_TOKEN stays set for its authorizer)."""
    for name in ("HYBRID_ENDPOINT", "HYBRID_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)

    def run(*argv: str, token: str | None = local_stack.admin_token) -> tuple[int, str, str]:
        capsys.readouterr()
        # --token=VALUE: a random token may start with "-", which argparse would take for an option.
        prefix = ["--endpoint", gateway.url] + ([f"--token={token}"] if token is not None else [])
        with monkeypatch.context() as patch:
            if token is None:
                patch.setattr(hybridctl_main, "os", SimpleNamespace(environ={}))
            code = hybridctl_main.main([*prefix, *argv])
        captured = capsys.readouterr()
        assert local_stack.admin_token not in captured.out + captured.err  # never printed
        return code, captured.out, captured.err

    return run
