"""Server state transitions, as HAProxy performs and reports them.

Every change of a server's operational state (UP/DOWN/stopping), administrative state
(maintenance, drain) or weight goes through ``ServerControl``: it writes the shared memory that
the workers route from (which bumps the generation counter, so every worker rebuilds its server
lists at its next event-loop round), and emits HAProxy's event lines word for word::

    Server app/app1 is DOWN, reason: Layer4 connection problem, info: "Connection refused",
    check duration: 0ms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued,
    0 remaining in queue.

``check_result`` is HAProxy's health accounting: ``health`` counts from 0 to rise+fall-1, a
server is UP from ``rise`` on, one failure below that drops it to 0 (DOWN); servers start at
``rise`` (UP, but the first failed check takes them down).
"""
from __future__ import annotations

import math
import time
from typing import Any

from ..engine._shm import (
    SRV_ADMF_DRAIN,
    SRV_ADMF_MAINT,
    SRV_ST_RUNNING,
    SRV_ST_STARTING,
    SRV_ST_STOPPED,
    SRV_ST_STOPPING,
)
from .logsend import Reporter
from .publish import publish_backend, publish_server
from .servers import BackendRuntime, Check, ServerRuntime, ServerTable
from .status import (
    LOG_ALERT,
    LOG_NOTICE,
    STATUS_DESCRIPTIONS,
    CheckResult,
    CheckStatus,
    status_has_code,
    status_result,
)


def append_status(check: Check) -> str:
    """HAProxy's srv_append_status(): ``, reason: ..., code: N, info: "...", check duration: Nms``."""
    out = f", reason: {STATUS_DESCRIPTIONS[check.status]}"
    if status_has_code(check.status):
        out += f", code: {check.code or 0}"
    if check.desc:
        out += f', info: "{check.desc}"'
    if check.duration_ms >= 0:
        out += f", check duration: {check.duration_ms}ms"
    return out


class ServerControl:
    """The one place that changes server states (see the module docstring)."""

    def __init__(self, table: ServerTable, reporter: Reporter):
        self.table = table
        self.shm = table.shm
        self.reporter = reporter
        self.on_server_added: list[Any] = []  # callbacks(srv) (health service: start its checks)

    # -- reading state ---------------------------------------------------------------------------

    def state(self, srv: ServerRuntime) -> dict:
        return self.shm.get_server(srv.slot)

    def usable(self, srv: ServerRuntime, st: dict | None = None) -> bool:
        """What the workers route to: UP (or starting), not in maintenance or drain, weight > 0."""
        st = st or self.state(srv)
        return (st["oper"] in (SRV_ST_RUNNING, SRV_ST_STARTING)
                and not st["admin"] & (SRV_ADMF_MAINT | SRV_ADMF_DRAIN) and st["eweight"] > 0)

    def counts(self, be: BackendRuntime) -> tuple[int, int]:
        """(active, backup) usable servers: HAProxy's srv_act / srv_bck."""
        act = bck = 0
        for s in be.servers:
            if self.usable(s):
                if s.backup:
                    bck += 1
                else:
                    act += 1
        return act, bck

    def _load(self, srv: ServerRuntime) -> tuple[int, int]:
        c = self.shm.sum_counters(srv.counter_slot)
        return int(c["cur_sess"]), int(c["cur_queue"])

    def _name(self, srv: ServerRuntime) -> str:
        return f"{'Backup ' if srv.backup else ''}Server {srv.key}"

    # -- writing state ---------------------------------------------------------------------------

    def _write(self, srv: ServerRuntime, **fields: Any) -> None:
        if "admin" in fields:
            srv.admin_seen = fields["admin"]
        if "oper" in fields:
            srv.oper_seen = fields["oper"]
        self.shm.set_server(srv.slot, **fields)
        publish_server(self.shm, srv)

    def publish(self, srv: ServerRuntime) -> None:
        """Publish the statistics detail of `srv` (health/publish.py) after a change made
        outside the transitions below (check settings, a check starting)."""
        publish_server(self.shm, srv)

    def reconcile(self, srv: ServerRuntime) -> None:
        """Replay an administrative change another process wrote to shared memory (the admin
        actions of the statistics page, served by workers) through the transitions above, so that
        it is logged and checks pause/resume as for the same change made from the CLI. (A worker
        taking a server out of maintenance also sets it UP at once, as the transition will.)"""
        new = self.state(srv)["admin"]
        seen = srv.admin_seen
        if new == seen:
            return
        # back to the known state, then replay
        self.shm.set_server(srv.slot, bump=False, admin=seen, oper=srv.oper_seen)
        if new & SRV_ADMF_MAINT and not seen & SRV_ADMF_MAINT:
            self.set_maint(srv)
        if seen & SRV_ADMF_MAINT and not new & SRV_ADMF_MAINT:
            self.clear_maint(srv)
        if new & SRV_ADMF_DRAIN and not seen & SRV_ADMF_DRAIN:
            self.set_drain(srv)
        if seen & SRV_ADMF_DRAIN and not new & SRV_ADMF_DRAIN:
            self.clear_drain(srv)
        if self.state(srv)["admin"] != new:  # flags this module does not manage: keep them
            self._write(srv, admin=new)

    def _changed(self, srv: ServerRuntime, st: dict) -> dict:
        """Time bookkeeping of an operational state change (last_change, down_time)."""
        now = time.time()
        fields: dict[str, Any] = {"last_change": int(now)}
        if st["oper"] == SRV_ST_STOPPED:
            fields["down_time"] = st["down_time"] + max(0, int(now) - st["last_change"])
        srv.last_change = now
        return fields

    def eweight_for(self, srv: ServerRuntime, uweight: int, oper: int, now: float | None = None) -> int:
        """Effective weight: the user weight, ramped up during slowstart (HAProxy's
        server_recalc_eweight(): at least 1 as soon as the server starts)."""
        if oper == SRV_ST_STARTING and srv.slowstart_ms > 0 and uweight > 0:
            elapsed = ((now or time.time()) - srv.last_change) * 1000.0
            if elapsed < srv.slowstart_ms:
                return max(1, math.ceil(uweight * elapsed / srv.slowstart_ms))
        return uweight

    def _after(self, be: BackendRuntime, before: tuple[int, int]) -> None:
        """Backend-level bookkeeping once a server changed: losing the last usable server is
        HAProxy's "has no server available!" alert, and counts as a backend DOWN transition."""
        now = time.time()
        after = sum(self.counts(be))
        if sum(before) > 0 and after == 0:
            be.chkdown += 1
            be.last_change = now
            be.down_since = now
            self.reporter.no_server(be.conf, be.name)
        elif sum(before) == 0 and after > 0:
            be.last_change = now
            if be.down_since is not None:
                be.down_time += now - be.down_since
                be.down_since = None
        publish_backend(self.shm, be)

    @staticmethod
    def _down_level(st: dict) -> int:
        """Going down is an alert, unless the server was already taking no new traffic."""
        quiet = st["oper"] == SRV_ST_STOPPING or st["admin"] & SRV_ADMF_DRAIN
        return LOG_NOTICE if quiet else LOG_ALERT

    def _left_line(self, srv: ServerRuntime) -> str:
        act, bck = self.counts(srv.backend)
        cur, queue = self._load(srv)
        backup_note = " Running on backup." if bck and not act else ""
        return (f"{act} active and {bck} backup servers left.{backup_note} {cur} sessions active, "
                f"0 requeued, {queue} remaining in queue.")

    def _online_line(self, srv: ServerRuntime) -> str:
        act, bck = self.counts(srv.backend)
        return f"{act} active and {bck} backup servers online. 0 sessions requeued, 0 total in queue."

    # -- operational state -----------------------------------------------------------------------

    def set_stopped(self, srv: ServerRuntime, why: str = "", by_check: bool = True) -> None:
        """UP -> DOWN. ``why`` is the text after "is DOWN" (a check's status or ", changed from CLI")."""
        st = self.state(srv)
        if st["oper"] == SRV_ST_STOPPED:
            return
        before = self.counts(srv.backend)
        fields = self._changed(srv, st)
        fields["oper"] = SRV_ST_STOPPED
        if by_check:
            fields["chk_down"] = st["chk_down"] + 1
        self._write(srv, **fields)
        if st["admin"] & SRV_ADMF_MAINT:
            return  # a server in maintenance changes silently
        text = f"{self._name(srv)} is DOWN{why}. {self._left_line(srv)}"
        self.reporter.event(self._down_level(st), text, srv.backend.conf)
        self._after(srv.backend, before)

    def set_running(self, srv: ServerRuntime, why: str = "") -> None:
        """DOWN/stopping -> UP; with ``slowstart``, UP through a weight ramp (STARTING)."""
        st = self.state(srv)
        if st["oper"] in (SRV_ST_RUNNING, SRV_ST_STARTING):
            return
        before = self.counts(srv.backend)
        fields = self._changed(srv, st)
        oper = SRV_ST_STARTING if srv.slowstart_ms > 0 and st["oper"] == SRV_ST_STOPPED else SRV_ST_RUNNING
        fields["oper"] = oper
        fields["eweight"] = self.eweight_for(srv, st["uweight"], oper, srv.last_change)
        self._write(srv, **fields)
        if st["admin"] & SRV_ADMF_MAINT:
            return
        self.reporter.event(
            LOG_NOTICE, f"{self._name(srv)} is UP{why}. {self._online_line(srv)}", srv.backend.conf
        )
        self._after(srv.backend, before)

    def set_stopping(self, srv: ServerRuntime, why: str = "") -> None:
        """UP -> stopping (NOLB: no new traffic, e.g. ``disable-on-404``)."""
        st = self.state(srv)
        if st["oper"] == SRV_ST_STOPPING:
            return
        before = self.counts(srv.backend)
        fields = self._changed(srv, st)
        fields["oper"] = SRV_ST_STOPPING
        self._write(srv, **fields)
        if st["admin"] & SRV_ADMF_MAINT:
            return
        self.reporter.event(
            LOG_NOTICE, f"{self._name(srv)} is stopping{why}. {self._online_line(srv)}", srv.backend.conf
        )
        self._after(srv.backend, before)

    # -- administrative state --------------------------------------------------------------------

    def set_maint(self, srv: ServerRuntime) -> None:
        """Forced maintenance (``disable server``, ``state maint``, agent ``maint``)."""
        st = self.state(srv)
        if st["admin"] & SRV_ADMF_MAINT:
            return
        before = self.counts(srv.backend)
        fields = self._changed(srv, st) if st["oper"] != SRV_ST_STOPPED else {}
        self._write(srv, admin=st["admin"] | SRV_ADMF_MAINT, oper=SRV_ST_STOPPED, **fields)
        srv.check.paused = True
        if st["oper"] == SRV_ST_STOPPED:
            self.reporter.event(
                LOG_NOTICE, f"{self._name(srv)} was DOWN and now enters maintenance.", srv.backend.conf
            )
        else:
            self.reporter.event(
                self._down_level(st),
                f"{self._name(srv)} is going DOWN for maintenance. {self._left_line(srv)}",
                srv.backend.conf,
            )
        self._after(srv.backend, before)

    def clear_maint(self, srv: ServerRuntime) -> None:
        """Leave forced maintenance: UP at once with checks starting from ``rise`` (the first
        failed check takes the server down again), as HAProxy does."""
        st = self.state(srv)
        if not st["admin"] & SRV_ADMF_MAINT:
            return
        before = self.counts(srv.backend)
        srv.check.paused = False
        for chk in (srv.check, srv.agent):
            if chk.configured and chk.enabled:
                chk.health = chk.rise
                chk.kick()
        srv.agent_down = False
        fields = self._changed(srv, st)
        oper = SRV_ST_STARTING if srv.slowstart_ms > 0 else SRV_ST_RUNNING
        fields["oper"] = oper
        fields["eweight"] = self.eweight_for(srv, st["uweight"], oper, srv.last_change)
        self._write(srv, admin=st["admin"] & ~SRV_ADMF_MAINT, **fields)
        mode = "DRAIN" if st["admin"] & SRV_ADMF_DRAIN else "READY"
        self.reporter.event(
            LOG_NOTICE, f"{self._name(srv)} is UP/{mode} (leaving forced maintenance).", srv.backend.conf
        )
        if st["admin"] & SRV_ADMF_DRAIN:
            self._remains_drained(srv)
        self._after(srv.backend, before)

    def set_drain(self, srv: ServerRuntime, by_agent: bool = False) -> None:
        """Forced drain (``state drain``, agent ``drain``). Asking again is silent from the CLI;
        an agent that keeps answering ``drain`` gets HAProxy's "remains" line at every check."""
        st = self.state(srv)
        if st["admin"] & SRV_ADMF_DRAIN:
            if by_agent:
                self._remains_drained(srv)
            return
        before = self.counts(srv.backend)
        self._write(srv, admin=st["admin"] | SRV_ADMF_DRAIN)
        srv.agent_drain = by_agent
        if st["admin"] & SRV_ADMF_MAINT:
            return
        self.reporter.event(
            LOG_NOTICE, f"{self._name(srv)} enters drain state. {self._online_line(srv)}", srv.backend.conf
        )
        self._after(srv.backend, before)

    def _remains_drained(self, srv: ServerRuntime) -> None:
        self.reporter.event(LOG_NOTICE, f"{self._name(srv)} remains in forced drain mode.", srv.backend.conf)

    def clear_drain(self, srv: ServerRuntime) -> None:
        st = self.state(srv)
        if not st["admin"] & SRV_ADMF_DRAIN:
            return
        self._write(srv, admin=st["admin"] & ~SRV_ADMF_DRAIN)
        srv.agent_drain = False
        if st["admin"] & SRV_ADMF_MAINT:
            return
        state = "DOWN" if st["oper"] == SRV_ST_STOPPED else "UP"
        self.reporter.event(
            LOG_NOTICE, f"{self._name(srv)} is {state} (leaving forced drain).", srv.backend.conf
        )

    def set_ready(self, srv: ServerRuntime) -> None:
        """``state ready`` / agent ``ready``: out of maintenance and drain."""
        self.clear_maint(srv)
        self.clear_drain(srv)

    # -- weights, limits, address -----------------------------------------------------------------

    def set_weight(self, srv: ServerRuntime, weight: int) -> None:
        st = self.state(srv)
        before = self.counts(srv.backend)
        self._write(srv, uweight=weight, eweight=self.eweight_for(srv, weight, st["oper"]))
        self._after(srv.backend, before)

    def set_maxconn(self, srv: ServerRuntime, maxconn: int) -> None:
        self._write(srv, maxconn=maxconn)

    def set_address(
        self, srv: ServerRuntime, family: int, host: str, port: int | None, sockaddr: bytes
    ) -> None:
        srv.family, srv.host, srv.sockaddr = family, host, sockaddr
        if port is not None:
            srv.port = port or None
        self._write(srv, addr=sockaddr)

    def refresh_slowstart(self, srv: ServerRuntime, now: float) -> bool:
        """Advance a slowstart ramp; True while the server is still ramping."""
        st = self.state(srv)
        if st["oper"] != SRV_ST_STARTING:
            return False
        if (now - srv.last_change) * 1000.0 >= srv.slowstart_ms:
            self._write(srv, oper=SRV_ST_RUNNING, eweight=st["uweight"])
            return False
        ew = self.eweight_for(srv, st["uweight"], SRV_ST_STARTING, now)
        if ew != st["eweight"]:
            self._write(srv, eweight=ew)
        return True

    # -- health-check results ----------------------------------------------------------------------

    def check_result(
        self,
        srv: ServerRuntime,
        check: Check,
        status: CheckStatus,
        code: int | None = None,
        desc: str = "",
        duration_ms: int = -1,
    ) -> None:
        """Account one finished check (HAProxy's set_server_check_status() and the
        check_notify_*() that follow) and log it with ``option log-health-checks``."""
        try:
            self._check_result(srv, check, status, code, desc, duration_ms)
        finally:
            publish_server(self.shm, srv)

    def _check_result(
        self,
        srv: ServerRuntime,
        check: Check,
        status: CheckStatus,
        code: int | None = None,
        desc: str = "",
        duration_ms: int = -1,
    ) -> None:
        prev_status = check.status
        check.status = status
        check.code = code
        check.desc = desc
        check.duration_ms = duration_ms
        check.last_end = time.time()
        result = status_result(status)
        if result == CheckResult.NEUTRAL:
            check.result = result
            return
        check.result = result
        report = False
        if result == CheckResult.FAILED:
            if (not check.agent or status >= CheckStatus.L57DATA) and check.health > 0:
                st = self.state(srv)
                self._write(srv, bump=False, chk_fail=st["chk_fail"] + 1)
                report = True
                check.health -= 1
                if check.health < check.rise:
                    check.health = 0
        elif result in (CheckResult.PASSED, CheckResult.CONDPASS):
            if check.health < check.rise + check.fall - 1:
                report = True
                check.health += 1
                if check.health >= check.rise:
                    check.health = check.rise + check.fall - 1
            srv.consecutive_errors = 0
        if not check.agent:
            self._publish(srv, check)
        log_checks = srv.backend.conf.log_health_checks
        if log_checks and (status != prev_status or report):
            self._log_check(srv, check, result)
        why = "" if log_checks else append_status(check)
        if result == CheckResult.FAILED:
            if check.agent and status != CheckStatus.L7STS:
                return
            if check.health > 0:
                return
            srv.agent_down = check.agent
            self.set_stopped(srv, why)
        elif result == CheckResult.PASSED:
            self._notify_success(srv, check, why)
        elif result == CheckResult.CONDPASS and not self.state(srv)["admin"] & SRV_ADMF_MAINT:
            self.set_stopping(srv, why)

    def _notify_success(self, srv: ServerRuntime, check: Check, why: str) -> None:
        st = self.state(srv)
        if st["admin"] & SRV_ADMF_MAINT:
            return
        if srv.check.configured and srv.check.enabled and srv.check.health < srv.check.rise:
            return
        if srv.agent.configured and srv.agent.enabled and srv.agent.health < srv.agent.rise:
            return
        if check.agent and st["oper"] == SRV_ST_STOPPING:
            return
        srv.agent_down = False
        self.set_running(srv, why)

    def _publish(self, srv: ServerRuntime, check: Check) -> None:
        """The check summary the statistics read from shared memory."""
        self._write(
            srv,
            bump=False,
            check_status=int(check.status),
            check_code=check.code or 0,
            check_duration_ms=max(0, check.duration_ms),
        )

    def _log_check(self, srv: ServerRuntime, check: Check, result: CheckResult) -> None:
        up = check.health >= check.rise
        if up:
            state = "UP" if self.state(srv)["uweight"] else "DRAIN"
            num, den = check.health - check.rise + 1, check.fall
        else:
            state, num, den = "DOWN", check.health, check.rise
        what = "Agent" if check.agent else "Health"
        cond = "conditionally " if result == CheckResult.CONDPASS else ""
        verdict = "succeeded" if result >= CheckResult.PASSED else "failed"
        text = (
            f"{what} check for {'backup ' if srv.backup else ''}server {srv.key} {cond}{verdict}"
            f"{append_status(check)}, status: {num}/{den} {state}."
        )
        self.reporter.event(LOG_NOTICE, text, srv.backend.conf)

    # -- forced states from the runtime API ("set server ... health|agent up|down|stopping") ------

    def force_check_state(self, srv: ServerRuntime, check: Check, state: str) -> None:
        if state == "up":
            check.health = check.rise + check.fall - 1
            self._notify_success(srv, check, ", changed from CLI")
        elif state == "down":
            check.health = 0
            self.set_stopped(srv, ", changed from CLI", by_check=False)
        else:
            check.health = check.rise + check.fall - 1
            self.set_stopping(srv, ", changed from CLI")
        publish_server(self.shm, srv)
