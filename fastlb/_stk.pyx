# distutils: sources = csrc/fl_stk.c
# cython: language_level=3
"""Stick tables (``stick-table type ip|ipv6|integer|string|binary ...``) shared by every process.

A :class:`StickTable` owns an anonymous ``MAP_SHARED`` mapping laid out by csrc/fl_stk.c. The
master creates the tables before it forks the workers, so all workers see the same entries (as
HAProxy's threads share one table) and the runtime API (``show table``, ``clear table``) reads
them from the master. The data plane calls the cdef methods of ``_stk.pxd``; tests and the API
use the Python ones.

Keys are bytes of at most ``key_len``: ``key_of`` converts a sample the way HAProxy casts it to
the table type (an IPv4 table takes IPv4 addresses, IPv4-mapped IPv6 ones and strings that parse
as such; a string table takes the text of any sample, cut to ``len``; an integer table keeps 32
bits, big-endian here so that byte order is numeric order; a binary table pads with zeros).
"""
import mmap
import socket
import time

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport int32_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, free

TYPES = ("ip", "ipv6", "integer", "string", "binary")
_V4_MAPPED = b"\0" * 10 + b"\xff\xff"


cdef inline uint64_t _now_ms():
    return <uint64_t>(time.monotonic_ns() // 1000000)


def key_size(str type, int length=32) -> int:
    """Bytes of a key of a table of this type (`length`: the `len` of string/binary tables)."""
    if type == "ip" or type == "integer":
        return 4
    if type == "ipv6":
        return 16
    return length


def _read_int64(bytes b):
    """HAProxy's read_int64(): an optional sign and the digits that follow, 0 if none."""
    cdef Py_ssize_t i = 0, n = len(b)
    neg = False
    if i < n and b[i] in b"+-":
        neg = b[i] == 0x2d
        i += 1
    j = i
    while j < n and 0x30 <= b[j] <= 0x39:
        j += 1
    v = int(b[i:j]) if j > i else 0
    return -v if neg else v


def _parse_ip(bytes text):
    """(4 | 6, packed) for an address in text, or None."""
    try:
        s = text.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    try:
        return (4, socket.inet_pton(socket.AF_INET, s))
    except OSError:
        pass
    try:
        return (6, socket.inet_pton(socket.AF_INET6, s))
    except OSError:
        return None


def _ip_text(tuple v):
    return socket.inet_ntop(socket.AF_INET if v[0] == 4 else socket.AF_INET6, v[1])


def _dump_text(bytes key):
    """The key as HAProxy's dump_text() writes string keys: escapes for blanks, '=' and '\\'."""
    out = []
    for c in key:
        if c == 0:
            break
        if 0x20 < c < 0x7f and c != 0x5c and c != 0x3d:
            out.append(chr(c))
        elif c in (0x09, 0x0a, 0x0d, 0x1b, 0x5c, 0x20, 0x3d):
            out.append("\\" + {0x09: "t", 0x0a: "n", 0x0d: "r", 0x1b: "e", 0x5c: "\\", 0x20: " ", 0x3d: "="}[c])
        else:
            out.append(f"\\x{c:02X}")
    return "".join(out)


cdef class StickTable:
    def __init__(self, str name, str type, int length=32, int size=1, int expire_ms=0, bint nopurge=False,
                 str srvkey="name", server_keys=()):
        if type not in TYPES:
            raise ValueError(f"unknown stick-table type '{type}'")
        self.name = name
        self.type = type
        self.key_len = key_size(type, length)
        if self.key_len < 1 or self.key_len > FL_STK_KEY_MAX:
            raise ValueError(f"stick-table key length {self.key_len} out of range")
        if size < 1:
            raise ValueError("stick-table size must be positive")
        self.size = size
        self.expire_ms = expire_ms
        self.nopurge = nopurge
        self.srvkey = srvkey
        self.server_keys = tuple(server_keys)
        self.key_index = {k: i for i, k in enumerate(self.server_keys)}
        nbytes = fl_stk_segment_size(size, self.key_len)
        self.mm = mmap.mmap(-1, nbytes, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
        cdef unsigned char[::1] view = self.mm
        self.seg = <void *>&view[0]
        if fl_stk_init(self.seg, size, self.key_len, expire_ms, nopurge) != 0:
            raise OSError("cannot initialise the stick table")

    # -- data plane -------------------------------------------------------------------------------

    cdef int c_lookup(self, const unsigned char *key, uint32_t klen, uint64_t now, int32_t *sid,
                      int32_t *skey) noexcept nogil:
        return fl_stk_lookup(self.seg, key, klen, now, 1, sid, skey)

    cdef int c_store(self, const unsigned char *key, uint32_t klen, int32_t sid, int32_t skey,
                     uint64_t now) noexcept nogil:
        return fl_stk_store(self.seg, key, klen, sid, skey, now)

    cpdef int server_key_index(self, str key):
        """The index stored for a server name (or address with `srvkey addr`), -1 if unknown."""
        return self.key_index.get(key, -1)

    cpdef bytes key_of(self, object sample):
        """The key for a sample (bytes, int, bool, or (4|6, packed) for an address), None when
        HAProxy's cast to the table type fails."""
        cdef str t = self.type
        if isinstance(sample, bool):
            sample = int(sample)
        if t == "ip" or t == "ipv6":
            if isinstance(sample, bytes):
                sample = _parse_ip(<bytes>sample)
                if sample is None:
                    return None
            elif isinstance(sample, int):
                sample = (4, (<object>sample & 0xffffffff).to_bytes(4, "big"))
            if not isinstance(sample, tuple):
                return None
            ver, raw = sample
            if t == "ip":
                if ver == 4:
                    return raw
                return raw[12:] if raw[:12] == _V4_MAPPED else None
            return raw if ver == 6 else _V4_MAPPED + raw
        if t == "integer":
            if isinstance(sample, bytes):
                if not sample:
                    return None
                sample = _read_int64(<bytes>sample)
            elif isinstance(sample, tuple):
                if sample[0] != 4:
                    return None
                sample = int.from_bytes(sample[1], "big")
            return (<object>sample & 0xffffffff).to_bytes(4, "big")
        if isinstance(sample, tuple):
            b = sample[1] if t == "binary" else _ip_text(<tuple>sample).encode()
        elif isinstance(sample, int):
            b = (<object>sample & 0xffffffffffffffff).to_bytes(8, "big") if t == "binary" else str(sample).encode()
        else:
            b = <bytes>sample
        if len(b) > self.key_len:
            b = b[:self.key_len]
        if t == "binary" and len(b) < self.key_len:
            b = b + b"\0" * (self.key_len - len(b))
        return b

    # -- control plane and tests --------------------------------------------------------------------

    def key_text(self, bytes key):
        """A key as `show table` prints it."""
        if self.type == "ip":
            return socket.inet_ntop(socket.AF_INET, key)
        if self.type == "ipv6":
            return socket.inet_ntop(socket.AF_INET6, key)
        if self.type == "integer":
            return str(int.from_bytes(key, "big"))
        if self.type == "string":
            return _dump_text(key)
        return "".join(chr(c) if 0x20 <= c < 0x7f and c != 0x5c else f"\\x{c:02X}" for c in key)

    def parse_key(self, str text):
        """The key for `key <text>` of the runtime API (None: not a key of this type)."""
        if self.type == "ip" or self.type == "ipv6":
            ip = _parse_ip(text.encode())
            return self.key_of(ip) if ip is not None else None
        if self.type == "integer":
            try:
                return self.key_of(int(text))
            except ValueError:
                return None
        if self.type == "binary":
            try:
                return self.key_of(bytes.fromhex(text))
            except ValueError:
                return None
        return self.key_of(text.encode())

    def lookup(self, key, now_ms=None):
        """(server_id, server_key index) of a key (bytes or a sample), touching it, or None."""
        cdef int32_t sid = 0, skey = -1
        cdef bytes k = self.key_of(key)
        if k is None:
            return None
        if fl_stk_lookup(self.seg, PyBytes_AS_STRING(k), <uint32_t>PyBytes_GET_SIZE(k),
                         _now_ms() if now_ms is None else now_ms, 1, &sid, &skey):
            return sid, skey
        return None

    def store(self, key, int server_id, int server_key=-1, now_ms=None):
        """Create or update an entry; False when the table is full and may not purge."""
        cdef bytes k = self.key_of(key)
        if k is None:
            raise ValueError("key does not fit the table type")
        return fl_stk_store(self.seg, PyBytes_AS_STRING(k), <uint32_t>PyBytes_GET_SIZE(k), server_id,
                            server_key, _now_ms() if now_ms is None else now_ms) == 1

    def remove(self, bytes key):
        return fl_stk_remove(self.seg, PyBytes_AS_STRING(key), <uint32_t>PyBytes_GET_SIZE(key)) == 1

    def clear(self):
        fl_stk_clear(self.seg)

    def used(self, now_ms=None):
        """Live entries (expired ones are dropped first)."""
        return fl_stk_purge(self.seg, _now_ms() if now_ms is None else now_ms)

    def entries(self, now_ms=None):
        """Live entries, least recently used first: [(key, server_id, server_key index,
        ms left or None)]."""
        cdef uint64_t now = _now_ms() if now_ms is None else now_ms
        cdef uint32_t n, i, cap = self.size
        cdef fl_stk_entry_info_t *infos = <fl_stk_entry_info_t *>malloc(sizeof(fl_stk_entry_info_t) * cap)
        cdef unsigned char *keys = <unsigned char *>malloc(<size_t>cap * self.key_len + 1)
        out = []
        if infos == NULL or keys == NULL:
            free(infos)
            free(keys)
            raise MemoryError()
        try:
            n = fl_stk_snapshot(self.seg, now, infos, cap, keys)
            for i in range(n):
                k = (<char *>keys + infos[i].key_off)[:infos[i].key_len]
                left = (infos[i].expire - now if infos[i].expire > now else 0) if infos[i].expire else None
                out.append((k, infos[i].server_id, infos[i].server_key, left))
        finally:
            free(infos)
            free(keys)
        return out
