"""HTTP/1.x parsing for tools and tests, over the C parser (``csrc/fl_http*.c``).

The proxy's hot path does not come here: it calls the C functions from Cython with the raw
buffer and offsets (``fastlb/_fl_http.pxd``). This module builds Python objects, which costs
more than the parse itself; it is for tools, tests and cold paths. Heads are parsed through the
Cython module (``_fastpath.Http1Head``, which also builds the header list: far cheaper than
slicing from Python), chunked bodies and constants through the cffi binding.

>>> req = parse_request(b"GET /a HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
>>> req.consumed, req.method, req.target, req.headers
(29, b'GET', b'/a', [(b'Host', b'x')])
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ._fastpath import Http1Head
from ._fastpath import set_simd_level as _fastpath_set_simd_level
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
    "build_sanitizers",
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


_KIND_REQUEST, _KIND_RESPONSE, _KIND_HEADERS = 0, 1, 2
_F_KEEPALIVE: int = lib.FL_HTTP_F_KEEPALIVE
_F_AUTHORITY: int = lib.FL_HTTP_F_ABS_URI | lib.FL_HTTP_F_AUTHORITY_FORM
_F_HAS_HOST: int = lib.FL_HTTP_F_HAS_HOST
_F_UPGRADE: int = lib.FL_HTTP_F_UPGRADE
_F_WEBSOCKET: int = lib.FL_HTTP_F_WEBSOCKET
_F_EXPECT_100: int = lib.FL_HTTP_F_EXPECT_100
_CACHE = threading.local()


def _head(max_head: int, maxhdr: int) -> Http1Head:
    """An Http1Head for these limits, reused per thread (allocating one costs more than a parse)."""
    key = (max_head, maxhdr)
    head = getattr(_CACHE, "head", None)
    if head is None or getattr(_CACHE, "key", None) != key:
        if not 0 < max_head < 2**32 or not 0 < maxhdr < 2**16:
            raise ValueError("max_head must be in 1..2^32-1 and maxhdr in 1..65535")
        head = _CACHE.head = Http1Head(max_head, maxhdr)
        _CACHE.key = key
    return head


_new = object.__new__


def _build(cls: type, fields: dict):
    """A frozen dataclass instance from its complete field dict, without the generated __init__:
    that one sets each field through object.__setattr__ and costs more than the parse itself.
    Equality, repr and immutability are the dataclass's as usual."""
    obj = _new(cls)
    obj.__dict__.update(fields)
    return obj


def _check(head: Http1Head, ret: int) -> int:
    if ret == lib.FL_HTTP_INCOMPLETE:
        raise IncompleteMessage("message head incomplete")
    if ret == lib.FL_HTTP_INVALID:
        fields = head.fields()
        raise _error(fields[4], fields[21])
    return ret


def _request(head: Http1Head, data: bytes, consumed: int) -> Request:
    (_, _, minor, body, _, _, flags, _, _, method_off, method_len, target_off, target_len, path_off, path_len,
     authority_off, authority_len, host_off, host_len, _, _, _, content_length) = head.fields()
    has_authority = flags & _F_AUTHORITY
    return _build(Request, {
        "consumed": consumed,
        "method": data[method_off:method_off + method_len],
        "target": data[target_off:target_off + target_len],
        "version": b"1.%d" % minor,
        "headers": head.headers(data),
        "path": data[path_off:path_off + path_len],
        "host": data[host_off:host_off + host_len] if has_authority or flags & _F_HAS_HOST else None,
        "authority": data[authority_off:authority_off + authority_len] if has_authority else None,
        "content_length": content_length if content_length >= 0 else None,
        "body": BODY_KINDS[body],
        "keep_alive": bool(flags & _F_KEEPALIVE),
        "upgrade": bool(flags & _F_UPGRADE),
        "websocket": bool(flags & _F_WEBSOCKET),
        "expect_continue": bool(flags & _F_EXPECT_100),
        "flags": flags,
    })


def parse_request(data: bytes, *, max_head: int = DEFAULT_MAX_HEAD, maxhdr: int = DEFAULT_MAXHDR) -> Request:
    """Parse the request head at the start of ``data``; ``Request.consumed`` says where it ends
    (the body, if any, follows). Raises IncompleteMessage or InvalidMessage."""
    data = bytes(data)
    head = _head(max_head, maxhdr)
    return _request(head, data, _check(head, head.parse(data, _KIND_REQUEST)))


def parse_response(data: bytes, *, request_method: bytes = b"GET", max_head: int = DEFAULT_MAX_HEAD,
                   maxhdr: int = DEFAULT_MAXHDR) -> Response:
    """Parse the response head at the start of ``data``. ``request_method`` is the method of the
    request it answers: after HEAD there is no body, after CONNECT a 2xx opens a tunnel."""
    data = bytes(data)
    head = _head(max_head, maxhdr)
    meth = _METHODS.get(request_method, lib.FL_HTTP_METH_OTHER)
    consumed = _check(head, head.parse(data, _KIND_RESPONSE, meth))
    (_, _, minor, body, _, status, flags, _, _, _, _, _, _, _, _, _, _, _, _, reason_off, reason_len, _,
     content_length) = head.fields()
    return _build(Response, {
        "consumed": consumed,
        "version": b"1.%d" % minor,
        "status": status,
        "reason": data[reason_off:reason_off + reason_len],
        "headers": head.headers(data),
        "content_length": content_length if content_length >= 0 else None,
        "body": BODY_KINDS[body],
        "keep_alive": bool(flags & _F_KEEPALIVE),
        "flags": flags,
    })


def parse_headers(data: bytes, *, max_head: int = DEFAULT_MAX_HEAD,
                  maxhdr: int = DEFAULT_MAXHDR) -> tuple[int, list[tuple[bytes, bytes]]]:
    """Parse a header block alone (through its empty line): (bytes consumed, headers)."""
    data = bytes(data)
    head = _head(max_head, maxhdr)
    consumed = _check(head, head.parse(data, _KIND_HEADERS))
    return consumed, head.headers(data)


class RequestParser:
    """Incremental request-head parser: feed bytes as they arrive; the C state remembers the
    complete lines already parsed, so a slow sender costs no rescans."""

    def __init__(self, *, max_head: int = DEFAULT_MAX_HEAD, maxhdr: int = DEFAULT_MAXHDR) -> None:
        self._head = Http1Head(max_head, maxhdr)
        self._buf = b""

    def feed(self, data: bytes) -> Request | None:
        """Add bytes; returns the request once its head is complete, else None."""
        self._buf += bytes(data)
        ret = self._head.feed_request(self._buf)
        if ret == lib.FL_HTTP_INCOMPLETE:
            return None
        return _request(self._head, self._buf, _check(self._head, ret))

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


def build_sanitizers() -> list[str]:
    """Sanitizers the parser was compiled with (['address', 'undefined'] for a FASTLB_SANITIZE=1
    build), recorded by the compiler in the module itself."""
    names = ffi.string(lib.fl_http_build_sanitizers()).decode()
    return names.split(",") if names else []


def set_simd_level(level: str) -> str:
    """Force a scanning path (tests, benchmarks) in both native modules; returns the one applied,
    never one the CPU lacks. 'best' goes back to the best the CPU has."""
    lib.fl_http_simd_force(-1 if level == "best" else _SIMD_LEVELS[level])
    _fastpath_set_simd_level("best" if level == "best" else simd_level())
    return simd_level()
