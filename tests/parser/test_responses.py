"""Response heads: status line, body kind by request method and status, obs-fold."""
from __future__ import annotations

import pytest
from fastlb._http1_cffi import ffi, lib

from fastlb import http1


def test_fields(simd: str) -> None:
    raw = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnot found"
    resp = http1.parse_response(raw)
    assert (resp.version, resp.status, resp.reason) == (b"1.1", 404, b"Not Found")
    assert resp.headers == [(b"Content-Type", b"text/plain"), (b"Content-Length", b"9")]
    assert resp.consumed == raw.index(b"not found")
    assert resp.body == "length" and resp.content_length == 9 and resp.keep_alive


@pytest.mark.parametrize(("method", "status", "headers", "body", "keep_alive"), [
    (b"GET", 200, b"Content-Length: 5\r\n", "length", True),
    (b"GET", 200, b"Content-Length: 0\r\n", "none", True),
    (b"GET", 200, b"", "until-close", False),
    (b"GET", 200, b"Transfer-Encoding: chunked\r\n", "chunked", True),
    (b"GET", 200, b"Transfer-Encoding: gzip, chunked\r\n", "chunked", True),
    (b"GET", 200, b"Transfer-Encoding: chunked, gzip\r\n", "until-close", False),
    (b"GET", 200, b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "chunked", False),
    (b"HEAD", 200, b"Content-Length: 5\r\n", "none", True),
    (b"HEAD", 200, b"Transfer-Encoding: chunked\r\n", "none", True),
    (b"GET", 204, b"Content-Length: 5\r\n", "none", True),
    (b"GET", 304, b"", "none", True),
    (b"GET", 100, b"", "none", True),
    (b"GET", 101, b"Connection: upgrade\r\nUpgrade: websocket\r\n", "tunnel", False),
    (b"CONNECT", 200, b"", "tunnel", False),
    (b"CONNECT", 407, b"Content-Length: 3\r\n", "length", True),
    (b"GET", 200, b"Connection: close\r\nContent-Length: 5\r\n", "length", False),
])
def test_body_kind(method: bytes, status: int, headers: bytes, body: str, keep_alive: bool) -> None:
    raw = b"HTTP/1.1 %d X\r\n" % status + headers + b"\r\n"
    resp = http1.parse_response(raw, request_method=method)
    assert resp.body == body
    assert resp.keep_alive is keep_alive


def test_http10_response_keep_alive_needs_the_token() -> None:
    assert not http1.parse_response(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive
    assert http1.parse_response(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").keep_alive


def test_head_response_keeps_content_length_value() -> None:
    resp = http1.parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", request_method=b"HEAD")
    assert resp.body == "none" and resp.content_length == 1234


def test_obs_fold_is_unfolded_to_spaces() -> None:
    raw = b"HTTP/1.1 200 OK\r\nX-Long: part one\r\n  part two\r\n\tthree\r\nX-Empty:\r\n later\r\nB: c\r\n\r\n"
    resp = http1.parse_response(raw)
    assert resp.headers[0][0] == b"X-Long"
    assert resp.headers[0][1].split() == [b"part", b"one", b"part", b"two", b"three"]
    assert b"\r" not in resp.headers[0][1] and b"\n" not in resp.headers[0][1]
    assert resp.headers[1] == (b"X-Empty", b"later")
    assert resp.headers[2] == (b"B", b"c")
    assert resp.flags & lib.FL_HTTP_F_FOLDED


def test_unfold_in_place_in_c() -> None:
    raw = bytearray(b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n")
    hdrs = ffi.new("struct fl_http_hdr[]", 4)
    m = ffi.new("struct fl_http_msg *")
    lib.fl_http_msg_init(m, hdrs, 4)
    buf = ffi.from_buffer(raw)
    assert lib.fl_http_parse_response(buf, len(raw), m, lib.FL_HTTP_METH_GET, ffi.NULL) == len(raw)
    assert hdrs[0].flags & lib.FL_HTTP_HF_FOLDED
    lib.fl_http_unfold(buf, hdrs + 0)
    assert bytes(raw[hdrs[0].value_off:hdrs[0].value_off + hdrs[0].value_len]) == b"a   b"


def test_incomplete_at_every_cut(simd: str) -> None:
    raw = b"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 0\r\n\r\n"
    for cut in range(len(raw)):
        with pytest.raises(http1.IncompleteMessage):
            http1.parse_response(raw[:cut])
    assert http1.parse_response(raw).consumed == len(raw)


def test_bad_status_line_fails_before_line_end() -> None:
    with pytest.raises(http1.InvalidMessage):
        http1.parse_response(b"HTTP/1.1 2x")
    with pytest.raises(http1.InvalidMessage):
        http1.parse_response(b"HTTX")


def test_fold_arriving_in_a_later_read() -> None:
    """A continuation line parsed by a resumed call extends the header parsed by an earlier one."""
    hdrs = ffi.new("struct fl_http_hdr[]", 4)
    m = ffi.new("struct fl_http_msg *")
    lib.fl_http_msg_init(m, hdrs, 4)
    first = b"HTTP/1.1 200 OK\r\nX: a\r\n"
    full = first + b" b\r\nContent-Length: 0\r\n\r\n"
    assert lib.fl_http_parse_response(first, len(first), m, lib.FL_HTTP_METH_GET, ffi.NULL) == lib.FL_HTTP_INCOMPLETE
    assert lib.fl_http_parse_response(full, len(full), m, lib.FL_HTTP_METH_GET, ffi.NULL) == len(full)
    assert m.nhdrs == 2 and hdrs[0].flags & lib.FL_HTTP_HF_FOLDED
    assert full[hdrs[0].value_off:hdrs[0].value_off + hdrs[0].value_len] == b"a\r\n b"
