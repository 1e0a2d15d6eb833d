"""Fakes shared by the unit tests of the adapters that speak JSON over urllib3 (Google, Llama API)."""

from __future__ import annotations

import json
from typing import Any

import urllib3


class ScriptedPool(urllib3.PoolManager):
    """Answers each request with the next scripted response, or raises the next scripted error."""

    def __init__(self, *answers: urllib3.HTTPResponse | Exception) -> None:
        super().__init__()
        self.answers = list(answers)
        self.calls: list[dict[str, Any]] = []

    def urlopen(self, method: str, url: str, redirect: bool = True, **kw: Any) -> urllib3.HTTPResponse:
        self.calls.append({"method": method, "url": url, "redirect": redirect, **kw})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def sent(self) -> dict[str, Any]:
        return json.loads(self.calls[-1]["body"])


def answer(body: object, status: int = 200, headers: dict[str, str] | None = None) -> urllib3.HTTPResponse:
    """An HTTP response with `body` as JSON (or as it is, when bytes)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return urllib3.HTTPResponse(body=data, status=status, headers=headers or {}, preload_content=True)
