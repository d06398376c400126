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


def _describe(lp: ListenerPlan) -> str:
    if lp.path is not None:
        return f"unix@{lp.path.lstrip(chr(0))}"
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


class ListenerSet:
    """The listening sockets of a plan: `per_worker[w][i]` is worker w's socket for listener i."""

    def __init__(self, plan: Plan, inherited: dict[str, list[socket.socket]] | None = None):
        self.plan = plan
        self.per_worker: list[list[socket.socket]] = [[] for _ in range(plan.nbworkers)]
        self.sockets: list[socket.socket] = []
        errors = []
        inherited = dict(inherited or {})
        for lp in plan.listeners:
            backlog = lp.backlog or lp.maxconn or DEFAULT_BACKLOG
            shared = lp.path is not None or lp.fd is not None or not lp.reuseport
            key = _describe(lp)
            try:
                if shared:
                    old = inherited.pop(key, None)
                    sock = old[0] if old else open_listener(lp, backlog, reuseport=False)
                    self.sockets.append(sock)
                    for w in range(plan.nbworkers):
                        self.per_worker[w].append(sock)
                else:
                    old = inherited.pop(key, None) or []
                    for w in range(plan.nbworkers):
                        sock = old.pop(0) if old else open_listener(lp, backlog, reuseport=True)
                        self.sockets.append(sock)
                        self.per_worker[w].append(sock)
                    for extra in old:  # fewer workers than before
                        extra.close()
            except BindError as exc:
                errors.append(f"Starting frontend {lp.frontend}: {exc}")
        for socks in inherited.values():
            for s in socks:
                s.close()
        if errors:
            self.close()
            raise BindError("\n".join(errors))

    def fds_for(self, worker: int) -> list[int]:
        return [s.fileno() for s in self.per_worker[worker]]

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
