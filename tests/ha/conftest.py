"""Fixtures of the HA tests: a network-namespace lab (root only) and small helpers."""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ha_lab import Lab, netns_available


@pytest.fixture
def lab(tmp_path):
    reason = netns_available()
    if reason:
        pytest.skip(f"network-namespace lab unavailable: {reason}")
    the_lab = Lab(tmp_path)
    try:
        yield the_lab
    finally:
        the_lab.close()
