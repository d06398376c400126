"""The master's view of every server: configuration, health-check state, and the slot of its
state in shared memory.

Shared memory (``SharedState``) holds what the workers need to route (admin flags, operational
state, weights, maxconn, address) and the check summary the statistics show. Everything else a
check needs (health counters, intervals, descriptions, which command or agent set a flag) lives
here, in the master only. Health checks (service.py) and the runtime API (fastlb.api) read and
change servers through this table and transitions.py, never by writing shared memory directly.
"""
from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from ..config.model import Server as ServerConf
from ..runtime.plan import SPARE_SERVER_SLOTS, BackendPlan, Plan
from .status import (
    CHK_ST_AGENT,
    CHK_ST_CONFIGURED,
    CHK_ST_ENABLED,
    CHK_ST_INPROGRESS,
    CHK_ST_PAUSED,
    CheckResult,
    CheckStatus,
)


@dataclass
class Check:
    """One health check (or agent check) of one server, HAProxy's ``struct check``."""

    agent: bool
    rise: int
    fall: int
    inter: int                 # ms
    fastinter: int             # ms, = inter when not configured
    downinter: int             # ms, = inter when not configured
    port: int | None           # None: the server's port
    addr: str | None           # None: the server's address
    send: str | None = None    # agent-send
    configured: bool = True
    enabled: bool = True       # "disable health|agent" clears it
    paused: bool = False       # server in maintenance (health checks only)
    health: int = 0            # 0..rise+fall-1; UP when >= rise
    status: CheckStatus = CheckStatus.INI
    result: CheckResult = CheckResult.UNKNOWN
    code: int | None = None
    desc: str = ""
    duration_ms: int = -1
    in_progress: bool = False
    force_fastinter: bool = False
    last_end: float = 0.0      # time.time() of the last completed run
    resched: bool = False      # the pending wake-up only brings the next run to fastinter
    wake: asyncio.Event | None = field(default=None, repr=False)

    @property
    def up(self) -> bool:
        return self.health >= self.rise

    def state_bits(self) -> int:
        """HAProxy's CHK_ST_* bits (``srv_check_state`` / ``srv_agent_state``)."""
        if not self.configured:
            return CHK_ST_PAUSED if self.paused else 0
        bits = CHK_ST_CONFIGURED
        if self.enabled:
            bits |= CHK_ST_ENABLED
        if self.paused:
            bits |= CHK_ST_PAUSED
        if self.agent:
            bits |= CHK_ST_AGENT
        if self.in_progress:
            bits |= CHK_ST_INPROGRESS
        return bits

    def interval(self, server_stopped: bool) -> int:
        """Milliseconds to the next run, as HAProxy's srv_getinter(): ``inter`` while fully up,
        ``downinter`` while fully down, ``fastinter`` in between (and when on-error forces it)."""
        if self.force_fastinter:
            return self.fastinter
        if self.health == self.rise + self.fall - 1:
            return self.inter
        if server_stopped and self.health == 0:
            return self.downinter
        return self.fastinter

    def kick(self) -> None:
        """Run this check now (after enable/leaving maintenance)."""
        if self.wake is not None:
            self.resched = False
            self.wake.set()

    def reschedule(self) -> None:
        """Run this check no later than ``fastinter`` from now."""
        if self.wake is not None:
            self.resched = True
            self.wake.set()


def make_check(conf: ServerConf, agent: bool) -> Check:
    if agent:
        inter = conf.agent_inter or conf.inter
        return Check(agent=True, rise=conf.rise, fall=conf.fall, inter=inter, fastinter=inter,
                     downinter=inter, port=conf.agent_port, addr=conf.agent_addr, send=conf.agent_send,
                     configured=bool(conf.agent_check and conf.agent_port))
    return Check(agent=False, rise=conf.rise, fall=conf.fall, inter=conf.inter,
                 fastinter=conf.fastinter or conf.inter, downinter=conf.downinter or conf.inter,
                 port=conf.check_port, addr=conf.check_addr, configured=conf.check)


class ServerRuntime:
    """One server (configured or added at run time)."""

    def __init__(self, backend: BackendRuntime, conf: ServerConf, sid: int, slot: int, counter_slot: int,
                 family: int, host: str, port: int | None, port_offset: int, sockaddr: bytes,
                 dynamic: bool = False):
        self.backend = backend
        self.conf = conf
        self.name = conf.name
        self.sid = sid
        self.forced_id = conf.id is not None
        self.slot = slot
        self.counter_slot = counter_slot
        self.family = family
        self.host = host
        self.port = port                      # None: the client's destination port
        self.port_offset = port_offset
        self.sockaddr = sockaddr
        self.dynamic = dynamic
        self.backup = conf.backup
        self.iweight = conf.weight            # initial weight ("get weight ... (initial N)")
        self.cmaint = conf.disabled           # HAProxy's CMAINT: disabled in the configuration
        self.slowstart_ms = conf.slowstart
        self.check = make_check(conf, agent=False)
        self.agent = make_check(conf, agent=True)
        self.observe = conf.observe if conf.observe in ("layer4", "layer7") else None
        self.on_error = conf.on_error or "fastinter"
        self.error_limit = conf.error_limit or 10
        self.consecutive_errors = 0
        self.failed_hana = 0
        self.last_error = ""
        self.agent_drain = False              # the drain flag was set by the agent ("DRAIN (agent)")
        self.agent_down = False               # the agent put the server down ("DOWN (agent)")
        self.removed = False
        self.order = 0                        # rank in the backend's server list (statistics)
        self.admin_seen = 0                   # admin flags as the master last wrote or saw them
        self.oper_seen = 0                    # operational state as the master last wrote it
        self.last_change = time.time()
        self.observed: dict[str, int] = {}    # counter values at the last observe sample

    @property
    def key(self) -> str:
        return f"{self.backend.name}/{self.name}"

    @property
    def port_from_client(self) -> bool:
        return self.port is None and self.family != socket.AF_UNIX

    def check_target(self, check: Check) -> tuple[int, str, int] | None:
        """(family, host, port) a check connects to (port 0 and the path as host for a UNIX
        socket server), or None when no port is known (a server whose port comes from the
        client needs ``port``; HAProxy refuses that configuration)."""
        if self.family == socket.AF_UNIX and not check.addr and not check.port:
            return socket.AF_UNIX, self.host, 0
        host = check.addr or (self.host if self.family != socket.AF_UNIX else "127.0.0.1")
        port = check.port if check.port else self.port
        if not port:
            return None
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return family, host, port

    def addr_text(self) -> str:
        """``addr`` of the statistics: ip:port ([ip6]:port)."""
        if self.family == socket.AF_UNIX:
            return f"unix@{self.host}"
        port = self.port or 0
        if self.family == socket.AF_INET6:
            return f"[{self.host}]:{port}"
        return f"{self.host}:{port}"


class BackendRuntime:
    def __init__(self, plan: BackendPlan):
        self.plan = plan
        self.name = plan.name
        self.id = plan.id
        self.conf = plan.conf
        self.mode = plan.mode
        self.servers: list[ServerRuntime] = []
        self.next_order = len(plan.servers)   # rank of the next server added at run time
        self.forced_id = plan.conf.id is not None
        # backend-level transitions (statistics: chkdown, lastchg, downtime of the BACKEND row)
        self.chkdown = 0
        self.last_change = time.time()
        self.down_since: float | None = None
        self.down_time = 0.0

    def server(self, ref: str) -> ServerRuntime | None:
        """A server by name or by ``#id``."""
        if ref.startswith("#"):
            try:
                sid = int(ref[1:])
            except ValueError:
                return None
            return next((s for s in self.servers if s.sid == sid), None)
        return next((s for s in self.servers if s.name == ref), None)

    def next_sid(self) -> int:
        """The lowest unused server id (HAProxy numbers a new server so)."""
        used = {s.sid for s in self.servers}
        n = 1
        while n in used:
            n += 1
        return n


class ServerTable:
    """Every backend and server of a plan, plus the free shared-memory slots for ``add server``."""

    def __init__(self, plan: Plan, shm: Any):
        self.plan = plan
        self.shm = shm
        self.backends: list[BackendRuntime] = []
        for bp in plan.backends:
            be = BackendRuntime(bp)
            for sp in bp.servers:
                srv = ServerRuntime(be, sp.conf, sp.id, sp.slot, sp.counter_slot, sp.family, sp.host, sp.port,
                                    sp.port_offset, sp.sockaddr)
                srv.order = len(be.servers)
                be.servers.append(srv)
            self.backends.append(be)
        base_slot = len(plan.servers)
        if plan.servers:
            base_counter = max(sp.counter_slot for sp in plan.servers) + 1
        else:
            base_counter = len(plan.frontends) + len(plan.backends)
        spares = min(SPARE_SERVER_SLOTS, plan.server_slots - base_slot)
        self._free: list[tuple[int, int]] = [(base_slot + i, base_counter + i) for i in range(spares)]

    def backend(self, ref: str) -> BackendRuntime | None:
        """A backend by name or by ``#id``."""
        if ref.startswith("#"):
            try:
                pid = int(ref[1:])
            except ValueError:
                return None
            return next((b for b in self.backends if b.id == pid), None)
        return next((b for b in self.backends if b.name == ref), None)

    def servers(self) -> list[ServerRuntime]:
        return [s for b in self.backends for s in b.servers]

    def alloc_slot(self) -> tuple[int, int] | None:
        """(server slot, counter slot) for a new server, or None when all spares are used."""
        return self._free.pop(0) if self._free else None

    def free_slot(self, srv: ServerRuntime) -> None:
        """Give a deleted dynamic server's slots back. Slots of configured servers are never
        reused: a respawned worker rebuilt from the plan still names them (see fastlb.api.ipc)."""
        if srv.dynamic:
            self._free.append((srv.slot, srv.counter_slot))
