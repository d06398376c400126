"""A minimal builder of HAProxy 2.6's statistics rows for ``show stat``.

STOP-GAP: the statistics page and the Prometheus exporter (fastlb/stats/, another branch) own the
real row builder. This module exists so that ``show stat`` works before that lands; replace
``stat_rows()`` by a call to theirs, keeping ``format_csv``/``format_typed``/``format_json``
(or theirs, if they provide the same). The column list, the presence of each field per kind of
row and the field metadata (``typed``/``json`` tags) are HAProxy 2.6's, as its CLI prints them.

Rates (``rate``, ``req_rate``, ``conn_rate``...) are 0: shared memory has cumulative counters only.
"""
from __future__ import annotations

import json
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
from ..health.status import STATUS_DESCRIPTIONS, STATUS_NAMES, CheckStatus, status_has_code


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


COLUMNS = _names(
    "pxname svname qcur qmax scur smax slim stot bin bout dreq dresp ereq econ eresp wretr wredis status "
    "weight act bck chkfail chkdown lastchg downtime qlimit pid iid sid throttle lbtot tracked type rate "
    "rate_lim rate_max check_status check_code check_duration hrsp_1xx hrsp_2xx hrsp_3xx hrsp_4xx hrsp_5xx "
    "hrsp_other hanafail req_rate req_rate_max req_tot cli_abrt srv_abrt comp_in comp_out comp_byp comp_rsp "
    "lastsess last_chk last_agt qtime ctime rtime ttime agent_status agent_code agent_duration check_desc "
    "agent_desc check_rise check_fall check_health agent_rise agent_fall agent_health addr cookie mode algo "
    "conn_rate conn_rate_max conn_tot intercepted dcon dses wrew connect reuse cache_lookups cache_hits "
    "srv_icur src_ilim qtime_max ctime_max rtime_max ttime_max eint idle_conn_cur safe_conn_cur used_conn_cur "
    "need_conn_est uweight agg_server_status agg_server_check_status agg_check_status"
)
MODULE_COLUMNS = _names(
    "ssl_sess ssl_reused_sess ssl_failed_handshake h2_headers_rcvd h2_data_rcvd h2_settings_rcvd "
    "h2_rst_stream_rcvd h2_goaway_rcvd h2_detected_conn_protocol_errors h2_detected_strm_protocol_errors "
    "h2_rst_stream_resp h2_goaway_resp h2_open_connections h2_backend_open_streams h2_total_connections "
    "h2_backend_total_streams h1_open_connections h1_open_streams h1_total_connections h1_total_streams "
    "h1_bytes_in h1_bytes_out h1_spliced_bytes_in h1_spliced_bytes_out"
)
HEADER = "# " + ",".join(COLUMNS) + ",-," + ",".join(MODULE_COLUMNS) + ",\n"

#: (typed tags, type) per field: origin/nature/scope letters as ``show stat typed`` prints them.
_META_GROUPS = {
    ("KNS", "str"): "pxname svname",
    ("MGP", "u32"): "qcur scur idle_conn_cur safe_conn_cur used_conn_cur need_conn_est srv_icur src_ilim "
                    "agg_server_status agg_server_check_status agg_check_status act bck",
    ("MMP", "u32"): "qmax smax rate_max req_rate_max conn_rate_max qtime_max ctime_max rtime_max ttime_max",
    ("CLP", "u32"): "slim rate_lim qlimit",
    ("MCP", "u64"): "stot bin bout dreq dresp ereq econ eresp wretr wredis chkfail chkdown lbtot hrsp_1xx "
                    "hrsp_2xx hrsp_3xx hrsp_4xx hrsp_5xx hrsp_other hanafail req_tot cli_abrt srv_abrt "
                    "comp_in comp_out comp_byp comp_rsp conn_tot intercepted dcon dses wrew connect reuse "
                    "cache_lookups cache_hits eint",
    ("SGP", "str"): "status",
    ("MaP", "u32"): "weight qtime ctime rtime ttime uweight throttle",
    ("MAP", "u32"): "lastchg",
    ("MCP", "u32"): "downtime",
    ("KGP", "u32"): "pid",
    ("KGS", "u32"): "iid sid",
    ("CGS", "u32"): "type check_rise check_fall check_health agent_rise agent_fall agent_health",
    ("MRP", "u32"): "rate req_rate conn_rate",
    ("MOP", "str"): "check_status last_chk last_agt agent_status check_desc agent_desc",
    ("MOP", "u32"): "check_code agent_code",
    ("MDP", "u64"): "check_duration agent_duration",
    ("MAP", "s32"): "lastsess",
    ("CGS", "str"): "addr cookie mode algo tracked",
}
FIELD_META: dict[str, tuple[str, str]] = {}
for (_tags, _type), _names in _META_GROUPS.items():
    for _n in _names.split():
        FIELD_META[_n] = (_tags, _type.split()[0])
for _n in MODULE_COLUMNS:
    FIELD_META[_n] = ("MGP" if "open" in _n else "MCP", "u64")

#: Where HAProxy tags a field differently depending on the kind of row.
FIELD_META_BY_OBJ: dict[tuple[int, str], tuple[str, str]] = {
    (1, "rate"): ("MGP", "u32"), (1, "rate_max"): ("MGP", "u32"),
    (2, "act"): ("SGP", "u32"), (2, "bck"): ("SGP", "u32"),
}


def field_meta(typ: int, name: str) -> tuple[str, str]:
    return FIELD_META_BY_OBJ.get((typ, name)) or FIELD_META.get(name, ("MGP", "u32"))


_ORIGINS = {"M": "Metric", "S": "Status", "K": "Key", "C": "Config", "P": "Product"}
_NATURES = {"A": "Age", "a": "Avg", "C": "Counter", "D": "Duration", "G": "Gauge", "L": "Limit", "M": "Max",
            "m": "Min", "N": "Name", "O": "Output", "R": "Rate", "T": "Time"}
_SCOPES = {"P": "Process", "S": "Service", "s": "System", "C": "Cluster"}
_OBJ = {0: ("F", "Frontend"), 1: ("B", "Backend"), 2: ("S", "Server"), 3: ("L", "Listener")}


def _hist_avg(c: dict, key: str) -> int:
    n = c["time_samples"]
    return int(c[key] / n) if n else 0


def _common_traffic(c: dict) -> dict[str, Any]:
    return {"stot": c["cum_sess"], "bin": c["bytes_in"], "bout": c["bytes_out"]}


def _http(c: dict) -> dict[str, Any]:
    r = c["http_rsp"]
    return {"hrsp_1xx": r[0], "hrsp_2xx": r[1], "hrsp_3xx": r[2], "hrsp_4xx": r[3], "hrsp_5xx": r[4],
            "hrsp_other": r[5]}


def server_status(ctx: Any, srv: Any, st: dict) -> str:
    """The ``status`` column of a server (HAProxy's srv_hlt_st strings)."""
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


def stat_rows(ctx: Any) -> list[tuple[int, int, int, dict[str, Any]]]:
    """(object type, proxy id, object id, fields) for every frontend, server and backend."""
    plan, shm = ctx.plan, ctx.shm
    now = int(time.time())
    rows: list[tuple[int, int, int, dict[str, Any]]] = []
    gmax = int(shm.global_maxconn or plan.maxconn)
    for fe in plan.frontends:
        c = shm.sum_counters(fe.counter_slot)
        http = fe.mode == "http"
        f: dict[str, Any] = {
            "pxname": fe.name, "svname": "FRONTEND", "scur": c["cur_sess"], "smax": c["max_sess"],
            "slim": fe.maxconn or gmax, **_common_traffic(c), "dreq": c["denied_req"], "dresp": c["denied_resp"],
            "ereq": c["failed_req"], "status": "STOP" if ctx.stopping() else "OPEN", "pid": 1, "iid": fe.id,
            "sid": 0, "type": 0, "rate": 0, "rate_lim": 0, "rate_max": 0, "req_rate": 0, "req_rate_max": 0,
            "req_tot": c["cum_req"], "comp_in": 0, "comp_out": 0, "comp_byp": 0, "comp_rsp": 0, "mode": fe.mode,
            "conn_rate": 0, "conn_rate_max": 0, "conn_tot": c["cum_conn"], "dcon": c["denied_conn"], "dses": 0,
            "wrew": c["failed_rewrites"], "eint": 0,
        }
        if http:
            f.update(_http(c))
            f.update(intercepted=c["intercepted"], cache_lookups=0, cache_hits=0)
        f.update({m: 0 for m in MODULE_COLUMNS})
        rows.append((0, fe.id, 0, f))
    for be in ctx.table.backends:
        http = be.mode == "http"
        act = bck = 0
        weight = uweight = 0
        for srv in be.servers:
            st = shm.get_server(srv.slot)
            c = shm.sum_counters(srv.counter_slot)
            usable = ctx.control.usable(srv, st)
            if usable:
                if srv.backup:
                    bck += 1
                else:
                    act += 1
                    weight += st["eweight"]
                    uweight += st["uweight"]
            rows.append((2, be.id, srv.sid, _server_fields(ctx, srv, st, c, http, now)))
        c = shm.sum_counters(be.plan.counter_slot)
        up = act + bck > 0
        down = be.down_time + (time.time() - be.down_since if be.down_since is not None else 0)
        f = {
            "pxname": be.name, "svname": "BACKEND", "qcur": c["cur_queue"], "qmax": c["max_queue"],
            "scur": c["cur_sess"], "smax": c["max_sess"], "slim": fullconn(plan, be, gmax),
            **_common_traffic(c), "dreq": c["denied_req"], "dresp": c["denied_resp"], "econ": c["failed_conns"],
            "eresp": c["failed_resp"], "wretr": c["retries"], "wredis": c["redispatches"],
            "status": "UP" if up else "DOWN", "weight": weight, "act": act, "bck": bck, "chkdown": be.chkdown,
            "lastchg": int(time.time() - be.last_change), "downtime": int(down), "pid": 1, "iid": be.id, "sid": 0, "lbtot": c["cum_lbconn"], "type": 1,
            "rate": 0, "rate_max": 0, "cli_abrt": c["cli_aborts"], "srv_abrt": c["srv_aborts"], "comp_in": 0,
            "comp_out": 0, "comp_byp": 0, "comp_rsp": 0,
            "lastsess": (now - c["last_sess"]) if c["last_sess"] else -1,
            "qtime": _hist_avg(c, "q_time_sum"), "ctime": _hist_avg(c, "c_time_sum"),
            "rtime": _hist_avg(c, "r_time_sum"), "ttime": _hist_avg(c, "t_time_sum"), "mode": be.mode,
            "algo": be.conf.balance.algorithm, "wrew": c["failed_rewrites"], "connect": c["connect_new"],
            "reuse": c["connect_reuse"], "qtime_max": 0, "ctime_max": 0, "rtime_max": 0, "ttime_max": 0,
            "eint": 0, "uweight": uweight, "agg_server_status": 1 if up else 0, "agg_server_check_status": 0,
            "agg_check_status": 0,
        }
        if http:
            f.update(_http(c))
            f.update(req_tot=c["cum_req"], cache_lookups=0, cache_hits=0)
        f.update({m: 0 for m in MODULE_COLUMNS})
        rows.append((1, be.id, 0, f))
    return rows


def fullconn(plan: Any, be: Any, gmax: int) -> int:
    """A backend's ``fullconn``: configured, or 10% of the maxconn of the frontends that route to
    it (HAProxy's default), at least 1."""
    if be.conf.fullconn:
        return int(be.conf.fullconn)
    total = 0
    for fe in plan.frontends:
        targets = {fe.default_backend} | {u.backend for u in fe.conf.use_backends if not u.dynamic}
        if be.name in targets:
            total += fe.maxconn or gmax
    return max(1, (total + 9) // 10)


def _server_fields(ctx: Any, srv: Any, st: dict, c: dict, http: bool, now: int) -> dict[str, Any]:
    chk, agent = srv.check, srv.agent
    f: dict[str, Any] = {
        "pxname": srv.backend.name, "svname": srv.name, "qcur": c["cur_queue"], "qmax": c["max_queue"],
        "scur": c["cur_sess"], "smax": c["max_sess"], "slim": st["maxconn"] or None, **_common_traffic(c),
        "dresp": c["denied_resp"], "econ": c["failed_conns"], "eresp": c["failed_resp"], "wretr": c["retries"],
        "wredis": c["redispatches"], "status": server_status(ctx, srv, st), "weight": st["eweight"],
        "act": 0 if srv.backup else 1, "bck": 1 if srv.backup else 0,
        "lastchg": max(0, now - int(st["last_change"])), "qlimit": st["maxqueue"] or None, "pid": 1,
        "iid": srv.backend.id, "sid": srv.sid, "lbtot": c["cum_lbconn"], "type": 2, "rate": 0, "rate_max": 0,
        "cli_abrt": c["cli_aborts"], "srv_abrt": c["srv_aborts"],
        "lastsess": (now - c["last_sess"]) if c["last_sess"] else -1,
        "qtime": _hist_avg(c, "q_time_sum"), "ctime": _hist_avg(c, "c_time_sum"),
        "rtime": _hist_avg(c, "r_time_sum"), "ttime": _hist_avg(c, "t_time_sum"), "addr": srv.addr_text(),
        "cookie": srv.conf.cookie, "mode": srv.backend.mode, "wrew": c["failed_rewrites"],
        "connect": c["connect_new"], "reuse": c["connect_reuse"], "srv_icur": 0, "qtime_max": 0, "ctime_max": 0,
        "rtime_max": 0, "ttime_max": 0, "eint": 0, "idle_conn_cur": 0, "safe_conn_cur": 0, "used_conn_cur": 0,
        "need_conn_est": 0, "uweight": st["uweight"], "ssl_sess": 0, "ssl_reused_sess": 0,
        "ssl_failed_handshake": 0,
    }
    if st["oper"] == SRV_ST_STARTING and srv.slowstart_ms:
        f["throttle"] = min(100, int((time.time() - srv.last_change) * 100000 / srv.slowstart_ms))
    if chk.configured:
        down = st["down_time"] + (now - int(st["last_change"]) if st["oper"] == SRV_ST_STOPPED else 0)
        f.update(chkfail=st["chk_fail"], chkdown=st["chk_down"], downtime=down,
                 check_rise=chk.rise, check_fall=chk.fall, check_health=chk.health)
        if srv.observe:
            f["hanafail"] = srv.failed_hana
        if chk.status != CheckStatus.INI or chk.enabled:
            prefix = "* " if chk.in_progress else ""
            f["check_status"] = prefix + STATUS_NAMES[chk.status]
            f["check_desc"] = STATUS_DESCRIPTIONS[chk.status]
            if chk.status >= CheckStatus.L4OK or chk.status == CheckStatus.HANA:
                f["check_duration"] = chk.duration_ms
            if status_has_code(chk.status):
                f["check_code"] = chk.code or 0
            if chk.desc:
                f["last_chk"] = chk.desc
    if agent.configured:
        f.update(agent_rise=agent.rise, agent_fall=agent.fall, agent_health=agent.health,
                 agent_status=STATUS_NAMES[agent.status], agent_desc=STATUS_DESCRIPTIONS[agent.status],
                 agent_duration=max(0, agent.duration_ms), agent_code=agent.code if agent.code is not None else None)
        if agent.desc:
            f["last_agt"] = agent.desc
    if http:
        f.update(_http(c))
        f["req_tot"] = c["cum_req"]
    return f


def filtered(rows: list, opts: set[str], ctx: Any) -> list:
    """``show stat up`` / ``no-maint``: drop servers that are not UP / are in maintenance."""
    out = []
    for typ, pid, sid, f in rows:
        if typ == 2:
            status = f["status"]
            if "up" in opts and not (status.startswith("UP") or status in ("no check", "DRAIN")):
                continue
            if "no-maint" in opts and status.startswith("MAINT"):
                continue
        out.append((typ, pid, sid, f))
    return out


def _text(v: Any) -> str:
    """A CSV field as HAProxy's csv_enc(): quoted (quotes doubled) when it holds a separator."""
    if v is None:
        return ""
    t = str(v)
    if any(c in t for c in ',"\r\n') or t[:1].isspace() or t[-1:].isspace():
        return '"' + t.replace('"', '""') + '"'
    return t


def format_csv(rows: list) -> str:
    out = [HEADER]
    for _typ, _pid, _sid, f in rows:
        std = ",".join(_text(f.get(k)) for k in COLUMNS)
        mod = ",".join(_text(f.get(k)) for k in MODULE_COLUMNS)
        out.append(f"{std},-,{mod},\n")
    return "".join(out)


def _fields_with_pos(f: dict) -> list[tuple[int, str, Any]]:
    out = []
    for pos, name in enumerate(COLUMNS + MODULE_COLUMNS):
        v = f.get(name)
        if v is not None and v != "":
            out.append((pos, name, v))
    return out


def format_typed(rows: list) -> str:
    lines = []
    for typ, pid, sid, f in rows:
        letter = _OBJ[typ][0]
        for pos, name, v in _fields_with_pos(f):
            tags, vtype = field_meta(typ, name)
            lines.append(f"{letter}.{pid}.{sid}.{pos}.{name}.1:{tags}:{vtype}:{v}\n")
        lines.append("\n")
    return "".join(lines)


def format_json(rows: list) -> str:
    out = []
    for typ, pid, sid, f in rows:
        items = []
        for pos, name, v in _fields_with_pos(f):
            tags, vtype = field_meta(typ, name)
            items.append({
                "objType": _OBJ[typ][1], "proxyId": pid, "id": sid, "field": {"pos": pos, "name": name},
                "processNum": 1,
                "tags": {"origin": _ORIGINS[tags[0]], "nature": _NATURES[tags[1]], "scope": _SCOPES[tags[2]]},
                "value": {"type": vtype, "value": v if vtype == "str" else int(v)},
            })
        out.append(items)
    return json.dumps(out, separators=(",", ":")) + "\n"
