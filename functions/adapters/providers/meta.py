"""The Meta adapter: the Llama API's OpenAI-compatible chat completions (no SDK, see `http.py`),
buffered or streamed (`stream: true`: `chat.completion.chunk` events, usage asked for with
`stream_options.include_usage`, then `data: [DONE]`, the stream's terminator).

Llama models served through Bedrock use `BedrockProvider(name="meta")` instead (see the registry).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from functions.adapters.providers.http import ErrorDialect, JsonApiProvider
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
    sampling_options,
)
from functions.domain.errors import (
    ContentFiltered,
    ContextLengthExceeded,
    ProviderError,
    ProviderResponseInvalid,
    ProviderThrottled,
    ProviderUnavailable,
)
from functions.domain.names import META

DEFAULT_ENDPOINT_URL = "https://api.llama.com/compat/v1"

_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "tool_calls": "stop",
    "length": "length",
    "content_filter": "content_filter",
}

# OpenAI-style `error.code` values. `error.type` is not used: `invalid_request_error` covers a bad
# request and an unknown model alike, so the HTTP status tells those apart better.
_ERROR_BY_CODE: dict[str, type[ProviderError]] = {
    "rate_limit_exceeded": ProviderThrottled,
    "insufficient_quota": ProviderUnavailable,  # a 429 that waiting does not cure
    "invalid_api_key": ProviderUnavailable,
    "model_not_found": ProviderUnavailable,
    "context_length_exceeded": ContextLengthExceeded,
    "content_filter": ContentFiltered,
    "content_policy_violation": ContentFiltered,
}


def _error_codes(error: Mapping[str, Any]) -> Iterable[object]:
    return [error.get("code")]


OPENAI_ERRORS = ErrorDialect(error_by_code=_ERROR_BY_CODE, codes_of=_error_codes)


class LlamaApiProvider(JsonApiProvider):
    """`Provider` over the Llama API's `/chat/completions`."""

    name = META
    errors = OPENAI_ERRORS
    default_endpoint_url = DEFAULT_ENDPOINT_URL

    @property
    def url(self) -> str:
        return f"{self.endpoint_url}/chat/completions"

    @property
    def stream_url(self) -> str:
        return self.url

    def _key_headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def stream_body(self, request: CompletionRequest) -> dict[str, Any]:
        return {**self.request_body(request), "stream": True, "stream_options": {"include_usage": True}}

    def _stream_data(self, data: str, tally: StreamTally, guard: StreamGuard) -> Iterator[StreamEvent]:
        if data.strip() == "[DONE]":
            tally.terminated = True
            return
        yield from super()._stream_data(data, tally, guard)

    def _stream_chunk(self, chunk: Mapping[str, Any], tally: StreamTally, guard: StreamGuard) -> Iterator[StreamEvent]:
        """A `chat.completion.chunk`: its content delta, and the finish reason, model and usage it says."""
        if isinstance(usage := chunk.get("usage"), Mapping):
            tally.usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
        if isinstance(model := chunk.get("model"), str) and model:
            tally.model = model
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            yield MalformedEvent("meta chunk has no list of choices")
            return
        if not choices:  # the usage chunk
            return
        choice = choices[0]
        delta = choice.get("delta") if isinstance(choice, Mapping) else None
        if not isinstance(choice, Mapping) or not isinstance(delta, Mapping):
            yield MalformedEvent("meta chunk has no choice with a delta")
            return
        content = delta.get("content")
        if content is not None and not isinstance(content, str):
            yield MalformedEvent("meta delta content is not a string")
        elif content:
            yield TextDelta(content)
        if (reason := choice.get("finish_reason")) is not None:
            tally.finish_reason = finish_reason(reason, _FINISH_REASONS)

    def request_body(self, request: CompletionRequest) -> dict[str, Any]:
        """The chat completion request for `request`; optional settings only when set."""
        messages = [{"role": "system", "content": text} for text in request.system]
        messages += [{"role": turn.role, "content": turn.text} for turn in request.turns]
        options = sampling_options(request, max_tokens="max_completion_tokens", top_p="top_p", stop="stop")
        return {"model": self.model, "messages": messages, **options}

    def _completion(self, body: Mapping[str, Any], elapsed_ms: float) -> Completion:
        choices = body.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not (isinstance(choice, Mapping) and isinstance(message := choice.get("message"), Mapping)):
            raise ProviderResponseInvalid("meta response has no choice with a message", provider=self.name)
        finish = finish_reason(choice.get("finish_reason"), _FINISH_REASONS)
        content = message.get("content")
        # A filtered or cut-short answer may come with no content at all.
        if content is None and finish != "stop":
            content = ""
        if not isinstance(content, str):
            raise ProviderResponseInvalid("meta message content is not a string", provider=self.name)
        model = body.get("model", self.model)
        if not isinstance(model, str):
            raise ProviderResponseInvalid("meta model is not a string", provider=self.name)
        usage = body.get("usage")
        usage = usage if isinstance(usage, Mapping) else {}
        return counted_completion(
            self.name,
            text=content,
            model=model,
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
            finish_reason=finish,
            latency_ms=elapsed_ms,
        )
