"""Fixtures of the health-check tests (the lab itself is in health_lab.py, shared with tests/api)."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from health_lab import lab  # noqa: F401
