"""Response cache rules: which requests may be answered from the cache, and under which key.

The key covers what decides the answer: the operation type (it picks the route, hence the provider and
model, through the routing matrix, so a background answer from MCP never serves an emergency request
that must come from the direct route), the requested model, the messages (role and text, whitespace at
both ends ignored) and the sampling parameters. It leaves out `user`, `metadata` and `name`: they
identify the caller, not the question, and providers never see them, so including them would only split
identical answers across keys (and put caller identities into a shared key space).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from functions.domain.errors import InvalidRequest
from functions.domain.models import ChatCompletionRequest, ChatCompletionResponse

CACHE_HEADER = "X-Hybrid-Cache"
CacheDecision = Literal["use", "bypass"]

_KEY_VERSION = 1  # bump when the canonical form changes, so old entries are never read under new rules
_HEADER_VALUES: dict[str, CacheDecision] = {"use": "use", "bypass": "bypass", "no-store": "bypass"}


def _number(value: float | None) -> float | None:
    # 0 and 0.0 are the same request.
    return None if value is None else float(value)


def canonical_request(request: ChatCompletionRequest, operation: str) -> dict[str, Any]:
    """The normalized form of `request` the cache key is a digest of."""
    stop = [request.stop] if isinstance(request.stop, str) else list(request.stop or [])
    return {
        "v": _KEY_VERSION,
        "operation": operation,
        "model": request.model,
        "messages": [[message.role, message.text().strip()] for message in request.messages],
        "max_tokens": request.max_completion_tokens or request.max_tokens,
        "temperature": _number(request.temperature),
        "top_p": _number(request.top_p),
        "stop": stop,  # order kept: it is the caller's, and reordering would need proof it never matters
    }


def cache_key(request: ChatCompletionRequest, operation: str) -> str:
    """SHA-256 hex digest of the canonical JSON of the normalized request."""
    canonical = json.dumps(
        canonical_request(request, operation), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    # surrogatepass: a lone surrogate (JSON allows "\udfff") still hashes; every other string as plain UTF-8.
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def cache_decision(request: ChatCompletionRequest, header_value: str | None) -> CacheDecision:
    """`use` when the caller asks for it (`X-Hybrid-Cache: use`) or the request is deterministic
    (temperature explicitly 0); `bypass` when the caller says `bypass`/`no-store` or the request may
    sample. The header wins over the temperature. An empty header counts as absent."""
    raw = (header_value or "").strip()
    value = raw.lower()
    if value:
        decision = _HEADER_VALUES.get(value)
        if decision is None:
            raise InvalidRequest(
                f"{CACHE_HEADER} must be 'use' or 'bypass' ('no-store' is accepted for 'bypass'), not {raw[:40]!r}"
            )
        return decision
    return "use" if request.temperature is not None and request.temperature == 0 else "bypass"


@dataclass(frozen=True, slots=True)
class CacheTtls:
    """How long an answer is served normally (`fresh_s`), then how much longer it may be served stale,
    only when no route can serve (`stale_s`). Seconds."""

    fresh_s: float
    stale_s: float


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """A stored answer: the ChatCompletionResponse JSON and where it came from. Epoch seconds."""

    body: dict[str, Any]
    provider: str
    route: str
    model: str
    stored_at: float
    fresh_until: float

    def is_fresh(self, now: float) -> bool:
        return now < self.fresh_until

    def fresh_until_under(self, ttls: CacheTtls) -> float:
        """When the entry stops being fresh under `ttls`: a shorter fresh TTL than the one it was stored
        with applies to it at once; a longer one applies to the entries stored after the change."""
        return min(self.fresh_until, self.stored_at + ttls.fresh_s)

    def stale_until_under(self, ttls: CacheTtls) -> float:
        """When the entry may no longer be served even stale."""
        return self.fresh_until_under(ttls) + ttls.stale_s

    def age(self, now: float) -> float:
        return max(0.0, now - self.stored_at)

    def response(self) -> ChatCompletionResponse:
        return ChatCompletionResponse.model_validate(self.body)

    @classmethod
    def of(
        cls, response: ChatCompletionResponse, *, provider: str, route: str, now: float, fresh_for_s: float
    ) -> CachedResponse:
        return cls(
            body=response.model_dump(mode="json"),
            provider=provider,
            route=route,
            model=response.model,
            stored_at=now,
            fresh_until=now + fresh_for_s,
        )
