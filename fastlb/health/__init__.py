"""Health checks, run once in the master for all workers.

``HealthRuntime`` bundles what the master needs: the server table (servers.py), the state
transitions that write shared memory and log like HAProxy (transitions.py), and the check
scheduler (service.py, an object with start(loop)/stop() for ``Master.services``). The runtime API
(fastlb.api) changes servers through the same ``control``.
"""
from __future__ import annotations

from typing import Any

from .logsend import Reporter, emit_log
from .publish import publish_all
from .servers import Check, ServerRuntime, ServerTable
from .service import HealthService
from .transitions import ServerControl

__all__ = ["Check", "HealthRuntime", "HealthService", "Reporter", "ServerControl", "ServerRuntime",
           "ServerTable", "emit_log"]


class HealthRuntime:
    """The master's server state machinery for one plan and its shared memory."""

    def __init__(self, plan: Any, shm: Any, quiet: bool = False, stream: Any = None):
        self.plan = plan
        self.shm = shm
        self.reporter = Reporter(plan, quiet=quiet, stream=stream)
        self.table = ServerTable(plan, shm)
        self.control = ServerControl(self.table, self.reporter)
        self.service = HealthService(self.table, self.control)
        self._init_checks()

    def _init_checks(self) -> None:
        """HAProxy starts checked servers at ``rise`` (UP, one failure from DOWN); servers
        disabled in the configuration start in maintenance with their checks paused."""
        from ..engine._shm import SRV_ST_STOPPED
        from .status import CheckStatus

        for srv in self.table.servers():
            for chk in (srv.check, srv.agent):
                # HAProxy sets every server's health (checked or not) to rise, 0 when disabled
                chk.health = 0 if srv.cmaint else chk.rise
            if srv.check.configured:
                self.shm.set_server(srv.slot, bump=False, check_status=int(CheckStatus.INI))
            if srv.cmaint:
                srv.check.paused = True
                self.shm.set_server(srv.slot, bump=False, oper=SRV_ST_STOPPED)
            st = self.shm.get_server(srv.slot)
            srv.admin_seen, srv.oper_seen = st["admin"], st["oper"]
        publish_all(self.shm, self.table)

    def start(self, loop: Any) -> None:
        self.service.start(loop)

    def stop(self) -> None:
        self.service.stop()
