"""``show stat``: the rows of fastlb.stats (the same builder the statistics page uses), completed
with what only the master knows.

fastlb.stats builds rows from the plan and shared memory, so that any process can render them.
The master also knows what the health checker keeps to itself and what the runtime API changed:

  - servers added or deleted at run time (the plan lists the configured ones);
  - transitional states ("UP 2/3", "DOWN 1/2"), ``check_health``, ``last_chk``, agent columns,
    ``hanafail``, the slowstart ``throttle``, the address after ``set server addr``;
  - backend-level transitions (``chkdown``, ``lastchg``, ``downtime`` of the BACKEND row).

``typed`` output is derived from the rows' JSON form (same tags and value types).
"""
from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from ..engine._shm import (
    SRV_ADMF_DRAIN,
    SRV_ADMF_MAINT,
    SRV_ST_RUNNING,
    SRV_ST_STARTING,
    SRV_ST_STOPPED,
    SRV_ST_STOPPING,
)
from ..health.servers import ServerRuntime
from ..health.status import STATUS_DESCRIPTIONS, STATUS_NAMES, CheckStatus, status_has_code
from ..stats.collect import RateTracker, StatRow, server_row, stat_rows
from ..stats.export import json_row, render_csv, render_json
from ..stats.fields import TYPE_BACKEND, TYPE_SERVER

__all__ = ["RateTracker", "api_stat_rows", "filter_rows", "render_csv", "render_json", "render_typed",
           "server_status"]

_LETTERS = {
    "Key": "K", "Config": "C", "Metric": "M", "Status": "S", "Product": "P",
    "Name": "N", "Gauge": "G", "Limit": "L", "Max": "M", "Min": "m", "Rate": "R", "Counter": "C",
    "Duration": "D", "Age": "A", "Output": "O", "Avg": "a", "Time": "T",
    "Process": "P", "Service": "S", "System": "s", "Cluster": "C",
}


def server_status(srv: ServerRuntime, st: dict) -> str:
    """The ``status`` column of a server, HAProxy's srv_hlt_st strings, from the check state."""
    chk, agent = srv.check, srv.agent
    chk_on = chk.configured and chk.enabled
    agent_on = agent.configured and agent.enabled
    full = chk.rise + chk.fall - 1
    if st["admin"] & SRV_ADMF_MAINT:
        return "MAINT"
    oper = st["oper"]
    if oper in (SRV_ST_RUNNING, SRV_ST_STARTING):
        going_down = chk_on and chk.health < full
        state = f"UP {chk.health - chk.rise + 1}/{chk.fall}" if going_down else "UP"
        if st["admin"] & SRV_ADMF_DRAIN:
            if agent_on:
                return "DRAIN (agent)"
            return f"DRAIN {chk.health - chk.rise + 1}/{chk.fall}" if going_down else "DRAIN"
        if state == "UP" and not chk_on:
            return "no check"
        return state
    if oper == SRV_ST_STOPPING:
        if not chk_on or chk.health == full:
            return "NOLB"
        return f"NOLB {chk.health - chk.rise + 1}/{chk.fall}"
    if agent_on and not agent.health:
        return "DOWN (agent)"
    if chk_on and not chk.health:
        return "DOWN"
    if agent_on or chk_on:
        return f"DOWN {chk.health}/{chk.rise}"
    return "DOWN"


def _as_plan_server(srv: ServerRuntime) -> SimpleNamespace:
    """What fastlb.stats reads of a plan server, for a server the plan does not list."""
    return SimpleNamespace(
        slot=srv.slot,
        counter_slot=srv.counter_slot,
        name=srv.name,
        id=srv.sid,
        backup=srv.backup,
        conf=srv.conf,
        host=srv.host,
        port=srv.port,
        cookie=srv.conf.cookie,
    )


def _overlay_server(ctx: Any, srv: ServerRuntime, row: StatRow, now: int) -> None:
    v = row.values
    st = ctx.shm.get_server(srv.slot)
    chk, agent = srv.check, srv.agent
    v["status"] = server_status(srv, st)
    v["addr"] = srv.addr_text()
    v["sid"] = srv.sid
    row.sid = srv.sid
    for name in (
        "check_status",
        "check_code",
        "check_duration",
        "check_desc",
        "last_chk",
        "check_rise",
        "check_fall",
        "check_health",
        "agent_status",
        "agent_code",
        "agent_duration",
        "agent_desc",
        "last_agt",
        "agent_rise",
        "agent_fall",
        "agent_health",
        "hanafail",
        "throttle",
    ):
        v.pop(name, None)
    if chk.configured:
        down = st["down_time"] + (now - int(st["last_change"]) if st["oper"] == SRV_ST_STOPPED else 0)
        v.update(
            chkfail=st["chk_fail"],
            chkdown=st["chk_down"],
            downtime=down,
            check_rise=chk.rise,
            check_fall=chk.fall,
            check_health=chk.health,
        )
        if chk.status != CheckStatus.INI or chk.enabled:
            v["check_status"] = ("* " if chk.in_progress else "") + STATUS_NAMES[chk.status]
            v["check_desc"] = STATUS_DESCRIPTIONS[chk.status]
            if chk.status >= CheckStatus.L4OK or chk.status == CheckStatus.HANA:
                v["check_duration"] = chk.duration_ms
            if status_has_code(chk.status):
                v["check_code"] = chk.code or 0
            if chk.desc:
                v["last_chk"] = chk.desc
    if agent.configured:
        v.update(
            agent_rise=agent.rise,
            agent_fall=agent.fall,
            agent_health=agent.health,
            agent_status=STATUS_NAMES[agent.status],
            agent_desc=STATUS_DESCRIPTIONS[agent.status],
            agent_duration=max(0, agent.duration_ms),
        )
        if agent.code is not None:
            v["agent_code"] = agent.code
        if agent.desc:
            v["last_agt"] = agent.desc
    if srv.observe and chk.configured:
        v["hanafail"] = srv.failed_hana
    if st["oper"] == SRV_ST_STARTING and srv.slowstart_ms:
        v["throttle"] = min(100, int((time.time() - srv.last_change) * 100000 / srv.slowstart_ms))


def _overlay_backend(ctx: Any, be: Any, row: StatRow, now: int) -> None:
    v = row.values
    act = bck = weight = uweight = bweight = buweight = 0
    for srv in be.servers:
        st = ctx.shm.get_server(srv.slot)
        if not ctx.control.usable(srv, st):
            continue
        if srv.backup:
            bck += 1
            bweight += st["eweight"]
            buweight += st["uweight"]
        else:
            act += 1
            weight += st["eweight"]
            uweight += st["uweight"]
    up = act + bck > 0 or not be.servers
    down = be.down_time + (time.time() - be.down_since if be.down_since is not None else 0)
    v.update(
        status="UP" if up else "DOWN",
        act=act,
        bck=bck,
        weight=weight if act else bweight,
        uweight=uweight if act else buweight,
        chkdown=be.chkdown,
        lastchg=max(0, int(now - be.last_change)),
    )
    if be.servers:
        v["downtime"] = int(down)


def api_stat_rows(ctx: Any, rates: RateTracker | None = None) -> list[StatRow]:
    """Every statistics row, HAProxy's order, as the runtime API shows them."""
    now = int(time.time())
    out: list[StatRow] = []
    for row in stat_rows(ctx.plan, ctx.shm, rates=rates, legends=True, now=now):
        if row.obj_type == TYPE_SERVER:
            be = ctx.table.backend(row.proxy)
            srv = be.server(row.svname) if be is not None else None
            if srv is None or srv.dynamic:
                continue  # deleted at run time (a dynamic server of the same name comes later)
            _overlay_server(ctx, srv, row, now)
            out.append(row)
        elif row.obj_type == TYPE_BACKEND:
            be = ctx.table.backend(row.proxy)
            if be is not None:
                for srv in be.servers:
                    if srv.dynamic:
                        extra = server_row(be.plan, _as_plan_server(srv), ctx.shm, rates, now, True)
                        _overlay_server(ctx, srv, extra, now)
                        out.append(extra)
                _overlay_backend(ctx, be, row, now)
            out.append(row)
        else:
            out.append(row)
    return out


def filter_rows(rows: list[StatRow], opts: set[str]) -> list[StatRow]:
    """``show stat up`` / ``no-maint``: drop servers that are not UP / are in maintenance."""
    out = []
    for row in rows:
        if row.obj_type == TYPE_SERVER:
            status = str(row.values.get("status", ""))
            if "up" in opts and not (status.startswith("UP") or status in ("no check", "DRAIN")):
                continue
            if "no-maint" in opts and status.startswith("MAINT"):
                continue
        out.append(row)
    return out


def render_typed(rows: list[StatRow]) -> str:
    """``show stat typed``: ``F.<iid>.<sid>.<pos>.<name>.1:<tags>:<type>:<value>`` lines, a blank
    line after each row."""
    lines = []
    letter = {0: "F", 1: "B", 2: "S", 3: "L"}
    for row in rows:
        for item in json_row(row):
            t = item["tags"]
            tags = _LETTERS[t["origin"]] + _LETTERS[t["nature"]] + _LETTERS[t["scope"]]
            f = item["field"]
            val = item["value"]
            lines.append(
                f"{letter[row.obj_type]}.{row.proxy_id}.{row.sid}.{f['pos']}.{f['name']}.1:{tags}:"
                f"{val['type']}:{val['value']}\n"
            )
        lines.append("\n")
    return "".join(lines)
