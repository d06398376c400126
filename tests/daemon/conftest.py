from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from daemon_lab import Backend, Tracker, free_port, proxy_config


@pytest.fixture
def tracker():
    t = Tracker()
    yield t
    t.cleanup()


@pytest.fixture
def backend():
    b = Backend()
    yield b
    b.close()


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def write_cfg(tmp_path):
    def write(text: str, name: str = "fastlb.cfg") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


@pytest.fixture
def cfg(tmp_path, port, backend):
    """A two-worker HTTP proxy on `port` in front of `backend`."""
    path = tmp_path / "fastlb.cfg"
    path.write_text(proxy_config(port, backend.port))
    return str(path)
