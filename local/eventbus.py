"""EventBridge's part on the local stack: events matched against the stack's own rule patterns
(functions/shared/event_patterns.py) with moto's pattern matcher and delivered to in-process handlers,
as the stack's rules deliver them to Lambda functions; `start_automation` wires the automation to it."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.events.models import EventPattern

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], object]
LOCAL_BUS_NAME = "hybrid-routing-local"
LOCAL_ACCOUNT = "123456789012"
RETRY_ATTEMPTS = 2  # asynchronous Lambda invocations are retried twice
RETRY_DELAY_S = 0.2


@dataclass(frozen=True)
class Subscription:
    name: str
    pattern: Mapping[str, Any]
    handler: Handler
    matcher: EventPattern = field(repr=False, compare=False)


class LocalEventBus:
    """`subscribe(pattern, handler)` is a rule and its target; `publish(event)` delivers asynchronously on
    a small worker pool (two deliveries may run at once), and a handler that raises is retried like an
    asynchronous Lambda invocation (RETRY_ATTEMPTS), then logged."""

    def __init__(self, max_workers: int = 4) -> None:
        self._subscriptions: list[Subscription] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="eventbus")
        self._pending: set[Future[object]] = set()
        self.delivered = 0

    def subscribe(self, pattern: Mapping[str, Any], handler: Handler, name: str = "") -> Subscription:
        subscription = Subscription(
            name or f"rule-{len(self._subscriptions)}",
            dict(pattern),
            handler,
            EventPattern(json.dumps(pattern), dict(pattern)),
        )
        with self._lock:
            self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.remove(subscription)

    def publish(self, event: Mapping[str, Any]) -> list[Future[object]]:
        """Deliver `event` to every matching subscription; the futures complete when each handler is done."""
        full = envelope(event)
        with self._lock:
            # moto types the event as a TypedDict; ours is the same JSON document as a plain dict.
            matching = [s for s in self._subscriptions if s.matcher.matches_event(full)]  # type: ignore[arg-type]
            futures = [self._pool.submit(self._deliver, s, full) for s in matching]
            self._pending.update(futures)
        for future in futures:
            future.add_done_callback(self._done)
        return futures

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every delivery published so far has finished."""
        with self._lock:
            pending = set(self._pending)
        wait(pending, timeout=timeout_s)

    def bridge(self, bus_name: str, queue_name: str | None = None) -> MotoBridge:
        """Have the events put on moto's `bus_name` published here."""
        return MotoBridge(self, bus_name, queue_name or f"{bus_name}-{uuid.uuid4().hex[:8]}")

    def stop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _deliver(self, subscription: Subscription, event: dict[str, Any]) -> object:
        for attempt in range(RETRY_ATTEMPTS + 1):
            try:
                return subscription.handler(event)
            except Exception:  # the target failed: retried like an asynchronous Lambda invocation, then logged
                log.exception("event target %s failed (attempt %d)", subscription.name, attempt + 1)
                time.sleep(RETRY_DELAY_S)
        return None

    def _done(self, future: Future[object]) -> None:
        with self._lock:
            self._pending.discard(future)
            self.delivered += 1


def envelope(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event as EventBridge delivers it: version, id, account, region and time filled in if absent."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    defaults = {"version": "0", "id": str(uuid.uuid4()), "account": LOCAL_ACCOUNT, "time": now, "region": region}
    return {**defaults, "resources": [], "detail": {}, **event}


class MotoBridge:
    """A rule on moto's `bus_name` matching every event, its target an SQS queue, the queue drained
    into the local bus (long polls of 1 s, so a put event arrives within a fraction of a second)."""

    def __init__(self, bus: LocalEventBus, bus_name: str, queue_name: str) -> None:
        import boto3

        self._bus, self._stopped = bus, threading.Event()
        self._sqs = boto3.client("sqs")
        events = boto3.client("events")
        if bus_name != "default" and bus_name not in {b["Name"] for b in events.list_event_buses()["EventBuses"]}:
            events.create_event_bus(Name=bus_name)
        self.queue_url = self._sqs.create_queue(QueueName=queue_name)["QueueUrl"]
        attributes = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        queue_arn = attributes["Attributes"]["QueueArn"]
        pattern = {"source": [{"exists": True}]}
        events.put_rule(Name=queue_name, EventBusName=bus_name, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=queue_name, EventBusName=bus_name, Targets=[{"Id": "local-bus", "Arn": queue_arn}])
        self._thread = threading.Thread(target=self._drain, name=f"bridge-{bus_name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(3)

    def _drain(self) -> None:
        while not self._stopped.is_set():
            try:
                received = self._sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            except Exception:  # the local moto stopping, or a test pointing clients elsewhere: keep draining
                log.debug("event bridge receive failed", exc_info=True)
                self._stopped.wait(0.5)
                continue
            for message in received.get("Messages", []):
                self._bus.publish(json.loads(message["Body"]))
                self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


# --- the automation on the local stack --------------------------------------------------------------
@dataclass
class LocalAutomation:
    bus: LocalEventBus
    bridge: MotoBridge | None = None
    timer: Any = None
    deps: Any = None  # the automation's dependencies: drills re-time them (deps.settings) for their duration
    handler: Handler | None = None  # what the rules deliver to: drills run the failback check on their own clock

    def stop(self) -> None:
        for part in (self.timer, self.bridge, self.bus):
            if part is not None:
                part.stop()


def scheduled_event() -> dict[str, Any]:
    from functions.shared.event_patterns import SCHEDULED_EVENT_DETAIL_TYPE, SCHEDULED_EVENT_SOURCE

    return envelope({"source": SCHEDULED_EVENT_SOURCE, "detail-type": SCHEDULED_EVENT_DETAIL_TYPE})


def start_automation(stack: Any) -> LocalAutomation:
    """The stack's EventBridge rules for automation, locally: the failover alarms' and the unhealthy
    events' patterns on the bus, the health checker's events bridged from moto (its own bus,
    LOCAL_BUS_NAME: tests put health events on the default bus, which must not move the stack's
    traffic), the failback check on a timer. `stack.eventbus` is the bus the local alarm evaluator
    publishes to. LOCAL_AUTOMATION=off leaves automation out."""
    from functions.app.automation.settings import AutomationSettings
    from functions.app.automation.wiring import build_dependencies
    from functions.app.health import settings as health_settings
    from functions.domain.thresholds import FAILBACK_CHECK_INTERVAL_SECONDS
    from functions.handlers import automation, health_check
    from functions.shared.event_patterns import alarm_pattern, unhealthy_pattern
    from local.scheduler import PeriodicTask

    bus = LocalEventBus()
    stack.eventbus = bus
    if os.environ.get("LOCAL_AUTOMATION", "on").lower() == "off":
        return LocalAutomation(bus)
    if not os.environ.get("STATE_MACHINE_ARNS"):
        log.warning("no STATE_MACHINE_ARNS: alarm-driven automation is not wired on the local stack")
        return LocalAutomation(bus)
    os.environ["EVENT_BUS_NAME"] = LOCAL_BUS_NAME
    health_settings.get_settings.cache_clear()
    health_check.get_dependencies.cache_clear()
    bridge = bus.bridge(LOCAL_BUS_NAME, f"{LOCAL_BUS_NAME}-automation")
    # Dependencies of its own over the stack's tables (tests re-point the modules' cached ones).
    deps = build_dependencies(AutomationSettings.model_validate(dict(os.environ)))

    def handler(event: dict[str, Any]) -> object:
        return automation.handle(event, deps)

    bus.subscribe(alarm_pattern(deps.settings.alarm_prefix), handler, "automation-alarms")
    bus.subscribe(unhealthy_pattern(), handler, "automation-health")
    interval = float(os.environ.get("FAILBACK_CHECK_INTERVAL_SECONDS", FAILBACK_CHECK_INTERVAL_SECONDS))
    timer = PeriodicTask(lambda: handler(scheduled_event()), interval, name="failback-check")
    return LocalAutomation(bus, bridge, timer, deps, handler)
