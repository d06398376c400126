"""Master <-> worker command channel.

One ``socketpair(AF_UNIX, SOCK_STREAM)`` per worker, created by the master right before it forks
the worker. Messages are JSON objects, one per line::

    master -> worker   {"id": 7, "cmd": "add_server", "args": {...}}
    worker -> master   {"id": 7, "ok": true, "result": ...}  or  {"id": 7, "ok": false, "error": "..."}

Workers serve them in their own uvloop (``WorkerControl``); the master's runtime API waits for
every live worker's answer (``ControlHub.broadcast``). Commands: ``ping``, ``info``,
``sessions``, ``add_server``, ``del_server``.

Dynamic servers must survive a worker restart: the hub keeps the net list of server additions
and deletions since start (``journal``) and replays it, in order, on the channel of every worker
it spawns before any other request, so a respawned worker routes like its siblings.
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
from typing import Any

#: A single message larger than this is a protocol error (the session list of a busy worker is
#: the largest message; 16 MiB holds well over 50,000 streams).
MAX_LINE = 16 << 20


class _Link:
    """Line-oriented JSON over a non-blocking stream socket, driven by an asyncio loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, on_message: Any, on_close: Any):
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.rbuf = bytearray()
        self.wbuf = bytearray()
        self.on_message = on_message
        self.on_close = on_close
        self.closed = False
        sock.setblocking(False)
        loop.add_reader(self.fd, self._readable)

    def send(self, obj: Any) -> None:
        if self.closed:
            raise ConnectionError("channel closed")
        self.wbuf += json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        self._flush()

    def _flush(self) -> None:
        while self.wbuf:
            try:
                n = self.sock.send(self.wbuf)
            except BlockingIOError:
                self.loop.add_writer(self.fd, self._writable)
                return
            except OSError:
                self.close()
                return
            del self.wbuf[:n]

    def _writable(self) -> None:
        self.loop.remove_writer(self.fd)
        self._flush()

    def _readable(self) -> None:
        try:
            data = self.sock.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        self.feed(data)

    def feed(self, data: bytes) -> None:
        """Take received bytes and handle every complete message in them."""
        self.rbuf += data
        while True:
            nl = self.rbuf.find(b"\n")
            if nl < 0:
                if len(self.rbuf) > MAX_LINE:
                    self.close()
                return
            line = bytes(self.rbuf[:nl])
            del self.rbuf[:nl + 1]
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            self.on_message(msg)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop.remove_reader(self.fd)
        self.loop.remove_writer(self.fd)
        self.sock.close()
        self.on_close()


# -- master side ------------------------------------------------------------------------------------

class WorkerChannel:
    """The master's end of one worker's channel."""

    def __init__(self, hub: ControlHub, index: int, sock: socket.socket):
        self.hub = hub
        self.index = index
        self.pending: dict[int, asyncio.Future] = {}
        self.next_id = 1
        self.link = _Link(hub.loop, sock, self._on_message, self._on_close)

    def request(self, cmd: str, args: dict | None = None) -> asyncio.Future:
        fut = self.hub.loop.create_future()
        mid = self.next_id
        self.next_id += 1
        self.pending[mid] = fut
        try:
            self.link.send({"id": mid, "cmd": cmd, "args": args or {}})
        except ConnectionError as exc:
            self.pending.pop(mid, None)
            fut.set_exception(exc)
        return fut

    def _on_message(self, msg: dict) -> None:
        fut = self.pending.pop(msg.get("id"), None)
        if fut is None or fut.done():
            return
        if msg.get("ok"):
            fut.set_result(msg.get("result"))
        else:
            fut.set_exception(WorkerError(str(msg.get("error", "error"))))

    def _on_close(self) -> None:
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError(f"worker {self.index} channel closed"))
        self.pending.clear()
        if self.hub.channels.get(self.index) is self:
            del self.hub.channels[self.index]


class WorkerError(Exception):
    """A worker refused a command (the message is the worker's)."""


class ControlHub:
    """All the master's worker channels, and the journal of dynamic-server changes."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.channels: dict[int, WorkerChannel] = {}
        self.journal: list[tuple[str, dict]] = []
        self._child_ends: dict[int, socket.socket] = {}
        self._parent_ends: dict[int, socket.socket] = {}

    # fork protocol: new_pair() before fork, then child_after_fork() in the child or
    # parent_after_fork() in the master.

    def new_pair(self, index: int) -> int:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._parent_ends[index] = parent
        self._child_ends[index] = child
        return child.fileno()

    def child_after_fork(self, index: int) -> int:
        """In the worker: close every master-side socket it inherited; returns its own fd."""
        # The inherited event loop shares its epoll instance with the master: never touch it here,
        # only drop this process's references to the master-side descriptors.
        for ch in list(self.channels.values()):
            fd = ch.link.sock.detach()
            if fd >= 0:
                os.close(fd)
        self.channels = {}
        for sock in self._parent_ends.values():
            sock.close()
        child = self._child_ends.pop(index)
        fd = child.detach()
        for sock in self._child_ends.values():
            sock.close()
        self._child_ends.clear()
        self._parent_ends.clear()
        return fd

    def parent_after_fork(self, index: int, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._child_ends.pop(index).close()
        parent = self._parent_ends.pop(index)
        old = self.channels.pop(index, None)
        if old is not None:
            old.link.close()
        ch = WorkerChannel(self, index, parent)
        self.channels[index] = ch
        for cmd, args in self.journal:
            fut = ch.request(cmd, args)
            fut.add_done_callback(_ignore_result)
        # the worker applies everything above before it accepts its first connection
        ch.request("start").add_done_callback(_ignore_result)

    # requests

    async def broadcast(self, cmd: str, args: dict | None = None, timeout: float = 5.0) -> list[Any]:
        """Send to every live worker; a list of results (or exceptions), in worker order."""
        chans = [self.channels[i] for i in sorted(self.channels)]
        futs = [ch.request(cmd, args) for ch in chans]
        if not futs:
            return []
        done = await asyncio.wait_for(asyncio.gather(*futs, return_exceptions=True), timeout)
        return list(done)

    def record(self, cmd: str, args: dict) -> None:
        """Remember a dynamic-server change for workers spawned later (net effect only: deleting a
        server added at run time removes its addition)."""
        if cmd == "del_server":
            for i, (c, a) in enumerate(self.journal):
                if c == "add_server" and a["backend"] == args["backend"] and a["name"] == args["name"]:
                    del self.journal[i]
                    return
        self.journal.append((cmd, args))

    def close(self) -> None:
        for ch in list(self.channels.values()):
            ch.link.close()


def _ignore_result(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()


# -- worker side --------------------------------------------------------------------------------------

class WorkerControl:
    """Serves the master's commands inside a worker process.

    Construct it before the worker starts serving: it first applies, synchronously, what the
    master replays (servers added at run time) up to the master's ``start`` message, so that a
    respawned worker never answers a request with an outdated server list."""

    def __init__(self, loop: asyncio.AbstractEventLoop, worker: Any, fd: int, index: int,
                 startup_timeout: float = 5.0):
        self.worker = worker
        self.index = index
        sock = socket.socket(fileno=fd)
        rest = self._replay(sock, startup_timeout)
        self.link = _Link(loop, sock, self._on_message, lambda: None)
        if rest:
            loop.call_soon(self.link.feed, rest)

    def _replay(self, sock: socket.socket, timeout: float) -> bytes:
        """Serve the master's messages synchronously up to ``start``; what arrived after it."""
        sock.settimeout(timeout)
        buf = b""
        try:
            while True:
                nl = buf.find(b"\n")
                if nl < 0:
                    chunk = sock.recv(1 << 16)
                    if not chunk:
                        return b""
                    buf += chunk
                    continue
                line, buf = buf[:nl], buf[nl + 1:]
                msg = json.loads(line)
                reply = self._reply(msg)
                sock.sendall(json.dumps(reply, separators=(",", ":")).encode() + b"\n")
                if msg.get("cmd") == "start":
                    break
        except (OSError, ValueError):
            return b""  # no master answer in time: serve with the configured servers
        finally:
            sock.setblocking(False)
        return buf

    def _reply(self, msg: dict) -> dict:
        mid = msg.get("id")
        try:
            result = self.handle(str(msg.get("cmd")), msg.get("args") or {})
        except (KeyError, ValueError, TypeError) as exc:
            return {"id": mid, "ok": False, "error": exc.args[0] if exc.args else str(exc)}
        return {"id": mid, "ok": True, "result": result}

    def _on_message(self, msg: dict) -> None:
        reply = self._reply(msg)
        try:
            self.link.send(reply)
        except ConnectionError:
            pass

    def handle(self, cmd: str, args: dict) -> Any:
        w = self.worker
        if cmd in ("ping", "start"):
            return self.index
        if cmd == "info":
            return dict(w.info(), worker=self.index, pid=os.getpid())
        if cmd == "sessions":
            return w.sessions()
        if cmd == "add_server":
            w.add_server(
                args["backend"],
                int(args["slot"]),
                int(args["counter_slot"]),
                args["name"],
                int(args["sid"]),
                bytes.fromhex(args["sockaddr"]),
                bool(args.get("port_from_client")),
                bool(args.get("backup")),
                int(args.get("weight", 1)),
                args.get("cookie"),
            )
            return True
        if cmd == "del_server":
            w.del_server(args["backend"], args["name"])
            return True
        if cmd == "sync":  # follow the shared memory now (a frontend paused or resumed)
            w.apply_shared_state()
            return True
        raise ValueError(f"unknown command '{cmd}'")
