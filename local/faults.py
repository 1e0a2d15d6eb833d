"""Fault injection for the local provider simulators.

A fault is set per provider. While it is in force (its first `first_n` attempts, its first
`duration_s` seconds; always when neither is set) every request to that provider first waits
`latency_ms`, then misbehaves in the fault's `mode` with probability `error_rate`: an error answer
(`status`, or the provider's own refusal for `error_code`), a connection reset, a request never
answered, a slow first byte, a body cut, stalled, malformed or left without its end, or (`rejects_prefill`)
the 400 of a model that accepts no assistant prefill, to a request whose last message is an assistant turn
(other requests are answered normally); on a stream, the
same event by event (`local.sim_stream`), and an error may come inside the stream (`in_stream`). Every request is
logged as the provider saw it (`attempts`). The registry is shared by the simulators (which read it
on every request) and the local admin surface (which sets and clears faults), so it is thread-safe:
uvicorn serves on its own thread while tests and drills mutate it from theirs.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

FaultProvider = Literal["bedrock", "google", "meta", "mcp"]
FAULT_PROVIDERS: tuple[str, ...] = get_args(FaultProvider)
FaultMode = Literal[
    "error", "reset", "hang", "slow_first_token", "cut", "stall", "malformed_chunk", "no_done", "rejects_prefill"
]
PREFILL_REJECTED = "prefill_rejected"  # how an attempt a `rejects_prefill` fault refuses is logged
ErrorCode = Literal["context_length_exceeded", "content_filter"]

MAX_DELAY_MS = 120_000
DEFAULT_FIRST_TOKEN_DELAY_MS = 5_000
DEFAULT_STALL_MS = 5_000
# `after_tokens` measures a buffered body in tokens of about four bytes, the usual rule of thumb.
BODY_BYTES_PER_TOKEN = 4
# The attempts log keeps the newest entries; a drill's traffic fits many times over.
ATTEMPTS_KEPT = 100_000


class FaultSpec(BaseModel):
    """What a provider simulator does wrong, how often, and for how long."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    provider: FaultProvider
    mode: FaultMode = "error"
    error_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    status: int = Field(default=503, ge=400, le=599)
    error_code: ErrorCode | None = None  # mode error: the provider's own refusal instead of `status`
    in_stream: bool = False  # mode error, on a stream: the provider's in-stream error after `after_tokens`
    retry_after_s: float | None = Field(default=None, ge=0, le=3600)  # Retry-After on error answers
    latency_ms: int = Field(default=0, ge=0, le=MAX_DELAY_MS)
    first_token_delay_ms: int = Field(default=DEFAULT_FIRST_TOKEN_DELAY_MS, ge=0, le=MAX_DELAY_MS)
    after_tokens: int | None = Field(default=None, ge=0)  # cut, stall, malformed, in-stream error: where (None: mid)
    stall_ms: int = Field(default=DEFAULT_STALL_MS, ge=0, le=MAX_DELAY_MS)
    first_n: int | None = Field(default=None, ge=1)  # in force for the first N attempts only
    duration_s: float | None = Field(default=None, gt=0, le=86_400)  # in force this long from when set

    @field_validator("error_code")
    @classmethod
    def _error_code_needs_error_mode(cls, code: ErrorCode | None, info: ValidationInfo) -> ErrorCode | None:
        if code is not None and info.data.get("mode", "error") != "error":
            raise ValueError("error_code is answered in mode error only")
        return code

    @field_validator("in_stream")
    @classmethod
    def _in_stream_needs_error_mode(cls, in_stream: bool, info: ValidationInfo) -> bool:
        if in_stream and info.data.get("mode", "error") != "error":
            raise ValueError("in_stream is a way to answer mode error only")
        return in_stream

    @property
    def outcome(self) -> str:
        """How an attempt this fault strikes is logged."""
        if self.mode == "rejects_prefill":
            return PREFILL_REJECTED
        if self.mode != "error":
            return self.mode
        return self.error_code or str(self.status)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One request as a simulator saw it."""

    provider: str
    at: float  # epoch seconds
    outcome: str  # "ok", or the striking fault's `outcome`


@dataclass(slots=True)
class _Armed:
    spec: FaultSpec
    set_at: float
    attempts: int = 0  # attempts seen while in force

    def in_force(self, now: float) -> bool:
        spec = self.spec
        if spec.first_n is not None and self.attempts >= spec.first_n:
            return False
        return spec.duration_s is None or now - self.set_at < spec.duration_s


class FaultRegistry:
    """The faults in force, one per provider at most, and the log of the requests they saw."""

    def __init__(
        self,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        attempts_kept: int = ATTEMPTS_KEPT,
    ) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, _Armed] = {}
        self._requests: dict[str, int] = {}
        self._attempts: deque[Attempt] = deque(maxlen=attempts_kept)
        self._rng = rng or random.Random()
        self._clock = clock

    def set(self, spec: FaultSpec) -> None:
        """Put `spec` in force for its provider from now, in place of the one before."""
        with self._lock:
            self._faults[spec.provider] = _Armed(spec, self._clock())

    def clear(self, provider: str | None = None) -> None:
        """Clear one provider's fault and its attempts, or every fault and the whole log."""
        with self._lock:
            if provider is None:
                self._faults.clear()
                self._attempts.clear()
                return
            self._faults.pop(provider, None)
            kept = [attempt for attempt in self._attempts if attempt.provider != provider]
            self._attempts.clear()
            self._attempts.extend(kept)

    def get(self, provider: str) -> FaultSpec | None:
        with self._lock:
            armed = self._faults.get(provider)
            return armed.spec if armed is not None else None

    def snapshot(self) -> dict[str, FaultSpec]:
        with self._lock:
            return {provider: armed.spec for provider, armed in self._faults.items()}

    def attempts(self, provider: str | None = None) -> list[Attempt]:
        """The requests the simulators saw since the log was last cleared, oldest first."""
        with self._lock:
            return [attempt for attempt in self._attempts if provider is None or attempt.provider == provider]

    def requests(self, provider: str) -> int:
        """How many requests reached `provider`'s simulator so far (faulted or not)."""
        with self._lock:
            return self._requests.get(provider, 0)

    async def apply(self, provider: str, prefill: bool = False) -> FaultSpec | None:
        """Count and log the request, wait the fault's latency, and give the fault that strikes it
        (None: answer normally). `prefill`: the request's last message is an assistant turn, the only
        kind a `rejects_prefill` fault strikes."""
        in_force, fault = self._decide(provider, prefill)
        if in_force is not None and in_force.latency_ms > 0:
            await asyncio.sleep(in_force.latency_ms / 1000.0)
        return fault

    def _decide(self, provider: str, prefill: bool = False) -> tuple[FaultSpec | None, FaultSpec | None]:
        """The fault in force for this request, and the fault that strikes it."""
        with self._lock:
            now = self._clock()
            self._requests[provider] = self._requests.get(provider, 0) + 1
            armed = self._faults.get(provider)
            in_force = armed.spec if armed is not None and armed.in_force(now) else None
            fault = None
            if armed is not None and in_force is not None:
                armed.attempts += 1
                fault = in_force if self._rng.random() < in_force.error_rate else None
                if in_force.mode == "rejects_prefill" and not prefill:
                    fault = None
            self._attempts.append(Attempt(provider, now, fault.outcome if fault is not None else "ok"))
            return in_force, fault
