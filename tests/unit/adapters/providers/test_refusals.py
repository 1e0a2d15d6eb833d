"""The wording of the refusals providers give no code of their own."""

from __future__ import annotations

import pytest

from functions.adapters.providers.refusals import says_content_filtered, says_context_length_exceeded


@pytest.mark.parametrize(
    "message",
    [
        "Input is too long for requested model.",
        "too many input tokens",
        "prompt is too long: 210000 tokens > 200000 maximum",
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
        "This model's maximum context length is 8192 tokens",
        "The request exceeds the model's context window.",
    ],
)
def test_each_wording_of_a_prompt_too_long_is_recognised(message):
    assert says_context_length_exceeded(message)
    assert not says_content_filtered(message)


@pytest.mark.parametrize(
    "message",
    [
        "A conversation must start with a user message.",
        "The value exceeds the maximum allowed for temperature.",  # a maximum, but not of tokens
        "",
        None,
        42,
    ],
)
def test_other_messages_are_not_a_prompt_too_long(message):
    assert not says_context_length_exceeded(message)


def test_a_request_blocked_by_the_content_filters_is_recognised():
    assert says_content_filtered("This request has been blocked by our content filters.")
    assert not says_content_filtered("Malformed input request, please reformat your input and try again.")
    assert not says_content_filtered(None)
