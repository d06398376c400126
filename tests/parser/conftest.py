"""Fixtures of the parser tests: run a test under each SIMD scanning path the CPU has."""
from __future__ import annotations

import pytest

from fastlb import http1

LEVELS = ("scalar", "sse4.2", "avx2")


def available_levels() -> list[str]:
    """The levels this CPU can run (forcing a higher one falls back, so probe each)."""
    out = []
    try:
        for level in LEVELS:
            if http1.set_simd_level(level) == level:
                out.append(level)
    finally:
        http1.set_simd_level("best")
    return out


AVAILABLE = available_levels()


@pytest.fixture(params=AVAILABLE)
def simd(request: pytest.FixtureRequest):
    """Force one scanning path for the test, then go back to the best."""
    assert http1.set_simd_level(request.param) == request.param
    yield request.param
    http1.set_simd_level("best")
