"""The Meta adapter: the Llama API's OpenAI-compatible chat completions (no SDK, see `http.py`).

Llama models served through Bedrock use `BedrockProvider(name="meta")` instead (see the registry).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import urllib3

from functions.core.errors import (
    ProviderBadRequest,
    ProviderError,
    ProviderResponseInvalid,
    ProviderThrottled,
    ProviderTimeout,
    ProviderUnavailable,
)
from functions.providers.base import Completion, CompletionRequest
from functions.providers.http import ErrorDialect, JsonApi, api_key, is_count

DEFAULT_ENDPOINT_URL = "https://api.llama.com/compat/v1"

FinishReason = Literal["stop", "length", "content_filter"]
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
    "context_length_exceeded": ProviderBadRequest,
}


def _error_codes(error: Mapping[str, Any]) -> Iterable[object]:
    return [error.get("code")]


OPENAI_ERRORS = ErrorDialect(error_by_code=_ERROR_BY_CODE, codes_of=_error_codes)


class LlamaApiProvider:
    """`Provider` over the Llama API's `/chat/completions`."""

    name = "meta"

    def __init__(
        self,
        model: str,
        api_key: Callable[[], str],
        endpoint_url: str = DEFAULT_ENDPOINT_URL,
        *,
        http: urllib3.PoolManager | None = None,
    ) -> None:
        self.model = model
        self.endpoint_url = endpoint_url.rstrip("/")
        self._api_key = api_key
        self._api = JsonApi(self.name, OPENAI_ERRORS, http)

    @property
    def url(self) -> str:
        return f"{self.endpoint_url}/chat/completions"

    def complete(self, request: CompletionRequest, timeout_s: float) -> Completion:
        if timeout_s <= 0:
            raise ProviderTimeout("no latency budget left for meta", provider=self.name)
        headers = {"Authorization": f"Bearer {api_key(self._api_key, self.name)}"}
        answer = self._api.post(self.url, self.chat_completion_body(request), headers, timeout_s)
        return self._completion(answer.body, answer.elapsed_ms)

    def chat_completion_body(self, request: CompletionRequest) -> dict[str, Any]:
        """The chat completion request for `request`; optional settings only when set."""
        messages = [{"role": "system", "content": text} for text in request.system]
        messages += [{"role": turn.role, "content": turn.text} for turn in request.turns]
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        if request.max_tokens is not None:
            body["max_completion_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop"] = list(request.stop)
        return body

    def _completion(self, body: Mapping[str, Any], elapsed_ms: float) -> Completion:
        choices = body.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not (isinstance(choice, Mapping) and isinstance(message := choice.get("message"), Mapping)):
            raise ProviderResponseInvalid("meta response has no choice with a message", provider=self.name)
        reason = choice.get("finish_reason")
        finish = _FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"
        content = message.get("content")
        # A filtered or cut-short answer may come with no content at all.
        if content is None and finish != "stop":
            content = ""
        if not isinstance(content, str):
            raise ProviderResponseInvalid("meta message content is not a string", provider=self.name)
        usage = body.get("usage")
        prompt = usage.get("prompt_tokens") if isinstance(usage, Mapping) else None
        completion = usage.get("completion_tokens") if isinstance(usage, Mapping) else None
        if not (is_count(prompt) and is_count(completion)):
            raise ProviderResponseInvalid("meta usage token counts are not non-negative integers", provider=self.name)
        model = body.get("model", self.model)
        if not isinstance(model, str):
            raise ProviderResponseInvalid("meta model is not a string", provider=self.name)
        return Completion(
            text=content,
            model=model,
            input_tokens=prompt,
            output_tokens=completion,
            finish_reason=finish,
            provider_latency_ms=elapsed_ms,
        )
