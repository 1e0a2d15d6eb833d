"""The local stack as `make run` starts it (`python -m local`), in a process of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

from tests.paths import REPO_ROOT
from tests.polling import eventually, free_port

TOKEN_VARIABLES = ("CLIENT_API_KEY", "ADMIN_TOKEN", "ADMIN_READONLY_TOKEN")
READY = re.compile(r"ready on (http://127\.0\.0\.1:\d+)/v1 client key (\S+) admin token (\S+)")


def launch(*args: str, **env: str) -> subprocess.Popen[str]:
    """`python -m local *args` on a free port, with `env` added (a state directory of its own unless
    LOCAL_STATE_DIR is given: never the repository's); its stderr piped (ready line, shutdown report)."""
    env.setdefault("LOCAL_STATE_DIR", tempfile.mkdtemp(prefix="local-state-"))
    # Tokens an in-process stack of the same test run left in os.environ are not this process's.
    inherited = {k: v for k, v in os.environ.items() if k not in TOKEN_VARIABLES}
    return subprocess.Popen(
        [sys.executable, "-m", "local", *args],
        cwd=REPO_ROOT,
        env={**inherited, "PORT": str(free_port()), **env},
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def ready_line(process: subprocess.Popen[str], timeout_s: float = 60.0) -> re.Match[str] | None:
    """The stack's ready line; None when the process ended, or `timeout_s` passed, before printing it."""
    stderr = process.stderr
    assert stderr is not None
    try:
        line = eventually(
            stderr.readline,
            lambda line: READY.search(line) or (not line and process.poll() is not None),
            timeout=timeout_s,
            interval=0,
            what="the local stack's ready line",
        )
    except AssertionError:
        return None
    return READY.search(line)
