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
    # The suite's one client key sends thousands of requests a minute; the quota tests make keys of their own limits
    os.environ["CLIENT_REQUESTS_PER_MINUTE"] = os.environ["CLIENT_TOKENS_PER_MINUTE"] = "100000000"
    from local.stack import start

    stack = start(port=0, serve_gateway_in_thread=False)
    try:
        yield stack
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)


# Suites in this order: the unit tests (network off, no local stack) run before the local stack
# starts. pytest-socket's disable_socket patches socket.socket for every thread, so a local stack
# already running would see its background threads (timers, watchers, the event bridge) and its
# servers' accept() fail while the unit tests run.
SUITE_ORDER = ("unit", "infrastructure", "integration", "workflows", "e2e")


def pytest_collection_modifyitems(session, config, items) -> None:
    def suite(item) -> int:
        parts = item.path.relative_to(config.rootpath).parts
        name = parts[1] if len(parts) > 1 and parts[0] == "tests" else ""
        return SUITE_ORDER.index(name) if name in SUITE_ORDER else len(SUITE_ORDER)

    items.sort(key=suite)  # stable: each suite keeps pytest's own order
