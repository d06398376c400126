"""The SIMD scanning paths this CPU can run (shared by the parser tests)."""
from __future__ import annotations

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
