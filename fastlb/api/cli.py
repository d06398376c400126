"""The stats socket: HAProxy's runtime API listener, served by the master process.

``stats socket <path|ipv4@addr:port|ipv6@...|abns@name|fd@N> [mode m] [user u] [group g] [level l]``.
Each connection reads commands ended by a newline or an unescaped ``;``. Without ``prompt`` the
connection closes once the commands received so far are answered (each answer is followed by an
empty line); ``prompt`` toggles the interactive mode, where each answer ends with ``\\n> ``.
``stats timeout`` closes idle connections, ``stats maxconn`` bounds concurrent ones (further
connections wait, as in HAProxy's accept queue).

UNIX sockets are bound under a temporary name and renamed over the configured path, so that a
reload or restart never leaves a window without a socket, as HAProxy does.
"""
from __future__ import annotations

import asyncio
import grp
import inspect
import os
import pwd
import socket
import time
from collections.abc import Callable
from typing import Any

from ..config.model import StatsSocket
from ..health import HealthRuntime
from ..stats.collect import RateTracker
from . import cmd_server, cmd_show, cmd_table  # noqa: F401  (registers the commands)
from .commands import LEVELS, Session, command, find_command, next_command, split_words, usage_message
from .ipc import ControlHub

#: A command line longer than this is refused (HAProxy's is a buffer, 16 KiB by default).
MAX_REQUEST = 65536


class ApiContext:
    """What the commands see: the plan, shared memory, the server machinery, the workers."""

    def __init__(self, plan: Any, shm: Any, health: HealthRuntime, hub: ControlHub, start_time: float,
                 stopping: Callable[[], bool] = lambda: False):
        self.plan = plan
        self.shm = shm
        self.health_runtime = health
        self.table = health.table
        self.control = health.control
        self.health = health.service
        self.reporter = health.reporter
        self.hub = hub
        self.start_time = start_time
        self.pid = os.getpid()
        self._stopping = stopping
        self.sockets: list[tuple[str, int]] = []
        #: per-second rates for ``show stat`` (fastlb.stats), sampled by the stats socket service
        self.rates = RateTracker()

    def sample_rates(self) -> None:
        self.rates.sample_all(self.plan, self.shm)
        now = time.monotonic()
        for srv in self.table.servers():
            if srv.dynamic:
                self.rates.observe(
                    srv.counter_slot, "cum_sess", self.shm.sum_counters(srv.counter_slot)["cum_sess"], now
                )

    def stopping(self) -> bool:
        return self._stopping()


@command("set timeout [cli] <delay>               : change a timeout setting", "set timeout")
def cmd_set_timeout(ctx: Any, sess: Session, args: list[str]) -> str:
    if len(args) < 3 or args[2] != "cli":
        return "'set timeout' only supports 'cli'.\n"
    if len(args) < 4 or not args[3]:
        return "Expects an integer value.\n"
    text = args[3]
    units = {"us": 0.000001, "ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    num = text.rstrip("usmhd")
    unit = text[len(num) :] or "s"
    if not num.isdigit() or unit not in units or int(num) * units[unit] < 1:
        return "Invalid timeout value.\n"
    sess.timeout_ms = int(int(num) * units[unit] * 1000)
    return ""


class BindError(Exception):
    pass


def _bind(conf: StatsSocket) -> tuple[socket.socket, str, str | None]:
    """Listening socket for one ``stats socket`` line: (socket, display name, path to clean up)."""
    a = conf.address
    if a.family == "fd":
        sock = socket.socket(fileno=a.fd)
        return sock, f"fd@{a.fd}", None
    if a.family in ("unix", "abns"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if a.family == "abns":
            sock.bind("\0" + (a.path or ""))
            sock.listen(64)
            return sock, f"abns@{a.path}", None
        path = a.path or ""
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        sock.bind(tmp)
        try:
            if conf.mode is not None:
                os.chmod(tmp, conf.mode)
            uid = conf.uid if conf.uid is not None else (pwd.getpwnam(conf.user).pw_uid if conf.user else -1)
            gid = (
                conf.gid if conf.gid is not None else (grp.getgrnam(conf.group).gr_gid if conf.group else -1)
            )
            if uid != -1 or gid != -1:
                os.chown(tmp, uid, gid)
            sock.listen(64)
            os.replace(tmp, path)
        except (OSError, KeyError):
            sock.close()
            os.unlink(tmp)
            raise
        return sock, f"unix@{path}", path
    family = socket.AF_INET6 if a.family == "ipv6" or ":" in (a.host or "") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    host = a.host or ("::" if family == socket.AF_INET6 else "0.0.0.0")
    sock.bind((host, a.port_low or 0))
    sock.listen(64)
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    return sock, f"ipv{6 if family == socket.AF_INET6 else 4}@{shown}:{sock.getsockname()[1]}", None


BoundSocket = tuple[socket.socket, int, str, "str | None"]  # (socket, level, display name, UNIX path)

#: display names of the stats sockets bound with "expose-fd listeners": they answer "_getsocks"
#: (the next process's -x) with the listening sockets (fastlb.runtime.sockxfer)
EXPOSE_FD_LISTENERS: set[str] = set()


def bind_stats_sockets(global_: Any) -> list[BoundSocket]:
    """Bind every ``stats socket`` of the global section; BindError (HAProxy's wording) if one
    cannot be bound, after closing those already bound."""
    bound: list[BoundSocket] = []
    for conf in global_.stats_sockets:
        try:
            sock, name, path = _bind(conf)
        except (OSError, KeyError) as exc:
            close_bound(bound)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise BindError(
                f"Starting proxy GLOBAL: cannot bind UNIX socket (or address) "
                f"[{conf.address.text or conf.address}] ({reason})"
            ) from None
        bound.append((sock, LEVELS.get(conf.level, LEVELS["operator"]), name, path))
        if conf.expose_fd_listeners:
            EXPOSE_FD_LISTENERS.add(name)
    return bound


def close_bound(bound: list[BoundSocket]) -> None:
    for sock, _lvl, _name, path in bound:
        if path:
            try:
                if os.path.exists(path) and os.stat(path).st_ino == os.fstat(sock.fileno()).st_ino:
                    os.unlink(path)
            except OSError:
                pass
        sock.close()
    bound.clear()


class StatsSocketService:
    """All ``stats socket`` listeners of the global section (a master service)."""

    def __init__(self, ctx: ApiContext, bound: list[BoundSocket]):
        self.ctx = ctx
        g = ctx.plan.config.global_
        self.timeout_ms = g.stats_timeout_ms or 10000
        self.maxconn = g.stats_maxconn or 10
        self.listeners = bound
        self.servers: list[asyncio.AbstractServer] = []
        self.sessions: set[CliProtocol] = set()
        self.waiting: list[CliProtocol] = []
        self.next_ident = 1
        self._sampler: asyncio.TimerHandle | None = None
        for _sock, level, name, _path in bound:
            ctx.sockets.append((name, level))

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sample(loop)
        for sock, level, name, _path in self.listeners:
            sock.setblocking(False)
            factory = lambda lv=level, nm=name: CliProtocol(self, lv, nm)
            if sock.family == socket.AF_UNIX:
                coro = loop.create_unix_server(factory, sock=sock)
            else:
                coro = loop.create_server(factory, sock=sock)
            task = loop.create_task(coro)
            task.add_done_callback(lambda t: self.servers.append(t.result()) if not t.exception() else None)

    def _sample(self, loop: asyncio.AbstractEventLoop) -> None:
        """Rate samples once a second while the service runs (rates need two samples)."""
        try:
            self.ctx.sample_rates()
        finally:
            self._sampler = loop.call_later(1.0, self._sample, loop)

    def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            self._sampler = None
        for srv in self.servers:
            srv.close()
        self.servers = []
        for s in list(self.sessions) + self.waiting:
            s.close()
        self.close_listeners()

    def close_listeners(self) -> None:
        close_bound(self.listeners)

    def after_fork_child(self) -> None:
        """In a freshly forked worker: drop the inherited listening sockets without touching the
        master's event loop (its epoll instance is shared with the master)."""
        for sock, _lvl, _name, _path in self.listeners:
            fd = sock.detach()
            if fd >= 0:
                os.close(fd)
        self.listeners = []
        # self.servers is kept: releasing the master's uvloop Server objects here would close
        # their handles through the inherited loop, whose epoll/io_uring is the master's
        self._forked_servers = self.servers

    def session_done(self, proto: CliProtocol) -> None:
        self.sessions.discard(proto)
        if proto in self.waiting:
            self.waiting.remove(proto)
        while self.waiting and len(self.sessions) < self.maxconn:
            nxt = self.waiting.pop(0)
            self.sessions.add(nxt)
            nxt.admit()


class CliProtocol(asyncio.Protocol):
    """One runtime API connection."""

    def __init__(self, service: StatsSocketService, level: int, listener: str):
        self.service = service
        self.ctx = service.ctx
        self.sess = Session(level=level, timeout_ms=service.timeout_ms, ident=service.next_ident)
        service.next_ident += 1
        self.listener = listener
        self.transport: Any = None
        self.buf = bytearray()
        self.eof = False
        self.admitted = False
        self.task: asyncio.Task | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.loop = asyncio.get_event_loop()

    # -- transport callbacks -------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:  # uvloop transports are not asyncio.Transport
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            host, port = peer[0], peer[1]
            self.sess.peer = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        else:
            self.sess.peer = f"unix:{self.sess.ident}"
        if len(self.service.sessions) >= self.service.maxconn:
            transport.pause_reading()
            self.service.waiting.append(self)
            return
        self.service.sessions.add(self)
        self.admit()

    def admit(self) -> None:
        self.admitted = True
        if self.transport is not None:
            self.transport.resume_reading()
        self._arm_timer()
        self._kick()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) > MAX_REQUEST and next_command(self.buf) is None:
            self.close()
            return
        self._arm_timer()
        self._kick()

    def eof_received(self) -> bool:
        self.eof = True
        self._kick()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self.transport = None
        self.service.session_done(self)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _arm_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_later(self.sess.timeout_ms / 1000.0, self.close)

    def _kick(self) -> None:
        if self.admitted and (self.task is None or self.task.done()):
            self.task = self.loop.create_task(self._run())

    # -- commands ------------------------------------------------------------------------------

    async def _run(self) -> None:
        while self.transport is not None:
            nxt = next_command(self.buf)
            if nxt is None:
                if self.eof:
                    self.close()  # a command without its newline at EOF is dropped, as in HAProxy
                return
            line, used = nxt
            del self.buf[:used]
            out = await self.execute(line)
            if self.transport is None:
                return
            if self.sess.close:
                self.close()
                return
            self.transport.write((out + ("\n> " if self.sess.prompt else "\n")).encode("utf-8", "replace"))
            self._arm_timer()
            if not self.sess.prompt and not self.buf:
                self.close()
                return

    async def execute(self, line: str) -> str:
        args = split_words(line)
        if args and args[0] == "_getsocks" and self.listener in EXPOSE_FD_LISTENERS:
            # socket handover to the next process (-x): the answer is binary, then we close
            from ..runtime.sockxfer import serve_getsocks

            self.transport.pause_reading()
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                serve_getsocks(sock.fileno())
            self.sess.close = True
            return ""
        if args and args[0] == "help":
            return usage_message(args)
        if args and args[0] == "prompt":
            self.sess.prompt = not self.sess.prompt
            return ""
        if args and args[0] == "quit":
            self.sess.close = True
            return ""
        cmd = find_command(args)
        if cmd is None:
            return usage_message(args)
        try:
            result = cmd.handler(self.ctx, self.sess, args)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:  # noqa: BLE001 - one command's bug must not kill the socket
            self.ctx.reporter.alert(f"runtime API command '{line}' failed: {exc!r}")
            return "Internal error.\n"
        return str(result)


def build_api(
    plan: Any,
    shm: Any,
    health: HealthRuntime,
    hub: ControlHub,
    bound: list[BoundSocket],
    stopping: Callable[[], bool] = lambda: False,
) -> tuple[ApiContext, StatsSocketService]:
    ctx = ApiContext(plan, shm, health, hub, start_time=shm.start_time or time.time(), stopping=stopping)
    return ctx, StatsSocketService(ctx, bound)
