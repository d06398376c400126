"""The three scanning paths agree with each other on every input, and the choice is visible."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simdlevels import AVAILABLE

from fastlb import http1


def outcome(fn, data: bytes):
    try:
        r = fn(data)
        return ("ok", r)
    except http1.InvalidMessage as exc:
        return ("invalid", exc.code, exc.offset)
    except http1.IncompleteMessage:
        return ("incomplete",)


def under_each_level(fn, data: bytes) -> list:
    results = []
    try:
        for level in AVAILABLE:
            http1.set_simd_level(level)
            results.append(outcome(fn, data))
    finally:
        http1.set_simd_level("best")
    return results


# Long fields so that the 16- and 32-byte blocks are used, with one odd byte anywhere.
FIELD = st.binary(min_size=0, max_size=120)


@settings(max_examples=300, deadline=None)
@given(method=st.binary(max_size=40), target=FIELD, name=FIELD, value=FIELD)
def test_request_scanners_agree(method: bytes, target: bytes, name: bytes, value: bytes) -> None:
    raw = method + b" /" + target + b" HTTP/1.1\r\nHost: a\r\n" + name + b": " + value + b"\r\nX: y\r\n\r\n"
    results = under_each_level(http1.parse_request, raw)
    assert all(r == results[0] for r in results), results


@settings(max_examples=200, deadline=None)
@given(prefix=st.integers(min_value=0, max_value=90), bad=st.integers(min_value=0, max_value=255),
       where=st.sampled_from(["method", "target", "name", "value"]))
def test_one_bad_byte_is_found_at_the_same_place(prefix: int, bad: int, where: str) -> None:
    parts = {"method": b"M" * 40, "target": b"/" + b"t" * 90, "name": b"N" * 90, "value": b"v" * 90}
    field = parts[where]
    pos = min(prefix, len(field) - 1)
    parts[where] = field[:pos] + bytes([bad]) + field[pos + 1:]
    raw = (parts["method"] + b" " + parts["target"] + b" HTTP/1.1\r\n" + parts["name"] + b": " + parts["value"]
           + b"\r\n\r\n")
    results = under_each_level(http1.parse_request, raw)
    assert all(r == results[0] for r in results), results


@settings(max_examples=100, deadline=None)
@given(reason=FIELD, value=FIELD)
def test_response_scanners_agree(reason: bytes, value: bytes) -> None:
    raw = b"HTTP/1.1 200 " + reason + b"\r\nA: " + value + b"\r\n\r\n"
    results = under_each_level(http1.parse_response, raw)
    assert all(r == results[0] for r in results), results


def test_best_level_matches_cpu_flags() -> None:
    flags = ""
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    expected = "avx2" if " avx2" in flags else "sse4.2" if " sse4_2" in flags else "scalar"
    assert http1.simd_level() == expected
    assert AVAILABLE[-1] == expected


@pytest.mark.parametrize("level", ["scalar", "sse42", "avx2", "bogus"])
def test_environment_variable_forces_a_level(level: str, tmp_path) -> None:
    # cwd elsewhere: from the source tree, "python -c" would import its unbuilt fastlb/
    env = dict(os.environ, FASTLB_SIMD=level)
    code = "from fastlb import http1; print(http1.simd_level())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         cwd=tmp_path)
    names = {"scalar": "scalar", "sse42": "sse4.2", "avx2": "avx2", "bogus": AVAILABLE[-1]}
    want = names[level]
    if want not in AVAILABLE:  # never a level the CPU lacks
        want = AVAILABLE[-1]
    assert out.stdout.strip() == want


def test_fastlb_vv_reports_the_level(tmp_path) -> None:
    env = dict(os.environ, FASTLB_SIMD="scalar")
    out = subprocess.run([sys.executable, "-m", "fastlb", "-vv"], env=env, capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout
    # the whole line: a copy of the parser (cffi, Cython binding, engine) at another level shows
    assert "HTTP parser SIMD level : scalar" in out.splitlines()
    out = subprocess.run([sys.executable, "-m", "fastlb", "-vv"], capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout
    assert f"HTTP parser SIMD level : {AVAILABLE[-1]}" in out.splitlines()
