"""The master CLI (``-S <bind>[,<option>,<value>...]``) of master-worker mode.

Commands as HAProxy 2.6's master CLI: ``show proc``, ``reload``, ``show version``, ``show cli
level``, ``operator``/``user`` (lower the level), ``help``, ``prompt``, ``quit``, and the ``@``
prefixes that address one process (``@master``, ``@<n>``, ``@!<pid>``). Commands end with a
newline or ``;``. Each answer ends with an empty line; in prompt mode with the prompt
(``master> ``, ``master[ReloadFailed]> `` after a failed reload). The connection closes once the
client has shut its side and every command is answered, on ``quit``, on ``reload`` and after
`IDLE_TIMEOUT` of silence.

fastlb workers have no CLI of their own (the runtime API runs in the master), so a command
addressed to a worker goes to `MasterCLI.worker_cli` when the runtime API installs one, and is
otherwise answered "Can't connect to the target CLI!" as HAProxy does for a worker it cannot
reach.
"""
from __future__ import annotations

import asyncio
import grp
import os
import pwd
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..version import __version__

LEVELS = {"user": 1, "operator": 2, "admin": 3}
LEVEL_NAMES = {v: k for k, v in LEVELS.items()}
#: A connection that sends nothing for this long is closed.
IDLE_TIMEOUT = 60.0
#: A command line longer than this closes the connection (HAProxy's limit is its buffer size).
MAX_LINE = 16384

HELP = [
    ("@!<pid>", "send a command to the <pid> process"),
    ("@<relative pid>", "send a command to the <relative pid> process"),
    ("@master", "send a command to the master process"),
    ("operator", "lower the level of the current CLI session to operator"),
    ("reload", "reload fastlb"),
    ("show cli level", "display the level of the current CLI session"),
    ("show proc", "show processes status"),
    ("show version", "show version of the current process"),
    ("user", "lower the level of the current CLI session to user"),
    ("help [<command>]", "list matching or all commands"),
    ("prompt", "toggle interactive mode with prompt"),
    ("quit", "disconnect"),
]


class CliBindError(Exception):
    pass


@dataclass(frozen=True)
class MasterCliSpec:
    """One ``-S`` argument."""

    text: str
    family: int
    address: Any  # a path (str) or (host, port)
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    level: int = LEVELS["admin"]


def parse_spec(text: str) -> MasterCliSpec:
    """``/path``, ``unix@/path``, ``abns@name``, ``ipv4@host:port``, ``ipv6@[host]:port``,
    ``host:port``, followed by ``,option,value`` pairs (``mode``, ``uid``, ``gid``, ``user``,
    ``group``, ``level``)."""
    parts = text.split(",")
    addr = parts[0]
    opts = parts[1:]
    mode = uid = gid = None
    level = LEVELS["admin"]
    i = 0
    while i < len(opts):
        key = opts[i]
        val = opts[i + 1] if i + 1 < len(opts) else None
        if key in ("mode", "uid", "gid", "user", "group", "level") and val is None:
            raise CliBindError(f"'-S {text}' : '{key}' expects an argument")
        try:
            if key == "mode":
                mode = int(val, 8)
            elif key == "uid":
                uid = int(val)
            elif key == "gid":
                gid = int(val)
            elif key == "user":
                uid = pwd.getpwnam(val).pw_uid
            elif key == "group":
                gid = grp.getgrnam(val).gr_gid
            elif key == "level":
                if val not in LEVELS:
                    raise CliBindError(f"'-S {text}' : level must be one of user, operator, admin")
                level = LEVELS[val]
            else:
                i += 1  # other bind options (accept-proxy...) take no argument here
                continue
        except (KeyError, ValueError):
            raise CliBindError(f"'-S {text}' : invalid value '{val}' for '{key}'") from None
        i += 2
    if addr.startswith("unix@"):
        family, address = socket.AF_UNIX, addr[5:]
    elif addr.startswith("abns@"):
        family, address = socket.AF_UNIX, "\0" + addr[5:]
    elif addr.startswith(("/", "./")):
        family, address = socket.AF_UNIX, addr
    else:
        host_port = addr
        family = socket.AF_INET
        for prefix, fam in (("ipv4@", socket.AF_INET), ("ipv6@", socket.AF_INET6)):
            if host_port.startswith(prefix):
                host_port, family = host_port[len(prefix):], fam
        host, sep, port = host_port.rpartition(":")
        if not sep or not port.isdigit():
            raise CliBindError(f"'-S {text}' : missing port")
        host = host.strip("[]")
        if ":" in host:
            family = socket.AF_INET6
        address = (host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), int(port))
    return MasterCliSpec(text=text, family=family, address=address, mode=mode, uid=uid, gid=gid, level=level)


def bind_spec(spec: MasterCliSpec) -> socket.socket:
    """Bind and listen one master CLI socket (a UNIX path is replaced atomically)."""
    sock = socket.socket(spec.family, socket.SOCK_STREAM)
    try:
        if spec.family == socket.AF_UNIX and not spec.address.startswith("\0"):
            path = spec.address
            tmp = f"{path}.{os.getpid()}.tmp"
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            sock.bind(tmp)
            os.chmod(tmp, spec.mode if spec.mode is not None else 0o600)
            if spec.uid is not None or spec.gid is not None:
                os.chown(tmp, -1 if spec.uid is None else spec.uid, -1 if spec.gid is None else spec.gid)
            sock.listen(16)
            os.replace(tmp, path)
        else:
            if spec.family != socket.AF_UNIX:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(spec.address)
            sock.listen(16)
    except OSError as exc:
        sock.close()
        raise CliBindError(f"Cannot create the master CLI socket '{spec.text}' ({exc.strerror})") from None
    return sock


class ProcessView(Protocol):
    """What the master CLI needs from the master (live or in wait mode)."""

    reloads: int
    failed_reloads: int
    started: float

    def process_rows(self) -> tuple[list[Any], list[Any]]: ...  # (current, old) ProcInfo lists

    def request_reload(self) -> None: ...


def _uptime(seconds: float) -> str:
    up = max(0, int(seconds))
    return f"{up // 86400}d{(up % 86400) // 3600:02d}h{(up % 3600) // 60:02d}m{up % 60:02d}s"


def show_proc(view: ProcessView, now: float | None = None) -> str:
    """The ``show proc`` table, in HAProxy 2.6's layout."""
    now = time.time() if now is None else now
    row = "{:<15} {:<15} {:<15} {:<15} {:<15}\n"
    out = ["#{:<14} {:<15} {:<15} {:<15} {:<15}\n".format("<PID>", "<type>", "<reloads>", "<uptime>", "<version>")]
    out.append(row.format(os.getpid(), "master", f"{view.reloads} [failed: {view.failed_reloads}]",
                          _uptime(now - view.started), __version__))
    current, old = view.process_rows()
    out.append("# workers\n")
    for p in current:
        out.append(row.format(p.pid, "worker", p.reloads, _uptime(now - p.started), p.version))
    if old:
        out.append("# old workers\n")
        for p in old:
            out.append(row.format(p.pid, "worker", p.reloads, _uptime(now - p.started), p.version))
    out.append("# programs\n")
    return "".join(out)


def help_text(title: str) -> str:
    return title + "".join(f"  {cmd:<40}: {text}\n" for cmd, text in HELP)


class MasterCLI:
    """The ``-S`` listeners: a master service (start(loop)/stop()/after_fork_child())."""

    def __init__(self, view: ProcessView, bound: list[tuple[MasterCliSpec, socket.socket]]):
        self.view = view
        self.bound = bound
        self.loop: asyncio.AbstractEventLoop | None = None
        self.servers: list[Any] = []
        self.sessions: set[CliSession] = set()
        #: hook of the runtime API: (pid, command line) -> answer, for "@<n> <command>"
        self.worker_cli: Callable[[int, str], Awaitable[str]] | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        for spec, sock in self.bound:
            sock.setblocking(False)
            factory = (lambda lv=spec.level: CliSession(self, lv))
            if sock.family == socket.AF_UNIX:
                coro = loop.create_unix_server(factory, sock=sock)
            else:
                coro = loop.create_server(factory, sock=sock)
            task = loop.create_task(coro)
            task.add_done_callback(lambda t: self.servers.append(t.result()) if not t.exception() else None)

    def stop(self) -> None:
        for srv in self.servers:
            srv.close()
        self.servers = []
        for s in list(self.sessions):
            s.close()

    def after_fork_child(self) -> None:
        for _spec, sock in self.bound:
            fd = sock.detach()
            if fd >= 0:
                os.close(fd)
        self.bound = []
        # self.servers is kept: releasing the master's uvloop Server objects here would close
        # their handles through the inherited loop, whose epoll/io_uring is the master's
        self._forked_servers = self.servers

    def sockets(self) -> list[tuple[MasterCliSpec, socket.socket]]:
        return list(self.bound)


class CliSession(asyncio.Protocol):
    """One master CLI connection."""

    def __init__(self, cli: MasterCLI, level: int):
        self.cli = cli
        self.level = level
        self.prompt = False
        self.target: int | None = None  # pid commands go to by default (None: the master)
        self.buf = bytearray()
        self.transport: Any = None
        self.eof = False
        self.task: asyncio.Task | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.cli.sessions.add(self)
        self._arm()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) > MAX_LINE and b"\n" not in self.buf and b";" not in self.buf:
            self.close()
            return
        self._arm()
        self._kick()

    def eof_received(self) -> bool:
        self.eof = True
        self._kick()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.cli.sessions.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.cli.loop is not None:
            self.timer = self.cli.loop.call_later(IDLE_TIMEOUT, self.close)

    def _kick(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_event_loop().create_task(self._run())

    def _prompt(self) -> str:
        if not self.prompt:
            return ""
        if self.target is not None:
            return f"{self.target}> "
        return "master[ReloadFailed]> " if self.cli.view.failed_reloads else "master> "

    async def _run(self) -> None:
        while self.transport is not None:
            line = self._next_line()
            if line is None:
                if self.eof:
                    self.close()
                return
            answer, close = await self.execute(line)
            if self.transport is None:
                return
            if answer:
                self.transport.write(answer.encode("utf-8", "replace"))
            if close:
                self.close()
                return
            if self.prompt:
                self.transport.write(self._prompt().encode())

    def _next_line(self) -> str | None:
        i = 0
        while i < len(self.buf):
            c = self.buf[i]
            if c == 0x5C:  # backslash: the next byte is literal
                i += 2
                continue
            if c in (0x0A, 0x3B):
                raw = bytes(self.buf[:i]).rstrip(b"\r")
                del self.buf[:i + 1]
                return raw.decode("utf-8", "replace")
            i += 1
        return None

    async def execute(self, line: str) -> tuple[str, bool]:
        """The answer to one command line and whether the connection closes after it."""
        words = line.split()
        if not words:
            return "", False
        target = self.target
        if words[0].startswith("@"):
            pid = self._resolve(words[0])
            if pid is None:
                return f"Can't find the target PID matching the prefix '{words[0]}'\n", True
            if len(words) == 1:
                self.target = None if pid == 0 else pid
                return "", False
            target = None if pid == 0 else pid
            words = words[1:]
            line = line.split(None, 1)[1]
        if target is not None:
            return await self._to_worker(target, line)
        return self._master_command(words)

    def _resolve(self, prefix: str) -> int | None:
        """0 for the master, a worker pid, or None (HAProxy's pcli_prefix_to_pid)."""
        rest = prefix[1:]
        if rest in ("", "master"):
            return 0
        current, old = self.cli.view.process_rows()
        if rest.startswith("!"):
            try:
                pid = int(rest[1:])
            except ValueError:
                return None
            return pid if any(p.pid == pid for p in current + old) else None
        try:
            n = int(rest)
        except ValueError:
            return None
        if n == 0:
            return 0
        return current[n - 1].pid if 0 < n <= len(current) else None

    async def _to_worker(self, pid: int, line: str) -> tuple[str, bool]:
        hook = self.cli.worker_cli
        if hook is None:
            return "Can't connect to the target CLI!\n", True
        try:
            return await hook(pid, line), False
        except Exception:  # noqa: BLE001 - a failing worker must not take the master CLI down
            return "Can't connect to the target CLI!\n", True

    def _master_command(self, words: list[str]) -> tuple[str, bool]:
        view = self.cli.view
        cmd = " ".join(words[:3])
        if words[0] == "help":
            return help_text("The following commands are valid at this level:\n") + "\n", False
        if words[0] == "prompt":
            self.prompt = not self.prompt
            return "", False
        if words[0] == "quit":
            return "", True
        if words[0] in ("operator", "user"):
            want = LEVELS[words[0]]
            if self.level < want:
                return "Permission denied!\n", True
            self.level = want
            return "", False
        if cmd == "show proc":
            return show_proc(view) + "\n", False
        if cmd == "show version":
            return f"{__version__}\n\n", False
        if cmd == "show cli level":
            return f"{LEVEL_NAMES[self.level]}\n\n", False
        if words[0] == "reload":
            if self.level < LEVELS["operator"]:
                return "Permission denied\n\n", False
            view.request_reload()
            return "", True
        return help_text("Unknown command. Please enter one of the following commands only:\n") + "\n", False
