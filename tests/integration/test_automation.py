"""Alarm-driven automation on the local stack: the four ASL files on moto's Step Functions with the
workflow Lambda bound in-process, the automation handler behind a LocalEventBus subscribed with the
stack's own patterns, tables of the test's own. Time is compressed: zero bake times, a hysteresis
and cooldowns of a second or two."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from functions.adapters import aws
from functions.adapters.cloudwatch import get_metrics_source
from functions.adapters.dynamodb.audit import audit_log_from
from functions.adapters.dynamodb.automation import automation_key
from functions.adapters.dynamodb.client import dynamodb_client, to_item
from functions.adapters.dynamodb.config import ConfigStore
from functions.adapters.dynamodb.rollouts import RolloutStore
from functions.adapters.dynamodb.schema import HEALTH, TRAFFIC_WEIGHTS_KEY, health_key
from functions.adapters.eventbridge import HealthEventPublisher, events_client
from functions.app.automation.settings import AutomationSettings
from functions.app.automation.wiring import AutomationDependencies, build_dependencies
from functions.app.workflow.settings import WorkflowSettings
from functions.app.workflow.wiring import WorkflowDependencies
from functions.domain.audit import AuditEntry
from functions.domain.health_check import Transition
from functions.handlers import automation, workflow
from functions.shared.event_patterns import alarm_pattern, failover_alarm_name, unhealthy_pattern
from local.eventbus import LOCAL_BUS_NAME, LocalEventBus, scheduled_event
from local.lambda_binding import bind, configure_moto, create_function
from local.tables import create_tables
from tests.clock import FakeClock
from tests.paths import STATEMACHINES
from tests.polling import eventually
from tests.support import unique_prefix, use_local_moto

KINDS = ("canary", "failback", "gradual_failover", "immediate_failover")
PREFIX = "HybridRouting"


def _clear_clients() -> None:
    for cached in (dynamodb_client, events_client, aws.client, aws.session):
        cached.cache_clear()


@dataclass
class Automation:
    """The automation handler over this test's tables and machines, behind a bus of its own."""

    names: dict[str, str]
    machines: dict[str, str]
    sfn: Any
    bus: LocalEventBus
    make: Callable[..., AutomationDependencies]
    deps: AutomationDependencies
    outcomes: list[dict[str, Any]]
    started_at: float
    clock: FakeClock  # the handler's: the cooldown and the failback's hysteresis pass when a test advances it

    def configure(self, **settings: Any) -> None:
        self.deps = self.make(**settings)

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        answer = automation.handle(event, self.deps)
        self.outcomes.append(answer)
        return answer

    def seed(self, weights: dict[str, int]) -> None:
        entry = AuditEntry("test", "seed", TRAFFIC_WEIGHTS_KEY)
        config = self.deps.rollouts.config
        config.put(TRAFFIC_WEIGHTS_KEY, {"weights": weights}, config.get(TRAFFIC_WEIGHTS_KEY).version, entry)

    def reset(self) -> None:
        """Stop what still runs, and remove the route, automation and health items for the next test."""
        for kind in KINDS:
            for execution in self.executions(kind):
                if execution["status"] == "RUNNING":
                    self.sfn.stop_execution(executionArn=execution["executionArn"])
        self.wait_all()
        keys = [TRAFFIC_WEIGHTS_KEY, *(automation_key(p) for p in ("bedrock", "google", "meta"))]
        for table, key in [("FLAGS_TABLE", k) for k in keys] + [("HEALTH_TABLE", health_key("bedrock"))]:
            dynamodb_client().delete_item(TableName=self.names[table], Key={"pk": {"S": key}})

    def set_health(self, provider: str, status: str, latency_ms: int = 200) -> None:
        item = {"status": status, "checked_at": int(time.time()), "last_latency_ms": latency_ms, "version": 1}
        dynamodb_client().put_item(
            TableName=self.names["HEALTH_TABLE"],
            Item=to_item({HEALTH.partition_key: health_key(provider), **item}),
        )

    def executions(self, kind: str) -> list[dict[str, Any]]:
        """This test's executions of `kind`."""
        listed = self.sfn.list_executions(stateMachineArn=self.machines[kind])["executions"]
        return [e for e in listed if e["startDate"].timestamp() >= self.started_at]

    def all_executions(self) -> dict[str, int]:
        return {kind: len(self.executions(kind)) for kind in KINDS}

    def wait_all(self, timeout_s: float = 20.0) -> None:
        arns = [execution["executionArn"] for kind in KINDS for execution in self.executions(kind)]
        eventually(
            lambda: [arn for arn in arns if self.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"],
            lambda running: not running,
            timeout=timeout_s,
            what="every execution of this test ended",
        )

    def weights(self) -> dict[str, int]:
        return dict(self.deps.rollouts.get().weights)

    def audit_actions(self) -> list[str]:
        records = audit_log_from(self.names).records(since=self.started_at)
        return [r.entry.action for r in records if r.entry.actor == "automation"]


@dataclass
class World:
    """This module's tables, the workflow function bound over them, and the four state machines."""

    names: dict[str, str]
    machines: dict[str, str]


@pytest.fixture(scope="module")
def world(local_stack) -> Iterator[World]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_local_moto(monkeypatch, local_stack)
        _clear_clients()
        configure_moto(local_stack.moto_url)
        names = create_tables(boto3.client("dynamodb"), prefix=unique_prefix())
        config = ConfigStore(names["FLAGS_TABLE"], audit_log_from(names))
        workflow_deps = WorkflowDependencies(
            WorkflowSettings.model_validate(names), RolloutStore(config), get_metrics_source, lambda _n, _t: {}
        )
        suffix = uuid.uuid4().hex[:8]
        bind({f"workflow-{suffix}": lambda event, _context: workflow.handle(event, workflow_deps)})
        function_arn = create_function(boto3.client("lambda"), f"workflow-{suffix}", boto3.client("iam"))
        sfn = boto3.client("stepfunctions")
        machines = {
            kind: sfn.create_state_machine(
                name=f"{kind.replace('_', '-')}-{suffix}",
                definition=(STATEMACHINES / f"{kind}.asl.json")
                .read_text()
                .replace("${WorkflowFunctionArn}", function_arn),
                roleArn="arn:aws:iam::123456789012:role/local-workflows",
            )["stateMachineArn"]
            for kind in KINDS
        }
        yield World(names, machines)
        _clear_clients()


@pytest.fixture
def env(monkeypatch, local_stack, world: World) -> Iterator[Automation]:
    use_local_moto(monkeypatch, local_stack)
    _clear_clients()
    names, machines = world.names, world.machines
    clock = FakeClock(time.time())

    def make(**overrides: Any) -> AutomationDependencies:
        values: dict[str, Any] = {
            **names,
            "STATE_MACHINE_ARNS": json.dumps(machines),
            "DIRECT_PROVIDERS": "bedrock,google,meta",
            "ALARM_PREFIX": PREFIX,
            "AUTOMATION_COOLDOWN_SECONDS": 60,
            "FAILBACK_HYSTERESIS_SECONDS": 1.5,
            "AUTOMATION_START_GRACE_SECONDS": 60,
            "AUTOMATION_GRADUAL_BAKE_SECONDS": 0,
            "AUTOMATION_FAILBACK_BAKE_SECONDS": 0,
            "AUTOMATION_RECHECK_SECONDS": 0,
            **overrides,
        }
        deps = build_dependencies(AutomationSettings.model_validate(values))
        return replace(deps, alarms=lambda _provider: {}, clock=clock)  # no alarms exist for this test's prefix

    bus = LocalEventBus()
    auto = Automation(names, machines, boto3.client("stepfunctions"), bus, make, make(), [], time.time(), clock)
    for pattern in (alarm_pattern(PREFIX), unhealthy_pattern()):
        bus.subscribe(pattern, auto.handle)
    auto.seed({"bedrock": 100})
    yield auto
    bus.stop()
    auto.reset()
    _clear_clients()


def alarm_event(trigger: str = "server-errors") -> dict[str, Any]:
    """The alarm entering ALARM now (one state change: each call is another, every delivery of one the same)."""
    now = datetime.now(UTC)
    at = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"
    return {
        "source": "aws.cloudwatch",
        "detail-type": "CloudWatch Alarm State Change",
        "resources": [],
        "detail": {
            "alarmName": failover_alarm_name(PREFIX, "bedrock", trigger),
            "state": {"value": "ALARM", "reason": "Threshold Crossed", "timestamp": at},
            "previousState": {"value": "OK"},
        },
    }


def test_an_alarm_delivered_twice_starts_exactly_one_immediate_failover(env: Automation) -> None:
    # Given the Bedrock server-errors alarm entering ALARM, delivered twice by the bus
    event = alarm_event()
    env.bus.publish(event)
    env.bus.flush()
    env.bus.publish(event)
    env.bus.flush()
    # Then one immediate failover ran, moving Bedrock's traffic to Google; the second delivery is a duplicate
    assert sorted(o["outcome"] for o in env.outcomes) == ["duplicate", "started"]
    assert env.all_executions() == {"canary": 0, "failback": 0, "gradual_failover": 0, "immediate_failover": 1}
    env.wait_all()
    assert env.weights() == {"bedrock": 0, "google": 100}
    assert env.audit_actions() == ["automation.started", "automation.duplicate"]


def test_the_same_alarm_delivered_concurrently_starts_exactly_one_execution(env: Automation) -> None:
    # Given four deliveries of one state change at the same moment
    with ThreadPoolExecutor(max_workers=4) as pool:
        event = alarm_event()
        answers = list(pool.map(lambda _i: env.handle(event), range(4)))
    # Then exactly one started, under the name derived from the alarm and its state-change time
    assert sorted(a["outcome"] for a in answers) == ["duplicate"] * 3 + ["started"]
    (execution,) = env.executions("immediate_failover")
    changed = datetime.fromisoformat(event["detail"]["state"]["timestamp"])
    assert (
        execution["name"]
        == f"HybridRouting-provider-failover-bedrock-server-errors-{changed:%Y%m%dT%H%M%S%f}"[:-3] + "Z"
    )


def test_a_latency_alarm_starts_a_gradual_failover(env: Automation) -> None:
    env.bus.publish(alarm_event("latency"))
    env.bus.flush()
    assert env.all_executions() == {"canary": 0, "failback": 0, "gradual_failover": 1, "immediate_failover": 0}


def test_an_unhealthy_event_put_by_the_health_checker_starts_an_immediate_failover(env: Automation) -> None:
    # Given the health table holding Bedrock unhealthy, and the health checker's publisher on a moto bus
    # bridged into the local bus (as the local stack wires it)
    env.set_health("bedrock", "unhealthy")
    bus_name = f"health-{uuid.uuid4().hex[:8]}"
    bridge = env.bus.bridge(bus_name)
    try:
        # When the checker publishes Bedrock's transition to unhealthy with PutEvents
        HealthEventPublisher(bus_name).publish(
            Transition("bedrock", "healthy", "unhealthy", 3, int(time.time()), "3 consecutive failures")
        )
        eventually(lambda: env.outcomes, timeout=10, interval=0.05, what="the health event reached the bus")
        env.bus.flush()
    finally:
        bridge.stop()
    # Then one immediate failover of Bedrock started
    assert [o["outcome"] for o in env.outcomes] == ["started"]
    assert env.all_executions()["immediate_failover"] == 1


def test_the_cooldown_blocks_a_second_failover_of_the_same_provider(env: Automation) -> None:
    # Given a server-errors failover of Bedrock just started
    env.handle(alarm_event())
    # When its latency alarm and its unhealthy event follow within the cooldown
    env.set_health("bedrock", "unhealthy")
    env.handle(alarm_event("latency"))
    env.handle({**health_event(), "detail": {**health_event()["detail"], "checkedAt": int(time.time())}})
    # Then nothing more starts: routing cannot flip back and forth
    assert [o["outcome"] for o in env.outcomes] == ["started", "cooldown", "cooldown"]
    assert sum(env.all_executions().values()) == 1


def test_failback_starts_only_after_the_healthy_period_and_restores_the_share(env: Automation) -> None:
    # Given Bedrock failed over by automation (cooldown 0.5 s) and now healthy again
    env.configure(AUTOMATION_COOLDOWN_SECONDS=0.5, AUTOMATION_START_GRACE_SECONDS=0)
    env.handle(alarm_event())
    env.wait_all()
    assert env.weights() == {"bedrock": 0, "google": 100}
    env.set_health("bedrock", "healthy")
    env.clock.advance(0.5)
    # When the failback check runs: first sighting starts the 1.5 s hysteresis clock
    first = env.handle(scheduled_event())
    assert [r["outcome"] for r in first["results"]] == ["waiting"]
    env.clock.advance(0.5)
    assert [r["outcome"] for r in env.handle(scheduled_event())["results"]] == ["waiting"]
    assert env.all_executions()["failback"] == 0
    # Then once healthy for the whole hysteresis, one failback starts, back to Bedrock's 100 %
    env.clock.advance(1.1)
    (started,) = env.handle(scheduled_event())["results"]
    assert started["outcome"] == "started"
    assert started["input"]["steps"] == [10, 25, 50, 75, 100]
    assert (started["input"]["source"], started["input"]["target"]) == ("google", "bedrock")
    assert env.all_executions()["failback"] == 1


def test_an_unhealthy_check_during_the_hysteresis_restarts_the_clock(env: Automation) -> None:
    env.configure(AUTOMATION_COOLDOWN_SECONDS=0, AUTOMATION_START_GRACE_SECONDS=0)
    env.handle(alarm_event())
    env.wait_all()
    env.set_health("bedrock", "healthy")
    env.handle(scheduled_event())  # clock starts
    env.clock.advance(1.0)
    env.set_health("bedrock", "unhealthy")
    env.handle(scheduled_event())  # clock reset
    env.set_health("bedrock", "healthy")
    env.handle(scheduled_event())  # clock restarts
    env.clock.advance(0.8)
    # 1.8 s since the first healthy sighting, but only 0.8 s of the latest healthy run
    assert [r["outcome"] for r in env.handle(scheduled_event())["results"]] == ["waiting"]
    assert env.all_executions()["failback"] == 0


def test_no_failback_during_the_cooldown(env: Automation) -> None:
    env.configure(AUTOMATION_COOLDOWN_SECONDS=60, FAILBACK_HYSTERESIS_SECONDS=0, AUTOMATION_START_GRACE_SECONDS=0)
    env.handle(alarm_event())
    env.wait_all()
    env.set_health("bedrock", "healthy")
    assert [r["outcome"] for r in env.handle(scheduled_event())["results"]] == ["cooldown"]
    assert env.all_executions()["failback"] == 0


def health_event() -> dict[str, Any]:
    return {
        "source": "hybrid-routing.health",
        "detail-type": "Provider Health Changed",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "detail": {"provider": "bedrock", "status": "unhealthy", "previousStatus": "healthy", "checkedAt": 1},
    }


def test_the_local_stack_bridges_events_put_on_its_bus_to_the_local_eventbus(local_stack, monkeypatch) -> None:
    # Given a subscription on the stack's bus for a source nobody else uses
    use_local_moto(monkeypatch, local_stack)
    _clear_clients()
    source = f"test.{uuid.uuid4().hex[:8]}"
    received: list[dict[str, Any]] = []
    subscription = local_stack.eventbus.subscribe({"source": [source]}, received.append)
    try:
        # When an event is put on the bus the local health checker publishes to
        entry = {"Source": source, "DetailType": "Probe", "Detail": "{}", "EventBusName": LOCAL_BUS_NAME}
        boto3.client("events").put_events(Entries=[entry])
        eventually(lambda: received, timeout=10, interval=0.05, what="the put event reached the local bus")
    finally:
        local_stack.eventbus.unsubscribe(subscription)
    # Then it arrives EventBridge-shaped, and the health checker publishes there
    assert (received[0]["source"], received[0]["detail-type"], received[0]["detail"]) == (source, "Probe", {})
    assert os.environ["EVENT_BUS_NAME"] == LOCAL_BUS_NAME


def test_the_one_minute_schedule_anchors_the_audit_trails_head_outside_the_table(env: Automation) -> None:
    # Given a record appended right after the route's seed, whose append anchored the seed (an appender
    # anchors at most once a minute)
    assert env.deps.audit is not None
    before = env.deps.audit.anchors.read()
    record = env.deps.rollouts.config.record(AuditEntry("test", "test.note", "trail", reason="after the seed"))
    # When the schedule runs, twice
    env.handle(scheduled_event())
    env.handle(scheduled_event())
    # Then that record is anchored, once (by the first run; the second finds nothing new): its seq and its
    # MAC, in the log stream outside the table
    added = [(a.seq, a.digest) for a in env.deps.audit.anchors.read() if a not in before]
    assert added == [(record.seq, record.mac)]
