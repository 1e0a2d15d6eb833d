"""Every `curl` of the five runbooks that calls the system's own API, replayed against the local
stack as `make run` starts it: same method, path and body; status and response shape checked.

The calls are read from ../shared/runbooks at test time, so a runbook that gains a curl gains a
test. The runbooks' host (api.matbakh.app) reads as the local gateway; /admin calls carry the
admin token (some runbook lines leave it out for brevity)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.paths import REPO_ROOT


def _runbooks_dir() -> Path:
    """The runbooks: $HYBRID_RUNBOOKS_DIR, else ../shared/runbooks beside this checkout (as CI lays it
    out), else beside the repository this one was cloned from (a scratch clone such as /tmp/fresh-N)."""
    candidates = [REPO_ROOT.parent / "shared" / "runbooks"]
    if configured := os.environ.get("HYBRID_RUNBOOKS_DIR"):
        candidates.insert(0, Path(configured))
    origin = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "config", "--get", "remote.origin.url"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if origin.startswith("/") or origin.startswith("file://"):
        candidates.append(Path(origin.removeprefix("file://")).parent / "shared" / "runbooks")
    return next((c for c in candidates if c.is_dir()), candidates[0])


RUNBOOKS = _runbooks_dir()
OWN_HOST = "https://api.matbakh.app"


@dataclass(frozen=True)
class Call:
    source: str
    method: str
    path: str
    body: str | None
    headers: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.source})"


def _commands(text: str) -> list[tuple[int, str]]:
    """Each shell command containing `curl`, with backslash continuations joined."""
    lines, found, buffer, start = text.splitlines(), [], "", 0
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not buffer:
            start = number
        buffer += " " + stripped.rstrip("\\")
        if stripped.endswith("\\") or ("curl " in buffer and buffer.count("'") % 2 == 1):
            continue
        if "curl " in buffer:
            found.append((start, buffer.strip()))
        buffer = ""
    return found


def _parse(source: str, command: str) -> Call | None:
    inner = re.search(r"'(curl [^']*)'", command)  # watch -n 30 'curl -s ... | jq'
    command = inner.group(1) if inner else command[command.index("curl ") :]
    words = shlex.split(command.split("|")[0])
    method, body, url, headers = "GET", None, None, []
    i = 1
    while i < len(words):
        word = words[i]
        if word == "-X":
            method, i = words[i + 1], i + 2
            continue
        if word in ("-d", "--data"):
            body, i = words[i + 1], i + 2
            method = "POST" if method == "GET" else method
            continue
        if word == "-H":
            name, _, value = words[i + 1].partition(":")
            if name.strip().lower() != "authorization":  # the token is the test's own
                headers.append((name.strip(), value.strip()))
            i += 2
            continue
        if word.startswith("http"):
            url = word
        i += 1
    if url is None or not url.startswith(OWN_HOST):
        return None
    return Call(source, method, url[len(OWN_HOST) :], body, tuple(headers))


def runbook_calls() -> list[Call]:
    assert RUNBOOKS.is_dir(), f"the runbooks are missing at {RUNBOOKS} (set HYBRID_RUNBOOKS_DIR)"
    calls: dict[tuple[str, str, str | None], Call] = {}
    for path in sorted(RUNBOOKS.glob("*.md")):
        for line, command in _commands(path.read_text()):
            call = _parse(f"{path.name}:{line}", command)
            if call is not None:
                calls.setdefault((call.method, call.path, call.body), call)
    return list(calls.values())


CALLS = runbook_calls()


def test_the_runbooks_call_the_api_at_least_thirty_distinct_ways():
    assert len(CALLS) >= 30, [str(c) for c in CALLS]


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_each_runbook_call_is_answered_as_the_runbook_expects(running, call):
    headers = dict(call.headers)  # exactly the runbook's headers: curl -d without one sends a form type
    if call.body and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if call.path.startswith("/admin"):
        headers["Authorization"] = f"Bearer {running.admin_token}"
    body = call.body
    if call.path.startswith("/health/metrics"):  # metrics of some traffic, as in production
        for _ in range(3):
            httpx.post(
                f"{running.url}/v1/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": "ping"}]},
                headers={"Authorization": f"Bearer {running.client_key}"},
                timeout=30,
            )
    if body and body.startswith("@"):  # -d @new-routing-rules.json: the current rules, as an operator edits them
        current = httpx.get(f"{running.url}/admin/config/routing-rules", headers=headers, timeout=30)
        assert current.status_code == 200, current.text
        body = json.dumps({k: v for k, v in current.json().items() if k != "version"})
    response = httpx.request(call.method, f"{running.url}{call.path}", headers=headers, content=body, timeout=30)
    assert response.status_code == 200, f"{call}: {response.status_code} {response.text[:300]}"
    payload = response.json() if "json" in response.headers.get("content-type", "") else None
    assert isinstance(payload, dict), f"{call}: not a JSON object"
    _check_shape(call, payload)


def _check_shape(call: Call, payload: dict) -> None:
    path = call.path.split("?")[0]
    if path == "/health":
        assert payload["status"] in ("healthy", "degraded", "critical")
    elif path == "/health/metrics":
        assert isinstance(payload["data"]["routingEfficiency"], int | float)
    elif path == "/admin/feature-flags/bedrock":
        assert {"ENABLE_BEDROCK_SUPPORT_MODE", "ENABLE_INTELLIGENT_ROUTING"} <= set(payload)
    elif path.startswith("/health/component/"):
        assert payload["name"] == path.rsplit("/", 1)[1] and payload["status"]
    elif path == "/admin/audit/trail-integrity":
        assert payload["status"] == "valid"
