"""Run the state machines of statemachines/ on the local stack's moto, the workflow Lambda bound in-process.

Each test gets tables of its own (so the router's route item is never touched), the workflow handler
bound to a uniquely named function over them, and a `run` that executes an ASL file to its end.

The gates read the local stack's metrics, fed by chat traffic sent through the router (`chat`, `send`):
infrastructure and emergency requests are served by bedrock, so the rollouts here move Direct traffic
to bedrock (canary, failback) or keep it there (failovers away from google). A gate reads only the
traffic since its step started, so `send` keeps that traffic flowing in the background until the test
ends."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from starlette.testclient import TestClient

from functions.adapters import aws
from functions.adapters.cloudwatch import get_metrics_source
from functions.adapters.dynamodb.audit import audit_log_from
from functions.adapters.dynamodb.client import dynamodb_client
from functions.adapters.dynamodb.config import ConfigStore
from functions.adapters.dynamodb.rollouts import RolloutStore
from functions.adapters.dynamodb.schema import TRAFFIC_WEIGHTS_KEY
from functions.app.workflow.settings import WorkflowSettings
from functions.app.workflow.wiring import WorkflowDependencies
from functions.domain.audit import AuditEntry
from functions.domain.routing.breaker import BreakerPolicy
from functions.handlers import workflow
from local import metrics_sink
from local.faults import FaultSpec
from local.lambda_binding import bind, configure_moto, create_function
from local.tables import create_tables
from tests.paths import STATEMACHINES
from tests.polling import eventually
from tests.support import reset_routing_state, unique_prefix, use_local_moto

ROLE_ARN = "arn:aws:iam::123456789012:role/local-workflows"
START = {"bedrock": 50, "google": 30, "meta": 20}
BODY = {"model": "any", "messages": [{"role": "user", "content": "Check the rollout."}]}
GATE = {"windowSeconds": 30, "minRequests": 3, "successPercent": 90, "p95LatencyMs": 10_000}


def rollout_input(source: str | list[str], target: str, **extra: Any) -> dict[str, Any]:
    """An execution input with time compressed: no bake, no wait between re-checks, test-sized gates."""
    sources = [source] if isinstance(source, str) else source
    return {"source": sources, "target": target, "bakeSeconds": 0, "recheckSeconds": 0, "gate": GATE, **extra}


STEADY_INTERVAL_S = 0.05  # background traffic: one request every 50 ms while the test runs
_steady: dict[int, tuple[threading.Event, threading.Thread]] = {}  # id(client) -> its background sender


def _post(http: TestClient, operation: str) -> str:
    response = http.post("/v1/chat/completions", json={**BODY, "metadata": {"operation_type": operation}})
    return response.headers.get("x-hybrid-provider", "")


def send(http: TestClient, count: int, operation: str = "infrastructure") -> list[str]:
    """`count` requests of `operation` (bedrock serves infrastructure and emergency); who answered each.
    Requests of `operation` then keep flowing in the background (replacing any earlier operation's)
    until the `chat` fixture ends: a gate reads only the traffic since its step started."""
    metrics_sink.install()  # pytest's capture replaces sys.stdout between phases: tap the EMF lines again
    providers = [_post(http, operation) for _ in range(count)]
    stop_steady(http)
    stop = threading.Event()

    def steady() -> None:
        while not stop.wait(STEADY_INTERVAL_S):
            _post(http, operation)

    sender = threading.Thread(target=steady, name="workflow-test-traffic", daemon=True)
    _steady[id(http)] = (stop, sender)
    sender.start()
    return providers


def failing_bedrock(local_stack: Any, http: TestClient) -> None:
    """bedrock answers 503, behind breakers that never open, so every emergency request tries bedrock first
    and the next provider of its failover chain serves it: the clients see no error, yet a gate over bedrock
    judges bedrock by its own attempts and sees them fail."""
    reset_routing_state(local_stack, BreakerPolicy(consecutive_failures=10**6, min_requests=10**6))
    local_stack.faults.set(FaultSpec(provider="bedrock", status=503))
    send(http, 10, "emergency")


def stop_steady(http: TestClient) -> None:
    """Stop `http`'s background traffic and wait for its last request."""
    stop, sender = _steady.pop(id(http), (None, None))
    if stop is not None and sender is not None:
        stop.set()
        sender.join(10.0)


def _clear_clients() -> None:
    for cached in (dynamodb_client, aws.client, aws.session):
        cached.cache_clear()


@dataclass
class Execution:
    arn: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None


@dataclass
class Workflows:
    """The bound workflow Lambda over this test's tables, and the means to run a state machine."""

    deps: WorkflowDependencies
    config: ConfigStore
    function_arn: str
    sfn: Any
    suffix: str

    def seed(self, weights: dict[str, int]) -> None:
        self.config.put(TRAFFIC_WEIGHTS_KEY, {"weights": weights}, 0, AuditEntry("test", "seed", TRAFFIC_WEIGHTS_KEY))

    def machine(self, name: str) -> str:
        text = (STATEMACHINES / f"{name}.asl.json").read_text()
        definition = text.replace("${WorkflowFunctionArn}", self.function_arn)
        return self.sfn.create_state_machine(
            name=f"{name}-{self.suffix}-{uuid.uuid4().hex[:6]}", definition=definition, roleArn=ROLE_ARN
        )["stateMachineArn"]

    def start(self, machine_arn: str, execution_input: dict[str, Any]) -> str:
        name = f"run-{uuid.uuid4().hex[:12]}"
        return self.sfn.start_execution(stateMachineArn=machine_arn, name=name, input=json.dumps(execution_input))[
            "executionArn"
        ]

    def wait(self, execution_arn: str, timeout_s: float = 60.0) -> Execution:
        described = eventually(
            lambda: self.sfn.describe_execution(executionArn=execution_arn),
            lambda described: described["status"] != "RUNNING",
            timeout=timeout_s,
            what=f"{execution_arn} finished",
        )
        output = json.loads(described["output"]) if described.get("output") else None
        error, cause = described.get("error"), described.get("cause")
        if described["status"] != "SUCCEEDED" and error is None:
            error, cause = self._failure(execution_arn)
        return Execution(execution_arn, described["status"], output, error, cause)

    def run(self, name: str, execution_input: dict[str, Any], timeout_s: float = 60.0) -> Execution:
        return self.wait(self.start(self.machine(name), execution_input), timeout_s)

    def _failure(self, execution_arn: str) -> tuple[str | None, str | None]:
        events = self.sfn.get_execution_history(executionArn=execution_arn, reverseOrder=True)["events"]
        for event in events:
            details = event.get("executionFailedEventDetails")
            if details:
                return details.get("error"), details.get("cause")
        return None, None

    def route(self) -> dict[str, Any]:
        return self.deps.rollouts.get().as_dict()

    def until(self, condition: Callable[[dict[str, Any]], bool], timeout_s: float = 10.0) -> dict[str, Any]:
        """The route once `condition(route)` holds (e.g. a running execution reached a step)."""
        return eventually(self.route, condition, timeout=timeout_s, interval=0.05, what="the route got there")

    def audit_actions(self) -> list[str]:
        return [record.entry.action for record in self.config.audit.records()]

    def states_entered(self, execution_arn: str) -> list[str]:
        events = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


@pytest.fixture
def workflows(monkeypatch, local_stack) -> Iterator[Workflows]:
    use_local_moto(monkeypatch, local_stack)
    _clear_clients()
    configure_moto(local_stack.moto_url)
    names = create_tables(boto3.client("dynamodb"), prefix=unique_prefix())
    settings = WorkflowSettings.model_validate(names)
    config = ConfigStore(names["FLAGS_TABLE"], audit_log_from(names))
    deps = WorkflowDependencies(settings, RolloutStore(config), get_metrics_source, lambda _n, _t: {})
    suffix = uuid.uuid4().hex[:8]
    function_name = f"workflow-{suffix}"
    handler: Callable[[dict[str, Any], Any], Any] = lambda event, _context: workflow.handle(event, deps)  # noqa: E731
    bind({function_name: handler})
    function_arn = create_function(boto3.client("lambda"), function_name, boto3.client("iam"))
    yield Workflows(deps, config, function_arn, boto3.client("stepfunctions"), suffix)
    dynamodb_client().delete_item(TableName=names["FLAGS_TABLE"], Key={"pk": {"S": TRAFFIC_WEIGHTS_KEY}})
    _clear_clients()


@pytest.fixture
def chat(local_stack) -> Iterator[TestClient]:
    """A router client; metrics, faults and breakers fresh so the gates see only this test's traffic."""
    reset_routing_state(local_stack)
    metrics_sink.STORE.clear()
    with TestClient(local_stack.app) as http:
        http.headers["Authorization"] = f"Bearer {local_stack.client_key}"
        try:
            yield http
        finally:
            stop_steady(http)
    reset_routing_state(local_stack)
