"""Fixtures of the runtime API tests: the lab of tests/health (health_lab.py)."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "health"))

from health_lab import lab  # noqa: F401
