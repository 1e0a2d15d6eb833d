"""A live Bedrock probe before traffic goes back to it (incident-response.md, "Gradually Re-enable
Direct Bedrock"): one one-token turn through the router's own Bedrock adapter."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

from functions.adapters.providers.registry import build_providers
from functions.adapters.providers.settings import get_provider_settings
from functions.app.admin.access import require_operator
from functions.domain.completion import CompletionRequest, Provider, Turn
from functions.domain.errors import InvalidRequest, ProviderError
from functions.domain.thresholds import BEDROCK_PROBE_TIMEOUT_SECONDS
from functions.handlers.admin.routes.common import Who, admin_router

router = admin_router()
PING = CompletionRequest(turns=(Turn("user", "ping"),), max_tokens=1, temperature=0.0)


@lru_cache(maxsize=1)
def _providers() -> dict[str, Provider]:
    return build_providers(get_provider_settings())


@router.post("/test")
def bedrock_test(who: Who) -> dict[str, Any]:
    require_operator(who)  # a live call, billed: operators only
    bedrock = _providers().get("bedrock")
    if bedrock is None:
        raise InvalidRequest("bedrock is not a configured Direct provider (DIRECT_PROVIDERS)")
    configured = get_provider_settings().bedrock_model_id
    started = time.monotonic()
    try:
        completion = bedrock.complete(PING, BEDROCK_PROBE_TIMEOUT_SECONDS)
    except ProviderError as exc:
        # The typed code only: a provider's message may echo its own internals.
        return {"ok": False, "errorCode": exc.code, "latency_ms": _elapsed(started), "model": configured}
    return {"ok": True, "latency_ms": _elapsed(started), "model": completion.model or configured}


def _elapsed(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 2)
