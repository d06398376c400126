"""The health-check service of the master: one asyncio task per configured check (health and
agent), plus two samplers: ``observe`` (errors seen on real traffic, from the workers' counters)
and ``slowstart`` (weight ramps after recovery).

Scheduling is HAProxy's: the first checks are spread over the smallest interval of at least one
second (capped by ``max-spread-checks``), then each check runs again ``srv_getinter()`` after it
finished (``inter``/``fastinter``/``downinter``), randomised by ``spread-checks`` percent.

``observe`` limits: the workers count events per server in shared memory, and the master samples
them every 100 ms. Within one sample the order of events is unknown; errors are then assumed to
come after the successes (so a sample with errors never resets the count). Layer-4 errors are the
failed connection attempts (retries included); layer-7 errors are 5xx answers and invalid
responses (HAProxy excludes 501 and 505, the counters cannot).
"""
from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from ..engine._shm import SRV_ST_STOPPED
from .httpchk import HttpCheckPlan, build_http_check
from .probes import ProbeResult, ProbeSpec, run_probe
from .publish import publish_all
from .servers import Check, ServerRuntime, ServerTable
from .status import ANALYZE, Analyze, CheckResult, CheckStatus
from .tcpchk import TcpCheckPlan, build_tcp_check
from .transitions import ServerControl

#: Intervals below this do not dictate how the first checks are spread (HAProxy's threshold).
SPREAD_THRESHOLD_MS = 1000
OBSERVE_PERIOD_S = 0.1
SLOWSTART_PERIOD_S = 0.25
#: Observe rounds between two complete publications of the statistics detail (1 s).
PUBLISH_EVERY = 10


class HealthService:
    """start(loop)/stop() as the master's services; add_server/remove_server for dynamic servers."""

    def __init__(self, table: ServerTable, control: ServerControl):
        self.table = table
        self.plan = table.plan
        self.control = control
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tasks: dict[tuple[int, bool], asyncio.Task] = {}
        self._aux: list[asyncio.Task] = []
        self._http: dict[str, HttpCheckPlan | None] = {}
        self._tcp: dict[str, TcpCheckPlan | None] = {}
        self.warned: set[str] = set()

    # -- life cycle ------------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        checks = [(s, c) for s in self.table.servers() for c in (s.check, s.agent) if c.configured]
        long_inters = [c.inter for _, c in checks if c.inter >= SPREAD_THRESHOLD_MS]
        mininter = min(long_inters) if long_inters else 0
        cap = self.plan.config.global_.max_spread_checks_ms
        if cap is not None and mininter > cap:
            mininter = cap
        for pos, (srv, chk) in enumerate(checks):
            self._spawn(srv, chk, mininter * pos / len(checks) / 1000.0)
        self._aux = [loop.create_task(self._observe_loop()), loop.create_task(self._slowstart_loop())]

    def stop(self) -> None:
        for t in list(self.tasks.values()) + self._aux:
            t.cancel()
        self.tasks.clear()
        self._aux = []

    def add_server(self, srv: ServerRuntime) -> None:
        """Run the checks of a server added at run time (they start disabled, as in HAProxy:
        ``enable health``/``enable agent`` turn them on)."""
        if self.loop is None:
            return
        for chk in (srv.check, srv.agent):
            if chk.configured:
                self._spawn(srv, chk, 0.0)

    def remove_server(self, srv: ServerRuntime) -> None:
        srv.removed = True
        for agent in (False, True):
            t = self.tasks.pop((id(srv), agent), None)
            if t is not None:
                t.cancel()

    def _spawn(self, srv: ServerRuntime, chk: Check, delay: float) -> None:
        assert self.loop is not None
        chk.wake = asyncio.Event()
        self.tasks[(id(srv), chk.agent)] = self.loop.create_task(self._check_loop(srv, chk, delay))

    # -- one check -------------------------------------------------------------------------------

    async def _sleep(self, chk: Check, seconds: float) -> None:
        """Wait for the next run: ``kick()`` runs the check at once, ``reschedule()`` only brings
        the deadline forward to ``fastinter`` from now (HAProxy's on-error behaviour)."""
        assert chk.wake is not None and self.loop is not None
        deadline = self.loop.time() + seconds
        while True:
            remaining = deadline - self.loop.time()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(chk.wake.wait(), remaining)
            except asyncio.TimeoutError:
                break
            chk.wake.clear()
            if not chk.resched:
                break
            chk.resched = False
            deadline = min(deadline, self.loop.time() + chk.fastinter / 1000.0)
        chk.wake.clear()

    def _active(self, chk: Check) -> bool:
        return chk.enabled and not (chk.paused and not chk.agent)

    async def _check_loop(self, srv: ServerRuntime, chk: Check, delay: float) -> None:
        await self._sleep(chk, delay)
        while not srv.removed:
            if not self._active(chk):
                assert chk.wake is not None
                await chk.wake.wait()
                chk.wake.clear()
                continue
            spec = self._spec(srv, chk)
            if spec is None:
                self._warn_once(srv.key, f"Server {srv.key} has neither service port nor check port: "
                                         f"{'agent' if chk.agent else 'health'} check disabled.")
                chk.enabled = False
                continue
            chk.in_progress = True
            chk.result = CheckResult.UNKNOWN  # as HAProxy, while a check runs
            self.control.publish(srv)
            try:
                res = await run_probe(spec)
            except Exception as exc:  # noqa: BLE001 - a check must never kill its task
                res = ProbeResult(CheckStatus.SOCKERR, desc=str(exc))
            finally:
                chk.in_progress = False
                self.control.publish(srv)
            if srv.removed:
                return
            if self._active(chk):  # a result arriving after "disable health"/maintenance is ignored
                self.apply(srv, chk, res)
            stopped = self.control.state(srv)["oper"] == SRV_ST_STOPPED
            await self._sleep(chk, self._next_interval(chk, stopped) / 1000.0)

    def _next_interval(self, chk: Check, stopped: bool) -> float:
        ms = chk.interval(stopped)
        spread = self.plan.config.global_.spread_checks
        if spread:
            rv = ms * spread / 100.0
            ms += rv - 2 * rv * random.random()
        return max(1.0, ms)

    def _warn_once(self, key: str, text: str) -> None:
        if key not in self.warned:
            self.warned.add(key)
            self.control.reporter.event(4, text)

    def _spec(self, srv: ServerRuntime, chk: Check) -> ProbeSpec | None:
        target = srv.check_target(chk)
        if target is None:
            return None
        family, host, port = target
        t = srv.backend.conf.timeouts
        conn = min(t.connect, chk.inter) if t.connect else chk.inter
        http = tcp = None
        if not chk.agent and srv.backend.conf.check_type == "httpchk":
            http = self._http_plan(srv)
        elif not chk.agent and srv.backend.conf.check_type == "tcp-check":
            tcp = self._tcp_plan(srv)
            if tcp is not None and tcp.port and not chk.port:
                port = tcp.port
        send = chk.send.encode("latin-1", "replace") if chk.agent and chk.send else None
        return ProbeSpec(family=family, host=host, port=port, conn_timeout_ms=conn, read_timeout_ms=t.check,
                         http=http, tcp=tcp, agent=chk.agent, agent_send=send)

    def _tcp_plan(self, srv: ServerRuntime) -> TcpCheckPlan | None:
        name = srv.backend.name
        if name not in self._tcp:
            self._tcp[name] = build_tcp_check(srv.backend.conf)
        return self._tcp[name]

    def _http_plan(self, srv: ServerRuntime) -> HttpCheckPlan:
        name = srv.backend.name
        plan = self._http.get(name)
        if plan is None:
            plan = self._http[name] = build_http_check(srv.backend.conf)
        return plan

    def apply(self, srv: ServerRuntime, chk: Check, res: ProbeResult) -> None:
        """Account a result: the agent's requests first (admin state, weight, maxconn), then the
        status, as HAProxy orders them."""
        ctl = self.control
        reply = res.reply
        if chk.agent and reply is not None:
            if reply.admin == "ready":
                ctl.set_ready(srv)
            elif reply.admin == "drain":
                ctl.set_drain(srv, by_agent=True)
            elif reply.admin == "maint":
                ctl.set_maint(srv)
            if reply.weight_pct is not None:
                w = srv.iweight * reply.weight_pct // 100
                if w <= 256:
                    ctl.set_weight(srv, w)
            if reply.maxconn is not None:
                ctl.set_maxconn(srv, reply.maxconn)
        ctl.check_result(srv, chk, res.status, res.code, res.desc, res.duration_ms)
        if not chk.agent and chk.force_fastinter and chk.health == chk.rise + chk.fall - 1:
            chk.force_fastinter = False

    # -- observe ---------------------------------------------------------------------------------

    async def _observe_loop(self) -> None:
        """Every 100 ms: admin changes made by workers (statistics page), and ``observe``; every
        second, the statistics detail of every server again (health/publish.py)."""
        rounds = 0
        # the baseline is taken now, before traffic: a first sample taken later would absorb
        # the errors made in between (a server failing right after start-up)
        for srv in self.table.servers():
            if srv.observe and not srv.observed:
                srv.observed = self.observe_counters(srv)
        while True:
            await asyncio.sleep(OBSERVE_PERIOD_S)
            rounds += 1
            if rounds % PUBLISH_EVERY == 0:
                publish_all(self.table.shm, self.table)
            for srv in self.table.servers():
                if srv.removed:
                    continue
                self.control.reconcile(srv)
                if srv.observe and srv.check.configured and srv.check.enabled:
                    self.observe_sample(srv)

    def observe_counters(self, srv: ServerRuntime) -> dict[str, int]:
        """The totals (over the workers) that ``observe`` compares between two samples."""
        c = self.table.shm.sum_counters(srv.counter_slot)
        return {"econ": c["failed_conns"] + c["retries"], "conn": c["connect_new"] + c["connect_reuse"],
                "good": sum(c["http_rsp"][:4]) + c["http_rsp"][5], "bad5": c["http_rsp"][4],
                "eresp": c["failed_resp"]}

    def observe_sample(self, srv: ServerRuntime) -> None:
        now = self.observe_counters(srv)
        prev = srv.observed
        srv.observed = now
        if not prev:
            return
        d = {k: max(0, now[k] - prev[k]) for k in now}
        if srv.observe == "layer4":
            err = d["econ"]
            ok = max(0, d["conn"] - err)
            last = Analyze.L4_ERR
        else:
            err = d["econ"] + d["bad5"] + d["eresp"]
            ok = d["good"]
            last = Analyze.L4_ERR if d["econ"] else (Analyze.HTTP_RSP if d["eresp"] else Analyze.HTTP_STS)
        if not err:
            if ok:
                srv.consecutive_errors = 0
            return
        total = err if ok else srv.consecutive_errors + err
        srv.last_error = ANALYZE[last][0]
        # one sample may hold several runs of `error_limit` errors: HAProxy reacts to each, until
        # the server is down (it would have received no more traffic to fail on)
        while total >= srv.error_limit:
            srv.consecutive_errors = srv.error_limit
            self.on_error(srv)
            total -= srv.error_limit
            if self.control.state(srv)["oper"] == SRV_ST_STOPPED:
                total = 0
        srv.consecutive_errors = total

    def on_error(self, srv: ServerRuntime) -> None:
        """``on-error``: what too many consecutive errors do (HAProxy's check_health_analyze())."""
        chk = srv.check
        desc = f"Detected {srv.consecutive_errors} consecutive errors, last one was: {srv.last_error}"
        mode = srv.on_error
        if mode == "sudden-death" and chk.health > chk.rise:
            chk.health = chk.rise + 1
        if mode == "mark-down":
            chk.health = chk.rise
        if mode in ("sudden-death", "fail-check", "mark-down"):
            self.control.check_result(srv, chk, CheckStatus.HANA, None, desc, -1)
        srv.consecutive_errors = 0
        srv.failed_hana += 1
        self.control.publish(srv)
        if srv.conf.fastinter:
            chk.force_fastinter = True
            chk.reschedule()

    # -- slowstart -------------------------------------------------------------------------------

    async def _slowstart_loop(self) -> None:
        while True:
            await asyncio.sleep(SLOWSTART_PERIOD_S)
            now = time.time()
            for srv in self.table.servers():
                if srv.slowstart_ms > 0 and not srv.removed:
                    self.control.refresh_slowstart(srv, now)


def health_summary(srv: ServerRuntime) -> dict[str, Any]:
    """A plain view of a server's checks (tests, debugging)."""
    return {
        "check": {"health": srv.check.health, "status": srv.check.status.name, "enabled": srv.check.enabled},
        "agent": {"health": srv.agent.health, "status": srv.agent.status.name, "enabled": srv.agent.enabled},
    }
