"""Listening sockets: created by the master before it forks, handed to the workers.

TCP listeners get one SO_REUSEPORT socket per worker, so the kernel spreads connections over
the workers without a shared accept queue. UNIX sockets and inherited ``fd@N`` sockets cannot be
duplicated that way: one socket is shared by all workers.
"""
from __future__ import annotations

import os
import socket
import stat

from .plan import ListenerPlan, Plan

TCP_DEFER_ACCEPT = getattr(socket, "TCP_DEFER_ACCEPT", 9)
DEFAULT_BACKLOG = 1024


class BindError(Exception):
    pass


def listen_backlog(lp: ListenerPlan) -> int:
    """The listen() backlog of a listener: `backlog`, else its `maxconn`, else 1024."""
    return lp.backlog or lp.maxconn or DEFAULT_BACKLOG


def _describe(lp: ListenerPlan) -> str:
    """The address of a listener as messages show it; also the key that matches a listener with
    a socket handed over by another process (see `socket_key`)."""
    if lp.path is not None:
        if lp.path.startswith("\0"):
            return f"abns@{lp.path[1:]}"
        return f"unix@{lp.path}"
    if lp.fd is not None:
        return f"fd@{lp.fd}"
    host = f"[{lp.host}]" if ":" in lp.host else lp.host
    return f"{host}:{lp.port}"


def open_listener(lp: ListenerPlan, backlog: int, reuseport: bool) -> socket.socket:
    """Create, bind and listen one socket for `lp`."""
    if lp.fd is not None:
        try:
            sock = socket.socket(fileno=lp.fd)
        except OSError as exc:
            raise BindError(f"cannot use inherited fd@{lp.fd}: {exc.strerror}") from None
        sock.setblocking(False)
        try:
            sock.listen(backlog)
        except OSError:
            pass
        return sock
    if lp.path is not None:
        return _open_unix(lp, backlog)
    sock = socket.socket(lp.family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuseport:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if lp.family == socket.AF_INET6:
            if lp.v6only:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            elif lp.v4v6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        if lp.defer_accept:
            sock.setsockopt(socket.IPPROTO_TCP, TCP_DEFER_ACCEPT, 1)
        sock.bind((lp.host, lp.port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot bind socket ({exc.strerror}) for [{_describe(lp)}]") from None
    return sock


def _open_unix(lp: ListenerPlan, backlog: int) -> socket.socket:
    path = lp.path or ""
    abstract = path.startswith("\0")
    if not abstract:
        try:
            if stat.S_ISSOCK(os.stat(path).st_mode):
                os.unlink(path)  # a stale socket from a previous run
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise BindError(f"cannot prepare UNIX socket path {path}: {exc.strerror}") from None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        if lp.mode is not None and not abstract:
            os.chmod(path, lp.mode)
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot bind UNIX socket ({exc.strerror}) for [{_describe(lp)}]") from None
    return sock


def socket_key(sock: socket.socket) -> str | None:
    """The `_describe` key of a listening socket received from another process, from what the
    kernel says it is bound to; None for a socket that is not a listening stream socket (HAProxy
    also exports its UDP sockets, which fastlb has no use for)."""
    try:
        if sock.type != socket.SOCK_STREAM or not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            return None
        name = sock.getsockname()
    except OSError:
        return None
    if sock.family == socket.AF_INET:
        return f"{name[0]}:{name[1]}"
    if sock.family == socket.AF_INET6:
        return f"[{name[0]}]:{name[1]}"
    if sock.family == socket.AF_UNIX:
        if isinstance(name, bytes):  # abstract names come back as bytes
            text = name.decode("utf-8", "surrogateescape")
        else:
            text = name
        if text.startswith("\0"):
            return f"abns@{text[1:]}"
        return f"unix@{text}" if text else None
    return None


def group_by_key(socks: list[socket.socket]) -> dict[str, list[socket.socket]]:
    """Received sockets keyed by address, in the order they came (worker order for fastlb's own
    per-worker sockets). Sockets that cannot serve as listeners are closed."""
    out: dict[str, list[socket.socket]] = {}
    for s in socks:
        key = socket_key(s)
        if key is None:
            s.close()
            continue
        out.setdefault(key, []).append(s)
    return out


class ListenerSet:
    """The listening sockets of a plan: `per_worker[w][i]` is worker w's socket for listener i.

    `inherited` holds sockets handed over by the previous process (``-x``, the old process of
    ``-sf``/``-st``, or the master before it re-executed itself), keyed as `_describe` keys them.
    A listener takes the inherited sockets of its address before opening new ones: the same
    socket keeps its accept queue, so a reload resets no connection waiting in it. Limit: when a
    reload lowers the number of workers, the surplus SO_REUSEPORT sockets of an address are
    closed, and connections queued on them at that instant are reset by the kernel (unless
    net.ipv4.tcp_migrate_req=1 lets it move them to the sockets that remain).
    """

    def __init__(self, plan: Plan, inherited: dict[str, list[socket.socket]] | None = None):
        self.plan = plan
        self.per_worker: list[list[socket.socket]] = [[] for _ in range(plan.nbworkers)]
        self.sockets: list[socket.socket] = []
        self.reused = 0  # how many sockets came from the previous process
        errors = []
        inherited = {k: list(v) for k, v in (inherited or {}).items()}
        for lp in plan.listeners:
            backlog = listen_backlog(lp)
            shared = lp.path is not None or lp.fd is not None or not lp.reuseport
            key = _describe(lp)
            old = (inherited.pop(key, None) or []) if lp.fd is None else []
            try:
                if shared:
                    sock = self._adopt(old.pop(0), backlog) if old else open_listener(lp, backlog, reuseport=False)
                    self.sockets.append(sock)
                    for w in range(plan.nbworkers):
                        self.per_worker[w].append(sock)
                else:
                    for w in range(plan.nbworkers):
                        sock = self._adopt(old.pop(0), backlog) if old else open_listener(lp, backlog, reuseport=True)
                        self.sockets.append(sock)
                        self.per_worker[w].append(sock)
            except BindError as exc:
                errors.append(f"Starting frontend {lp.frontend}: {exc}")
            for extra in old:  # fewer workers than before, or a shared socket sent twice
                extra.close()
        for socks in inherited.values():  # addresses the new configuration does not listen on
            for s in socks:
                s.close()
        if errors:
            self.close()
            raise BindError("\n".join(errors))

    def _adopt(self, sock: socket.socket, backlog: int) -> socket.socket:
        sock.setblocking(False)
        try:
            sock.listen(backlog)  # the new configuration's backlog; the queue is kept
        except OSError:
            pass
        self.reused += 1
        return sock

    def fds_for(self, worker: int) -> list[int]:
        return [s.fileno() for s in self.per_worker[worker]]

    def all_sockets(self) -> list[socket.socket]:
        """Every listening socket, each once, in worker order per listener (what a new process
        gets on reload)."""
        return list(self.sockets)

    def keep_only(self, worker: int) -> None:
        """In a freshly forked worker: close the other workers' sockets, so that a socket lives in
        the processes that accept on it (and in the master) only."""
        mine = {id(s) for s in self.per_worker[worker]}
        for s in self.sockets:
            if id(s) not in mine:
                s.close()
        self.sockets = [s for s in self.sockets if id(s) in mine]

    def by_address(self) -> dict[str, list[socket.socket]]:
        """Sockets keyed by address, for handing them over to a new process on reload."""
        out: dict[str, list[socket.socket]] = {}
        for i, lp in enumerate(self.plan.listeners):
            key = _describe(lp)
            socks = out.setdefault(key, [])
            for w in range(self.plan.nbworkers):
                s = self.per_worker[w][i]
                if s not in socks:
                    socks.append(s)
        return out

    def close(self) -> None:
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass
        self.sockets = []
