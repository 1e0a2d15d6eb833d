"""The local stack as `make run` starts it, in its own process, for the e2e tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.paths import REPO_ROOT

READY = re.compile(r"ready on (http://127\.0\.0\.1:\d+)/v1 client key (\S+) admin token (\S+)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Running:
    url: str
    client_key: str
    admin_token: str
    process: subprocess.Popen[str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def running() -> Iterator[Running]:
    env = {**os.environ, "PORT": str(_free_port()), "CLIENT_API_KEY": "hr-e2e-test-key"}
    process = subprocess.Popen(
        [sys.executable, "-m", "local"],
        cwd=REPO_ROOT,
        env=env,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    match = None
    assert process.stderr is not None
    while match is None and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            break
        match = READY.search(line)
    if match is None:
        process.kill()
        pytest.fail(f"the local stack did not print its ready line; exit code {process.poll()}")
    try:
        yield Running(match.group(1), match.group(2), match.group(3), process)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
