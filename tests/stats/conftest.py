"""Fixtures of the statistics tests (helpers in statlib.py, shared with tests/logs)."""
from __future__ import annotations

import pytest
from statlib import Stack, SyslogReceiver


@pytest.fixture
def stack(tmp_path, fastlb):
    s = Stack(tmp_path, fastlb)
    yield s
    s.stop()


@pytest.fixture
def syslog():
    r = SyslogReceiver()
    yield r
    r.close()
