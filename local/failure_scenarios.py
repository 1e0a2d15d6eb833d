"""The scenarios of the failoverbench catalogue (methodology v0.1), buffered and streamed, as data, and a runner
that plays each against a system through the local simulators' faults and judges it.

A scenario names the faults set on the primary (and the fallback, if any) through `POST /local/faults`, the
request, the catalogue's checks and its ideal outcome. The runner clears the faults and the attempts log, sets
the scenario's faults, sends the request (a sequence of them for the flapping primary), reads the answer and
`GET /local/faults/attempts` for the primary and the fallback, and judges it as the catalogue does:

- pass: rescued (the ideal outcome: the complete canonical answer, or for the content filter a clean error) and
  every check clean;
- partial: rescued, but an advisory check failed (or the content filter was routed around);
- safe: not rescued, but a bounded clean error and every required check clean;
- fail: a required check failed, the call hung past the scenario's limit, or a truncated answer was presented as
  a success.

The canonical answer is what the primary or the fallback simulator gives the prompt unfaulted
(`local.simulated_model.full_answer`). A streamed scenario (S07-S11, S14) is sent with `stream: true` and
`stream_options.include_usage`; its answer is the reassembled text, and how the stream ended: `[DONE]` or a
finish reason (a success), an error event, or neither. "Truncated success" is a success shorter than the
canonical answer. `alive_after` sends one healthy request through the same system once the faults are cleared.

The system under test is anything with a `call(timeout_s, stream) -> Answer`: the local gateway
(`GatewaySystem`), or another router pointed at the same simulators (bench/failure_modes.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import httpx

from functions.domain.names import BEDROCK, GOOGLE
from functions.domain.thresholds import LATENCY_BUDGET_SECONDS
from local.faults import PREFILL_REJECTED
from local.gateway import LOCAL_HEADERS
from local.simulated_model import SimMessage, count_tokens, full_answer

Verdict = Literal["pass", "partial", "safe", "fail"]
PROMPT = "Explain in sixty words why a gateway earns trust only when the provider behind it misbehaves."
# failoverbench's S15 "fast" sequence: a request every 1.2 s, each given 10 s; we shorten the outage to keep
# the run short, and keep sending until the primary serves again or the 30 s of the recovery check pass.
FLAP_DOWN_S = 4.0
FLAP_INTERVAL_S = 0.4
FLAP_REQUEST_MAX_WALL_S = 10.0
RECOVERY_WITHIN_S = 30.0
# A fallback-capable operation whose primary route is Direct: bedrock by the default weights, then its chain.
OPERATION = "infrastructure"
# The catalogue's answer is 60 tokens; the simulators' is shorter (a token a word): its fault points scaled to it.
CATALOGUE_ANSWER_TOKENS = 60
ANSWER_TOKENS = count_tokens(full_answer((SimMessage("user", PROMPT),), "model"))
ALIVE_MAX_WALL_S = 30.0  # the healthy request of `alive_after`


def of_sixty(tokens: int) -> int:
    """`tokens` of the catalogue's 60-token answer, as content events of the simulators' answer."""
    return round(ANSWER_TOKENS * tokens / CATALOGUE_ANSWER_TOKENS)


def canonical_answer(model: str) -> str:
    """What a simulator serving `model` answers the scenarios' prompt, unfaulted."""
    return full_answer((SimMessage("user", PROMPT),), model)


@dataclass(frozen=True, slots=True)
class Check:
    """One of the catalogue's machine checks; `advisory` failures make a rescue "partial", not a "fail"."""

    id: str
    kind: str
    value: float = 0.0
    window_s: float = 0.0
    advisory: bool = False


@dataclass(frozen=True, slots=True)
class Scenario:
    id: str
    name: str
    correct: str  # the catalogue's correct conduct, in plain words
    primary_fault: Mapping[str, Any]  # POST /local/faults fields, without `provider`
    checks: tuple[Check, ...]
    max_wall_s: float
    fallback_fault: Mapping[str, Any] | None = None
    ideal: Literal["success", "error"] = "success"
    flapping: bool = False  # a sequence across an outage of the primary (S15)
    stream: bool = False  # sent with `stream: true`
    # The gateway's router settings for this run (RouterSettings attributes); a system without them skips it.
    gateway_settings: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Roles:
    """Which simulator plays the primary and which the fallback, and the fallback's model name."""

    primary: str = BEDROCK
    fallback: str = GOOGLE
    fallback_model: str = "gemini"
    primary_model: str = ""  # for the canonical answer: the Bedrock simulator answers under its model id

    @property
    def canonical(self) -> frozenset[str]:
        """The complete answers: the primary's or the fallback's, unfaulted."""
        return frozenset(canonical_answer(model) for model in (self.primary_model, self.fallback_model) if model)


@dataclass(frozen=True, slots=True)
class Answer:
    """What the caller saw of one request."""

    status: int | None  # None: a hang (no answer within the limit) or a transport error
    elapsed_s: float
    sent_at: float = 0.0  # epoch seconds
    model: str | None = None
    usage: Mapping[str, Any] | None = None
    content: str = ""
    error_code: str | None = None
    error_message: str = ""
    provider: str | None = None  # who answered, as the system tells it
    headers: Mapping[str, str] = field(default_factory=dict)
    hang: bool = False
    streamed: bool = False  # the answer came as a stream (then the fields below say how it ended)
    done: bool = False  # it ended with `data: [DONE]`
    finish_reason: str | None = None

    @property
    def success(self) -> bool:
        """The caller was told this is the whole answer: a 200, and on a stream `[DONE]` or finish reason stop."""
        if self.status != 200 or self.error_code is not None:
            return False
        return not self.streamed or self.done or self.finish_reason == "stop"

    @property
    def ok(self) -> bool:
        return self.success and bool(self.content)

    @property
    def clean_error(self) -> bool:
        """An error the caller can tell: an HTTP error, or a stream's error event, naming its code."""
        if self.status is None or not self.error_code:
            return False
        return self.status >= 400 or (self.streamed and not self.done)

    @property
    def ending(self) -> str:
        """How the caller saw the answer end, for the scorecard."""
        if self.hang or self.status is None:
            return "hang"
        if self.status != 200:
            return f"HTTP {self.status} {self.error_code or ''}".rstrip()
        if not self.streamed:
            return "HTTP 200"
        if self.error_code is not None:
            return f"error event {self.error_code}" + (" + [DONE]" if self.done else "")
        return "[DONE]" if self.done else (f"finish {self.finish_reason}" if self.finish_reason else "closed")


class System(Protocol):
    name: str

    def call(self, timeout_s: float, stream: bool = False) -> Answer: ...


@runtime_checkable
class Configurable(Protocol):
    """A system whose router settings a scenario may change for its run (`Scenario.gateway_settings`)."""

    def configured(self, overrides: Mapping[str, Any]) -> AbstractContextManager[object]: ...


@dataclass(frozen=True, slots=True)
class Attempt:
    at: float
    outcome: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    id: str
    passed: bool
    advisory: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Result:
    scenario: Scenario
    system: str
    verdict: Verdict
    reason: str
    answers: tuple[Answer, ...]
    primary: tuple[Attempt, ...]
    fallback: tuple[Attempt, ...]
    checks: tuple[CheckResult, ...]
    wall_s: float
    recovered_after_s: float | None = None  # S15: first primary success after its recovery
    alive: Answer | None = None  # the healthy request after the scenario (`alive_after`)
    canonical: frozenset[str] = frozenset()  # the complete answers it was judged against

    @property
    def answer(self) -> Answer:
        return self.answers[-1]

    @property
    def first_gap_s(self) -> float | None:
        return self.primary[1].at - self.primary[0].at if len(self.primary) >= 2 else None

    def row(self) -> tuple[str, ...]:
        gap = self.first_gap_s
        return (
            self.scenario.id,
            self.scenario.name,
            self.verdict,
            str(len(self.primary)),
            str(len(self.fallback)),
            "-" if gap is None else f"{gap * 1000:.0f}",
            f"{self.wall_s * 1000:.0f}",
        )

    def stream_row(self) -> tuple[str, ...]:
        return (
            self.scenario.id,
            self.scenario.name,
            self.verdict,
            ",".join(a.outcome for a in self.primary) or "-",
            ",".join(a.outcome for a in self.fallback) or "-",
            f"{len(self.answer.content)}/{len(complete_answer_for(self.answer.content, self.canonical))}",
            self.answer.ending,
            f"{self.wall_s * 1000:.0f}",
        )


ROW_HEADER = ("id", "scenario", "verdict", "primary", "fallback", "gap ms", "wall ms")
STREAM_ROW_HEADER = ("id", "scenario", "verdict", "primary", "fallback", "chars", "client saw", "wall ms")

_NO_HANG = Check("no_hang", "no_hang")
SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "S01",
        "429 with Retry-After",
        "Honour the header as a floor when it fits the budget (retry after it), else fail over. No tight loop.",
        {"status": 429, "retry_after_s": 2, "first_n": 1},
        (
            Check("retried", "attempts_primary_min", 2, advisory=True),
            Check("retry_after_honoured", "first_gap_min_s", 1.8, advisory=True),
            Check("no_hammer", "max_attempts_within", 2, window_s=1.5),
        ),
        max_wall_s=20,
    ),
    Scenario(
        "S01b",
        "429 with Retry-After beyond the budget",
        "A Retry-After longer than the budget left: fail over at once, never wait it out.",
        {"status": 429, "retry_after_s": 60},
        (
            Check("no_hammer", "max_attempts_within", 2, window_s=1.5),
            Check("fallback_used", "fallback_used"),
            Check("not_waited_out", "attempts_primary_max", 1, advisory=True),
            Check("within_budget", "wall_max_s", LATENCY_BUDGET_SECONDS[OPERATION]),
        ),
        max_wall_s=20,
    ),
    Scenario(
        "S02",
        "429 without Retry-After, persistent",
        "Back off with jitter, then fail over. Never hammer the provider.",
        {"status": 429},
        (
            Check("no_hammer", "max_attempts_within", 4, window_s=3),
            Check("bounded_attempts", "attempts_primary_max", 6),
            _NO_HANG,
        ),
        max_wall_s=40,
    ),
    Scenario(
        "S03",
        "500 once, then healthy",
        "Retry once on the same provider and succeed.",
        {"status": 500, "first_n": 1},
        (_NO_HANG, Check("same_provider_retry", "attempts_primary_min", 2, advisory=True)),
        max_wall_s=20,
    ),
    Scenario(
        "S04",
        "503 persistent",
        "Fail over within the retry budget.",
        {"status": 503},
        (Check("bounded_attempts", "attempts_primary_max", 6), _NO_HANG),
        max_wall_s=40,
    ),
    Scenario(
        "S05",
        "TCP reset before headers",
        "Retry the idempotent request, or fail over. Either way, answer.",
        {"mode": "reset", "first_n": 1},
        (_NO_HANG,),
        max_wall_s=20,
    ),
    Scenario(
        "S06",
        "No response at all",
        "Abandon the attempt at a timeout derived from the remaining budget and fail over; do not retry the "
        "silent provider.",
        {"mode": "hang"},
        (
            Check("within_budget", "wall_max_s", 100),
            _NO_HANG,
            Check("silent_route_not_retried", "attempts_primary_max", 1, advisory=True),
        ),
        max_wall_s=130,
    ),
    Scenario(
        "S12",
        "Context length exceeded",
        "Never resend to the same model: a model with a larger window if configured, else a clean 400.",
        {"error_code": "context_length_exceeded"},
        (Check("no_same_model_retry", "attempts_primary_eq", 1), _NO_HANG),
        max_wall_s=20,
    ),
    Scenario(
        "S13",
        "Content-filter rejection",
        "One attempt, a clean 400 content_policy_violation with the provider's reason.",
        {"error_code": "content_filter"},
        (Check("no_same_model_retry", "attempts_primary_eq", 1), _NO_HANG),
        max_wall_s=20,
        ideal="error",
    ),
    Scenario(
        "S15",
        "Primary flaps: down, then healthy",
        "Served by the fallback while the primary is down; back on the primary within 30 s of its recovery.",
        {"status": 503, "duration_s": FLAP_DOWN_S},
        (
            Check("no_hang", "seq_no_hang"),
            Check("served_during_outage", "seq_served_during_outage"),
            Check("recovered", "seq_recovered_within_s", RECOVERY_WITHIN_S),
        ),
        max_wall_s=FLAP_DOWN_S + RECOVERY_WITHIN_S + FLAP_REQUEST_MAX_WALL_S,
        flapping=True,
    ),
    Scenario(
        "S16",
        "Fail-over accounting",
        "The caller sees the fallback's model name and usage; the failed attempts are not billed.",
        {"status": 503},
        (
            Check("reports_fallback_model", "reported_model_is_fallback"),
            Check("usage_present", "usage_present", advisory=True),
            Check("bounded_attempts", "attempts_primary_max", 6),
        ),
        max_wall_s=40,
    ),
)
CUT_AT = of_sixty(40)  # S08, S14: "after 40 of 60 tokens"
STALL_AT = of_sixty(20)  # S09: "after 20 tokens"
MALFORMED_AT = 9  # S10: the tenth content event of the stream is the unreadable one
_NO_TRUNCATED_SUCCESS = Check("no_truncated_success", "no_truncated_success")
_ALIVE_AFTER = Check("alive_after", "alive_after")
_S14_CHECKS = (Check("no_prefill_masking", "no_prefill_masking"), _NO_TRUNCATED_SUCCESS)
_S14_CORRECT = (
    "Continue mid-stream only on a model that accepts prefill, else end cleanly; never the prefill 400 as the "
    "final error, never a truncated success."
)
STREAM_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "S07",
        "Slow first token",
        "Answer; a time-to-first-token limit that fails over is the mature behaviour.",
        {"mode": "slow_first_token", "first_token_delay_ms": 20_000},
        (_NO_HANG, Check("ttft_limit", "wall_max_s", 15, advisory=True)),
        max_wall_s=60,
        stream=True,
    ),
    Scenario(
        "S08",
        "Stream cut mid-answer",
        "Fail over and deliver the whole answer, or a clear error; never a 'successful' truncated answer.",
        {"mode": "cut", "after_tokens": CUT_AT},
        (_NO_TRUNCATED_SUCCESS, _NO_HANG),
        max_wall_s=40,
        stream=True,
    ),
    Scenario(
        "S09",
        "Stream stalls",
        "Detect the stall inside a bounded window; fail over or fail cleanly; stay healthy afterwards.",
        {"mode": "stall", "after_tokens": STALL_AT, "stall_ms": 30_000},
        (Check("bounded", "wall_max_s", 45), _NO_TRUNCATED_SUCCESS, _ALIVE_AFTER, _NO_HANG),
        max_wall_s=70,
        stream=True,
    ),
    Scenario(
        "S10",
        "Malformed chunk in the stream",
        "Skip it or fail cleanly; nothing partial leaks to the caller; the process stays up.",
        {"mode": "malformed_chunk", "after_tokens": MALFORMED_AT},
        (
            _ALIVE_AFTER,
            Check("no_garbage", "no_truncated_success"),
            _NO_HANG,
            Check("recovered_in_place", "complete", advisory=True),
        ),
        max_wall_s=30,
        stream=True,
    ),
    Scenario(
        "S11",
        "Stream ends without [DONE]",
        "Finalise the completion promptly; report usage; do not wait for a sentinel that never comes.",
        {"mode": "no_done"},
        (Check("prompt_finalise", "wall_max_s", 8), Check("usage_reported", "usage_present", advisory=True)),
        max_wall_s=30,
        stream=True,
    ),
    Scenario(
        "S14",
        "Fallback target rejects prefill",
        _S14_CORRECT,
        {"mode": "cut", "after_tokens": CUT_AT},
        _S14_CHECKS,
        max_wall_s=40,
        fallback_fault={"mode": "rejects_prefill"},
        stream=True,
    ),
    Scenario(
        "S14b",
        "Rejects prefill, continuation on",
        _S14_CORRECT + " Continuation on (STREAM_CONTINUE_ON_CUT), the fallback not in PREFILL_TARGETS.",
        {"mode": "cut", "after_tokens": CUT_AT},
        _S14_CHECKS,
        max_wall_s=40,
        fallback_fault={"mode": "rejects_prefill"},
        stream=True,
        # the primary's model accepts prefill, the fallback's not: nothing is left to continue on
        gateway_settings={"stream_continuation": True, "prefill_targets_csv": BEDROCK},
    ),
)
BY_ID: Mapping[str, Scenario] = {scenario.id: scenario for scenario in (*SCENARIOS, *STREAM_SCENARIOS)}


# --- the system under test: the local gateway ------------------------------------------------------
@dataclass
class GatewaySystem:
    """The local gateway's `/v1/chat/completions`, for a fallback-capable operation (infrastructure: Direct
    first, bedrock by the default weights, then bedrock's chain google, meta, then MCP)."""

    client: Any  # an httpx-style client bound to the gateway (httpx.Client, starlette's TestClient)
    operation: str = OPERATION
    name: str = "hybrid-routing"
    per_call_timeout: bool = True  # False for a client that cannot time out (starlette's TestClient)
    settings: Any = None  # the router's settings object, for scenarios that change them (in process only)

    def call(self, timeout_s: float, stream: bool = False) -> Answer:
        body: dict[str, Any] = {"model": "any", "messages": [{"role": "user", "content": PROMPT}]}
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        sent_at, started = time.time(), time.monotonic()
        try:
            limit = {"timeout": timeout_s} if self.per_call_timeout else {}
            response = self.client.post(
                "/v1/chat/completions", json=body, headers={"X-Operation-Type": self.operation}, **limit
            )
        except httpx.TimeoutException:
            return Answer(None, time.monotonic() - started, sent_at, hang=True)
        elapsed = time.monotonic() - started
        seen = {"provider": response.headers.get("x-hybrid-provider"), "headers": dict(response.headers)}
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return read_stream(response.status_code, elapsed, sent_at, response.text, **seen)
        payload = _json(response)
        found = payload.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        choices = payload.get("choices") or [{}]
        return Answer(
            response.status_code,
            elapsed,
            sent_at,
            model=payload.get("model"),
            usage=payload.get("usage"),
            content=str(((choices[0] or {}).get("message") or {}).get("content") or ""),
            error_code=error.get("code"),
            error_message=str(error.get("message") or ""),
            streamed=stream,
            **seen,
        )

    @contextmanager
    def configured(self, overrides: Mapping[str, Any]) -> Iterator[None]:
        """The router's settings changed by `overrides` for the block, restored after."""
        if self.settings is None:
            raise RuntimeError(f"{self.name} was given no settings to change")
        saved = {name: getattr(self.settings, name) for name in overrides}
        try:
            for name, value in overrides.items():
                setattr(self.settings, name, value)
            yield
        finally:
            for name, value in saved.items():
                setattr(self.settings, name, value)


def read_stream(status: int, elapsed_s: float, sent_at: float, text: str, **seen: Any) -> Answer:
    """An OpenAI chat completion stream as the caller saw it: the content reassembled, the model, the usage
    chunk, the last finish reason, an error event, and whether `[DONE]` ended it."""
    parts: list[str] = []
    model, usage, finish, error, done = None, None, None, None, False
    for data in (line[len("data:") :].strip() for line in text.splitlines() if line.startswith("data:")):
        if data == "[DONE]":
            done = True
            continue
        try:
            event = json.loads(data)
        except ValueError:
            continue  # an event the caller cannot read adds nothing to the answer
        if isinstance(event.get("error"), dict):
            error = event["error"]
            continue
        model, usage = event.get("model") or model, event.get("usage") or usage
        for choice in event.get("choices") or ():
            parts.append(str((choice.get("delta") or {}).get("content") or ""))
            finish = choice.get("finish_reason") or finish
    return Answer(
        status,
        elapsed_s,
        sent_at,
        model=model,
        usage=usage,
        content="".join(parts),
        error_code=str(error.get("code") or error.get("type") or "error") if error is not None else None,
        error_message=str(error.get("message") or "") if error is not None else "",
        streamed=True,
        done=done,
        finish_reason=finish,
        **seen,
    )


def _json(response: Any) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


# --- the runner --------------------------------------------------------------------------------------
@dataclass
class Runner:
    """Plays scenarios against `system`, the faults set through the local gateway's `/local/faults` (`control`).
    `prepare` runs before each scenario once its faults are cleared (e.g. fresh breakers)."""

    control: Any  # an httpx-style client bound to the gateway
    system: System
    roles: Roles = field(default_factory=Roles)
    prepare: Callable[[], object] | None = None

    def run(self, scenario: Scenario) -> Result:
        with self._configured(scenario):
            return self._run(scenario)

    def _run(self, scenario: Scenario) -> Result:
        self._clear()
        if self.prepare is not None:
            self.prepare()
        set_at = time.time()
        self._set(self.roles.primary, scenario.primary_fault)
        if scenario.fallback_fault is not None:
            self._set(self.roles.fallback, scenario.fallback_fault)
        started = time.monotonic()
        if scenario.flapping:
            answers = self._flap(set_at + float(scenario.primary_fault["duration_s"]))
        else:
            answers = (self.system.call(scenario.max_wall_s + 1.0, scenario.stream),)
        wall_s = time.monotonic() - started
        primary, fallback = self._attempts(self.roles.primary), self._attempts(self.roles.fallback)
        self._clear()
        alive = None
        if any(check.kind == "alive_after" for check in scenario.checks):
            alive = self.system.call(ALIVE_MAX_WALL_S, scenario.stream)
        seen = _Seen(answers, primary, fallback, wall_s, self.roles, _recovers_at(scenario, set_at), alive)
        return judge(scenario, self.system.name, seen)

    def runs(self, scenario: Scenario) -> bool:
        """Whether this system can play `scenario` (one that changes the gateway's settings needs them)."""
        return scenario.gateway_settings is None or isinstance(self.system, Configurable)

    def run_all(self, scenarios: Sequence[Scenario] = SCENARIOS) -> list[Result]:
        return [self.run(scenario) for scenario in scenarios if self.runs(scenario)]

    def _configured(self, scenario: Scenario) -> AbstractContextManager[object]:
        if scenario.gateway_settings is None:
            return nullcontext()
        if not isinstance(self.system, Configurable):
            raise RuntimeError(f"{scenario.id} changes the router's settings, which {self.system.name} has not")
        return self.system.configured(scenario.gateway_settings)

    def _flap(self, recovers_at: float) -> tuple[Answer, ...]:
        """A request every FLAP_INTERVAL_S until one sent after the recovery is served by the primary, or the
        recovery check's window has passed."""
        answers: list[Answer] = []
        while True:
            answer = self.system.call(FLAP_REQUEST_MAX_WALL_S, False)
            answers.append(answer)
            after = answer.sent_at - recovers_at
            if (after >= 0 and answer.ok and answer.provider == self.roles.primary) or after > RECOVERY_WITHIN_S:
                return tuple(answers)
            time.sleep(max(0.0, FLAP_INTERVAL_S - answer.elapsed_s))

    def _clear(self) -> None:
        self.control.delete("/local/faults", headers=LOCAL_HEADERS).raise_for_status()

    def _set(self, provider: str, fault: Mapping[str, Any]) -> None:
        response = self.control.post("/local/faults", json={"provider": provider, **fault}, headers=LOCAL_HEADERS)
        if response.status_code != 200:
            raise RuntimeError(f"the fault {fault} was refused: {response.text}")

    def _attempts(self, provider: str) -> tuple[Attempt, ...]:
        response = self.control.get("/local/faults/attempts", params={"provider": provider}, headers=LOCAL_HEADERS)
        response.raise_for_status()
        return tuple(Attempt(float(a["at"]), str(a["outcome"])) for a in response.json()["attempts"])


# --- the judge ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Seen:
    """What the checks read: the answers and both providers' attempts logs."""

    answers: tuple[Answer, ...]
    primary: tuple[Attempt, ...]
    fallback: tuple[Attempt, ...]
    wall_s: float
    roles: Roles
    recovers_at: float | None
    alive: Answer | None = None

    @property
    def last(self) -> Answer:
        return self.answers[-1]

    @property
    def truncated_success(self) -> bool:
        """The caller was told the answer is whole, and it is shorter than the complete one."""
        last, canonical = self.last, self.roles.canonical
        return last.success and last.content not in canonical and len(last.content) < max(map(len, canonical))

    @property
    def complete(self) -> bool:
        return self.last.ok and self.last.content in self.roles.canonical

    @property
    def recovered_after_s(self) -> float | None:
        if self.recovers_at is None:
            return None
        served = [a.at for a in self.primary if a.outcome == "ok" and a.at >= self.recovers_at]
        return min(served) - self.recovers_at if served else None


def _recovers_at(scenario: Scenario, set_at: float) -> float | None:
    return set_at + float(scenario.primary_fault["duration_s"]) if scenario.flapping else None


def judge(scenario: Scenario, system: str, seen: _Seen) -> Result:
    """The catalogue's verdict on what the caller and the providers saw."""
    checks = tuple(_check(check, seen) for check in scenario.checks)
    verdict, reason = _verdict(scenario, seen, checks)
    return Result(
        scenario,
        system,
        verdict,
        reason,
        seen.answers,
        seen.primary,
        seen.fallback,
        checks,
        seen.wall_s,
        seen.recovered_after_s,
        seen.alive,
        seen.roles.canonical,
    )


def _verdict(scenario: Scenario, seen: _Seen, checks: tuple[CheckResult, ...]) -> tuple[Verdict, str]:
    if any(answer.hang for answer in seen.answers):
        return "fail", "hang"
    if scenario.stream and seen.truncated_success:
        return "fail", "a truncated answer presented as success"
    required = [c.id for c in checks if not c.passed and not c.advisory]
    if required:
        return "fail", "failed: " + ", ".join(required)
    advisory = [c.id for c in checks if not c.passed and c.advisory]
    last = seen.answers[-1]
    if scenario.flapping:
        rescued = all(answer.ok for answer in seen.answers)
    elif scenario.ideal == "error":
        if last.ok:
            return "partial", "answered by routing around the rejection"
        rescued = last.clean_error
    else:  # a streamed answer is scored on its text: the complete answer or not rescued
        rescued = seen.complete if scenario.stream else last.ok
    if rescued:
        return ("partial", "rescued; advisory: " + ", ".join(advisory)) if advisory else ("pass", "rescued")
    if last.clean_error:
        return "safe", f"clean error {last.status} {last.error_code}"
    return "fail", f"not rescued and no clean error (HTTP {last.status})"


def _check(check: Check, seen: _Seen) -> CheckResult:
    passed, detail = _CHECKS[check.kind](check, seen)
    return CheckResult(check.id, passed, check.advisory, detail)


def _attempts_within(check: Check, seen: _Seen) -> tuple[bool, str]:
    times = [a.at for a in seen.primary]
    n = sum(1 for t in times if t - times[0] < check.window_s) if times else 0
    return n <= check.value, f"{n} primary attempt(s) in the first {check.window_s:g} s"


def _first_gap(check: Check, seen: _Seen) -> tuple[bool, str]:
    if len(seen.primary) < 2:
        return False, "no second primary attempt"
    gap = seen.primary[1].at - seen.primary[0].at
    return gap >= check.value, f"gap {gap:.2f} s"


def _served_during_outage(_check: Check, seen: _Seen) -> tuple[bool, str]:
    assert seen.recovers_at is not None
    during = [a for a in seen.answers if a.sent_at < seen.recovers_at]
    served = sum(1 for a in during if a.ok)
    return bool(during) and served == len(during), f"{served}/{len(during)} answered while the primary was down"


def _recovered(check: Check, seen: _Seen) -> tuple[bool, str]:
    after = seen.recovered_after_s
    if after is None:
        return False, "the primary never served again after its recovery"
    return after <= check.value, f"the primary served again {after:.1f} s after its recovery"


def _reported_model(_check: Check, seen: _Seen) -> tuple[bool, str]:
    model = seen.answers[-1].model or ""
    return seen.roles.fallback_model in model.lower(), f"model {model!r}"


def _no_prefill_masking(_check: Check, seen: _Seen) -> tuple[bool, str]:
    rejected = sum(1 for a in (*seen.primary, *seen.fallback) if a.outcome == PREFILL_REJECTED)
    masked = rejected > 0 and not seen.last.success
    return not masked, f"{rejected} prefill rejection(s); the caller saw {seen.last.ending}"


def _alive_after(_check: Check, seen: _Seen) -> tuple[bool, str]:
    alive = seen.alive
    return alive is not None and alive.ok, "no healthy call" if alive is None else f"then {alive.ending}"


def complete_answer_for(content: str, canonical: frozenset[str]) -> str:
    """The complete answer `content` is the start of (the longest when it starts none)."""
    started = [answer for answer in canonical if answer.startswith(content)]
    return min(started, key=len) if started else max(canonical, key=len, default="")


def _length(seen: _Seen) -> str:
    whole = complete_answer_for(seen.last.content, seen.roles.canonical)
    return f"{len(seen.last.content)} of {len(whole)} characters, {seen.last.ending}"


def _count(n: int, what: str) -> str:
    return f"{n} {what} attempt(s)"


_CHECKS: Mapping[str, Callable[[Check, _Seen], tuple[bool, str]]] = {
    "no_hang": lambda _c, s: (not s.answers[-1].hang, f"ended in {s.wall_s:.1f} s"),
    "seq_no_hang": lambda _c, s: (not any(a.hang for a in s.answers), f"{len(s.answers)} request(s)"),
    "attempts_primary_min": lambda c, s: (len(s.primary) >= c.value, _count(len(s.primary), "primary")),
    "attempts_primary_max": lambda c, s: (len(s.primary) <= c.value, _count(len(s.primary), "primary")),
    "attempts_primary_eq": lambda c, s: (len(s.primary) == c.value, _count(len(s.primary), "primary")),
    "fallback_used": lambda _c, s: (len(s.fallback) >= 1, _count(len(s.fallback), "fallback")),
    "first_gap_min_s": _first_gap,
    "max_attempts_within": _attempts_within,
    "wall_max_s": lambda c, s: (s.wall_s <= c.value, f"{s.wall_s:.1f} s"),
    "usage_present": lambda _c, s: (bool(s.answers[-1].usage), f"usage {s.answers[-1].usage}"),
    "reported_model_is_fallback": _reported_model,
    "seq_served_during_outage": _served_during_outage,
    "seq_recovered_within_s": _recovered,
    "no_truncated_success": lambda _c, s: (not s.truncated_success, _length(s)),
    "complete": lambda _c, s: (s.complete, _length(s)),
    "alive_after": _alive_after,
    "no_prefill_masking": _no_prefill_masking,
}


def format_rows(results: Sequence[Result]) -> str:
    """The scorecard: one row per scenario, as the README shows it; the streamed scenarios' rows name the
    attempts' outcomes, the characters the caller got of the complete answer's, and how its stream ended."""
    streamed = bool(results) and all(result.scenario.stream for result in results)
    header = STREAM_ROW_HEADER if streamed else ROW_HEADER
    rows = [header, *(result.stream_row() if streamed else result.row() for result in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)
