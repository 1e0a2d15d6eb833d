"""Fault injection for the local provider simulators.

A fault is set per provider: every request to that provider first waits `latency_ms`, then fails
with `status` with probability `error_rate`. The registry is shared by the simulators (which read
it on every request) and the local admin surface (which sets and clears faults), so it is
thread-safe: uvicorn serves on its own thread while tests and drills mutate it from theirs.
"""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FaultProvider = Literal["bedrock", "google", "meta", "mcp"]


class FaultSpec(BaseModel):
    """What a provider simulator does wrong, and how often."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: FaultProvider
    error_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    status: int = Field(default=503, ge=400, le=599)
    latency_ms: int = Field(default=0, ge=0, le=120_000)


class FaultRegistry:
    """The faults in force, one per provider at most."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, FaultSpec] = {}
        self._requests: dict[str, int] = {}
        self._rng = rng or random.Random()

    def set(self, spec: FaultSpec) -> None:
        with self._lock:
            self._faults[spec.provider] = spec

    def clear(self, provider: str | None = None) -> None:
        """Clear one provider's fault, or every fault when `provider` is None."""
        with self._lock:
            if provider is None:
                self._faults.clear()
            else:
                self._faults.pop(provider, None)

    def get(self, provider: str) -> FaultSpec | None:
        with self._lock:
            return self._faults.get(provider)

    def snapshot(self) -> dict[str, FaultSpec]:
        with self._lock:
            return dict(self._faults)

    def should_fail(self, provider: str) -> FaultSpec | None:
        """The fault to answer with for this request, or None when it should succeed."""
        with self._lock:
            spec = self._faults.get(provider)
            if spec is None or spec.error_rate <= 0.0:
                return None
            return spec if self._rng.random() < spec.error_rate else None

    def requests(self, provider: str) -> int:
        """How many requests reached `provider`'s simulator so far (faulted or not)."""
        with self._lock:
            return self._requests.get(provider, 0)

    async def apply(self, provider: str) -> FaultSpec | None:
        """Count the request, wait the fault's latency (if any), then say whether it fails."""
        with self._lock:
            self._requests[provider] = self._requests.get(provider, 0) + 1
        spec = self.get(provider)
        if spec is not None and spec.latency_ms > 0:
            await asyncio.sleep(spec.latency_ms / 1000.0)
        return self.should_fail(provider)
