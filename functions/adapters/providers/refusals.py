"""How providers word the refusals they give no code of their own.

Bedrock answers a prompt too long for the model and a prompt its content filters blocked with the
same `ValidationException`, and Gemini a prompt too long with the same `INVALID_ARGUMENT` as any
other bad field: within that one code, the wording is the only signal there is. These phrases are
read only in an error that is a bad request already, so a change of wording makes the refusal a
plain bad request, never a retry.
"""

from __future__ import annotations

# "Input is too long for requested model.", "too many input tokens", "The input token count (N)
# exceeds the maximum number of tokens allowed (M).", "prompt is too long: N tokens > M maximum".
_CONTEXT_LENGTH_PHRASES = (
    "input is too long",
    "too many input tokens",
    "prompt is too long",
    "context length",
    "context window",
)
_EXCEEDS_THE_MAXIMUM_OF_TOKENS = ("exceeds the maximum", "token")  # both, anywhere
# "This request has been blocked by our content filters."
_CONTENT_FILTER_PHRASE = "content filter"


def says_context_length_exceeded(message: object) -> bool:
    """Whether a provider's error message says the prompt does not fit the model's context window."""
    if not isinstance(message, str):
        return False
    text = message.lower()
    return any(phrase in text for phrase in _CONTEXT_LENGTH_PHRASES) or all(
        part in text for part in _EXCEEDS_THE_MAXIMUM_OF_TOKENS
    )


def says_content_filtered(message: object) -> bool:
    """Whether a provider's error message says its content filters blocked the request."""
    return isinstance(message, str) and _CONTENT_FILTER_PHRASE in message.lower()
