"""Circuit breakers shared across instances: state in the health table (`breaker#<target>`),
transitions as conditional writes, a local view refreshed with the routing snapshot.

Only transitions and half-open probe grants write; closed breakers cost no DynamoDB call. A
throttled or unreachable table degrades to this instance's own view and never fails a request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.dynamodb.client import dynamodb_client, from_item
from functions.adapters.dynamodb.schema import BREAKER_KEY_PREFIX, HEALTH
from functions.domain import names
from functions.domain.routing.breaker import (
    Admitted,
    AttemptOutcome,
    BreakerPolicy,
    BreakerState,
    BreakerStatus,
    Sample,
    SlidingWindow,
    after_probe,
    closed,
    half_opened,
    tripped,
)
from functions.shared.observability import emit_provider_metrics, logger, metrics


def record_attempt(target: str, outcome: AttemptOutcome, latency_ms: float) -> None:
    """Per-attempt metrics (dimension Provider): the failover alarms judge each provider by its own
    attempts, also those of requests another provider finally served. One EMF line, no AWS call."""
    emit_provider_metrics(
        target,
        {
            names.PROVIDER_ATTEMPTS: (MetricUnit.Count, 1),
            names.PROVIDER_SERVER_ERRORS: (MetricUnit.Count, 1 if outcome == "server_error" else 0),
            names.PROVIDER_THROTTLES: (MetricUnit.Count, 1 if outcome == "throttled" else 0),
            names.PROVIDER_LATENCY: (MetricUnit.Milliseconds, latency_ms),
        },
    )


def breaker_key(target: str) -> str:
    return f"{BREAKER_KEY_PREFIX}{target}"


def parse_breaker(item: Mapping[str, Any] | None) -> BreakerState:
    if not item:
        return BreakerState()
    try:
        status = BreakerStatus(str(item.get("status", "closed")))
    except ValueError:
        return BreakerState()
    opened = item.get("opened_at")
    return BreakerState(
        status=status,
        version=int(item.get("version", 0)),
        opened_at=float(opened) if isinstance(opened, Decimal | int | float) else None,
        probes_granted=int(item.get("probes_granted", 0)),
        probe_successes=int(item.get("probe_successes", 0)),
        reason=str(item.get("reason", "")),
    )


@dataclass(frozen=True, slots=True)
class Admission:
    target: str
    probe: bool


class SharedBreakers:
    def __init__(
        self,
        table: str,
        targets: Iterable[str],
        policy: BreakerPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, BreakerState] = {t: BreakerState() for t in targets}
        self.windows: dict[str, SlidingWindow] = {
            t: SlidingWindow(self.policy, lock=threading.Lock()) for t in self._states
        }

    def _fresh_window(self, target: str) -> None:
        """Each state starts counting anew: outcomes recorded while a breaker was open (last-chance
        attempts) must not trip it again the moment an operator's reset, or a probe, closes it."""
        window = self.windows.get(target)
        if window is not None:
            window.reset()

    def _new_window(self) -> SlidingWindow:
        return SlidingWindow(self.policy, lock=threading.Lock())  # requests of the local gateway overlap

    # --- views ---------------------------------------------------------------------------------
    def state(self, target: str) -> BreakerState:
        return self._states.get(target, BreakerState())

    def states(self) -> dict[str, BreakerState]:
        return dict(self._states)

    def sync(self, stored: Mapping[str, BreakerState]) -> None:
        """Take the stored states that are newer than what this instance knows."""
        with self._lock:
            for target, state in stored.items():
                if target in self._states and state.version >= self._states[target].version:
                    if state.status is not self._states[target].status:
                        self._fresh_window(target)
                    self._states[target] = state

    def may_take_traffic(self, target: str, now: float) -> bool:
        return self.state(target).may_take_traffic(now, self.policy)

    # --- the request path ----------------------------------------------------------------------
    def admit(self, target: str, now: float) -> Admission | None:
        state = self.state(target)
        if state.status is BreakerStatus.CLOSED:
            return Admission(target, probe=False)
        if state.status is BreakerStatus.OPEN:
            if not state.cooled_down(now, self.policy):
                return None
            state = self._transition(target, state, half_opened(state))
            if state.status is not BreakerStatus.HALF_OPEN:
                return None
        return Admission(target, probe=True) if self._grant_probe(target, state) else None

    def force(self, target: str) -> Admission:
        """A request let through whatever the breaker says: its outcome is recorded, but it is
        neither a probe nor able to trip an already open breaker."""
        return Admission(target, probe=False)

    def record(self, admission: Admitted, outcome: AttemptOutcome, latency_ms: float, code: str | None = None) -> None:
        record_attempt(admission.target, outcome, latency_ms)
        now = self._clock()
        window = self.windows.get(admission.target) or self.windows.setdefault(admission.target, self._new_window())
        window.record(Sample(now, outcome, latency_ms), code)
        state = self.state(admission.target)
        if outcome == "client_error":
            return
        if admission.probe and state.status is BreakerStatus.HALF_OPEN:
            successes = self._count_probe_success(admission.target, state) if outcome == "ok" else 0
            verdict = after_probe(successes, outcome == "ok", self.policy)
            if verdict == "open":
                self._transition(admission.target, state, tripped(state, now, "probe failed"))
            elif verdict == "close":
                self._transition(
                    admission.target, self.state(admission.target), closed(state, f"{successes} probes ok")
                )
            return
        if state.status is BreakerStatus.CLOSED:
            reason = window.verdict(now)
            if reason is not None:
                self._transition(admission.target, state, tripped(state, now, reason))

    def reset(self, target: str, reason: str = "operator reset") -> BreakerState:
        """Close a breaker by hand (the runbook's `/admin/circuit-breaker/reset`)."""
        state = self.state(target)
        return self._transition(target, state, closed(state, reason))

    def reset_write(self, target: str, current: BreakerState, reason: str) -> tuple[BreakerState, dict[str, Any]]:
        """An operator's reset of a breaker read at `current`: the closed state and its TransactWriteItems
        Put, conditional on that read's version (the caller appends the audit record in the same
        transaction); `applied` once it is written."""
        new = closed(current, reason)
        return new, {"Put": {"TableName": self._table, "Item": self._item(target, new), **_expects(current)}}

    def applied(self, target: str, current: BreakerState, new: BreakerState) -> None:
        """A transition written by the caller, taken into this instance's view (logged, metered)."""
        self._apply(target, current, new)

    # --- writes --------------------------------------------------------------------------------
    def _transition(self, target: str, current: BreakerState, new: BreakerState) -> BreakerState:
        if new.status is current.status and new.reason == current.reason:
            return current
        try:
            dynamodb_client().put_item(TableName=self._table, Item=self._item(target, new), **_expects(current))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return self._reload(target)  # another instance moved first: take its state
            self._degraded(exc)
        except BotoCoreError as exc:
            self._degraded(exc)
        self._apply(target, current, new)
        return new

    def _grant_probe(self, target: str, state: BreakerState) -> bool:
        if state.probes_granted >= self.policy.half_open_probes:
            return False
        try:
            response = dynamodb_client().update_item(
                TableName=self._table,
                Key={HEALTH.partition_key: {"S": breaker_key(target)}},
                UpdateExpression="SET probes_granted = if_not_exists(probes_granted, :zero) + :one",
                ConditionExpression=(
                    "#s = :half AND #v = :v AND (attribute_not_exists(probes_granted) OR probes_granted < :budget)"
                ),
                ExpressionAttributeNames={"#s": "status", "#v": "version"},
                ExpressionAttributeValues={
                    ":half": {"S": BreakerStatus.HALF_OPEN.value},
                    ":v": {"N": str(state.version)},
                    ":budget": {"N": str(self.policy.half_open_probes)},
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                self._reload(target)
                return False
            self._degraded(exc)
            return self._grant_locally(target, state)
        except BotoCoreError as exc:
            self._degraded(exc)
            return self._grant_locally(target, state)
        granted = parse_breaker(from_item(response.get("Attributes", {})))
        with self._lock:
            self._states[target] = granted
        return True

    def _count_probe_success(self, target: str, state: BreakerState) -> int:
        """Add one successful probe to the shared count; the count after it."""
        try:
            response = dynamodb_client().update_item(
                TableName=self._table,
                Key={HEALTH.partition_key: {"S": breaker_key(target)}},
                UpdateExpression="SET probe_successes = if_not_exists(probe_successes, :zero) + :one",
                ConditionExpression="#s = :half AND #v = :v",
                ExpressionAttributeNames={"#s": "status", "#v": "version"},
                ExpressionAttributeValues={
                    ":half": {"S": BreakerStatus.HALF_OPEN.value},
                    ":v": {"N": str(state.version)},
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                self._reload(target)
                return 0
            self._degraded(exc)
            return state.probe_successes + 1
        except BotoCoreError as exc:
            self._degraded(exc)
            return state.probe_successes + 1
        counted = parse_breaker(from_item(response.get("Attributes", {})))
        with self._lock:
            self._states[target] = counted
        return counted.probe_successes

    def _grant_locally(self, target: str, state: BreakerState) -> bool:
        with self._lock:
            self._states[target] = BreakerState(
                state.status,
                state.version,
                state.opened_at,
                state.probes_granted + 1,
                state.probe_successes,
                state.reason,
            )
        return True

    def _reload(self, target: str) -> BreakerState:
        try:
            response = dynamodb_client().get_item(
                TableName=self._table, Key={HEALTH.partition_key: {"S": breaker_key(target)}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            self._degraded(exc)
            return self.state(target)
        state = parse_breaker(from_item(response.get("Item") or {}))
        self.sync({target: state})
        return self.state(target)

    def _apply(self, target: str, current: BreakerState, new: BreakerState) -> None:
        with self._lock:
            self._states[target] = new
        if new.status is not current.status:
            self._fresh_window(target)
            logger.info(
                "breaker-transition",
                extra={"target": target, "from": current.status.value, "to": new.status.value, "reason": new.reason},
            )
            transition = names.breaker_metric(new.status.value)
            metrics.add_metric(name=transition, unit=MetricUnit.Count, value=1)
            emit_provider_metrics(target, {transition: (MetricUnit.Count, 1)})  # per provider

    def _item(self, target: str, state: BreakerState) -> dict[str, Any]:
        item: dict[str, Any] = {
            HEALTH.partition_key: {"S": breaker_key(target)},
            "status": {"S": state.status.value},
            "version": {"N": str(state.version)},
            "probes_granted": {"N": str(state.probes_granted)},
            "probe_successes": {"N": str(state.probe_successes)},
            "reason": {"S": state.reason or "-"},
            "updated_at": {"N": str(int(self._clock()))},
        }
        if state.opened_at is not None:
            item["opened_at"] = {"N": repr(state.opened_at)}
        return item

    @staticmethod
    def _degraded(exc: Exception) -> None:
        logger.warning("breaker-store-degraded", extra={"error": type(exc).__name__})


def _expects(current: BreakerState) -> dict[str, Any]:
    """The condition of a transition from `current`: the breaker item is still at its version."""
    return {
        "ConditionExpression": "attribute_not_exists(#pk) OR #v = :expected",
        "ExpressionAttributeNames": {"#pk": HEALTH.partition_key, "#v": "version"},
        "ExpressionAttributeValues": {":expected": {"N": str(current.version)}},
    }
