"""Fixtures shared by the integration and e2e suites."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def local_stack() -> Iterator[object]:
    """The embedded stack (moto server, provider simulators, MCP server) with the router handler
    behind the gateway app, served in this process. Restores the environment afterwards."""
    saved = dict(os.environ)
    os.environ["HEALTH_CHECK_INTERVAL_SECONDS"] = "3600"  # tests run the checker themselves
    os.environ["ALARM_EVALUATION_INTERVAL_SECONDS"] = "0"  # tests run the alarm evaluation themselves
    from local.stack import start

    stack = start(port=0, serve_gateway_in_thread=False)
    try:
        yield stack
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)
