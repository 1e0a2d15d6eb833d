"""Step Functions: the rollout state machines as operators drive them (start, describe, list, stop,
answer an approval) and as the automation starts them (ExecutionStarter). ClientErrors become typed errors.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.aws import client as aws_client
from functions.domain.automation.rules import Claim
from functions.domain.errors import DependencyUnavailable, HybridRoutingError, NotFound, VersionConflict, quoted
from functions.domain.rollout.executions import execution_arn, execution_name, is_machine_arn, name_of
from functions.domain.rollout.plan import RolloutKind

STEP_STATE, GATE_STATE = "SetStep", "EvaluateGate"
# The Tasks that end a rollout (done, rolled back, stopped, cleaned up): their answer is the final route.
END_STATES = ("Release", "Rollback", "Stop", "Cleanup")
NONCE_BYTES = 3  # an operator's rollout: a random suffix keeps two starts in one millisecond apart
CLOCK_TOLERANCE_S = 5.0  # between this function's clock and Step Functions' start dates
HISTORY_PAGE = 1000
# Step Functions' answers to a task token that no longer waits: already answered, timed out, unknown.
STALE_TOKEN = ("TaskDoesNotExist", "TaskTimedOut", "InvalidToken")


@dataclass(frozen=True, slots=True)
class ExecutionView:
    """An execution as the admin API shows it."""

    arn: str
    name: str
    kind: str
    status: str
    started: str | None
    stopped: str | None
    error: str | None = None
    cause: str | None = None
    input: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)  # SetStep results, in order
    gates: list[dict[str, Any]] = field(default_factory=list)  # EvaluateGate verdicts (and failures), in order
    final_weights: dict[str, int] | None = None  # the route's weights as the rollout left them

    def summary(self) -> dict[str, Any]:
        return {
            "executionArn": self.arn,
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "startDate": self.started,
            "stopDate": self.stopped,
        }

    def as_dict(self) -> dict[str, Any]:
        current = self.steps[-1] if self.steps else None
        return {
            **self.summary(),
            "error": self.error,
            "cause": self.cause,
            "input": self.input,
            "step": None if current is None else current.get("step"),
            "percent": None if current is None else current.get("percent"),
            "weights": None if current is None else current.get("weights"),
            "steps": self.steps,
            "gates": self.gates,
            "finalWeights": self.final_weights,
        }


class RolloutControl:
    """The four state machines of one deployment, by rollout kind."""

    def __init__(self, machines: Mapping[RolloutKind, str]) -> None:
        self.machines = dict(machines)

    # --- executions ----------------------------------------------------------------------------
    def new_name(self, kind: RolloutKind, now: datetime | None = None) -> str:
        return execution_name(kind.slug, now or datetime.now(UTC), secrets.token_hex(NONCE_BYTES))

    def execution_arn(self, kind: RolloutKind, name: str) -> str:
        """The ARN an execution named `name` of `kind` has (known before it starts: the lock's owner)."""
        return execution_arn(self._machine(kind), name)

    def start(self, kind: RolloutKind, name: str, execution_input: Mapping[str, Any]) -> dict[str, Any]:
        machine = self._machine(kind)
        started = _call(
            machine,
            "start",
            {"ExecutionAlreadyExists": VersionConflict(f"an execution named {name!r} already exists")},
            lambda sfn: sfn.start_execution(
                stateMachineArn=machine, name=name, input=json.dumps(execution_input, separators=(",", ":"))
            ),
        )
        return {"executionArn": started["executionArn"], "startDate": _iso(started.get("startDate"))}

    def find(self, name_or_arn: str) -> tuple[RolloutKind, str]:
        """The kind and ARN of an execution given by ARN or by name (NotFound if no machine has it)."""
        if name_or_arn.startswith("arn:"):
            for kind, machine in self.machines.items():
                if name_or_arn.startswith(execution_arn(machine, "")):
                    return kind, name_or_arn
            raise NotFound(f"{quoted(name_or_arn)} is not an execution of this deployment's rollout workflows")
        for kind, machine in self.machines.items():
            arn = execution_arn(machine, name_or_arn)
            if self._exists(arn):
                return kind, arn
        raise NotFound(f"no rollout execution named {quoted(name_or_arn)}")

    def describe(self, name_or_arn: str) -> ExecutionView:
        kind, arn = self.find(name_or_arn)
        described = _call(arn, "describe", _missing(name_or_arn), lambda sfn: sfn.describe_execution(executionArn=arn))
        steps, gates, final, failure = _progress(self._history(arn))
        error, cause = described.get("error"), described.get("cause")
        if described["status"] != "SUCCEEDED" and error is None and failure:
            error, cause = failure
        return ExecutionView(
            arn=arn,
            name=described.get("name") or name_of(arn),
            kind=kind.value,
            status=described["status"],
            started=_iso(described.get("startDate")),
            stopped=_iso(described.get("stopDate")),
            error=error,
            cause=cause,
            input=_json(described.get("input")) or {},
            steps=steps,
            gates=gates,
            final_weights=final,
        )

    def recent(self, limit: int) -> dict[str, list[dict[str, Any]]]:
        """The latest executions of each machine, newest first."""
        recent: dict[str, list[dict[str, Any]]] = {}
        for kind, machine in self.machines.items():
            page = _call(machine, "list", {}, _lister(machine, limit))
            recent[kind.value] = [
                ExecutionView(
                    e["executionArn"],
                    e["name"],
                    kind.value,
                    e["status"],
                    _iso(e.get("startDate")),
                    _iso(e.get("stopDate")),
                ).summary()
                for e in page.get("executions", [])
            ]
        return recent

    def status(self, arn: str) -> str:
        """RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED (NotFound for an unknown execution)."""
        described = _call(arn, "describe", _missing(arn), lambda sfn: sfn.describe_execution(executionArn=arn))
        return str(described["status"])

    def stop(self, arn: str, error: str, cause: str) -> None:
        _call(arn, "stop", {}, lambda sfn: sfn.stop_execution(executionArn=arn, error=error, cause=cause[:32_768]))

    # --- approvals -----------------------------------------------------------------------------
    def send_success(self, token: str, output: Mapping[str, Any]) -> bool:
        """End the approval wait with success; False if the wait had already ended (timed out)."""
        return self._answer(lambda sfn: sfn.send_task_success(taskToken=token, output=json.dumps(output)))

    def send_failure(self, token: str, error: str, cause: str) -> bool:
        """End the approval wait with `error`; False if the wait had already ended (timed out)."""
        return self._answer(lambda sfn: sfn.send_task_failure(taskToken=token, error=error, cause=cause[:32_768]))

    # --- internals -----------------------------------------------------------------------------
    def _machine(self, kind: RolloutKind) -> str:
        machine = self.machines.get(kind)
        if machine is None:
            raise DependencyUnavailable(f"the {kind.value} workflow is not configured on this deployment")
        return machine

    def _exists(self, arn: str) -> bool:
        try:
            self.status(arn)
        except NotFound:
            return False
        return True

    def _history(self, arn: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": HISTORY_PAGE}
        while True:
            page = _call(arn, "read the history of", {}, lambda sfn: sfn.get_execution_history(**kwargs))
            yield from page.get("events", [])
            if not page.get("nextToken"):
                return
            kwargs["nextToken"] = page["nextToken"]

    def _answer(self, request: Callable[[Any], Any]) -> bool:
        if not self.machines:
            raise DependencyUnavailable("the rollout workflows are not configured on this deployment")
        stale = VersionConflict("the approval no longer waits")
        try:
            _call(next(iter(self.machines.values())), "answer", dict.fromkeys(STALE_TOKEN, stale), request)
        except VersionConflict:
            return False
        return True


class ExecutionStarter:
    """StartExecution on the rollout state machines, by kind (STATE_MACHINE_ARNS), for the automation:
    idempotent on the claim's name and input."""

    def __init__(self, machine_arns: Mapping[str, str], clock: Callable[[], float] = time.time) -> None:
        self.machine_arns, self.clock = dict(machine_arns), clock

    def machine(self, kind: RolloutKind) -> str:
        arn = self.machine_arns.get(kind.value)
        if not arn:
            raise DependencyUnavailable(f"no state machine configured for {kind.value} (STATE_MACHINE_ARNS)")
        return arn

    def execution_arn(self, claim: Claim) -> str:
        """The ARN the claim's execution has (or will have)."""
        return execution_arn(self.machine(claim.kind), claim.name)

    def start(self, claim: Claim) -> tuple[bool, str]:
        """(True, ARN) when this call started it; (False, ARN) when it already existed: a closed one
        (ExecutionAlreadyExists), or a running one with the same input, which StartExecution returns
        as if just started (idempotent for standard workflows) - told apart by its start date."""
        asked_at, machine = self.clock(), self.machine(claim.kind)
        try:
            response = _sfn(machine).start_execution(
                stateMachineArn=machine, name=claim.name, input=json.dumps(dict(claim.input))
            )
        except ClientError as exc:
            if _code(exc) == "ExecutionAlreadyExists":
                return False, self.execution_arn(claim)
            raise DependencyUnavailable(f"Step Functions refused {claim.name}") from exc
        except BotoCoreError as exc:
            raise DependencyUnavailable("Step Functions cannot be reached right now") from exc
        started = response.get("startDate")
        fresh = not isinstance(started, datetime) or started.timestamp() >= asked_at - CLOCK_TOLERANCE_S
        return fresh, str(response["executionArn"])


def parse_machines(mapping: Mapping[str, str]) -> dict[RolloutKind, str]:
    """{"canary": arn, ...} (STATE_MACHINE_ARNS) as kinds. A deployment error (an unknown kind, a
    value that is no state machine ARN) raises ValueError at cold start, not at the operator."""
    machines: dict[RolloutKind, str] = {}
    for key, arn in mapping.items():
        try:
            kind = RolloutKind(key)
        except ValueError as exc:
            raise ValueError(f"unknown rollout kind {key!r} in STATE_MACHINE_ARNS") from exc
        if not is_machine_arn(str(arn)):
            raise ValueError(f"{arn!r} in STATE_MACHINE_ARNS is not a state machine ARN")
        machines[kind] = str(arn)
    return machines


def _lister(machine: str, limit: int) -> Callable[[Any], Any]:
    return lambda sfn: sfn.list_executions(stateMachineArn=machine, maxResults=limit)


def _progress(
    events: Iterator[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int] | None, tuple[str, str] | None]:
    """SetStep results, EvaluateGate verdicts (a failed gate Task too), the weights the ending Task
    left, and the last task failure."""
    steps: list[dict[str, Any]] = []
    gates: list[dict[str, Any]] = []
    final: dict[str, int] | None = None
    failure: tuple[str, str] | None = None
    state = ""
    for event in events:
        entered = event.get("stateEnteredEventDetails")
        if entered:
            state = entered.get("name", "")
            continue
        at = _iso(event.get("timestamp"))
        succeeded = event.get("taskSucceededEventDetails")
        if succeeded and state in END_STATES:
            final = ((_json(succeeded.get("output")) or {}).get("Payload") or {}).get("weights") or final
        if succeeded and state in (STEP_STATE, GATE_STATE):
            payload = (_json(succeeded.get("output")) or {}).get("Payload") or {}
            if state == STEP_STATE:
                steps.append(_pick(state, payload, at))
            else:
                gates.append({**_pick(state, payload, at), "metrics": (payload.get("evidence") or {}).get("metrics")})
        failed = event.get("taskFailedEventDetails") or event.get("executionFailedEventDetails")
        if failed:
            failure = (failed.get("error", ""), failed.get("cause", ""))
            if state == GATE_STATE and event.get("taskFailedEventDetails"):
                gates.append({"at": at, "decision": "end", "error": failure[0], "cause": _cause(failure[1])})
    return steps, gates, final, failure


def _pick(state: str, payload: dict[str, Any], at: str | None) -> dict[str, Any]:
    if state == STEP_STATE:
        keys = ("step", "percent", "weights", "isLast")
    else:
        keys = ("decision", "verdict", "reasons", "tally")
    return {"at": at, **{k: payload.get(k) for k in keys if k in payload}}


def _cause(cause: str) -> str:
    """A Lambda error's cause is its JSON error body: keep the message."""
    body = _json(cause)
    return str(body.get("errorMessage", cause)) if isinstance(body, dict) else cause


def _call(arn: str, what: str, known: Mapping[str, HybridRoutingError], request: Callable[[Any], Any]) -> Any:
    """One Step Functions request with a client in the region of `arn`; `known` maps an error code to
    the typed error it means, any other failure is DependencyUnavailable."""
    try:
        return request(_sfn(arn))
    except ClientError as exc:
        typed = known.get(_code(exc))
        raise (typed or _unavailable(what, exc)) from exc
    except BotoCoreError as exc:
        raise _unavailable(what, exc) from exc


def _missing(name: str) -> dict[str, HybridRoutingError]:
    gone = NotFound(f"no rollout execution {name!r}")
    return {"ExecutionDoesNotExist": gone, "InvalidArn": gone}


def _sfn(arn: str) -> Any:
    """A Step Functions client in the region of `arn` (machines and executions name theirs)."""
    parts = arn.split(":")
    return aws_client("stepfunctions", region=parts[3] if len(parts) > 3 and parts[3] else None)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _unavailable(what: str, exc: Exception) -> DependencyUnavailable:
    detail = _code(exc) if isinstance(exc, ClientError) else type(exc).__name__
    return DependencyUnavailable(f"Step Functions could not {what} the rollout execution right now ({detail})")


def _json(text: Any) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return None if value is None else str(value)
