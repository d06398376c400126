"""The Cython hot-path binding (fastlb._fastpath) sees what the cffi binding sees."""
from __future__ import annotations

import pytest
from fastlb._http1_cffi import ffi, lib
from http1_corpus import REQUESTS, RESPONSES

from fastlb import _fastpath

FIELDS = ("method", "minor", "body", "error", "status", "flags", "head_len", "start_off", "method_off",
          "method_len", "target_off", "target_len", "path_off", "path_len", "authority_off", "authority_len",
          "host_off", "host_len", "reason_off", "reason_len", "error_off", "content_length")


def cffi_offsets(raw: bytes, response_to: int | None = None) -> tuple[int, dict]:
    hdrs = ffi.new("struct fl_http_hdr[]", 101)
    m = ffi.new("struct fl_http_msg *")
    lib.fl_http_msg_init(m, hdrs, 101)
    if response_to is None:
        ret = lib.fl_http_parse_request(raw, len(raw), m, ffi.NULL)
    else:
        ret = lib.fl_http_parse_response(raw, len(raw), m, response_to, ffi.NULL)
    out = {name: getattr(m, name) for name in FIELDS}
    out["headers"] = [(hdrs[i].name_off, hdrs[i].name_len, hdrs[i].value_off, hdrs[i].value_len, hdrs[i].id,
                       hdrs[i].flags) for i in range(m.nhdrs)]
    return ret, out


@pytest.mark.parametrize("case", REQUESTS, ids=[c.name for c in REQUESTS])
def test_requests_same_as_cffi(case) -> None:
    head = _fastpath.Http1Head()
    ret = head.feed_request(case.raw)
    assert (ret, head.offsets()) == cffi_offsets(case.raw)


@pytest.mark.parametrize("case", RESPONSES, ids=[c[0] for c in RESPONSES])
def test_responses_same_as_cffi(case) -> None:
    _, method, raw, _ = case
    meth = lib.FL_HTTP_METH_HEAD if method == b"HEAD" else lib.FL_HTTP_METH_GET
    head = _fastpath.Http1Head()
    assert (head.feed_response(raw, meth), head.offsets()) == cffi_offsets(raw, meth)


def test_incremental_and_reset() -> None:
    raw = b"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"
    head = _fastpath.Http1Head()
    for cut in range(len(raw) - 2):
        assert head.feed_request(raw[:cut]) == -2
    assert head.feed_request(raw) == len(raw) - 2
    assert head.offsets()["content_length"] == 2
    head.clear()
    assert head.feed_request(b"") == -2


def test_limits_are_per_head() -> None:
    raw = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n"
    assert _fastpath.Http1Head(maxhdr=3).feed_request(raw) == len(raw)
    small = _fastpath.Http1Head(maxhdr=2)
    assert small.feed_request(raw) == -1
    assert ffi.string(lib.fl_http_error_name(small.offsets()["error"])) == b"TOO_MANY_HDRS"
    assert _fastpath.Http1Head(max_head=len(raw) - 1).feed_request(raw) == -1


def test_bench_loops_parse() -> None:
    raw = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    assert _fastpath.bench_c_loop(raw, 3) == len(raw)
    assert _fastpath.bench_cython_loop(raw, 3) == len(raw)
    assert _fastpath.bench_c_loop(b"BAD\x00", 2) == -1


def test_simd_level_switch() -> None:
    try:
        assert _fastpath.set_simd_level("scalar") == "scalar"
        assert _fastpath.simd_level() == "scalar"
    finally:
        _fastpath.set_simd_level("best")
