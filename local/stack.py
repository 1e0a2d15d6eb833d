"""The embedded stack: moto for AWS, provider simulators with a local MCP server, and the
gateway, all on 127.0.0.1 in one process."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from botocore.exceptions import ClientError

from functions.domain import names
from local.faults import FaultRegistry
from local.servers import ServerHandle, start_uvicorn
from local.state import DynamoDBGate, StateDir, StatePersister

LOCAL_REGION = "eu-central-1"


@dataclass
class LocalStack:
    port: int
    client_key: str
    admin_token: str
    faults: FaultRegistry
    servers: list[Any] = field(default_factory=list)
    gateway: ServerHandle | None = None
    app: Any = None  # the gateway's ASGI app
    moto_url: str = ""
    eventbus: Any = None  # local.eventbus.LocalEventBus: publish EventBridge-shaped events to it
    alarms: Any = None  # local.alarm_evaluator.AlarmEvaluator
    persister: StatePersister | None = None  # with a state directory: saves the state as it changes

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()


def _start_moto(gate: DynamoDBGate) -> Any:
    import logging

    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access line per AWS call otherwise

    class AtomicDynamoDBMotoServer(ThreadedMotoServer):
        """moto's threaded server, with DynamoDB calls served one at a time (local/state.py's
        DynamoDBGate). Only DynamoDB is serialized: a whole server served serially would deadlock when
        Step Functions (in this server) invokes a Lambda handler that calls DynamoDB back."""

        def _server_entry(self) -> None:
            app = gate.wrap(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    server = AtomicDynamoDBMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    # moto's Step Functions calls Lambda (and other services) back on this port.
    os.environ["MOTO_PORT"] = str(server.get_host_and_port()[1])
    return server


def start(
    port: int,
    client_key: str | None = None,
    admin_token: str | None = None,
    serve_gateway_in_thread: bool = True,
    state_dir: Path | None = None,
) -> LocalStack:
    """Start everything; with `serve_gateway_in_thread` False the caller serves the gateway app. With
    `state_dir` the tables, executions and tokens of the last run there come back and are saved as
    they change (local/state.py); without it the stack starts and stays in memory."""
    gate = DynamoDBGate()
    moto = _start_moto(gate)
    moto_host, moto_port = moto.get_host_and_port()
    stack_moto_url = f"http://{moto_host}:{moto_port}"
    _use_local_aws(stack_moto_url)
    faults = FaultRegistry()
    state = StateDir(state_dir) if state_dir is not None else None
    providers, tables = _start_providers(faults, state)
    saved = state.credentials() if state is not None else {}
    admin_token, key = _start_functions(
        admin_token or saved.get("admin_token"), client_key or saved.get("client_key"), saved
    )
    if state is not None:
        state.save_credentials(
            {"client_key": key, "admin_token": admin_token, "readonly_token": os.environ["ADMIN_READONLY_TOKEN"]}
        )
    stack = LocalStack(port, key, admin_token, faults, servers=[_MotoHandle(moto), providers])
    stack.moto_url = stack_moto_url
    _start_control_loops(stack)
    if state is not None:
        stack.persister = _persist(state, gate, tables, stack)
    _start_gateway(stack, port, serve_gateway_in_thread)
    return stack


def _persist(state: StateDir, gate: DynamoDBGate, tables: list[str], stack: LocalStack) -> StatePersister:
    """Save the state from now on, after ending the rollouts the last run left running; stopped (with a
    last save) just before moto, after everything that writes."""
    import boto3

    from local.workflows import LocalWorkflows

    workflows = next(server for server in stack.servers if isinstance(server, LocalWorkflows))
    persister = StatePersister(
        state,
        gate,
        boto3.client("dynamodb"),
        tables,
        boto3.client("stepfunctions"),
        list(workflows.machines.values()),
        logs=boto3.client("logs"),
    ).start()
    for summary in workflows.end_interrupted(persister.executions):
        persister.record(summary["executionArn"], summary)
    stack.servers.insert(1, persister)
    return persister


def _use_local_aws(moto_url: str) -> None:
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            "AWS_REGION": LOCAL_REGION,
            "POWERTOOLS_SERVICE_NAME": names.SERVICE,
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)


def _start_providers(faults: FaultRegistry, state: StateDir | None) -> tuple[Any, list[str]]:
    """The provider simulators and the MCP server, and the tables (with their saved items); the
    functions' settings point at them."""
    import boto3

    from functions.adapters.dynamodb.schema import ALL_TABLES
    from local.providers_app import build_providers_app
    from local.tables import create_tables

    providers = start_uvicorn(build_providers_app(faults))
    dynamodb = boto3.client("dynamodb", region_name=LOCAL_REGION)
    tables = create_tables(dynamodb)
    os.environ.update(tables)
    if state is not None:
        state.restore_tables(dynamodb)
        state.restore_audit_trail(tables[names.AUDIT_KEY_ENV], tables[names.AUDIT_ANCHOR_ENV])
    os.environ.update(
        {
            "BEDROCK_REGION": LOCAL_REGION,
            "BEDROCK_ENDPOINT_URL": f"{providers.url}/bedrock",
            "MCP_SERVER_URL": f"{providers.url}/mcp",
            "GOOGLE_ENDPOINT_URL": f"{providers.url}/google",
            "META_ENDPOINT_URL": f"{providers.url}/meta",
            "META_MODE": "llama_api",
            "DIRECT_PROVIDERS": ",".join(names.DIRECT_PROVIDERS),
        }
    )
    # The simulators only check that a key is sent; real keys come from the environment, never the repo.
    os.environ.setdefault("GOOGLE_API_KEY", "local-" + secrets.token_hex(8))
    os.environ.setdefault("META_API_KEY", "local-" + secrets.token_hex(8))
    return providers, [tables[schema.env_var] for schema in ALL_TABLES]


def _start_functions(admin_token: str | None, client_key: str | None, saved: dict[str, str]) -> tuple[str, str]:
    """Fresh settings and dependencies over the local environment, the tokens and the client key."""
    from functions.adapters.providers.settings import get_provider_settings
    from functions.app.admin import settings as admin_settings
    from functions.app.admin import wiring as admin_deps
    from functions.app.chat.settings import get_settings
    from functions.app.chat.wiring import get_dependencies

    for cached in (get_settings, get_provider_settings, admin_settings.get_settings, admin_deps.get_admin_dependencies):
        cached.cache_clear()
    get_dependencies.cache_clear()
    _start_metrics_sink()
    os.environ["ADMIN_TOKEN"] = token = admin_token or operator_token()
    os.environ.setdefault("ADMIN_READONLY_TOKEN", saved.get("readonly_token") or operator_token())
    key = client_key or _new_client_key()
    try:
        get_dependencies().client_keys.create("local-client", key)
    except ClientError as exc:  # the key of the last run, restored with its table
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
    return token, key


def _start_control_loops(stack: LocalStack) -> None:
    """The rollout state machines (moto, the workflow Lambda bound in-process), the health checks, and the
    alarm-driven automation: the stack's EventBridge rules on a local bus, the failback check on a timer."""
    from local.eventbus import start_automation
    from local.workflows import start_workflows

    stack.servers.append(start_workflows(stack.moto_url))
    stack.servers.append(_start_health_checks())
    stack.servers.append(start_automation(stack))
    stack.alarms = _start_alarm_evaluator(stack)
    stack.servers.append(stack.alarms)


def _start_gateway(stack: LocalStack, port: int, serve_in_thread: bool) -> None:
    from functions.handlers.admin.handler import lambda_handler as admin_handler
    from functions.handlers.authorizer import lambda_handler as authorizer
    from functions.handlers.authorizer import reset_cache
    from functions.handlers.router import stream_handler
    from local.gateway import build_gateway_app

    reset_cache()

    def state() -> dict[str, Any]:
        return stack.persister.status() if stack.persister is not None else {"directory": None}

    app = build_gateway_app(stream_handler, stack.faults, admin_handler, authorizer, state)
    stack.app = app
    if serve_in_thread:
        stack.gateway = start_uvicorn(app, port=port)
        stack.port = stack.gateway.port
        stack.servers.append(stack.gateway)


def _start_metrics_sink() -> None:
    """CloudWatch's part locally: the handlers' EMF lines tapped from stdout into memory, read back
    by the admin and health routes (METRICS_SOURCE=local)."""
    from functions.adapters.cloudwatch import get_metrics_settings, register_metrics_source
    from local import metrics_sink

    os.environ["METRICS_SOURCE"] = "local"
    get_metrics_settings.cache_clear()
    register_metrics_source("local", lambda _settings: metrics_sink.LocalMetrics(metrics_sink.STORE))
    metrics_sink.install()


def _start_health_checks() -> Any:
    """The health checker Lambda on its own timer, as the stack's EventBridge schedule runs it."""
    from functions.handlers.health_check import lambda_handler as health_check
    from local.gateway import LocalLambdaContext
    from local.scheduler import PeriodicTask

    interval = float(os.environ.get("HEALTH_CHECK_INTERVAL_SECONDS", "60"))
    return PeriodicTask(
        lambda: health_check({}, cast(Any, LocalLambdaContext("health-check"))), interval, name="health-check"
    )


def _start_alarm_evaluator(stack: LocalStack) -> Any:
    """CloudWatch's alarms locally: the stack's alarms created in moto and evaluated on the EMF metrics
    every ALARM_EVALUATION_INTERVAL_SECONDS (0: only when called), periods compressed
    ALARM_TIME_COMPRESSION times for drills. State changes go to SetAlarmState and, as "CloudWatch
    Alarm State Change" events, to the local event bus (the automation's rules)."""
    from local.alarm_evaluator import start_alarm_evaluator

    bus = getattr(stack, "eventbus", None)
    return start_alarm_evaluator(listeners=[bus.publish] if bus is not None else [])


def operator_token() -> str:
    """A random operator token that never starts with "-": pasted after `hybridctl --token` it would
    otherwise read as an option."""
    return "hrt_" + secrets.token_urlsafe(24)


def _new_client_key() -> str:
    from functions.adapters.dynamodb.client_keys import new_key

    return new_key()


@dataclass
class _MotoHandle:
    server: Any

    def stop(self) -> None:
        self.server.stop()
