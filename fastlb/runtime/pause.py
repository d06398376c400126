"""Pausing and resuming frontends as HAProxy 2.6 does: SIGTTOU / SIGTTIN pause or resume every
frontend, `disable frontend` / `enable frontend` one of them. Both set the same flag in shared
memory (one paused state per frontend, as HAProxy's): the workers follow it at their next round
(fastlb.engine Worker.sync_paused), the stats status says PAUSED.

What a paused listener does is HAProxy's on Linux: a TCP socket is disconnected (shutdown
SHUT_RD), so new connections are refused and those waiting in its accept queue are reset, and it
listens again on resume; an inherited ``fd@`` socket only stops being accepted from (connections
wait in its queue); a UNIX socket keeps accepting (HAProxy 2.6 does not pause those).

The reload path never comes here: a process that hands its sockets over (``-sf``, ``-W``,
``-x``) closes its descriptors without shutting the sockets down, since the next process
accepts on the same sockets.

The "Paused frontend <name>." / "Resumed frontend <name>." lines ("proxy" for a listen section)
come in HAProxy's order: it visits the listeners per protocol (TCPv6, TCPv4, then UNIX), each
protocol's in configuration order, and a frontend is reported with its last listener. With a
stats socket, the runtime API's frontend GLOBAL is reported too.
"""
from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterable
from typing import Any

from .plan import FrontendPlan, ListenerPlan, Plan

LOG_WARNING = 4
_V6, _V4, _UNIX = 0, 1, 2


def _rank(lp: ListenerPlan) -> int:
    if lp.path is not None:
        return _UNIX
    if lp.fd is None and lp.family == socket.AF_INET6:
        return _V6
    return _V4


def _stats_key(plan: Plan) -> tuple[int, int] | None:
    """Where the stats socket's listener comes in HAProxy's walk (before every bind: the global
    section is parsed first), or None without a stats socket."""
    socks = plan.config.global_.stats_sockets
    if not socks:
        return None
    fam = socks[-1].address.family
    return ({"ipv6": _V6, "ipv4": _V4, "fd": _V4}.get(fam, _UNIX), -1)


def pausable(plan: Plan) -> list[FrontendPlan]:
    """The frontends that can be paused: those with a listener (the plan has no disabled ones)."""
    return [fe for fe in plan.frontends if fe.listeners]


def _ordered(plan: Plan, frontends: list[FrontendPlan], with_global: bool) -> list[tuple[str, str]]:
    """(kind, name) in HAProxy's reporting order."""
    keyed = []
    for fe in frontends:
        key = max((_rank(lp), lp.index) for lp in fe.listeners)
        kind = "proxy" if plan.backend(fe.name) is not None else "frontend"
        keyed.append((key, kind, fe.name))
    sk = _stats_key(plan) if with_global else None
    if sk is not None:
        keyed.append((sk, "frontend", "GLOBAL"))
    return [(kind, name) for _key, kind, name in sorted(keyed)]


def set_paused(plan: Plan, shm: Any, paused: bool, names: Iterable[str] | None = None) -> list[str]:
    """Pause (or resume) the named frontends, every pausable one when `names` is None. Returns
    the lines to report, for the frontends whose state changed."""
    everything = names is None
    wanted = set(names) if names is not None else None
    changed = []
    for fe in pausable(plan):
        if wanted is not None and fe.name not in wanted:
            continue
        if bool(shm.get_frontend_paused(fe.index)) != paused:
            shm.set_frontend_paused(fe.index, paused, bump=False)
            changed.append(fe)
    if changed:
        shm.bump_generation()
    verb = "Paused" if paused else "Resumed"
    global_changed = everything and _global_flag(shm, paused)
    return [f"{verb} {kind} {name}." for kind, name in _ordered(plan, changed, global_changed)]


_global_paused: dict[int, bool] = {}


def _global_flag(shm: Any, paused: bool) -> bool:
    """The runtime API's frontend has its own paused state in HAProxy (the CLI keeps answering:
    it is a UNIX socket); kept per process here, only for its report line."""
    key = id(shm)
    if _global_paused.get(key, False) == paused:
        return False
    _global_paused[key] = paused
    return True


def report(plan: Plan, lines: list[str], quiet: bool = False) -> None:
    """To stderr as HAProxy's warnings and to the frontend's log targets."""
    from ..health.logsend import emit_log

    for line in lines:
        if not quiet:
            print(f"[WARNING]  ({os.getpid()}) : {line}", file=sys.stderr, flush=True)
        fe = plan.frontend(line.rsplit(" ", 1)[1][:-1])
        if fe is None:
            continue                        # GLOBAL: no log targets of its own
        try:
            emit_log(plan, LOG_WARNING, line, fe.conf)
        except OSError:
            pass


def pause_all(plan: Plan, shm: Any, paused: bool, quiet: bool = False) -> None:
    """SIGTTOU (paused) / SIGTTIN (resumed)."""
    report(plan, set_paused(plan, shm, paused), quiet)
