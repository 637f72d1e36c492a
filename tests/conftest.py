"""Test setup: offline, quiet environment before any Hugging Face import, and no network at all."""

import os
import socket

import pytest

import utils.environment

utils.environment.configure()
os.environ.setdefault("LLM_RETREAT_SMOKE", "1")


class NetworkBlocked(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every unit test runs with outbound sockets blocked: a test that needs the network fails loudly."""
    real_connect = socket.socket.connect

    def guarded_connect(self, address):
        if self.family == getattr(socket, "AF_UNIX", None):
            return real_connect(self, address)
        raise NetworkBlocked(f"network access attempted in a unit test: {address!r}")

    def guarded_create_connection(address, *args, **kwargs):
        raise NetworkBlocked(f"network access attempted in a unit test: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "create_connection", guarded_create_connection)
    yield


def pytest_collection_modifyitems(config, items):
    """Every notebook cell nbval collects carries the ``notebooks`` marker (``make test-fast`` deselects them)."""
    for item in items:
        if str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.notebooks)
