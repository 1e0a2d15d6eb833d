"""Unit tests run with the network off."""

import pytest
import pytest_socket


@pytest.fixture(autouse=True)
def _no_network():
    pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()
