"""Typed errors of the domain. HTTP mapping lives in one place, the router's exception handlers.

Lambdas called by Step Functions let these escape, so the class name is the ASL `ErrorEquals`.
"""

from __future__ import annotations

from functions.domain.thresholds import QUOTED_INPUT_CHARS


def clip(value: object, limit: int = QUOTED_INPUT_CHARS) -> str:
    """What an error message shows of `value`, something a caller sent: its first `limit` characters, with
    `...` when cut, and every character that is not printable escaped (a lone surrogate becomes `\\udfff`)."""
    text = value if isinstance(value, str) else str(value)
    shown = repr(text[:limit])[1:-1]
    return shown + ("..." if len(text) > limit else "")


def quoted(value: object, limit: int = QUOTED_INPUT_CHARS) -> str:
    """`clip(value)` in quotes."""
    return f"'{clip(value, limit)}'"


class HybridRoutingError(Exception):
    """Base of every error this system raises on purpose."""

    status: int = 500
    error_type: str = "server_error"
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        retry_after: float | None = None,
        param: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.retry_after = retry_after
        self.param = param  # the request field at fault, when one is


# --- client errors -------------------------------------------------------------------------
class InvalidRequest(HybridRoutingError):
    status, error_type, code = 400, "invalid_request_error", "invalid_request"


class UnknownOperationType(InvalidRequest):
    code = "unknown_operation_type"


class Unauthorized(HybridRoutingError):
    status, error_type, code = 401, "authentication_error", "invalid_api_key"


class NotFound(HybridRoutingError):
    status, error_type, code = 404, "not_found_error", "not_found"


class Forbidden(HybridRoutingError):
    status, error_type, code = 403, "permission_error", "forbidden"


class VersionConflict(HybridRoutingError):
    """A write based on a version that is no longer current: re-read, then retry."""

    status, error_type, code = 409, "conflict_error", "version_conflict"


class PayloadTooLarge(HybridRoutingError):
    status, error_type, code = 413, "invalid_request_error", "payload_too_large"


class BudgetExceeded(HybridRoutingError):
    """The monthly AI budget is (nearly) spent: lower-priority operations are paused until next month."""

    status, error_type, code = 429, "insufficient_quota", "budget_exhausted"


class ClientRateLimited(HybridRoutingError):
    """The client key sent its limit of requests in the current quota window; `retry_after` is the time to the
    window's end, `param` names the limit."""

    status, error_type, code = 429, "rate_limit_error", "client_rate_limited"


class ClientTokenQuotaExceeded(ClientRateLimited):
    """The client key's requests spent its token limit in the current quota window."""

    code = "client_token_quota_exceeded"


# --- provider errors (what adapters raise) -------------------------------------------------
class ProviderError(HybridRoutingError):
    """A provider failed; `retryable` errors may be retried or failed over. `attempt_outcome` names
    an attempt that failed with it in `x-hybrid-attempts` (`bedrock:reset`); None: by its status."""

    retryable: bool = True
    attempt_outcome: str | None = None


class ProviderThrottled(ProviderError):
    status, error_type, code = 429, "rate_limit_error", "provider_throttled"


class ProviderUnavailable(ProviderError):
    status, error_type, code = 503, "server_error", "provider_unavailable"


class ProviderConnectionReset(ProviderUnavailable):
    """The connection was reset or closed before any byte of an answer: the provider most likely never
    saw the request (a pooled connection it had dropped, say), so resending it once is safe."""

    code, attempt_outcome = "provider_connection_reset", "reset"


class ProviderTimeout(ProviderError):
    """The provider was silent for the attempt's whole timeout: a hang is likely to hang again."""

    status, error_type, code = 504, "timeout_error", "provider_timeout"
    attempt_outcome = "timeout"


class ProviderBadRequest(ProviderError):
    """The provider refused the request itself: retrying or failing over will not help."""

    status, error_type, code = 400, "invalid_request_error", "provider_rejected_request"
    retryable = False


class ContextLengthExceeded(ProviderBadRequest):
    """The prompt is longer than the model's context window: resending it unchanged to the same model
    cannot help; only a model with a larger window can serve it."""

    code = attempt_outcome = "context_length_exceeded"


class ContentFiltered(ProviderBadRequest):
    """The provider's safety system refused the prompt or the answer; `message` carries its reason.
    Failing over around a safety system is an operator's decision, off by default."""

    code, attempt_outcome = "content_policy_violation", "content_filter"


class ProviderResponseInvalid(ProviderError):
    """The provider answered, but not in its protocol's shape (malformed, truncated, wrong types)."""

    status, error_type, code = 502, "server_error", "provider_bad_response"


class ProviderStreamCut(ProviderUnavailable):
    """A provider's stream broke after content was sent to the client (a reset, a closed connection, an
    in-stream exception): the client's stream ends with an error event, never with a finish_reason."""

    code, attempt_outcome = "provider_stream_cut", "cut"


class ProviderStreamStalled(ProviderTimeout):
    """A provider's stream sent nothing for the stall limit after content was sent to the client."""

    code, attempt_outcome = "provider_stream_stalled", "stall"


class DependencyUnavailable(HybridRoutingError):
    """One of our own stores cannot answer (not the client's fault, not a provider's)."""

    status, error_type, code = 503, "server_error", "dependency_unavailable"


# --- routing errors ------------------------------------------------------------------------
class NoRouteAvailable(HybridRoutingError):
    status, error_type, code = 503, "server_error", "no_route_available"
