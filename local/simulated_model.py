"""A deterministic stand-in for a language model, shared by every local provider simulator.

The same messages and parameters always give the same answer, so tests can assert on it. The
answer names a digest of the last user message rather than echoing it: prompts never travel back
through logs or responses by accident. Tokens are counted as whitespace-separated words.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

SimFinish = Literal["stop", "length"]


@dataclass(frozen=True, slots=True)
class SimMessage:
    role: str
    text: str


@dataclass(frozen=True, slots=True)
class SimCompletion:
    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: SimFinish
    stop_sequence: str | None = None  # the stop sequence that ended the text, if one did


def count_tokens(text: str) -> int:
    return len(text.split())


def prompt_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def full_answer(messages: Sequence[SimMessage], model: str) -> str:
    last_user = next((m.text for m in reversed(messages) if m.role == "user"), "")
    return (
        f"Simulated answer from {model} to request {prompt_digest(last_user)} "
        f"after {len(messages)} messages and {count_tokens(last_user)} words."
    )


def generate(
    messages: Sequence[SimMessage],
    *,
    model: str = "simulated",
    max_tokens: int | None = None,
    stop: Sequence[str] = (),
) -> SimCompletion:
    """Answer `messages`: cut at the first stop sequence, then at `max_tokens` words."""
    text = full_answer(messages, model)
    finish: SimFinish = "stop"
    hits = sorted((i, s) for s in stop if s and (i := text.find(s)) >= 0)
    matched = hits[0][1] if hits else None
    if hits:
        text = text[: hits[0][0]].rstrip()
    words = text.split()
    if max_tokens is not None and len(words) > max_tokens:
        words, finish, matched = words[:max_tokens], "length", None
        text = " ".join(words)
    input_tokens = sum(count_tokens(m.text) for m in messages)
    return SimCompletion(
        text=text,
        input_tokens=max(input_tokens, 1),
        output_tokens=len(words),
        finish_reason=finish,
        stop_sequence=matched,
    )
