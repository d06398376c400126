"""Statistics rows: what HAProxy's ``show stat`` reports, built from the plan and shared memory.

One builder for every output: the statistics page, its ``;csv``/``;json`` exports and the
Prometheus exporter (served by workers) and the runtime API's ``show stat`` (served by the
master). One row per frontend, per server and per backend, in configuration order (a proxy's
FRONTEND row, then its servers, then its BACKEND row), each a mapping of HAProxy field names (see
fields.py) to values. A field absent from a row is empty in the CSV and missing from the JSON,
exactly where HAProxy leaves it out (e.g. ``econ`` on a frontend, ``check_*`` on a server that
is not checked).

Servers are the live ones (live.py): servers added with ``add server`` appear, deleted ones are
gone, and check/agent detail (transitional states, ``last_chk``, agent columns, ``hanafail``,
``throttle``) is what the master's health checker published in shared memory.

Limits (reported rather than invented):
  - ``qtime``/``ctime``/``rtime``/``ttime`` are means of the engine's ``*_time_sum`` counters; the
    ``*_max`` columns are the highest values any worker measured.
  - rates (``rate``, ``req_rate``, ``conn_rate`` and their maxima) come from a RateTracker kept
    by each process that renders statistics: deltas of the cumulative counters over the last
    second, sampled by a 1 s timer; a maximum is the highest rate this process saw.
"""
from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from ..health.status import STATUS_DESCRIPTIONS, STATUS_NAMES, CheckStatus, status_has_code
from .fields import TYPE_BACKEND, TYPE_FRONTEND, TYPE_SERVER
from .live import (
    ADMF_DRAIN,
    ADMF_MAINT,
    SRVI_AGENT,
    SRVI_CHECK,
    SRVI_CHECK_ON,
    SRVI_CHECK_RUN,
    SRVI_OBSERVE,
    ST_STARTING,
    ST_STOPPED,
    ServerView,
    live_servers,
    server_status,
)

__all__ = ["ADMF_DRAIN", "ADMF_MAINT", "RateTracker", "StatRow", "filter_rows", "stat_rows"]


@dataclass
class StatRow:
    """One line of statistics."""

    obj_type: int  # fields.TYPE_*
    proxy: str
    proxy_id: int
    sid: int  # server id; 0 for FRONTEND/BACKEND rows
    values: dict[str, Any]
    server_slot: int = -1  # shared-memory slot of a server row (admin actions)
    counter_slot: int = -1  # counter slot of the object (histograms)

    @property
    def svname(self) -> str:
        return self.values["svname"]


@dataclass
class RateTracker:
    """Per-second rates from cumulative counters: a sample every second (or on demand), the rate
    is the increase between the newest sample and the one about one second before it."""

    samples: dict[tuple[int, str], list[tuple[float, int]]] = field(default_factory=dict)
    maxima: dict[tuple[int, str], int] = field(default_factory=dict)

    def observe(self, slot: int, name: str, value: int, now: float) -> None:
        hist = self.samples.setdefault((slot, name), [])
        if hist and now - hist[-1][0] < 0.2:
            return  # sampled very recently: keep the spacing useful
        hist.append((now, value))
        while len(hist) > 2 and now - hist[1][0] >= 1.0:
            del hist[0]
        rate = self._rate(hist)
        if rate > self.maxima.get((slot, name), 0):
            self.maxima[(slot, name)] = rate

    @staticmethod
    def _rate(hist: list[tuple[float, int]]) -> int:
        if len(hist) < 2:
            return 0
        (t0, v0), (t1, v1) = hist[0], hist[-1]
        dt = t1 - t0
        if dt <= 0:
            return 0
        if dt < 1.0:
            return max(0, v1 - v0)  # events of the last second seen so far
        return max(0, round((v1 - v0) / dt))

    def rate(self, slot: int, name: str) -> int:
        return self._rate(self.samples.get((slot, name), []))

    def max_rate(self, slot: int, name: str) -> int:
        return self.maxima.get((slot, name), 0)

    def sample_all(self, plan: Any, shm: Any, now: float | None = None) -> None:
        """Sample the counters rates are made of, for every frontend, backend and server."""
        now = time.monotonic() if now is None else now
        for fe in plan.frontends:
            c = shm.sum_counters(fe.counter_slot)
            self.observe(fe.counter_slot, "cum_sess", c["cum_sess"], now)
            self.observe(fe.counter_slot, "cum_req", c["cum_req"], now)
            self.observe(fe.counter_slot, "cum_conn", c["cum_conn"], now)
        for be in plan.backends:
            self.observe(be.counter_slot, "cum_sess", shm.sum_counters(be.counter_slot)["cum_sess"], now)
        for views in live_servers(plan, shm).values():
            for v in views:
                self.observe(v.counter_slot, "cum_sess", shm.sum_counters(v.counter_slot)["cum_sess"], now)
        from .promproc import sample_process_rates

        sample_process_rates(self, plan, shm, now)


def _avg(c: dict, name: str) -> int:
    n = c["time_samples"]
    return c[name] // n if n else 0


def _common(values: dict, c: dict) -> None:
    values.update(
        scur=c["cur_sess"], smax=c["max_sess"], stot=c["cum_sess"], bin=c["bytes_in"], bout=c["bytes_out"],
    )


def _http_codes(values: dict, c: dict) -> None:
    for i, name in enumerate(("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")):
        values[name] = c["http_rsp"][i]


def _modules(values: dict, obj_type: int, http: bool, c: dict) -> None:
    from .fields import MODULE_FIELDS, MODULE_OF

    for f in MODULE_FIELDS:
        if obj_type in MODULE_OF[f.name]:
            values[f.name] = 0
    if obj_type in (TYPE_FRONTEND, TYPE_BACKEND) and http:
        # HTTP/1 module: fastlb speaks HTTP/1 only, so its totals are the proxy's own.
        values["h1_total_connections"] = c["cum_conn"] if obj_type == TYPE_FRONTEND else c["connect_new"]
        values["h1_total_streams"] = c["cum_req"]
        values["h1_bytes_in"] = c["bytes_in"]
        values["h1_bytes_out"] = c["bytes_out"]


def _timers(values: dict, c: dict) -> None:
    values.update(
        qtime=_avg(c, "q_time_sum"), ctime=_avg(c, "c_time_sum"), rtime=_avg(c, "r_time_sum"),
        ttime=_avg(c, "t_time_sum"),
    )


def _timer_maxima(values: dict, c: dict) -> None:
    values.update(qtime_max=c.get("q_time_max", 0), ctime_max=c.get("c_time_max", 0),
                  rtime_max=c.get("r_time_max", 0), ttime_max=c.get("t_time_max", 0))


def _lastsess(c: dict, now: int) -> int:
    return now - c["last_sess"] if c["last_sess"] else -1


def frontend_row(plan: Any, fe: Any, shm: Any, rates: RateTracker | None, now: int) -> StatRow:
    c = shm.sum_counters(fe.counter_slot)
    http = fe.mode == "http"
    slot = fe.counter_slot
    v: dict[str, Any] = {"pxname": fe.name, "svname": "FRONTEND"}
    _common(v, c)
    v.update(
        slim=fe.maxconn or plan.maxconn, dreq=c["denied_req"], dresp=c["denied_resp"], ereq=c["failed_req"],
        status="PAUSED" if shm.get_frontend_paused(fe.index) else "OPEN", pid=1, iid=fe.id, sid=0, type=TYPE_FRONTEND,
        rate=rates.rate(slot, "cum_sess") if rates else 0, rate_lim=0,
        rate_max=rates.max_rate(slot, "cum_sess") if rates else 0,
        req_rate=rates.rate(slot, "cum_req") if rates else 0,
        req_rate_max=rates.max_rate(slot, "cum_req") if rates else 0,
        req_tot=c["cum_req"] if http else 0,
        comp_in=0, comp_out=0, comp_byp=0, comp_rsp=0, mode=fe.mode,
        conn_rate=rates.rate(slot, "cum_conn") if rates else 0,
        conn_rate_max=rates.max_rate(slot, "cum_conn") if rates else 0,
        conn_tot=c["cum_conn"], dcon=c["denied_conn"], dses=0, wrew=c["failed_rewrites"], eint=0,
    )
    if http:
        _http_codes(v, c)
        v.update(intercepted=c["intercepted"], cache_lookups=0, cache_hits=0)
    _modules(v, TYPE_FRONTEND, http, c)
    return StatRow(TYPE_FRONTEND, fe.name, fe.id, 0, v, counter_slot=slot)


def _check_columns(v: dict, sv: ServerView, st: dict, now: int) -> None:
    i = sv.info
    if sv.flag(SRVI_CHECK):
        down = st["down_time"] + (max(0, now - int(st["last_change"])) if st["oper"] == ST_STOPPED else 0)
        v.update(chkfail=st["chk_fail"], chkdown=st["chk_down"], downtime=down, check_rise=i["chk_rise"],
                 check_fall=i["chk_fall"], check_health=i["chk_health"])
        status = CheckStatus(i["chk_status"])
        if status != CheckStatus.INI or sv.flag(SRVI_CHECK_ON):
            v["check_status"] = ("* " if sv.flag(SRVI_CHECK_RUN) else "") + STATUS_NAMES[status]
            v["check_desc"] = STATUS_DESCRIPTIONS[status]
            if status >= CheckStatus.L4OK or status == CheckStatus.HANA:
                v["check_duration"] = i["chk_duration"]
            if status_has_code(status):
                v["check_code"] = max(0, i["chk_code"])
            if i["last_chk"]:
                v["last_chk"] = i["last_chk"]
    if sv.flag(SRVI_AGENT):
        status = CheckStatus(i["agt_status"])
        v.update(agent_rise=i["agt_rise"], agent_fall=i["agt_fall"], agent_health=i["agt_health"],
                 agent_status=STATUS_NAMES[status], agent_desc=STATUS_DESCRIPTIONS[status],
                 agent_duration=max(0, i["agt_duration"]))
        if i["agt_code"] >= 0:
            v["agent_code"] = i["agt_code"]
        if i["last_agt"]:
            v["last_agt"] = i["last_agt"]
    if sv.flag(SRVI_OBSERVE) and sv.flag(SRVI_CHECK):
        v["hanafail"] = i["hanafail"]
    if st["oper"] == ST_STARTING and i["slowstart_ms"]:
        elapsed_ms = time.time() * 1000 - i["last_change_ms"]
        v["throttle"] = max(0, min(100, int(elapsed_ms * 100 / i["slowstart_ms"])))


def server_row(be: Any, sv: ServerView, shm: Any, rates: RateTracker | None, now: int, legends: bool) -> StatRow:
    c = shm.sum_counters(sv.counter_slot)
    st = sv.st
    http = be.mode == "http"
    slot = sv.counter_slot
    v: dict[str, Any] = {"pxname": be.name, "svname": sv.name, "qcur": c["cur_queue"], "qmax": c["max_queue"]}
    _common(v, c)
    if st["maxconn"]:
        v["slim"] = st["maxconn"]
    v.update(
        dresp=c["denied_resp"], econ=c["failed_conns"], eresp=c["failed_resp"], wretr=c["retries"],
        wredis=c["redispatches"], status=server_status(sv), weight=st["eweight"],
        act=0 if sv.backup else 1, bck=1 if sv.backup else 0,
        lastchg=max(0, now - st["last_change"]) if st["last_change"] else 0,
        pid=1, iid=be.id, sid=sv.sid, lbtot=c["cum_lbconn"], type=TYPE_SERVER,
        rate=rates.rate(slot, "cum_sess") if rates else 0,
        rate_max=rates.max_rate(slot, "cum_sess") if rates else 0,
        cli_abrt=c["cli_aborts"], srv_abrt=c["srv_aborts"],
        lastsess=_lastsess(c, now), mode=be.mode, wrew=c["failed_rewrites"], connect=c["connect_new"],
        reuse=c["connect_reuse"], srv_icur=0, eint=0, idle_conn_cur=0, safe_conn_cur=0, used_conn_cur=0,
        need_conn_est=0, uweight=st["uweight"],
    )
    if http:
        _http_codes(v, c)
        v["req_tot"] = c["cum_lbconn"]  # HAProxy counts requests sent to the server
    if st["maxqueue"]:
        v["qlimit"] = st["maxqueue"]
    if sv.info["tracked"]:
        v["tracked"] = sv.info["tracked"]
    _check_columns(v, sv, st, now)
    _timers(v, c)
    _timer_maxima(v, c)
    if legends:
        v["addr"] = sv.info["addr"]
        if sv.info["cookie"]:
            v["cookie"] = sv.info["cookie"]
    _modules(v, TYPE_SERVER, http, c)
    return StatRow(TYPE_SERVER, be.name, be.id, sv.sid, v, server_slot=sv.slot, counter_slot=slot)


def backend_row(plan: Any, be: Any, shm: Any, rates: RateTracker | None, now: int, legends: bool,
                servers: list[ServerView]) -> StatRow:
    c = shm.sum_counters(be.counter_slot)
    http = be.mode == "http"
    act = [sv.st for sv in servers if not sv.backup and sv.usable()]
    bck = [sv.st for sv in servers if sv.backup and sv.usable()]
    weight = sum(st["eweight"] for st in (act or bck))
    uweight = sum(st["uweight"] for st in (act or bck))
    up = bool(act or bck) or not servers
    info = shm.get_backend_info(be.index)
    now_ms = time.time() * 1000
    v: dict[str, Any] = {"pxname": be.name, "svname": "BACKEND", "qcur": c["cur_queue"], "qmax": c["max_queue"]}
    _common(v, c)
    v.update(
        slim=be.conf.fullconn or _default_fullconn(plan, be.name), dreq=c["denied_req"],
        dresp=c["denied_resp"], econ=c["failed_conns"], eresp=c["failed_resp"], wretr=c["retries"],
        wredis=c["redispatches"], status="UP" if up else "DOWN", weight=weight, act=len(act), bck=len(bck),
        chkdown=info["chkdown"], lastchg=max(0, int(now - info["last_change_ms"] / 1000)),
        pid=1, iid=be.id, sid=0, lbtot=c["cum_lbconn"], type=TYPE_BACKEND,
        rate=rates.rate(be.counter_slot, "cum_sess") if rates else 0,
        rate_max=rates.max_rate(be.counter_slot, "cum_sess") if rates else 0,
        cli_abrt=c["cli_aborts"], srv_abrt=c["srv_aborts"],
        comp_in=0, comp_out=0, comp_byp=0, comp_rsp=0, lastsess=_lastsess(c, now), mode=be.mode,
        wrew=c["failed_rewrites"], connect=c["connect_new"], reuse=c["connect_reuse"], eint=0, uweight=uweight,
        agg_server_status=0, agg_server_check_status=0, agg_check_status=0,
    )
    if servers:
        down_ms = info["down_time_ms"] + (max(0.0, now_ms - info["down_since_ms"]) if info["down_since_ms"] else 0)
        v["downtime"] = int(down_ms // 1000)
    if http:
        _http_codes(v, c)
        v.update(req_tot=c["cum_req"], cache_lookups=0, cache_hits=0)
    _timers(v, c)
    _timer_maxima(v, c)
    if legends:
        v["algo"] = be.conf.balance.algorithm
        if be.conf.cookie is not None:
            v["cookie"] = be.conf.cookie.name
    _modules(v, TYPE_BACKEND, http, c)
    return StatRow(TYPE_BACKEND, be.name, be.id, 0, v, counter_slot=be.counter_slot)


def _default_fullconn(plan: Any, backend: str) -> int:
    """HAProxy's default fullconn: a tenth of the maxconn of the frontends that reach the backend."""
    total = 0
    for fe in plan.frontends:
        names = {fe.default_backend} | {u.backend for u in fe.conf.use_backends}
        if backend in names:
            total += fe.maxconn or plan.maxconn
    return max(1, total // 10)


def stat_rows(plan: Any, shm: Any, *, rates: RateTracker | None = None, scope: Collection[str] | None = None,
              legends: bool = False, now: int | None = None) -> list[StatRow]:
    """Every statistics row of `plan`, HAProxy's order: per proxy in configuration order, its
    FRONTEND row, its servers, its BACKEND row. `scope` limits the proxies shown (``stats scope``,
    the page's scope box); `legends` adds the configuration columns (``addr``, ``cookie``, ``algo``)
    that HAProxy fills for ``stats show-legends``."""
    now = int(time.time()) if now is None else now
    servers = live_servers(plan, shm)
    rows: list[StatRow] = []
    for proxy in plan.config.proxies:
        if proxy.disabled or (scope and proxy.name not in scope):
            continue
        fe = plan.frontend(proxy.name) if proxy.has_frontend else None
        be = plan.backend(proxy.name) if proxy.has_backend else None
        if fe is not None:
            rows.append(frontend_row(plan, fe, shm, rates, now))
        if be is not None:
            views = servers.get(be.index, [])
            for sv in views:
                rows.append(server_row(be, sv, shm, rates, now, legends))
            rows.append(backend_row(plan, be, shm, rates, now, legends, views))
    return rows


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
