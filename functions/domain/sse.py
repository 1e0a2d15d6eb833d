"""OpenAI's chat completion stream as bytes: `chat.completion.chunk` server-sent events, the usage chunk,
the `[DONE]` terminator and the error event a broken stream ends with.

Pure: the stream's id, creation time and model come in; every event is one `data: <json>\\n\\n` frame."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

CONTENT_TYPE = "text/event-stream"
DONE = b"data: [DONE]\n\n"


def frame(payload: dict[str, Any]) -> bytes:
    """One SSE `data:` event of `payload` as compact JSON (JSON never holds a raw newline, so one line)."""
    return b"data: " + json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n\n"


@dataclass(frozen=True, slots=True)
class ChunkEncoder:
    """The chunks of one answer, all under its id, creation time and model."""

    id: str
    created: int
    model: str

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return frame(
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": choices,
                **extra,
            }
        )

    def role(self) -> bytes:
        """The first chunk: the assistant's role, no content yet."""
        return self._chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])

    def content(self, text: str) -> bytes:
        return self._chunk([{"index": 0, "delta": {"content": text}, "finish_reason": None}])

    def finish(self, reason: str) -> bytes:
        """The last chunk of the answer: an empty delta and its finish reason."""
        return self._chunk([{"index": 0, "delta": {}, "finish_reason": reason}])

    def usage(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        """The chunk `stream_options.include_usage` asks for: no choices, the answer's usage."""
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        return self._chunk([], usage=usage)


def error_event(error_type: str, message: str, code: str) -> bytes:
    """What a stream broken after its first delta ends with, in OpenAI's error shape (no `[DONE]` after it)."""
    return frame({"error": {"type": error_type, "message": message, "code": code, "param": None}})
