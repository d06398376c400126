"""Publishing the master's server detail to shared memory, for the statistics of every process.

The statistics (fastlb.stats.live) read per server slot the record written here: check and agent
health, statuses and outputs, ``hanafail``, the identity of servers added at run time; per
backend, its UP/DOWN transitions. ``ServerControl`` publishes after every change it makes, the
check loop when a check starts and ends, and the runtime API after the commands that change a
check's settings; ``publish_all`` (run before ``show stat`` answers and once a second) catches
anything else.
"""
from __future__ import annotations

import socket
from typing import Any

from ..stats.live import (
    SRVI_AGENT,
    SRVI_AGENT_ON,
    SRVI_BACKUP,
    SRVI_CHECK,
    SRVI_CHECK_ON,
    SRVI_CHECK_RUN,
    SRVI_DYNAMIC,
    SRVI_OBSERVE,
    SRVI_VALID,
    addr_text,
)
from .servers import BackendRuntime, ServerRuntime, ServerTable


def server_info(srv: ServerRuntime) -> dict[str, Any]:
    """The fl_srv_info record of a server (see fastlb.stats.live.plan_server_info)."""
    chk, agent = srv.check, srv.agent
    flags = SRVI_VALID
    if chk.configured:
        flags |= SRVI_CHECK
        if chk.enabled:
            flags |= SRVI_CHECK_ON
        if chk.in_progress:
            flags |= SRVI_CHECK_RUN
    if agent.configured:
        flags |= SRVI_AGENT
        if agent.enabled:
            flags |= SRVI_AGENT_ON
    if srv.observe:
        flags |= SRVI_OBSERVE
    if srv.backup:
        flags |= SRVI_BACKUP
    if srv.dynamic:
        flags |= SRVI_DYNAMIC
    fam = {socket.AF_UNIX: "unix", socket.AF_INET6: "ipv6"}.get(srv.family, "ipv4")
    track = srv.conf.track or ""
    if track and "/" not in track:
        track = f"{srv.backend.name}/{track}"
    return {
        "flags": flags, "backend": srv.backend.plan.index, "sid": srv.sid, "order": srv.order,
        "counter_slot": srv.counter_slot,
        "chk_health": chk.health, "chk_rise": chk.rise, "chk_fall": chk.fall, "chk_status": int(chk.status),
        "chk_code": -1 if chk.code is None else chk.code, "chk_duration": chk.duration_ms,
        "agt_health": agent.health, "agt_rise": agent.rise, "agt_fall": agent.fall,
        "agt_status": int(agent.status), "agt_code": -1 if agent.code is None else agent.code,
        "agt_duration": agent.duration_ms, "hanafail": srv.failed_hana, "slowstart_ms": srv.slowstart_ms,
        "last_change_ms": int(srv.last_change * 1000),
        "name": srv.name, "addr": addr_text(fam, srv.host, srv.port), "cookie": srv.conf.cookie or "",
        "tracked": track, "last_chk": chk.desc, "last_agt": agent.desc,
    }


def publish_server(shm: Any, srv: ServerRuntime) -> None:
    if srv.removed:
        return
    shm.set_server_info(srv.slot, **server_info(srv))


def publish_backend(shm: Any, be: BackendRuntime) -> None:
    shm.set_backend_info(
        be.plan.index, be.chkdown, int(be.last_change * 1000),
        int(be.down_since * 1000) if be.down_since is not None else 0, int(be.down_time * 1000),
    )


def publish_all(shm: Any, table: ServerTable) -> None:
    for be in table.backends:
        publish_backend(shm, be)
        for srv in be.servers:
            publish_server(shm, srv)
