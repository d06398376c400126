"""The live server list of the statistics, read from shared memory by any process.

The master publishes, per server slot, what only it knows (``fl_srv_info_t`` in csrc/fl_shm.h:
check and agent health, the last check outputs, servers added or deleted at run time) and, per
backend, the BACKEND row's transitions (``fl_be_info_t``). The statistics page, its exports and the
Prometheus exporter (served by workers) and ``show stat`` (served by the master) all build their
rows from this, with one builder (collect.py), so they show the same servers in the same states.

``publish_plan_servers`` writes the records of the configured servers when shared memory is
created; fastlb.health keeps them current from then on (health/publish.py).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

# fl_srv_info.flags (csrc/fl_shm.h)
SRVI_VALID = 0x001
SRVI_CHECK = 0x002
SRVI_CHECK_ON = 0x004
SRVI_CHECK_RUN = 0x008
SRVI_AGENT = 0x010
SRVI_AGENT_ON = 0x020
SRVI_OBSERVE = 0x040
SRVI_BACKUP = 0x080
SRVI_DYNAMIC = 0x100

# Server admin / operational states (csrc/fl_shm.h, HAProxy's SRV_ADMF_* / SRV_ST_*).
ADMF_MAINT = 0x01
ADMF_DRAIN = 0x02
ST_STOPPED, ST_STARTING, ST_RUNNING, ST_STOPPING = 0, 1, 2, 3

CHK_INI = 1  # HCHK_STATUS_INI


@dataclass
class ServerView:
    """One server as the statistics see it: its published detail plus its routing state."""

    slot: int
    info: dict[str, Any]  # SharedState.get_server_info()
    st: dict[str, Any]    # SharedState.get_server()

    @property
    def name(self) -> str:
        return self.info["name"]

    @property
    def sid(self) -> int:
        return self.info["sid"]

    @property
    def counter_slot(self) -> int:
        return self.info["counter_slot"]

    @property
    def backup(self) -> bool:
        return bool(self.info["flags"] & SRVI_BACKUP)

    def flag(self, bit: int) -> bool:
        return bool(self.info["flags"] & bit)

    @property
    def check_on(self) -> bool:
        return self.flag(SRVI_CHECK) and self.flag(SRVI_CHECK_ON)

    @property
    def agent_on(self) -> bool:
        return self.flag(SRVI_AGENT) and self.flag(SRVI_AGENT_ON)

    def usable(self) -> bool:
        """What the workers route to: UP (or starting), not in maintenance or drain, weight > 0."""
        st = self.st
        return st["oper"] in (ST_RUNNING, ST_STARTING) and not st["admin"] & (ADMF_MAINT | ADMF_DRAIN) \
            and st["eweight"] > 0


def server_status(v: ServerView) -> str:
    """The ``status`` column of a server, HAProxy's srv_hlt_st strings: MAINT, "UP 2/3",
    "DOWN 1/2", "DOWN (agent)", "DRAIN (agent)", NOLB, "no check"..."""
    i, st = v.info, v.st
    rise, fall, health = i["chk_rise"], i["chk_fall"], i["chk_health"]
    full = rise + fall - 1
    chk_on, agent_on = v.check_on, v.agent_on
    if st["admin"] & ADMF_MAINT:
        return "MAINT"
    oper = st["oper"]
    if oper in (ST_RUNNING, ST_STARTING):
        going_down = chk_on and health < full
        state = f"UP {health - rise + 1}/{fall}" if going_down else "UP"
        if st["admin"] & ADMF_DRAIN:
            if agent_on:
                return "DRAIN (agent)"
            return f"DRAIN {health - rise + 1}/{fall}" if going_down else "DRAIN"
        if state == "UP" and not chk_on:
            return "no check"
        return state
    if oper == ST_STOPPING:
        if not chk_on or health == full:
            return "NOLB"
        return f"NOLB {health - rise + 1}/{fall}"
    if agent_on and not i["agt_health"]:
        return "DOWN (agent)"
    if chk_on and not health:
        return "DOWN"
    if agent_on or chk_on:
        return f"DOWN {health}/{rise}"
    return "DOWN"


def live_servers(plan: Any, shm: Any) -> dict[int, list[ServerView]]:
    """Servers in use, per backend plan index, in the backend's order (configured servers,
    then those added at run time, in the order they were added)."""
    out: dict[int, list[ServerView]] = {}
    for slot in range(shm.nb_servers):
        st = shm.get_server(slot)
        if not st["in_use"]:
            continue
        info = shm.get_server_info(slot)
        if not info["flags"] & SRVI_VALID:
            continue
        out.setdefault(info["backend"], []).append(ServerView(slot, info, st))
    for views in out.values():
        views.sort(key=lambda v: v.info["order"])
    return out




def addr_text(family: str, host: str, port: int | None) -> str:
    """``addr`` of the statistics: ip:port, [ip6]:port, unix@path."""
    if family == "unix":
        return f"unix@{host}"
    if family == "ipv6":
        return f"[{host}]:{port or 0}"
    return f"{host}:{port or 0}"


def plan_server_info(sp: Any, backend_index: int, order: int, backend_name: str) -> dict[str, Any]:
    """The record of a configured server before any check ran (HAProxy starts every server at
    ``rise``, 0 when disabled)."""
    import socket

    conf = sp.conf
    flags = SRVI_VALID
    if conf.check:
        flags |= SRVI_CHECK | SRVI_CHECK_ON
    if conf.agent_check and conf.agent_port:
        flags |= SRVI_AGENT | SRVI_AGENT_ON
    if conf.observe in ("layer4", "layer7"):
        flags |= SRVI_OBSERVE
    if sp.backup:
        flags |= SRVI_BACKUP
    health = 0 if sp.disabled else conf.rise
    fam = {socket.AF_UNIX: "unix", socket.AF_INET6: "ipv6"}.get(sp.family, "ipv4")
    track = conf.track or ""
    if track and "/" not in track:
        track = f"{backend_name}/{track}"
    return {
        "flags": flags, "backend": backend_index, "sid": sp.id, "order": order, "counter_slot": sp.counter_slot,
        "chk_health": health, "chk_rise": conf.rise, "chk_fall": conf.fall,
        "chk_status": CHK_INI if conf.check else 0, "chk_code": -1, "chk_duration": -1,
        "agt_health": health, "agt_rise": conf.rise, "agt_fall": conf.fall,
        "agt_status": CHK_INI, "agt_code": -1, "agt_duration": -1, "hanafail": 0,
        "slowstart_ms": conf.slowstart or 0, "last_change_ms": int(time.time() * 1000),
        "name": sp.name, "addr": addr_text(fam, sp.host, sp.port), "cookie": sp.cookie or "",
        "tracked": track, "last_chk": "", "last_agt": "",
    }


def publish_plan_servers(plan: Any, shm: Any) -> None:
    """Records of every configured server and backend (fresh shared memory)."""
    now_ms = int(time.time() * 1000)
    for be in plan.backends:
        for order, sp in enumerate(be.servers):
            shm.set_server_info(sp.slot, **plan_server_info(sp, be.index, order, be.name))
        shm.set_backend_info(be.index, 0, now_ms, 0, 0)
