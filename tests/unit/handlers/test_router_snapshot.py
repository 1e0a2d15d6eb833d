"""The router's SnapStart hook: what it loads before a snapshot is taken, checked in a fresh
interpreter (this one has long imported the SDK)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.paths import REPO_ROOT

_PROBE = """
import gc, json, sys
import snapshot_restore_py
import functions.handlers.router
before = {"sdk": "mcp.client.session" in sys.modules, "frozen": gc.get_freeze_count()}
hooks = snapshot_restore_py.get_before_snapshot()
for func, args, kwargs in hooks:
    func(*args, **kwargs)
after = {"sdk": "mcp.client.session" in sys.modules, "frozen": gc.get_freeze_count()}
from functions.adapters.dynamodb.client import dynamodb_client
print(json.dumps({"hooks": [f.__name__ for f, _, _ in hooks], "before": before, "after": after,
                  "client_cached": dynamodb_client() is dynamodb_client()}))
"""


def test_the_snapshot_hook_loads_the_mcp_client_and_freezes_the_heap_without_touching_the_network() -> None:
    # Given a fresh interpreter that imports the router handler, with no AWS endpoint it could reach
    env = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "PATH": ""}
    # When Lambda's before-snapshot hooks run
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # Then the handler's import alone left the SDK out, and the hook loaded it and froze the heap
    assert result["hooks"] == ["prime_for_snapshot"]
    assert result["before"] == {"sdk": False, "frozen": 0}
    assert result["after"]["sdk"] is True
    assert result["after"]["frozen"] > 100_000
    assert result["client_cached"] is True
