"""Request heads: fields, derived semantics, limits and incremental parsing."""
from __future__ import annotations

import pytest
from fastlb._http1_cffi import ffi, lib

from fastlb import http1

BROWSER = (
    b"GET /search?q=fastlb&lang=en HTTP/1.1\r\n"
    b"Host: www.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Referer: https://www.example.com/\r\n"
    b"Connection: keep-alive\r\n"
    b"Cookie: session=0123456789abcdef; theme=dark\r\n"
    b"Upgrade-Insecure-Requests: 1\r\n"
    b"X-Forwarded-For: 192.0.2.7\r\n"
    b"\r\n"
)


def test_fields_of_a_browser_request(simd: str) -> None:
    req = http1.parse_request(BROWSER + b"NEXT")
    assert req.consumed == len(BROWSER)
    assert (req.method, req.target, req.version, req.path) == (
        b"GET", b"/search?q=fastlb&lang=en", b"1.1", b"/search?q=fastlb&lang=en")
    assert req.host == b"www.example.com" and req.authority is None
    names = [n for n, _ in req.headers]
    assert names == [line.split(b":")[0] for line in BROWSER.split(b"\r\n")[1:-2]]
    assert dict(req.headers)[b"Cookie"] == b"session=0123456789abcdef; theme=dark"
    assert req.keep_alive and req.body == "none" and req.content_length is None


def _msg(raw: bytes):
    hdrs = ffi.new("struct fl_http_hdr[]", 100)
    m = ffi.new("struct fl_http_msg *")
    lib.fl_http_msg_init(m, hdrs, 100)
    ret = lib.fl_http_parse_request(raw, len(raw), m, ffi.NULL)
    return ret, m, hdrs


def test_header_ids_are_case_insensitive() -> None:
    raw = (b"GET / HTTP/1.1\r\nHOST: a\r\ncontent-LENGTH: 0\r\nX-Forwarded-For: 1\r\ncookie: c\r\n"
           b"Connection: close\r\nX-Other: y\r\nExpect: 100-continue\r\nSec-WebSocket-Key: k\r\n\r\n")
    ret, m, hdrs = _msg(raw)
    assert ret == len(raw)
    ids = [ffi.string(lib.fl_http_hdr_name(hdrs[i].id)) for i in range(m.nhdrs)]
    assert ids == [b"host", b"content-length", b"x-forwarded-for", b"cookie", b"connection", b"",
                   b"expect", b"sec-websocket-key"]
    assert lib.fl_http_find_hdr(m, lib.FL_HTTP_HDR_COOKIE, 0) == 3
    assert lib.fl_http_find_hdr(m, lib.FL_HTTP_HDR_COOKIE, 4) == -1
    assert lib.fl_http_find_hdr(m, lib.FL_HTTP_HDR_X_REAL_IP, 0) == -1


def test_method_enum_and_offsets() -> None:
    for name in (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"TRACE", b"PATCH", b"PURGE"):
        raw = name + b" / HTTP/1.1\r\n\r\n"
        ret, m, _ = _msg(raw)
        assert ret == len(raw)
        assert ffi.string(lib.fl_http_method_str(m.method)) == (b"" if name == b"PURGE" else name)
        assert raw[m.method_off:m.method_off + m.method_len] == name


@pytest.mark.parametrize(("version", "connection", "keep_alive"), [
    (b"1.1", None, True),
    (b"1.1", b"close", False),
    (b"1.1", b"keep-alive", True),
    (b"1.1", b"Keep-Alive, CLOSE", False),
    (b"1.0", None, False),
    (b"1.0", b"keep-alive", True),
    (b"1.0", b"foo, Keep-Alive", True),
    (b"1.0", b"keep-alive, close", False),
])
def test_keep_alive_verdict(version: bytes, connection: bytes | None, keep_alive: bool) -> None:
    raw = b"GET / HTTP/" + version + b"\r\n" + (b"Connection: " + connection + b"\r\n" if connection else b"")
    assert http1.parse_request(raw + b"\r\n").keep_alive is keep_alive


def test_connection_tokens_across_several_headers() -> None:
    raw = b"GET / HTTP/1.1\r\nConnection: foo\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n"
    req = http1.parse_request(raw)
    assert req.upgrade and not req.websocket and req.keep_alive


def test_upgrade_needs_connection_token_and_http11() -> None:
    assert not http1.parse_request(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n").upgrade
    assert not http1.parse_request(b"GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n").upgrade
    req = http1.parse_request(b"GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n"
                              b"Sec-WebSocket-Key: x\r\n\r\n")
    assert req.upgrade and req.websocket


def test_expect_100_continue_only_in_http11() -> None:
    body = b"Content-Length: 5\r\n\r\n"
    assert http1.parse_request(b"PUT / HTTP/1.1\r\nExpect: 100-Continue\r\n" + body).expect_continue
    assert not http1.parse_request(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\n" + body).expect_continue
    assert not http1.parse_request(b"PUT / HTTP/1.1\r\nExpect: 100-continue-x\r\n" + body).expect_continue


def test_content_length_zero_is_no_body_but_known() -> None:
    req = http1.parse_request(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    assert req.body == "none" and req.content_length == 0
    req = http1.parse_request(b"POST / HTTP/1.1\r\nContent-Length: 12345678901\r\n\r\n")
    assert req.body == "length" and req.content_length == 12345678901


def test_te_beside_cl_marks_cl_headers_to_drop() -> None:
    raw = (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n"
           b"\r\n")
    ret, m, hdrs = _msg(raw)
    assert ret == len(raw)
    drop = [bool(hdrs[i].flags & lib.FL_HTTP_HF_DROP) for i in range(m.nhdrs)]
    assert drop == [True, False, True]
    assert m.content_length == -1 and not (m.flags & lib.FL_HTTP_F_KEEPALIVE)


def test_absolute_form_gives_authority_host_and_path() -> None:
    req = http1.parse_request(b"GET http://user@Example.com:8080/a/b?c HTTP/1.1\r\nHost: example.com:8080\r\n\r\n")
    assert req.authority == b"user@Example.com:8080"
    assert req.host == b"Example.com:8080"
    assert req.path == b"/a/b?c"
    req = http1.parse_request(b"GET https://x.com HTTP/1.1\r\nHost: x.com:443\r\n\r\n")
    assert req.path == b"" and req.host == b"x.com"
    req = http1.parse_request(b"GET http://x.com?q HTTP/1.1\r\n\r\n")
    assert req.path == b"?q" and req.host == b"x.com"


def test_authority_form_for_connect() -> None:
    req = http1.parse_request(b"CONNECT [2001:db8::1]:443 HTTP/1.1\r\n\r\n")
    assert req.authority == req.host == b"[2001:db8::1]:443"


@pytest.mark.parametrize("maxhdr", [1, 2, 10, 101, 200])
def test_header_count_limit_is_maxhdr_minus_one(maxhdr: int) -> None:
    def head(n: int) -> bytes:
        return b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(n)) + b"\r\n"

    assert len(http1.parse_request(head(maxhdr - 1), maxhdr=maxhdr).headers) == maxhdr - 1
    with pytest.raises(http1.InvalidMessage) as exc:
        http1.parse_request(head(maxhdr), maxhdr=maxhdr)
    assert exc.value.code == "TOO_MANY_HDRS"


@pytest.mark.parametrize("max_head", [24, 100, 1000, 15360])
def test_head_size_limit(max_head: int) -> None:
    def head(size: int) -> bytes:
        return b"GET / HTTP/1.1\r\nX: " + b"v" * (size - 23) + b"\r\n\r\n"

    assert http1.parse_request(head(max_head) + b"body", max_head=max_head).consumed == max_head
    with pytest.raises(http1.InvalidMessage) as exc:
        http1.parse_request(head(max_head + 1), max_head=max_head)
    assert exc.value.code == "HEAD_TOO_LARGE"
    # an incomplete head is refused as soon as it cannot fit any more
    with pytest.raises(http1.InvalidMessage):
        http1.parse_request(head(max_head + 1)[:max_head], max_head=max_head)
    with pytest.raises(http1.IncompleteMessage):
        http1.parse_request(head(max_head + 1)[:max_head - 1], max_head=max_head)


def test_incomplete_at_every_cut(simd: str) -> None:
    full = http1.parse_request(BROWSER)
    for cut in range(len(BROWSER)):
        with pytest.raises(http1.IncompleteMessage):
            http1.parse_request(BROWSER[:cut])
    assert full.consumed == len(BROWSER)


@pytest.mark.parametrize("chunk", [1, 2, 7, 64])
def test_incremental_feed_gives_the_one_shot_result(chunk: int, simd: str) -> None:
    raw = b"\r\n" + BROWSER
    parser = http1.RequestParser()
    result = None
    for i in range(0, len(raw), chunk):
        result = parser.feed(raw[i:i + chunk])
        if i + chunk < len(raw):
            assert result is None
    assert result == http1.parse_request(raw)


def test_incremental_does_not_rescan_complete_lines() -> None:
    """Lines parsed by an earlier call are not read again: changing them in the buffer afterwards
    does not change the verdict (the caller's contract is not to, this only proves the resume)."""
    first = b"GET / HTTP/1.1\r\nX-A: 1\r\nX-B: "
    hdrs = ffi.new("struct fl_http_hdr[]", 10)
    m = ffi.new("struct fl_http_msg *")
    lib.fl_http_msg_init(m, hdrs, 10)
    assert lib.fl_http_parse_request(first, len(first), m, ffi.NULL) == lib.FL_HTTP_INCOMPLETE
    tampered = b"GET / HTTP/1.1\r\nX\x00A: 1\r\nX-B: 2\r\n\r\n"
    assert lib.fl_http_parse_request(tampered, len(tampered), m, ffi.NULL) == len(tampered)
    # a fresh parse of the same bytes sees the NUL
    lib.fl_http_msg_reset(m)
    assert lib.fl_http_parse_request(tampered, len(tampered), m, ffi.NULL) == lib.FL_HTTP_INVALID


def test_incremental_without_new_line_feed_does_not_parse() -> None:
    """More bytes without a line feed: INCOMPLETE at once, even if they are invalid; the error is
    found when the line ends."""
    hdrs = ffi.new("struct fl_http_hdr[]", 10)
    m = ffi.new("struct fl_http_msg *")
    lib.fl_http_msg_init(m, hdrs, 10)
    buf = b"GET / HTTP/1.1\r\nX-A: "
    assert lib.fl_http_parse_request(buf, len(buf), m, ffi.NULL) == lib.FL_HTTP_INCOMPLETE
    buf += b"\x01"
    assert lib.fl_http_parse_request(buf, len(buf), m, ffi.NULL) == lib.FL_HTTP_INCOMPLETE
    buf += b"\r\n"
    assert lib.fl_http_parse_request(buf, len(buf), m, ffi.NULL) == lib.FL_HTTP_INVALID
    assert ffi.string(lib.fl_http_error_name(m.error)) == b"HDR_VALUE"


def test_incremental_reset_between_messages() -> None:
    parser = http1.RequestParser()
    assert parser.feed(b"GET /one HTTP/1.1\r\n\r\n").target == b"/one"
    hdrs = ffi.new("struct fl_http_hdr[]", 10)
    m = ffi.new("struct fl_http_msg *")
    lib.fl_http_msg_init(m, hdrs, 10)
    a = b"GET /a HTTP/1.1\r\nX: 1\r\n\r\n"
    assert lib.fl_http_parse_request(a, len(a), m, ffi.NULL) == len(a)
    b = b"POST /bb HTTP/1.1\r\n\r\n"
    # a finished message is not resumed: the next call starts over
    assert lib.fl_http_parse_request(b, len(b), m, ffi.NULL) == len(b)
    assert m.nhdrs == 0 and m.method == lib.FL_HTTP_METH_POST


def test_parse_headers_block_alone() -> None:
    consumed, headers = http1.parse_headers(b"A: 1\r\nB-c:  two words \r\n\r\nrest")
    assert consumed == len(b"A: 1\r\nB-c:  two words \r\n\r\n")
    assert headers == [(b"A", b"1"), (b"B-c", b"two words")]
    assert http1.parse_headers(b"\r\n") == (2, [])
    with pytest.raises(http1.InvalidMessage):
        http1.parse_headers(b"A: 1\r\n folded\r\n\r\n")


def test_result_objects_are_complete_frozen_dataclasses() -> None:
    """parse_* build their results without __init__ (speed): every field is there, and they
    compare equal to the same values built the usual way, and stay immutable."""
    import dataclasses

    req = http1.parse_request(BROWSER)
    names = [f.name for f in dataclasses.fields(http1.Request)]
    assert set(vars(req)) == set(names)
    assert req == http1.Request(**{n: getattr(req, n) for n in names})
    resp = http1.parse_response(b"HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n")
    names = [f.name for f in dataclasses.fields(http1.Response)]
    assert set(vars(resp)) == set(names)
    assert resp == http1.Response(**{n: getattr(resp, n) for n in names})
    with pytest.raises(dataclasses.FrozenInstanceError):
        req.method = b"POST"  # type: ignore[misc]
