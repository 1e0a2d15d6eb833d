"""The local stack as `make run` starts it, in its own process, for the e2e tests."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.local_process import launch, ready_line


@dataclass
class Running:
    url: str
    client_key: str
    admin_token: str
    process: subprocess.Popen[str]


@contextlib.contextmanager
def started_stack(**env: str) -> Iterator[Running]:
    """`python -m local` in its own process with `env` added, until the block ends (then Ctrl-C)."""
    process = launch(**env)
    match = ready_line(process)
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


@pytest.fixture(scope="session")
def running() -> Iterator[Running]:
    with started_stack(CLIENT_API_KEY="hr-e2e-test-key") as stack:
        yield stack
