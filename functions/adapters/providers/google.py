"""The Google adapter: the Gemini API's `generateContent` over REST (no SDK, see `http.py`), and
`streamGenerateContent?alt=sse` for streams (its last chunk, with a finishReason, is the terminator).

Output tokens are `candidatesTokenCount` plus `thoughtsTokenCount`: thinking models bill their
thoughts as output, so leaving them out would undercount the cost of a request.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

from functions.adapters.providers.http import ErrorDialect, JsonApiProvider, seconds
from functions.adapters.providers.refusals import says_context_length_exceeded
from functions.adapters.providers.streaming import StreamGuard, StreamTally
from functions.domain.completion import (
    Completion,
    CompletionRequest,
    FinishReason,
    MalformedEvent,
    StreamEvent,
    TextDelta,
    counted_completion,
    finish_reason,
    is_count,
    sampling_options,
)
from functions.domain.errors import (
    ContentFiltered,
    ContextLengthExceeded,
    ProviderBadRequest,
    ProviderError,
    ProviderResponseInvalid,
    ProviderThrottled,
    ProviderUnavailable,
)
from functions.domain.names import GOOGLE

DEFAULT_ENDPOINT_URL = "https://generativelanguage.googleapis.com"

_FINISH_REASONS: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
# A candidate that finished for one of these with no text is a refusal, not an empty answer.
_REFUSED_FINISH_REASONS = frozenset({"SAFETY", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"})
_ROLES = {"user": "user", "assistant": "model"}

# google.rpc codes: the `status` of an error, and the `reason` of its ErrorInfo details (more specific:
# a bad API key is an INVALID_ARGUMENT whose reason is API_KEY_INVALID, a configuration problem).
_ERROR_BY_CODE: dict[str, type[ProviderError]] = {
    "API_KEY_INVALID": ProviderUnavailable,
    "API_KEY_EXPIRED": ProviderUnavailable,
    "RESOURCE_EXHAUSTED": ProviderThrottled,
    "INVALID_ARGUMENT": ProviderBadRequest,
    "OUT_OF_RANGE": ProviderBadRequest,
    "FAILED_PRECONDITION": ProviderUnavailable,  # e.g. billing not enabled, region not supported
    "UNAUTHENTICATED": ProviderUnavailable,
    "PERMISSION_DENIED": ProviderUnavailable,
    "NOT_FOUND": ProviderUnavailable,
    "INTERNAL": ProviderUnavailable,
    "UNAVAILABLE": ProviderUnavailable,
}
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def _details(error: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    details = error.get("details")
    if not isinstance(details, list):
        return []
    return [d for d in details if isinstance(d, Mapping) and d.get("@type") == kind]


def _error_codes(error: Mapping[str, Any]) -> Iterable[object]:
    return [*(d.get("reason") for d in _details(error, _ERROR_INFO)), error.get("status")]


def _retry_delay(error: Mapping[str, Any]) -> float | None:
    """RetryInfo's `retryDelay`, a protobuf Duration in JSON ("37s")."""
    return next((s for d in _details(error, _RETRY_INFO) if (s := seconds(d.get("retryDelay"))) is not None), None)


def _refusal(error: Mapping[str, Any]) -> type[ProviderBadRequest] | None:
    """A prompt longer than the model's window is an INVALID_ARGUMENT told apart by its message only
    ("The input token count (N) exceeds the maximum number of tokens allowed (M).")."""
    return ContextLengthExceeded if says_context_length_exceeded(error.get("message")) else None


GEMINI_ERRORS = ErrorDialect(
    error_by_code=_ERROR_BY_CODE, codes_of=_error_codes, retry_after_of=_retry_delay, refusal_of=_refusal
)


class GoogleProvider(JsonApiProvider):
    """`Provider` over the Gemini API's `generateContent`."""

    name = GOOGLE
    errors = GEMINI_ERRORS
    default_endpoint_url = DEFAULT_ENDPOINT_URL
    model_prefix = "models/"

    @property
    def url(self) -> str:
        return f"{self.endpoint_url}/v1beta/models/{quote(self.model, safe='')}:generateContent"

    @property
    def stream_url(self) -> str:
        return f"{self.endpoint_url}/v1beta/models/{quote(self.model, safe='')}:streamGenerateContent?alt=sse"

    def _key_headers(self, key: str) -> dict[str, str]:
        return {"x-goog-api-key": key}

    def _stream_chunk(self, chunk: Mapping[str, Any], tally: StreamTally, guard: StreamGuard) -> Iterator[StreamEvent]:
        """A `GenerateContentResponse` of the stream: its text, and the usage, model and finish reason
        it says (the chunk with a finishReason is the stream's last). A blocked prompt, or an answer
        filtered before any text, is `ContentFiltered`."""
        if isinstance(usage := chunk.get("usageMetadata"), Mapping):
            tally.usage(*self._usage(usage))
        if isinstance(model := chunk.get("modelVersion"), str) and model:
            tally.model = model
        candidates = chunk.get("candidates")
        if not candidates:
            feedback = chunk.get("promptFeedback")
            reason = feedback.get("blockReason") if isinstance(feedback, Mapping) else None
            if isinstance(reason, str) and reason:
                raise guard.failed(ContentFiltered(f"google blocked the prompt ({reason})", provider=self.name))
            if usage is None:
                yield MalformedEvent("google chunk has no candidates")
            return
        candidate = candidates[0] if isinstance(candidates, list) else None
        if not isinstance(candidate, Mapping):
            yield MalformedEvent("google candidates are not a list of objects")
            return
        yield from self._candidate_text(candidate)
        if (reason := candidate.get("finishReason")) is None:
            return
        if not guard.committed and reason in _REFUSED_FINISH_REASONS:
            raise ContentFiltered(f"google filtered the answer ({reason})", provider=self.name)
        tally.finish_reason = finish_reason(reason, _FINISH_REASONS)
        tally.terminated = True

    def request_body(self, request: CompletionRequest) -> dict[str, Any]:
        """The `generateContent` request for `request`; optional settings only when set."""
        body: dict[str, Any] = {
            "contents": [{"role": _ROLES[turn.role], "parts": [{"text": turn.text}]} for turn in request.turns]
        }
        if request.system:
            body["systemInstruction"] = {"parts": [{"text": text} for text in request.system]}
        config = sampling_options(request, max_tokens="maxOutputTokens", top_p="topP", stop="stopSequences")
        if config:
            body["generationConfig"] = config
        return body

    def _completion(self, body: Mapping[str, Any], elapsed_ms: float) -> Completion:
        """The completion of a 200 answer. A prompt blocked (`promptFeedback.blockReason`, no
        candidates) and an answer filtered before any text are `ContentFiltered`, naming the reason."""
        candidates = body.get("candidates")
        if not candidates:
            feedback = body.get("promptFeedback")
            reason = feedback.get("blockReason") if isinstance(feedback, Mapping) else None
            if isinstance(reason, str) and reason:
                raise ContentFiltered(f"google blocked the prompt ({reason})", provider=self.name)
            raise ProviderResponseInvalid("google answered with no candidates", provider=self.name)
        candidate = candidates[0] if isinstance(candidates, list) else None
        if not isinstance(candidate, Mapping):
            raise ProviderResponseInvalid("google candidates are not a list of objects", provider=self.name)
        finish = finish_reason(candidate.get("finishReason"), _FINISH_REASONS)
        text = self._text(candidate, empty_allowed=finish != "stop")
        if not text and (reason := candidate.get("finishReason")) in _REFUSED_FINISH_REASONS:
            raise ContentFiltered(f"google filtered the answer ({reason})", provider=self.name)
        input_tokens, output_tokens = self._usage(body.get("usageMetadata"))
        model = body.get("modelVersion", self.model)
        if not isinstance(model, str):
            raise ProviderResponseInvalid("google modelVersion is not a string", provider=self.name)
        return counted_completion(
            self.name,
            text=text,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            finish_reason=finish,
            latency_ms=elapsed_ms,
        )

    def _candidate_text(self, candidate: Mapping[str, Any]) -> Iterator[StreamEvent]:
        try:
            text = self._text(candidate, empty_allowed=True) if "content" in candidate else ""
        except ProviderResponseInvalid as exc:
            yield MalformedEvent(exc.message)
            return
        if text:
            yield TextDelta(text)

    def _text(self, candidate: Mapping[str, Any], *, empty_allowed: bool) -> str:
        """The answer's text parts joined, thoughts left out. A filtered or cut-short answer may have none."""
        content = candidate.get("content", {})
        parts = content.get("parts", []) if isinstance(content, Mapping) else None
        if not isinstance(parts, list) or not all(isinstance(part, Mapping) for part in parts):
            raise ProviderResponseInvalid("google candidate content has no list of parts", provider=self.name)
        texts = [part["text"] for part in parts if "text" in part and not part.get("thought")]
        if not all(isinstance(text, str) for text in texts):
            raise ProviderResponseInvalid("google candidate text is not a string", provider=self.name)
        if not texts and not empty_allowed:
            raise ProviderResponseInvalid("google candidate has no text", provider=self.name)
        return "".join(texts)

    def _usage(self, usage: object) -> tuple[Any, Any]:
        """Input and output tokens as the answer gives them; `counted_completion` checks them."""
        if not isinstance(usage, Mapping):
            raise ProviderResponseInvalid("google response lacks usageMetadata", provider=self.name)
        # Both absent when nothing was generated (a filtered answer), so they default to 0.
        candidates, thoughts = usage.get("candidatesTokenCount", 0), usage.get("thoughtsTokenCount", 0)
        output = candidates + thoughts if is_count(candidates) and is_count(thoughts) else None
        return usage.get("promptTokenCount"), output
