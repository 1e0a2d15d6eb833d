"""What every provider adapter takes and gives. Adapters are the only code that speaks a
provider's protocol; they raise the typed errors of `functions.domain.errors`, never SDK errors."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeGuard

from functions.domain.errors import ProviderResponseInvalid, ProviderTimeout

Role = Literal["user", "assistant"]
FinishReason = Literal["stop", "length", "content_filter"]


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
    finish_reason: FinishReason = "stop"
    provider_latency_ms: float | None = field(default=None)


class Provider(Protocol):
    """A provider adapter. `timeout_s` is what is left of the operation's latency budget."""

    @property
    def name(self) -> str: ...

    def complete(self, request: CompletionRequest, timeout_s: float) -> Completion: ...


# --- streaming ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer's text, in the order the provider sent it (never empty)."""

    text: str


@dataclass(frozen=True, slots=True)
class MalformedEvent:
    """A provider event that could not be read (bad JSON, an unknown shape): skipped and counted."""

    detail: str


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The provider's stream ended. `terminated` is False when it closed cleanly without its own terminator
    (OpenAI's `[DONE]`, Bedrock's `messageStop`/`metadata`, Gemini's last candidate with a finishReason): the
    answer is finalised with what arrived. Token counts are None when the provider sent no usage."""

    model: str
    finish_reason: FinishReason = "stop"
    input_tokens: int | None = None
    output_tokens: int | None = None
    terminated: bool = True


StreamEvent = TextDelta | MalformedEvent | StreamEnd


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """How long a stream may be silent. `first_token_s`: until the first `TextDelta` (the commit gate's
    limit, already capped by the budget left); `idle_s`: between any two events after that."""

    first_token_s: float
    idle_s: float


class StreamingProvider(Provider, Protocol):
    """A provider that streams natively. `stream` opens the provider's stream and yields its events; it
    raises the typed `ProviderError`s of `functions.domain.errors` from the iterator: before the first
    `TextDelta` as the buffered path does (an HTTP error, an in-stream exception, `ProviderTimeout` when
    `limits.first_token_s` passes with no delta), after it `ProviderStreamCut` (the connection or the
    stream broke) or `ProviderStreamStalled` (`limits.idle_s` passed with no event). Closing the iterator
    (`close()`) stops the provider call and releases its connection."""

    def stream(self, request: CompletionRequest, limits: StreamLimits) -> Iterator[StreamEvent]: ...


# --- helpers the adapters share ------------------------------------------------------------
def require_budget(timeout_s: float, provider: str, api: str | None = None) -> None:
    """Raise `ProviderTimeout` when no latency budget is left, before the provider is called."""
    if timeout_s <= 0:
        raise ProviderTimeout(f"no latency budget left for {api or provider}", provider=provider)


def sampling_options(request: CompletionRequest, *, max_tokens: str, top_p: str, stop: str) -> dict[str, Any]:
    """The request's optional settings under an API's names for them; only those that are set."""
    options = {
        max_tokens: request.max_tokens,
        "temperature": request.temperature,
        top_p: request.top_p,
        stop: list(request.stop) or None,
    }
    return {name: value for name, value in options.items() if value is not None}


def finish_reason(reason: object, reasons: Mapping[str, FinishReason]) -> FinishReason:
    """An API's finish reason mapped by `reasons`; "stop" when it is unknown or not a string."""
    return reasons.get(reason, "stop") if isinstance(reason, str) else "stop"


def is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def counted_completion(
    provider: str,
    *,
    text: str,
    model: str,
    input_tokens: Any,
    output_tokens: Any,
    finish_reason: FinishReason,
    latency_ms: float | None = None,
    api: str | None = None,
) -> Completion:
    """A `Completion` of an answer, once its token counts are checked to be non-negative integers.

    `api` names the API in the error message when it is not the provider's name (Llama on Bedrock)."""
    if not (is_count(input_tokens) and is_count(output_tokens)):
        message = f"{api or provider} usage token counts are not non-negative integers"
        raise ProviderResponseInvalid(message, provider=provider)
    return Completion(
        text=text,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        finish_reason=finish_reason,
        provider_latency_ms=latency_ms,
    )


def retry_after_seconds(value: object) -> float | None:
    """Seconds from a `Retry-After` value in delta-seconds form; None when absent, a date or negative."""
    try:
        seconds = float(value) if isinstance(value, str | int | float) else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None
