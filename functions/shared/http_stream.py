"""An HTTP answer whose body may arrive in pieces: what the router gives a streaming host (the local
gateway, the Lambda response-streaming loop) for every request, streamed or buffered."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class HttpStream:
    """`status` and `headers` are final before the first chunk is sent; `chunks` yields the body.
    `close()` stops whatever produces the chunks (a provider call) when the client goes away."""

    status: int
    headers: dict[str, str]
    chunks: Iterator[bytes]
    streamed: bool = field(default=False)

    @classmethod
    def buffered(cls, result: dict[str, Any]) -> HttpStream:
        """A proxy integration result (`statusCode`, `headers`, `multiValueHeaders`, `body`) as one chunk."""
        body = result.get("body") or ""
        content = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers[str(key)] = ", ".join(str(v) for v in values)
        return cls(int(result.get("statusCode", 500)), headers, iter((content,) if content else ()))

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()
