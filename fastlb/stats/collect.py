"""Statistics rows: what HAProxy's ``show stat`` reports, built from the plan and shared memory.

One row per frontend, per server and per backend, in configuration order (a proxy's FRONTEND
row, then its servers, then its BACKEND row), each a mapping of HAProxy field names (see
fields.py) to values. A field absent from a row is empty in the CSV and missing from the JSON,
exactly where HAProxy leaves it out (e.g. ``econ`` on a frontend, ``check_*`` on a server that
is not checked).

Limits (what shared memory does not hold yet, reported rather than invented):
  - ``qtime``/``ctime``/``rtime``/``ttime`` are means of the engine's ``*_time_sum`` counters
    (0 until the engine fills them); the ``*_max`` columns are 0.
  - rates (``rate``, ``req_rate``, ``conn_rate`` and their maxima) come from a RateTracker kept
    by each process that renders statistics: deltas of the cumulative counters over the last
    second, sampled by a 1 s timer in each worker; a maximum is the highest rate this process saw.
  - transitional server states ("UP 1/3", "DOWN 1/2") need the health checker's rise/fall
    counters, which are not in shared memory: the steady state is shown.
"""
from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from .fields import TYPE_BACKEND, TYPE_FRONTEND, TYPE_SERVER

# Server admin / operational states (csrc/fl_shm.h, HAProxy's SRV_ADMF_* / SRV_ST_*).
ADMF_MAINT = 0x01
ADMF_DRAIN = 0x02
ST_STOPPED, ST_STARTING, ST_RUNNING, ST_STOPPING = 0, 1, 2, 3

#: Health check status, indexed by fl_srv_state.check_status: HAProxy's HCHK_STATUS_* order.
#: (stats name, description); names of internal states are empty (nothing is shown for them).
CHECK_STATUSES: tuple[tuple[str, str], ...] = (
    ("", "Unknown"),                       # 0 UNKNOWN (never checked)
    ("INI", "Initializing"),               # 1
    ("", "Check started"),                 # 2 START (internal)
    ("", "Checked"),                       # 3 CHECKED (internal)
    ("HANA", "Health analyze"),            # 4
    ("SOCKERR", "Socket error"),           # 5
    ("L4OK", "Layer4 check passed"),       # 6
    ("L4TOUT", "Layer4 timeout"),          # 7
    ("L4CON", "Layer4 connection problem"),  # 8
    ("L6OK", "Layer6 check passed"),       # 9
    ("L6TOUT", "Layer6 timeout"),          # 10
    ("L6RSP", "Layer6 invalid response"),  # 11
    ("L7TOUT", "Layer7 timeout"),          # 12
    ("L7RSP", "Layer7 invalid response"),  # 13
    ("", "Layer5-7 data"),                 # 14 L57DATA (internal)
    ("L7OK", "Layer7 check passed"),       # 15
    ("L7OKC", "Layer7 check conditionally passed"),  # 16
    ("L7STS", "Layer7 wrong status"),      # 17
    ("PROCERR", "External check error"),   # 18
    ("PROCTOUT", "External check timeout"),  # 19
    ("PROCOK", "External check passed"),   # 20
)
CHECK_L7_FIRST = 15  # statuses from here on carry an L7 response code


@dataclass
class StatRow:
    """One line of statistics."""

    obj_type: int  # fields.TYPE_*
    proxy: str
    proxy_id: int
    sid: int  # server id; 0 for FRONTEND/BACKEND rows
    values: dict[str, Any]
    server_slot: int = -1  # shared-memory slot of a server row (admin actions)

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
        for sp in plan.servers:
            self.observe(sp.counter_slot, "cum_sess", shm.sum_counters(sp.counter_slot)["cum_sess"], now)


def server_status(sp: Any, st: dict) -> str:
    """HAProxy's status text of a server: MAINT, DRAIN, DOWN, NOLB, UP or "no check"."""
    if st["admin"] & ADMF_MAINT:
        return "MAINT"
    oper = st["oper"]
    if oper == ST_STOPPED:
        return "DOWN"
    if st["admin"] & ADMF_DRAIN:
        return "DRAIN"
    if oper == ST_STOPPING:
        return "NOLB"
    if not sp.conf.check:
        return "no check"
    return "UP"


def server_usable(st: dict) -> bool:
    return st["oper"] in (ST_RUNNING, ST_STARTING) and not st["admin"] & (ADMF_MAINT | ADMF_DRAIN) \
        and st["eweight"] > 0


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


def _timer_maxima(values: dict) -> None:
    values.update(qtime_max=0, ctime_max=0, rtime_max=0, ttime_max=0)


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
    return StatRow(TYPE_FRONTEND, fe.name, fe.id, 0, v)


def server_row(be: Any, sp: Any, shm: Any, rates: RateTracker | None, now: int, legends: bool) -> StatRow:
    c = shm.sum_counters(sp.counter_slot)
    st = shm.get_server(sp.slot)
    http = be.mode == "http"
    conf = sp.conf
    v: dict[str, Any] = {"pxname": be.name, "svname": sp.name, "qcur": c["cur_queue"], "qmax": c["max_queue"]}
    _common(v, c)
    if st["maxconn"]:
        v["slim"] = st["maxconn"]
    status = server_status(sp, st)
    v.update(
        dresp=c["denied_resp"], econ=c["failed_conns"], eresp=c["failed_resp"], wretr=c["retries"],
        wredis=c["redispatches"], status=status, weight=st["eweight"],
        act=0 if sp.backup else 1, bck=1 if sp.backup else 0,
        lastchg=max(0, now - st["last_change"]) if st["last_change"] else 0,
        pid=1, iid=be.id, sid=sp.id, lbtot=c["cum_lbconn"], type=TYPE_SERVER,
        rate=rates.rate(sp.counter_slot, "cum_sess") if rates else 0,
        rate_max=rates.max_rate(sp.counter_slot, "cum_sess") if rates else 0,
        req_tot=c["cum_req"] if http else None, cli_abrt=c["cli_aborts"], srv_abrt=c["srv_aborts"],
        lastsess=_lastsess(c, now), mode=be.mode, wrew=c["failed_rewrites"], connect=c["connect_new"],
        reuse=c["connect_reuse"], srv_icur=0, eint=0, idle_conn_cur=0, safe_conn_cur=0, used_conn_cur=0,
        need_conn_est=0, uweight=st["uweight"],
    )
    if not http:
        del v["req_tot"]
    else:
        _http_codes(v, c)
        v["req_tot"] = c["cum_lbconn"]  # HAProxy counts requests sent to the server
    if st["maxqueue"]:
        v["qlimit"] = st["maxqueue"]
    if conf.track:
        v["tracked"] = conf.track if "/" in conf.track else f"{be.name}/{conf.track}"
    elif conf.check:
        down = st["down_time"] + (max(0, now - st["last_change"]) if st["oper"] == ST_STOPPED else 0)
        v.update(chkfail=st["chk_fail"], chkdown=st["chk_down"], downtime=down)
        idx = st["check_status"]
        name, desc = CHECK_STATUSES[idx] if idx < len(CHECK_STATUSES) else ("", "")
        v.update(check_status=name, check_duration=st["check_duration_ms"], check_desc=desc,
                 check_rise=conf.rise, check_fall=conf.fall,
                 check_health=(conf.rise + conf.fall - 1) if st["oper"] != ST_STOPPED else 0,
                 last_chk="")
        if idx >= CHECK_L7_FIRST and idx <= 17:
            v["check_code"] = st["check_code"]
        if not name:
            del v["check_status"]
    _timers(v, c)
    _timer_maxima(v)
    if legends:
        v["addr"] = f"{sp.host}:{sp.port}" if sp.port is not None else sp.host
        if sp.cookie:
            v["cookie"] = sp.cookie
    _modules(v, TYPE_SERVER, http, c)
    return StatRow(TYPE_SERVER, be.name, be.id, sp.id, v, server_slot=sp.slot)


def backend_row(plan: Any, be: Any, shm: Any, rates: RateTracker | None, now: int, legends: bool,
                server_states: list[dict]) -> StatRow:
    c = shm.sum_counters(be.counter_slot)
    http = be.mode == "http"
    act = [st for sp, st in zip(be.servers, server_states) if not sp.backup and server_usable(st)]
    bck = [st for sp, st in zip(be.servers, server_states) if sp.backup and server_usable(st)]
    weight = sum(st["eweight"] for st in (act or bck))
    uweight = sum(st["uweight"] for st in (act or bck))
    up = bool(act or bck) or not be.servers
    changes = [st["last_change"] for st in server_states if st["last_change"]]
    last_change = max(changes) if changes else (shm.start_time or now)
    v: dict[str, Any] = {"pxname": be.name, "svname": "BACKEND", "qcur": c["cur_queue"], "qmax": c["max_queue"]}
    _common(v, c)
    v.update(
        slim=be.conf.fullconn or _default_fullconn(plan, be.name), dreq=c["denied_req"],
        dresp=c["denied_resp"], econ=c["failed_conns"], eresp=c["failed_resp"], wretr=c["retries"],
        wredis=c["redispatches"], status="UP" if up else "DOWN", weight=weight, act=len(act), bck=len(bck),
        chkdown=sum(st["chk_down"] for st in server_states), lastchg=max(0, now - last_change),
        pid=1, iid=be.id, sid=0, lbtot=c["cum_lbconn"], type=TYPE_BACKEND,
        rate=rates.rate(be.counter_slot, "cum_sess") if rates else 0,
        rate_max=rates.max_rate(be.counter_slot, "cum_sess") if rates else 0,
        req_tot=c["cum_req"], cli_abrt=c["cli_aborts"], srv_abrt=c["srv_aborts"],
        comp_in=0, comp_out=0, comp_byp=0, comp_rsp=0, lastsess=_lastsess(c, now), mode=be.mode,
        wrew=c["failed_rewrites"], connect=c["connect_new"], reuse=c["connect_reuse"], eint=0, uweight=uweight,
        agg_server_status=0, agg_server_check_status=0, agg_check_status=0,
    )
    if be.servers:
        v["downtime"] = 0 if up else max(0, now - last_change)
    if http:
        _http_codes(v, c)
        v.update(cache_lookups=0, cache_hits=0)
    else:
        del v["req_tot"]
    _timers(v, c)
    _timer_maxima(v)
    if legends:
        v["algo"] = be.conf.balance.algorithm
    _modules(v, TYPE_BACKEND, http, c)
    return StatRow(TYPE_BACKEND, be.name, be.id, 0, v)


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
    rows: list[StatRow] = []
    for proxy in plan.config.proxies:
        if proxy.disabled or (scope and proxy.name not in scope):
            continue
        fe = plan.frontend(proxy.name) if proxy.has_frontend else None
        be = plan.backend(proxy.name) if proxy.has_backend else None
        if fe is not None:
            rows.append(frontend_row(plan, fe, shm, rates, now))
        if be is not None:
            states = [shm.get_server(sp.slot) for sp in be.servers]
            for sp in be.servers:
                rows.append(server_row(be, sp, shm, rates, now, legends))
            rows.append(backend_row(plan, be, shm, rates, now, legends, states))
    return rows
