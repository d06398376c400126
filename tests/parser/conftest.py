"""Fixtures of the parser tests: run a test under each SIMD scanning path the CPU has."""
from __future__ import annotations

import pytest
from simdlevels import AVAILABLE

from fastlb import http1


@pytest.fixture(params=AVAILABLE)
def simd(request: pytest.FixtureRequest):
    """Force one scanning path for the test, then go back to the best."""
    assert http1.set_simd_level(request.param) == request.param
    yield request.param
    http1.set_simd_level("best")
