"""HTTP/1.x parsing for tools and tests, over the C parser (``csrc/fl_http*.c``) through cffi.

The proxy's hot path does not come here: it calls the C functions from Cython with the raw
buffer and offsets (``fastlb/_fl_http.pxd``). This module builds Python objects, which costs
more than the parse itself; it is for tools, tests, fuzzing and cold paths.

>>> req = parse_request(b"GET /a HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
>>> req.consumed, req.method, req.target, req.headers
(29, b'GET', b'/a', [(b'Host', b'x')])
"""
from __future__ import annotations

import struct
import threading
from dataclasses import dataclass, field

from ._http1_cffi import ffi, lib

__all__ = [
    "BODY_KINDS",
    "ChunkedDecoder",
    "HttpParseError",
    "IncompleteMessage",
    "InvalidMessage",
    "Request",
    "RequestParser",
    "Response",
    "decode_chunked",
    "parse_headers",
    "parse_request",
    "parse_response",
    "set_simd_level",
    "simd_level",
]

#: Body kinds by the C enum fl_http_body value.
BODY_KINDS: tuple[str, ...] = ("none", "length", "chunked", "until-close", "tunnel")

DEFAULT_MAX_HEAD: int = lib.FL_HTTP_DEFAULT_MAX_HEAD
DEFAULT_MAXHDR: int = lib.FL_HTTP_DEFAULT_MAXHDR
_SIMD_LEVELS = {"scalar": lib.FL_HTTP_SIMD_SCALAR, "sse4.2": lib.FL_HTTP_SIMD_SSE42,
                "sse42": lib.FL_HTTP_SIMD_SSE42, "avx2": lib.FL_HTTP_SIMD_AVX2}
_HDR = struct.Struct("=IIIHBB")  # struct fl_http_hdr
_FOLDED: int = lib.FL_HTTP_HF_FOLDED
assert _HDR.size == ffi.sizeof("struct fl_http_hdr")
# struct fl_http_msg up to content_length, read in one copy (a cdata field access costs about as
# much as the whole C parse of a short head).
_MSG = struct.Struct("=8xHHBBBBHH16I4xq")
_MSG_FIELDS = ("hdr_cap", "nhdrs", "method", "minor", "body", "error", "status", "pad0", "flags", "head_len",
               "start_off", "method_off", "method_len", "target_off", "target_len", "path_off", "path_len",
               "authority_off", "authority_len", "host_off", "host_len", "reason_off", "reason_len",
               "error_off", "content_length")
assert _MSG.size == ffi.offsetof("struct fl_http_msg", "content_length") + 8
assert ffi.offsetof("struct fl_http_msg", "flags") == 20 and ffi.offsetof("struct fl_http_msg", "error_off") == 80
_METHODS = {ffi.string(lib.fl_http_method_str(i)): i for i in range(1, lib.FL_HTTP_METH_COUNT)}


class HttpParseError(Exception):
    """Base of the parser's errors."""


class IncompleteMessage(HttpParseError):
    """The bytes end before the message does: read more and parse again."""


class InvalidMessage(HttpParseError, ValueError):
    """The message is malformed or refused.

    ``code`` is the C error name (``"CL_MISMATCH"``...), ``reason`` its text, ``status`` the status
    a proxy answers a request with, ``offset`` where in the bytes it failed (best effort)."""

    def __init__(self, code: str, reason: str, status: int, offset: int) -> None:
        super().__init__(f"{reason} (at byte {offset})")
        self.code = code
        self.reason = reason
        self.status = status
        self.offset = offset


def _error(err: int, offset: int) -> InvalidMessage:
    return InvalidMessage(ffi.string(lib.fl_http_error_name(err)).decode(),
                          ffi.string(lib.fl_http_error_str(err)).decode(),
                          lib.fl_http_error_status(err), offset)


@dataclass(frozen=True)
class Request:
    """A parsed request head. Offsets of the C struct are turned into bytes here."""

    consumed: int                         # bytes of the head, leading empty lines included
    method: bytes
    target: bytes
    version: bytes                        # b"1.1"
    headers: list[tuple[bytes, bytes]]
    path: bytes                           # origin-form part of the target
    host: bytes | None                    # target authority (absolute-form) or Host header
    authority: bytes | None               # absolute-form or authority-form authority
    content_length: int | None            # None when absent or overridden by Transfer-Encoding
    body: str                             # one of BODY_KINDS
    keep_alive: bool
    upgrade: bool
    websocket: bool
    expect_continue: bool
    flags: int = field(repr=False)        # FL_HTTP_F_* bits

    @property
    def cl_ignored(self) -> bool:
        """Content-Length came with Transfer-Encoding: it must be dropped before forwarding."""
        return bool(self.flags & lib.FL_HTTP_F_CL_IGNORED)


@dataclass(frozen=True)
class Response:
    consumed: int
    version: bytes
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    content_length: int | None
    body: str
    keep_alive: bool
    flags: int = field(repr=False)


class _Head:
    """A C message struct with its header array, for one parse."""

    __slots__ = ("hdrs", "limits", "msg")

    def __init__(self, max_head: int, maxhdr: int) -> None:
        if not 0 < max_head < 2**32 or not 0 < maxhdr < 2**16:
            raise ValueError("max_head must be in 1..2^32-1 and maxhdr in 1..65535")
        self.hdrs = ffi.new("struct fl_http_hdr[]", maxhdr)
        self.msg = ffi.new("struct fl_http_msg *")
        self.limits = ffi.new("struct fl_http_limits *", {"max_head": max_head, "maxhdr": maxhdr})
        lib.fl_http_msg_init(self.msg, self.hdrs, maxhdr)

    def check(self, ret: int) -> int:
        if ret == lib.FL_HTTP_INCOMPLETE:
            raise IncompleteMessage("message head incomplete")
        if ret == lib.FL_HTTP_INVALID:
            raise _error(self.msg.error, self.msg.error_off)
        return ret

    def fields(self) -> tuple:
        """The message struct as a tuple in _MSG_FIELDS order."""
        return _MSG.unpack(ffi.buffer(self.msg, _MSG.size))

    def headers(self, data: bytes, nhdrs: int) -> list[tuple[bytes, bytes]]:
        # One copy of the C array, unpacked by struct: much cheaper than a cdata access per field.
        raw = ffi.buffer(self.hdrs, nhdrs * _HDR.size)
        out = []
        for name_off, value_off, value_len, name_len, _id, flags in _HDR.iter_unpack(raw):
            value = data[value_off:value_off + value_len]
            if flags & _FOLDED:
                value = value.replace(b"\r", b" ").replace(b"\n", b" ")
            out.append((data[name_off:name_off + name_len], value))
        return out


_CACHE = threading.local()


def _head(max_head: int, maxhdr: int) -> _Head:
    """A reset _Head for these limits, reused per thread (allocating one costs more than a parse)."""
    key = (max_head, maxhdr)
    head = getattr(_CACHE, "head", None)
    if head is None or getattr(_CACHE, "key", None) != key:
        head = _CACHE.head = _Head(max_head, maxhdr)
        _CACHE.key = key
    else:
        lib.fl_http_msg_reset(head.msg)
    return head


def _request(head: _Head, data: bytes, consumed: int) -> Request:
    (_, nhdrs, _, minor, body, _, _, _, flags, _, _, method_off, method_len, target_off, target_len, path_off,
     path_len, authority_off, authority_len, host_off, host_len, _, _, _, content_length) = head.fields()
    has_authority = flags & (lib.FL_HTTP_F_ABS_URI | lib.FL_HTTP_F_AUTHORITY_FORM)
    has_host = has_authority or flags & lib.FL_HTTP_F_HAS_HOST
    return Request(
        consumed=consumed,
        method=data[method_off:method_off + method_len],
        target=data[target_off:target_off + target_len],
        version=b"1.%d" % minor,
        headers=head.headers(data, nhdrs),
        path=data[path_off:path_off + path_len],
        host=data[host_off:host_off + host_len] if has_host else None,
        authority=data[authority_off:authority_off + authority_len] if has_authority else None,
        content_length=content_length if content_length >= 0 else None,
        body=BODY_KINDS[body],
        keep_alive=bool(flags & lib.FL_HTTP_F_KEEPALIVE),
        upgrade=bool(flags & lib.FL_HTTP_F_UPGRADE),
        websocket=bool(flags & lib.FL_HTTP_F_WEBSOCKET),
        expect_continue=bool(flags & lib.FL_HTTP_F_EXPECT_100),
        flags=flags,
    )


def parse_request(data: bytes, *, max_head: int = DEFAULT_MAX_HEAD, maxhdr: int = DEFAULT_MAXHDR) -> Request:
    """Parse the request head at the start of ``data``; ``Request.consumed`` says where it ends
    (the body, if any, follows). Raises IncompleteMessage or InvalidMessage."""
    data = bytes(data)
    head = _head(max_head, maxhdr)
    consumed = head.check(lib.fl_http_parse_request(data, len(data), head.msg, head.limits))
    return _request(head, data, consumed)


def parse_response(data: bytes, *, request_method: bytes = b"GET", max_head: int = DEFAULT_MAX_HEAD,
                   maxhdr: int = DEFAULT_MAXHDR) -> Response:
    """Parse the response head at the start of ``data``. ``request_method`` is the method of the
    request it answers: after HEAD there is no body, after CONNECT a 2xx opens a tunnel."""
    data = bytes(data)
    head = _head(max_head, maxhdr)
    meth = _METHODS.get(request_method, lib.FL_HTTP_METH_OTHER)
    consumed = head.check(lib.fl_http_parse_response(data, len(data), head.msg, meth, head.limits))
    (_, nhdrs, _, minor, body, _, status, _, flags, _, _, _, _, _, _, _, _, _, _, _, _, reason_off, reason_len,
     _, content_length) = head.fields()
    return Response(
        consumed=consumed,
        version=b"1.%d" % minor,
        status=status,
        reason=data[reason_off:reason_off + reason_len],
        headers=head.headers(data, nhdrs),
        content_length=content_length if content_length >= 0 else None,
        body=BODY_KINDS[body],
        keep_alive=bool(flags & lib.FL_HTTP_F_KEEPALIVE),
        flags=flags,
    )


def parse_headers(data: bytes, *, max_head: int = DEFAULT_MAX_HEAD,
                  maxhdr: int = DEFAULT_MAXHDR) -> tuple[int, list[tuple[bytes, bytes]]]:
    """Parse a header block alone (through its empty line): (bytes consumed, headers)."""
    data = bytes(data)
    head = _head(max_head, maxhdr)
    consumed = head.check(lib.fl_http_parse_headers(data, len(data), head.msg, head.limits))
    return consumed, head.headers(data, head.msg.nhdrs)


class RequestParser:
    """Incremental request-head parser: feed bytes as they arrive; the C state remembers the
    complete lines already parsed, so a slow sender costs no rescans."""

    def __init__(self, *, max_head: int = DEFAULT_MAX_HEAD, maxhdr: int = DEFAULT_MAXHDR) -> None:
        self._head = _Head(max_head, maxhdr)
        self._buf = b""

    def feed(self, data: bytes) -> Request | None:
        """Add bytes; returns the request once its head is complete, else None."""
        self._buf += bytes(data)
        ret = lib.fl_http_parse_request(self._buf, len(self._buf), self._head.msg, self._head.limits)
        if ret == lib.FL_HTTP_INCOMPLETE:
            return None
        consumed = self._head.check(ret)
        return _request(self._head, self._buf, consumed)

    @property
    def buffered(self) -> bytes:
        return self._buf


class ChunkedDecoder:
    """Incremental decoder of a chunked body: ``feed()`` returns the data decoded from the bytes
    given; once ``done``, ``unused`` holds the bytes after the body (the next message)."""

    def __init__(self, *, max_trailer: int = DEFAULT_MAX_HEAD) -> None:
        self._d = ffi.new("struct fl_http_chunked *")
        lib.fl_http_chunked_init(self._d)
        self._d.max_trailer = max_trailer
        self.done = False
        self.unused = b""
        self.consumed = 0  # input bytes that belonged to the body

    @property
    def total(self) -> int:
        return int(self._d.total)

    def feed(self, data: bytes) -> bytes:
        data = bytes(data)
        if self.done:
            self.unused += data
            return b""
        out = ffi.new("char[]", max(len(data), 1))
        used = ffi.new("size_t *")
        olen = ffi.new("size_t *")
        ret = lib.fl_http_chunked_feed(self._d, data, len(data), used, out, olen)
        if ret == lib.FL_HTTP_INVALID:
            raise _error(self._d.error, self.consumed + used[0])
        self.consumed += used[0]
        if ret == 0:
            self.done = True
            self.unused = data[used[0]:]
        return ffi.buffer(out, olen[0])[:]


def decode_chunked(data: bytes) -> tuple[bytes, int]:
    """Decode a whole chunked body from the start of ``data`` (in place, in a copy): returns the
    body and the number of bytes the chunked encoding took. Raises IncompleteMessage or
    InvalidMessage."""
    buf = ffi.new("char[]", bytes(data))
    d = ffi.new("struct fl_http_chunked *")
    lib.fl_http_chunked_init(d)
    size = ffi.new("size_t *", len(data))
    ret = lib.fl_http_decode_chunked(d, buf, size)
    if ret == lib.FL_HTTP_INCOMPLETE:
        raise IncompleteMessage("chunked body incomplete")
    if ret == lib.FL_HTTP_INVALID:
        raise _error(d.error, -1)
    return ffi.buffer(buf, size[0])[:], len(data) - ret


def simd_level() -> str:
    """Scanning path of the parser in this process: 'avx2', 'sse4.2' or 'scalar'."""
    return ffi.string(lib.fl_http_simd_name(lib.fl_http_simd_level())).decode()


def set_simd_level(level: str) -> str:
    """Force a scanning path (tests, benchmarks); returns the one applied, never one the CPU
    lacks. 'best' goes back to the best the CPU has."""
    lib.fl_http_simd_force(-1 if level == "best" else _SIMD_LEVELS[level])
    return simd_level()
