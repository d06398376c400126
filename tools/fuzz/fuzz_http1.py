"""Fuzz target of the C HTTP/1 parser (atheris). See tools/fuzz/README.md for how to run it under
ASan/UBSan.

Each input is parsed as a request, a response, a header block and a chunked body, and these
invariants are checked besides "no crash, no sanitizer report":
- every offset the parser returns lies inside the input;
- the SIMD paths (scalar, SSE4.2, AVX2 where the CPU has them) give identical results;
- feeding the input in two pieces (incremental resume) gives the one-shot result (except that an
  error among bytes that brought no line feed is only seen with the next line feed);
- the chunked decoder gives the same output in place, into a buffer, and fed in pieces.
"""
from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from fastlb._http1_cffi import ffi, lib

LEVELS = [lvl for lvl in (0, 1, 2) if lib.fl_http_simd_force(lvl) == lvl]
lib.fl_http_simd_force(-1)
MAXHDR = 101
HDRS = ffi.new("struct fl_http_hdr[]", MAXHDR)
MSG = ffi.new("struct fl_http_msg *")
FIELDS = ("method", "minor", "body", "error", "status", "flags", "head_len", "start_off", "method_off",
          "method_len", "target_off", "target_len", "path_off", "path_len", "authority_off", "authority_len",
          "host_off", "host_len", "reason_off", "reason_len", "error_off", "content_length", "nhdrs")
SPANS = (("method_off", "method_len"), ("target_off", "target_len"), ("path_off", "path_len"),
         ("authority_off", "authority_len"), ("host_off", "host_len"), ("reason_off", "reason_len"))


def parse(kind: int, data: bytes, cut: int | None = None) -> tuple:
    lib.fl_http_msg_init(MSG, HDRS, MAXHDR)
    pieces = [data] if cut is None else [data[:cut], data]
    ret = None
    for piece in pieces:
        if kind == 0:
            ret = lib.fl_http_parse_request(piece, len(piece), MSG, ffi.NULL)
        elif kind == 1:
            ret = lib.fl_http_parse_response(piece, len(piece), MSG, lib.FL_HTTP_METH_GET, ffi.NULL)
        else:
            ret = lib.fl_http_parse_headers(piece, len(piece), MSG, ffi.NULL)
        if ret != lib.FL_HTTP_INCOMPLETE:
            break
    fields = tuple(getattr(MSG, f) for f in FIELDS) if ret >= 0 else (MSG.error,)
    hdrs = tuple((HDRS[i].name_off, HDRS[i].name_len, HDRS[i].value_off, HDRS[i].value_len, HDRS[i].id,
                  HDRS[i].flags) for i in range(MSG.nhdrs)) if ret >= 0 else ()
    if ret >= 0:
        assert ret <= len(data)
        for off, length in SPANS:
            assert getattr(MSG, off) + getattr(MSG, length) <= ret, (off, fields)
        for h in hdrs:
            assert h[0] + h[1] <= ret and h[2] + h[3] <= ret, h
    return (ret, fields, hdrs)


def chunked_in_place(data: bytes) -> tuple:
    d = ffi.new("struct fl_http_chunked *")
    lib.fl_http_chunked_init(d)
    buf = ffi.new("char[]", data)
    size = ffi.new("size_t *", len(data))
    ret = lib.fl_http_decode_chunked(d, buf, size)
    if ret == lib.FL_HTTP_INVALID:
        return (ret, d.error)
    return (ret, ffi.buffer(buf, size[0])[:])


def chunked_pieces(data: bytes, cut: int) -> tuple:
    d = ffi.new("struct fl_http_chunked *")
    lib.fl_http_chunked_init(d)
    used = ffi.new("size_t *")
    olen = ffi.new("size_t *")
    out = []
    pos = 0
    ret = lib.FL_HTTP_INCOMPLETE
    for piece in (data[:cut], data[cut:]):
        obuf = ffi.new("char[]", max(1, len(piece)))
        ret = lib.fl_http_chunked_feed(d, piece, len(piece), used, obuf, olen)
        out.append(ffi.buffer(obuf, olen[0])[:])
        pos += used[0]
        if ret != lib.FL_HTTP_INCOMPLETE:
            break
    if ret == lib.FL_HTTP_INVALID:
        return (ret, d.error)
    if ret == 0:
        return (len(data) - pos, b"".join(out))
    return (ret, b"".join(out))


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    cut = data[0] % len(data)
    body = data[1:]
    for kind in (0, 1, 2):
        results = []
        for level in LEVELS:
            lib.fl_http_simd_force(level)
            results.append(parse(kind, body))
        assert all(r == results[0] for r in results), (kind, results)
        resumed = parse(kind, body, cut)
        if resumed[0] == lib.FL_HTTP_INCOMPLETE and b"\n" not in body[cut:]:
            # documented: after an INCOMPLETE, new bytes are parsed once a line feed arrives
            assert results[0][0] in (lib.FL_HTTP_INCOMPLETE, lib.FL_HTTP_INVALID), (kind, cut)
        else:
            assert resumed == results[0], (kind, cut, resumed, results[0])
    whole = chunked_in_place(body)
    assert chunked_pieces(body, cut) == whole, (cut, whole)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
