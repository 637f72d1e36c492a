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


ASSET_CALLS = ("checkpoint(", "dataset_args(", "asset_home(")


def _needs_assets(item) -> bool:
    """True when the test or one of its fixtures (recursively) asks the catalog for a model or dataset."""
    import inspect

    seen, todo = set(), [getattr(item, "function", None)]
    info = getattr(item, "_fixtureinfo", None)
    for definitions in info.name2fixturedefs.values() if info else ():
        todo.extend(definition.func for definition in definitions)
    for function in todo:
        if function is None or function in seen:
            continue
        seen.add(function)
        try:
            source = inspect.getsource(function)
        except (OSError, TypeError):
            continue
        if any(call in source for call in ASSET_CALLS):
            return True
    return False


def pytest_collection_modifyitems(config, items):
    """Markers the tiers select on: every notebook cell nbval collects is ``notebooks``; a test that asks the catalog
    for a model or dataset (itself or through a fixture) is ``assets`` (``make test-fast`` deselects both)."""
    for item in items:
        if str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.notebooks)
        elif "assets" not in item.keywords and _needs_assets(item):
            item.add_marker(pytest.mark.assets)
