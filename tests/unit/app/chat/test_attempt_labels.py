"""How `x-hybrid-attempts` names each attempt: by what its error means to the attempt policy."""

from __future__ import annotations

import pytest

from functions.app.chat.attempts import attempt_label
from functions.domain.errors import (
    ContentFiltered,
    ContextLengthExceeded,
    ProviderBadRequest,
    ProviderConnectionReset,
    ProviderError,
    ProviderResponseInvalid,
    ProviderThrottled,
    ProviderTimeout,
    ProviderUnavailable,
)


@pytest.mark.parametrize(
    ("error", "label"),
    [
        (None, "bedrock:ok"),
        (ProviderConnectionReset("reset"), "bedrock:reset"),
        (ProviderTimeout("silent"), "bedrock:timeout"),
        (ContextLengthExceeded("too long"), "bedrock:context_length_exceeded"),
        (ContentFiltered("blocked"), "bedrock:content_filter"),
        (ProviderUnavailable("down"), "bedrock:503"),
        (ProviderThrottled("slow down"), "bedrock:429"),
        (ProviderBadRequest("no"), "bedrock:400"),
        (ProviderResponseInvalid("garbled"), "bedrock:502"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, ProviderError | None) else value,
)
def test_each_attempt_is_named_by_its_outcome(error, label):
    assert attempt_label("bedrock", error) == label


def test_a_connection_reset_is_a_kind_of_unavailability_with_its_own_code():
    reset = ProviderConnectionReset("reset", provider="google")

    assert isinstance(reset, ProviderUnavailable)
    assert (reset.status, reset.code, reset.retryable) == (503, "provider_connection_reset", True)
