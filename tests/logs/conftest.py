"""Fixtures of the logging tests: the black-box helpers of tests/stats (statlib.py)."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stats"))

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
