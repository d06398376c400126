"""Creating and initialising the shared-memory segment of a plan."""
from __future__ import annotations

import time

from .._stk import StickTable
from ..engine._shm import SRV_ADMF_MAINT, SRV_ST_RUNNING, SharedState
from ..stats.live import publish_plan_servers
from .plan import Plan, StickTablePlan


def init_shared_state(plan: Plan) -> SharedState:
    """A new segment with every configured server in its initial state: UP (HAProxy starts
    servers up, checks take them down after `fall` failures), in maintenance if `disabled`."""
    shm = SharedState(plan.nbworkers, plan.server_slots, plan.counter_slots, len(plan.frontends), len(plan.backends))
    now = int(time.time())
    for sp in plan.servers:
        shm.set_server(
            sp.slot, bump=False,
            admin=SRV_ADMF_MAINT if sp.disabled else 0,
            oper=SRV_ST_RUNNING,
            uweight=sp.weight, eweight=sp.weight,
            maxconn=sp.maxconn, maxqueue=sp.maxqueue,
            in_use=1, last_change=now,
        )
        if len(sp.sockaddr) <= 28:
            shm.set_server(sp.slot, bump=False, addr=sp.sockaddr)
    for fe in plan.frontends:
        shm.set_frontend_maxconn(fe.index, fe.maxconn, bump=False)
    publish_plan_servers(plan, shm)
    shm.global_maxconn = plan.maxconn
    shm.start_time = now
    shm.stick_tables = make_stick_tables(plan.stick_tables)
    return shm


def make_stick_tables(tables: list[StickTablePlan]) -> dict[str, StickTable]:
    """The stick tables, each in its own shared mapping (created before the workers fork)."""
    return {t.name: StickTable(t.name, t.type, t.length, t.size, t.expire_ms, t.nopurge, t.srvkey, t.server_keys)
            for t in tables}
