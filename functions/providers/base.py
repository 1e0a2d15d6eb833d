"""What every provider adapter takes and gives. Adapters are the only code that speaks a
provider's protocol; they raise the typed errors of `functions.core.errors`, never SDK errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

Role = Literal["user", "assistant"]


@dataclass(frozen=True, slots=True)
class Turn:
    role: Role
    text: str


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """A provider-neutral chat request: system prompts apart, then alternating turns."""

    turns: tuple[Turn, ...]
    system: tuple[str, ...] = ()
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    requested_model: str | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    model: str
    input_tokens: int
    output_tokens: int
    finish_reason: Literal["stop", "length", "content_filter"] = "stop"
    provider_latency_ms: float | None = field(default=None)


class Provider(Protocol):
    """A provider adapter. `timeout_s` is what is left of the operation's latency budget."""

    name: str

    def complete(self, request: CompletionRequest, timeout_s: float) -> Completion: ...
