"""Listening sockets handed over from one process to the next, so that a reload never closes a
socket that has connections waiting in its accept queue.

The wire protocol is HAProxy's ``_getsocks`` (the stats socket command that ``expose-fd
listeners`` enables), so that fastlb can take over the sockets of a running HAProxy 2.x with
``-x <stats socket>`` and the other way round:

  client -> server   ``_getsocks\\n``
  server -> client   a native ``int``: the number N of descriptors (nothing at all when N is 0)
  server -> client   batches of at most 253 descriptors (SCM_RIGHTS); the bytes of a batch carry,
                     per descriptor, ``<ns len u8><ns name><iface len u8><iface name><4 zero bytes>``
  client -> server   a native ``int`` after each batch, so that the sender may send the next one

Three transports carry it:
  * ``-x <unix socket>``: a stats socket with ``expose-fd listeners`` (the runtime API answers
    ``_getsocks`` by calling `serve_getsocks`; `ExposeFdListener` does it where the runtime API is
    not part of the build);
  * the old process of ``-sf``/``-st``: every fastlb master serves its sockets on the abstract
    UNIX socket `export_name(pid)` (`SocketExporter`), so ``fastlb -D -p pidfile -sf $(cat
    pidfile)`` is seamless without a stats socket. Only root and the master's own user may ask;
  * a master-worker reload passes them through exec() (fastlb.runtime.reload), not this module.
"""
from __future__ import annotations

import array
import os
import select
import socket
import struct
import time
from collections.abc import Callable

from .listeners import group_by_key

#: Descriptors per sendmsg(), HAProxy's MAX_SEND_FD (the kernel's SCM_MAX_FD is 253).
MAX_SEND_FD = 253
#: Every step of an exchange (connect, read, write) gives up after this long, as HAProxy does.
XFER_TIMEOUT = 1.0
_INT = struct.Struct("=i")

#: The provider of the sockets this process exports (set by the master once it has them).
_exported: Callable[[], list[socket.socket]] | None = None


class XferError(Exception):
    """The sockets could not be received; the message says why (HAProxy's wording)."""


def set_exported(provider: Callable[[], list[socket.socket]] | None) -> None:
    """Declare what `serve_getsocks` hands over: a callable returning the listening sockets."""
    global _exported
    _exported = provider


def exported_sockets() -> list[socket.socket]:
    return list(_exported()) if _exported is not None else []


# -- sending ----------------------------------------------------------------------------------------

def _wait(sock: socket.socket, writable: bool, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("socket transfer timed out")
    p = select.poll()
    p.register(sock.fileno(), select.POLLOUT if writable else select.POLLIN)
    if not p.poll(left * 1000):
        raise TimeoutError("socket transfer timed out")


def _sendmsg_all(sock: socket.socket, data: bytes, fds: list[int], deadline: float) -> None:
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())] if fds else []
    while True:
        try:
            sent = sock.sendmsg([data], anc)
            break
        except (BlockingIOError, InterruptedError):
            _wait(sock, True, deadline)
    # the descriptors went with the first byte; the rest of the bytes follow plainly
    view = memoryview(data)[sent:]
    while view:
        try:
            n = sock.send(view)
        except (BlockingIOError, InterruptedError):
            _wait(sock, True, deadline)
            continue
        view = view[n:]


def _recv_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except (BlockingIOError, InterruptedError):
            _wait(sock, False, deadline)
            continue
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def send_sockets(conn: socket.socket, socks: list[socket.socket], timeout: float = XFER_TIMEOUT) -> None:
    """Server side of ``_getsocks`` (after the request line was read): send `socks` over `conn`.
    Works on blocking and non-blocking sockets alike (it polls; it never changes the flags of
    `conn`, whose file description the caller's event loop may share). Raises OSError or
    TimeoutError when the peer does not follow."""
    fds = [s.fileno() for s in socks if s.fileno() >= 0]
    deadline = time.monotonic() + timeout
    if not fds:
        return  # as HAProxy: nothing at all, the receiver sees the connection close
    _sendmsg_all(conn, _INT.pack(len(fds)), [], deadline)
    per_fd = b"\x00\x00" + b"\x00" * 4  # no namespace, no interface, 32 zero bits
    for start in range(0, len(fds), MAX_SEND_FD):
        batch = fds[start:start + MAX_SEND_FD]
        _sendmsg_all(conn, per_fd * len(batch), batch, deadline)
        more = start + MAX_SEND_FD < len(fds)
        if more and len(_recv_exact(conn, _INT.size, deadline)) != _INT.size:
            raise OSError("Unexpected error while transferring sockets")


def serve_getsocks(fd: int, timeout: float = XFER_TIMEOUT) -> bool:
    """The hook of the runtime API: answer ``_getsocks`` on the connected descriptor `fd` (a
    stats socket connection on a ``expose-fd listeners`` listener) with this process's exported
    sockets. The caller closes the connection afterwards. Returns False when it failed."""
    conn = socket.socket(fileno=os.dup(fd))
    try:
        send_sockets(conn, exported_sockets(), timeout)
        return True
    except (OSError, TimeoutError):
        return False
    finally:
        conn.close()


# -- receiving --------------------------------------------------------------------------------------

def receive_sockets(conn: socket.socket, timeout: float = XFER_TIMEOUT) -> list[socket.socket]:
    """Client side: ask for the sockets on the connected `conn` and receive them. Sockets bound
    in a network namespace or to an interface (HAProxy ``namespace``/``interface``) are closed:
    fastlb does not bind such sockets, so they can match nothing."""
    deadline = time.monotonic() + timeout
    conn.setblocking(False)
    _sendmsg_all(conn, b"_getsocks\n", [], deadline)
    head = _recv_exact(conn, _INT.size, deadline)
    if len(head) != _INT.size:
        raise XferError("Failed to get the number of sockets to be transferred !")
    (expected,) = _INT.unpack(head)
    if expected < 0 or expected > 1 << 20:
        raise XferError("Failed to get the number of sockets to be transferred !")
    fds: list[int] = []
    data = bytearray()
    cmsg_space = socket.CMSG_SPACE(MAX_SEND_FD * _INT.size)
    try:
        while len(fds) < expected:
            try:
                msg, anc, flags, _addr = conn.recvmsg(MAX_SEND_FD * (2 + 255 + 4), cmsg_space)
            except (BlockingIOError, InterruptedError):
                _wait(conn, False, deadline)
                continue
            for level, kind, raw in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    got = array.array("i")
                    got.frombytes(raw[:len(raw) - len(raw) % _INT.size])
                    fds.extend(got)
            if not msg and not anc:
                break
            data += msg
            if flags & socket.MSG_CTRUNC:
                raise XferError("Inconsistency while transferring sockets")
            if len(fds) > expected:
                raise XferError("Got to many sockets !")
            try:  # the sender waits for it between batches; after the last one it may be gone
                conn.send(_INT.pack(len(fds)))
            except (BlockingIOError, OSError):
                pass
        if len(fds) != expected:
            raise XferError(f"We didn't get the expected number of sockets (expecting {expected} got {len(fds)})")
        return _wrap(fds, bytes(data))
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def _wrap(fds: list[int], data: bytes) -> list[socket.socket]:
    out = []
    off = 0
    for i, fd in enumerate(fds):
        try:
            ns_len = data[off]
            if_len = data[off + 1 + ns_len]
        except IndexError:
            for rest in fds[i:]:
                os.close(rest)
            raise XferError("Inconsistency while transferring sockets") from None
        off += 1 + ns_len + 1 + if_len + 4
        sock = socket.socket(fileno=fd)
        if ns_len or if_len:
            sock.close()
            continue
        out.append(sock)
    return out


def fetch_from_path(path: str, timeout: float = XFER_TIMEOUT) -> list[socket.socket]:
    """``-x <unix socket>``: the listening sockets of the process behind that stats socket."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(timeout)
        try:
            conn.connect(path)
        except OSError:
            raise XferError(f"Failed to connect to the old process socket '{path}'") from None
        return receive_sockets(conn, timeout)
    except (OSError, TimeoutError):
        raise XferError("Failed to get the number of sockets to be transferred !") from None
    finally:
        conn.close()


def export_name(pid: int) -> str:
    """The abstract socket on which the master `pid` serves its listening sockets."""
    return f"\0fastlb-listeners-{pid}"


def _looks_like_fastlb(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"fastlb" in f.read()
    except (OSError, IndexError):
        return False


def fetch_from_pids(pids: list[int], wait: float = 1.0) -> list[socket.socket]:
    """The listening sockets of the old fastlb processes `pids` (``-sf``/``-st``). An old process
    that is a fastlb still starting (its export socket not bound yet) is waited for up to `wait`
    seconds; any other failure means "no sockets from that one" (the caller binds new ones)."""
    out: list[socket.socket] = []
    for pid in dict.fromkeys(pids):
        if pid == os.getpid():
            continue
        deadline = time.monotonic() + wait
        while True:
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                conn.settimeout(XFER_TIMEOUT)
                conn.connect(export_name(pid))
                out.extend(receive_sockets(conn))
                break
            except (ConnectionRefusedError, FileNotFoundError):
                if time.monotonic() >= deadline or not _looks_like_fastlb(pid):
                    break
                time.sleep(0.02)
            except (OSError, TimeoutError, XferError):
                break
            finally:
                conn.close()
    return out


def inherited_listeners(socket_transfer: str | None, old_pids: list[int]) -> dict[str, list[socket.socket]]:
    """The sockets a starting process takes over, keyed for `ListenerSet`: from ``-x`` when given
    (XferError when that fails, as HAProxy refuses to start then), else from the old pids."""
    if socket_transfer and socket_transfer != "/dev/null":
        return group_by_key(fetch_from_path(socket_transfer))
    if old_pids:
        return group_by_key(fetch_from_pids(old_pids))
    return {}


# -- serving ----------------------------------------------------------------------------------------

def _peer_uid(conn: socket.socket) -> int:
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", raw)[1]


def _answer(conn: socket.socket) -> None:
    """Read one command line and answer ``_getsocks``; anything else ends the connection."""
    deadline = time.monotonic() + XFER_TIMEOUT
    conn.setblocking(False)
    line = bytearray()
    while b"\n" not in line and len(line) < 64:
        try:
            chunk = conn.recv(64 - len(line))
        except (BlockingIOError, InterruptedError):
            _wait(conn, False, deadline)
            continue
        if not chunk:
            return
        line += chunk
    if line.split(b"\n", 1)[0].strip() == b"_getsocks":
        send_sockets(conn, exported_sockets())


class _UnixCommandListener:
    """A listening UNIX socket whose connections are answered synchronously from the event loop
    (each exchange is bounded by XFER_TIMEOUT): a master service (start(loop)/stop())."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.loop = None

    def allowed(self, conn: socket.socket) -> bool:
        return True

    def start(self, loop) -> None:
        self.loop = loop
        self.sock.setblocking(False)
        loop.add_reader(self.sock.fileno(), self._accept)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            try:
                if self.allowed(conn):
                    _answer(conn)
            except (OSError, TimeoutError):
                pass
            finally:
                conn.close()

    def stop(self) -> None:
        if self.loop is not None and self.sock.fileno() >= 0:
            self.loop.remove_reader(self.sock.fileno())
        self.close()

    def after_fork_child(self) -> None:
        """In a worker: drop the inherited descriptor without touching the master's event loop."""
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class SocketExporter(_UnixCommandListener):
    """Serves this master's listening sockets on `export_name(pid)` to root and its own user."""

    def __init__(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(export_name(os.getpid()))
        sock.listen(16)
        super().__init__(sock)

    def allowed(self, conn: socket.socket) -> bool:
        uid = _peer_uid(conn)
        return uid == 0 or uid == os.geteuid()


class ExposeFdListener(_UnixCommandListener):
    """A ``stats socket <path> ... expose-fd listeners`` answering ``_getsocks`` only, for builds
    without the runtime API (fastlb.api), which otherwise owns the stats sockets."""

    def __init__(self, path: str, mode: int | None):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        sock.bind(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        sock.listen(16)
        os.replace(tmp, path)  # atomically over the old process's socket
        super().__init__(sock)


def bind_expose_fd_sockets(global_) -> list[ExposeFdListener]:
    """Bind the ``stats socket`` lines with ``expose-fd listeners`` when fastlb.api is absent."""
    try:
        import fastlb.api  # noqa: F401
        return []
    except ImportError:
        pass
    out = []
    for conf in global_.stats_sockets:
        if conf.expose_fd_listeners and conf.address.family == "unix" and conf.address.path:
            out.append(ExposeFdListener(conf.address.path, conf.mode))
    return out
