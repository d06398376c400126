"""Chunked transfer coding: decoding in place and into a buffer, split anywhere, limits."""
from __future__ import annotations

import pytest
from fastlb._http1_cffi import ffi, lib
from hypothesis import given, settings
from hypothesis import strategies as st

from fastlb import http1


def encode(chunks: list[bytes], ext: bytes = b"", trailer: bytes = b"") -> bytes:
    out = b"".join(b"%x%s\r\n%s\r\n" % (len(c), ext, c) for c in chunks if c)
    return out + b"0\r\n" + trailer + b"\r\n"


def feed_in_pieces(data: bytes, sizes: list[int]) -> tuple[bytes, http1.ChunkedDecoder]:
    dec = http1.ChunkedDecoder()
    out = []
    pos = 0
    for size in sizes:
        out.append(dec.feed(data[pos:pos + size]))
        pos += size
    out.append(dec.feed(data[pos:]))
    return b"".join(out), dec


def test_decode_in_place_reports_leftover() -> None:
    data = encode([b"hello ", b"world"]) + b"NEXT"
    body, used = http1.decode_chunked(data)
    assert body == b"hello world"
    assert data[used:] == b"NEXT"


def test_in_place_c_function_moves_leftover_after_data() -> None:
    raw = encode([b"abc", b"de"]) + b"GET"
    buf = ffi.new("char[]", raw)
    d = ffi.new("struct fl_http_chunked *")
    lib.fl_http_chunked_init(d)
    size = ffi.new("size_t *", len(raw))
    rest = lib.fl_http_decode_chunked(d, buf, size)
    assert rest == 3 and size[0] == 5
    assert ffi.buffer(buf, 8)[:] == b"abcdeGET"


def test_feed_without_output_only_finds_the_end() -> None:
    raw = encode([b"x" * 100, b"y" * 7], ext=b";a=1") + b"tail"
    d = ffi.new("struct fl_http_chunked *")
    lib.fl_http_chunked_init(d)
    used = ffi.new("size_t *")
    olen = ffi.new("size_t *")
    assert lib.fl_http_chunked_feed(d, raw, len(raw), used, ffi.NULL, olen) == 0
    assert used[0] == len(raw) - 4 and olen[0] == 0 and d.total == 107


@settings(max_examples=150, deadline=None)
@given(chunks=st.lists(st.binary(max_size=300), max_size=8),
       cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=30),
       trailer=st.sampled_from([b"", b"X-T: v\r\n", b"A: 1\r\nB: 2\r\n"]))
def test_any_split_decodes_the_same(chunks: list[bytes], cuts: list[int], trailer: bytes) -> None:
    data = encode(chunks, trailer=trailer) + b"after"
    body, dec = feed_in_pieces(data, cuts)
    assert body == b"".join(chunks)
    assert dec.done and dec.unused == b"after"
    assert dec.total == len(body)


def test_byte_by_byte() -> None:
    data = encode([b"a" * 17, b"b" * 300], ext=b' ; name = "q\\"v" ; x', trailer=b"T: 1\r\n")
    body, dec = feed_in_pieces(data, [1] * len(data))
    assert body == b"a" * 17 + b"b" * 300 and dec.done


def test_large_body_64k() -> None:
    payload = bytes(range(256)) * 256
    data = encode([payload[i:i + 4096] for i in range(0, len(payload), 4096)])
    assert http1.decode_chunked(data) == (payload, len(data))


def test_incomplete_then_error_is_sticky() -> None:
    dec = http1.ChunkedDecoder()
    assert dec.feed(b"5\r\nab") == b"ab"
    with pytest.raises(http1.InvalidMessage) as exc:
        dec.feed(b"cdeX\r\n")
    assert exc.value.code == "CHUNK_CRLF"
    with pytest.raises(http1.InvalidMessage):
        dec.feed(b"0\r\n\r\n")


@pytest.mark.parametrize(("raw", "code"), [
    (b"g\r\n", "CHUNK_SIZE"),
    (b"7fffffffffffffff\r\n", None),           # 2^63 - 1 is a size (incomplete body)
    (b"8000000000000000\r\n", "CHUNK_SIZE"),
    (b"00000000000000000000000001\r\nx\r\n0\r\n\r\n", None),  # leading zeros are free
    (b"1;\r\nx\r\n0\r\n\r\n", "CHUNK_EXT"),
    (b"1;a=\r\nx\r\n0\r\n\r\n", "CHUNK_EXT"),
    (b'1;a="x\r\nx\r\n0\r\n\r\n', "CHUNK_EXT"),
    (b"1;a=b c\r\nx\r\n0\r\n\r\n", "CHUNK_EXT"),
    (b"1\r\r\nx\r\n0\r\n\r\n", "CHUNK_CRLF"),
    (b"1\r\nx\r\r\n0\r\n\r\n", "CHUNK_CRLF"),
    (b"0\r\nX-T: v\rw\r\n\r\n", "BARE_CR"),
    (b"0\r\nX-T: \x00\r\n\r\n", "TRAILER"),
    (b"0\r\n: v\r\n\r\n", "TRAILER"),
    (b"0\r\n\rx", "BARE_CR"),
])
def test_size_line_grammar(raw: bytes, code: str | None) -> None:
    if code is None:
        try:
            http1.decode_chunked(raw)
        except http1.IncompleteMessage:
            pass
        return
    with pytest.raises(http1.InvalidMessage) as exc:
        http1.decode_chunked(raw)
    assert exc.value.code == code


def test_extension_line_is_bounded() -> None:
    limit = lib.FL_HTTP_CHUNK_LINE_MAX
    ok = b"1;" + b"a" * (limit - 5) + b"\r\nx\r\n0\r\n\r\n"
    assert http1.decode_chunked(ok)[0] == b"x"
    with pytest.raises(http1.InvalidMessage) as exc:
        http1.decode_chunked(b"1;" + b"a" * limit + b"\r\nx\r\n0\r\n\r\n")
    assert exc.value.code == "CHUNK_LINE_TOO_LONG"


def test_trailer_section_is_bounded() -> None:
    dec = http1.ChunkedDecoder(max_trailer=64)
    dec.feed(b"0\r\n" + b"X: " + b"v" * 50 + b"\r\n")
    with pytest.raises(http1.InvalidMessage) as exc:
        dec.feed(b"Y: " + b"v" * 50 + b"\r\n\r\n")
    assert exc.value.code == "TRAILER_TOO_LARGE"
