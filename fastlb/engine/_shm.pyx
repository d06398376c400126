# cython: language_level=3
"""Python access to the shared-memory segment (csrc/fl_shm.h) for the master process: create it,
write server states, read and sum the workers' counters. The data plane reads and writes the same
memory directly from Cython."""

import mmap

from libc.stdint cimport uint32_t, uint64_t, uint8_t
from libc.string cimport memcpy, memset

include "_decl.pxi"

#: fl_counters_t fields in declaration order, with their number of 64-bit words.
COUNTER_FIELDS = (
    ("cur_sess", 1), ("max_sess", 1), ("cum_sess", 1), ("cum_conn", 1), ("bytes_in", 1),
    ("bytes_out", 1), ("denied_req", 1), ("denied_resp", 1), ("denied_conn", 1), ("failed_req", 1),
    ("failed_conns", 1), ("failed_resp", 1), ("retries", 1), ("redispatches", 1),
    ("failed_rewrites", 1), ("cum_req", 1), ("http_rsp", 6), ("cli_aborts", 1), ("srv_aborts", 1),
    ("cur_queue", 1), ("max_queue", 1), ("cum_lbconn", 1), ("last_sess", 1), ("connect_new", 1),
    ("connect_reuse", 1), ("intercepted", 1), ("q_time_sum", 1), ("c_time_sum", 1),
    ("r_time_sum", 1), ("t_time_sum", 1), ("time_samples", 1), ("rsp_time_hist", FL_HIST_BUCKETS),
    ("conn_time_hist", FL_HIST_BUCKETS), ("q_time_max", 1), ("c_time_max", 1), ("r_time_max", 1),
    ("t_time_max", 1),
)
#: Fields summed over workers as their maximum rather than their sum.
_MAX_FIELDS = frozenset(("last_sess", "q_time_max", "c_time_max", "r_time_max", "t_time_max"))
HIST_BOUNDS_MS = tuple(fl_hist_bounds_ms[i] for i in range(FL_HIST_BUCKETS - 1))

assert sum(n for _, n in COUNTER_FIELDS) * 8 == sizeof(fl_counters_t)

SRV_ADMF_MAINT = FL_SRV_ADMF_MAINT
SRV_ADMF_DRAIN = FL_SRV_ADMF_DRAIN
SRV_ST_STOPPED = FL_SRV_ST_STOPPED
SRV_ST_STARTING = FL_SRV_ST_STARTING
SRV_ST_RUNNING = FL_SRV_ST_RUNNING
SRV_ST_STOPPING = FL_SRV_ST_STOPPING

_SERVER_FIELDS = ("admin", "oper", "uweight", "eweight", "maxconn", "maxqueue", "addr_gen", "in_use",
                  "last_change", "down_time", "check_status", "check_code", "check_duration_ms",
                  "chk_fail", "chk_down")


cdef class SharedState:
    """The segment, mapped MAP_SHARED|MAP_ANONYMOUS so that forked workers share it."""
    cdef readonly object mm
    cdef char *base
    cdef readonly uint32_t nb_workers
    cdef readonly uint32_t nb_servers
    cdef readonly uint32_t nb_counters
    cdef readonly uint32_t nb_proxies
    cdef public dict stick_tables        # name -> fastlb._stk.StickTable (own mappings, shared too)
    cdef readonly uint32_t nb_backends

    def __init__(self, uint32_t nb_workers, uint32_t nb_servers, uint32_t nb_counters, uint32_t nb_proxies=0,
                 uint32_t nb_backends=0):
        self.stick_tables = {}
        cdef uint64_t size = fl_shm_size(nb_workers, nb_servers, nb_proxies, nb_counters, nb_backends)
        self.mm = mmap.mmap(-1, size, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
        cdef unsigned char[::1] view = self.mm
        self.base = <char *>&view[0]
        memset(self.base, 0, size)
        cdef fl_shm_header_t *h = <fl_shm_header_t *>self.base
        h.magic = 0x666c6273686d3031
        h.nb_workers = nb_workers
        h.nb_servers = nb_servers
        h.nb_counters = nb_counters
        h.nb_proxies = nb_proxies
        h.nb_backends = nb_backends
        self.nb_proxies = nb_proxies
        self.nb_backends = nb_backends
        self.nb_workers = nb_workers
        self.nb_servers = nb_servers
        self.nb_counters = nb_counters
        cdef uint32_t w
        for w in range(nb_workers):
            fl_shm_workers(self.base)[w].idle_pct = 100   # until a worker measured a sample

    @property
    def generation(self):
        return (<fl_shm_header_t *>self.base).generation

    def bump_generation(self):
        (<fl_shm_header_t *>self.base).generation += 1

    property global_maxconn:
        def __get__(self):
            return (<fl_shm_header_t *>self.base).global_maxconn
        def __set__(self, uint64_t v):
            (<fl_shm_header_t *>self.base).global_maxconn = v

    property start_time:
        def __get__(self):
            return (<fl_shm_header_t *>self.base).start_time
        def __set__(self, uint64_t v):
            (<fl_shm_header_t *>self.base).start_time = v

    def get_frontend_maxconn(self, int index):
        if index < 0 or <uint32_t>index >= self.nb_proxies:
            raise IndexError("proxy index out of range")
        return fl_shm_proxies(self.base)[index].maxconn

    def set_frontend_maxconn(self, int index, uint32_t maxconn, bump=True):
        """`set maxconn frontend`: the workers apply their share at their next round."""
        if index < 0 or <uint32_t>index >= self.nb_proxies:
            raise IndexError("proxy index out of range")
        fl_shm_proxies(self.base)[index].maxconn = maxconn
        if bump:
            (<fl_shm_header_t *>self.base).generation += 1

    def get_frontend_paused(self, int index):
        if index < 0 or <uint32_t>index >= self.nb_proxies:
            raise IndexError("proxy index out of range")
        return bool(fl_shm_proxies(self.base)[index].flags & FL_PX_F_PAUSED)

    def set_frontend_paused(self, int index, bint paused, bump=True):
        """`disable frontend` / `enable frontend`: the workers stop or resume accepting at their next round."""
        if index < 0 or <uint32_t>index >= self.nb_proxies:
            raise IndexError("proxy index out of range")
        cdef fl_px_state_t *px = fl_shm_proxies(self.base) + index
        if paused:
            px.flags |= FL_PX_F_PAUSED
        else:
            px.flags &= ~FL_PX_F_PAUSED
        if bump:
            (<fl_shm_header_t *>self.base).generation += 1

    cdef fl_srv_state_t *_srv(self, int slot) except NULL:
        if slot < 0 or <uint32_t>slot >= self.nb_servers:
            raise IndexError(f"server slot {slot} out of range")
        return fl_shm_servers(self.base) + slot

    def get_server(self, int slot):
        cdef fl_srv_state_t *s = self._srv(slot)
        return {
            "admin": s.admin, "oper": s.oper, "uweight": s.uweight, "eweight": s.eweight,
            "maxconn": s.maxconn, "maxqueue": s.maxqueue, "addr_gen": s.addr_gen, "in_use": s.in_use,
            "last_change": s.last_change, "down_time": s.down_time, "check_status": s.check_status,
            "check_code": s.check_code, "check_duration_ms": s.check_duration_ms,
            "chk_fail": s.chk_fail, "chk_down": s.chk_down,
        }

    def set_server(self, int slot, bump=True, **fields):
        """Write server state fields (names as in fl_srv_state_t; `addr` takes packed sockaddr
        bytes) and, unless bump=False, tell the workers (generation counter)."""
        cdef fl_srv_state_t *s = self._srv(slot)
        cdef bytes raw
        for k, v in fields.items():
            if k == "admin": s.admin = v
            elif k == "oper": s.oper = v
            elif k == "uweight": s.uweight = v
            elif k == "eweight": s.eweight = v
            elif k == "maxconn": s.maxconn = v
            elif k == "maxqueue": s.maxqueue = v
            elif k == "in_use": s.in_use = v
            elif k == "last_change": s.last_change = v
            elif k == "down_time": s.down_time = v
            elif k == "check_status": s.check_status = v
            elif k == "check_code": s.check_code = v
            elif k == "check_duration_ms": s.check_duration_ms = v
            elif k == "chk_fail": s.chk_fail = v
            elif k == "chk_down": s.chk_down = v
            elif k == "addr":
                raw = v
                if len(raw) > 28:
                    raise ValueError("sockaddr too long for a server slot (UNIX paths are fixed at start)")
                memset(s.addr, 0, 28)
                memcpy(s.addr, <char *>raw, len(raw))
                s.addr_len = len(raw)
                s.addr_gen += 1
            else:
                raise KeyError(k)
        if bump:
            (<fl_shm_header_t *>self.base).generation += 1

    # -- statistics detail (fl_srv_info_t / fl_be_info_t), written by the master only -----------

    def get_server_info(self, int slot):
        """A consistent copy of a server slot's statistics detail, as a dict (strings decoded)."""
        cdef fl_srv_info_t r
        self._srv(slot)
        if not fl_seq_read(fl_shm_srv_info(self.base) + slot, &r, sizeof(fl_srv_info_t)):
            raise RuntimeError(f"server info of slot {slot} is being rewritten")
        return {
            "flags": r.flags, "backend": r.backend, "sid": r.sid, "order": r.order,
            "counter_slot": r.counter_slot, "chk_health": r.chk_health, "chk_rise": r.chk_rise,
            "chk_fall": r.chk_fall, "chk_status": r.chk_status, "chk_code": r.chk_code,
            "chk_duration": r.chk_duration, "agt_health": r.agt_health, "agt_rise": r.agt_rise,
            "agt_fall": r.agt_fall, "agt_status": r.agt_status, "agt_code": r.agt_code,
            "agt_duration": r.agt_duration, "hanafail": r.hanafail, "slowstart_ms": r.slowstart_ms,
            "last_change_ms": r.last_change_ms,
            "name": _text(r.name, FL_SRVI_NAME_LEN), "addr": _text(r.addr, FL_SRVI_ADDR_LEN),
            "cookie": _text(r.cookie, FL_SRVI_NAME_LEN), "tracked": _text(r.tracked, FL_SRVI_TEXT_LEN),
            "last_chk": _text(r.last_chk, FL_SRVI_TEXT_LEN), "last_agt": _text(r.last_agt, FL_SRVI_TEXT_LEN),
        }

    def set_server_info(self, int slot, **fields):
        """Rewrite fields of a server slot's statistics detail (names as get_server_info)."""
        self._srv(slot)
        cdef fl_srv_info_t *r = fl_shm_srv_info(self.base) + slot
        fl_seq_write_begin(&r.seq)
        try:
            for k, v in fields.items():
                if k == "flags": r.flags = v
                elif k == "backend": r.backend = v
                elif k == "sid": r.sid = v
                elif k == "order": r.order = v
                elif k == "counter_slot": r.counter_slot = v
                elif k == "chk_health": r.chk_health = v
                elif k == "chk_rise": r.chk_rise = v
                elif k == "chk_fall": r.chk_fall = v
                elif k == "chk_status": r.chk_status = v
                elif k == "chk_code": r.chk_code = v
                elif k == "chk_duration": r.chk_duration = v
                elif k == "agt_health": r.agt_health = v
                elif k == "agt_rise": r.agt_rise = v
                elif k == "agt_fall": r.agt_fall = v
                elif k == "agt_status": r.agt_status = v
                elif k == "agt_code": r.agt_code = v
                elif k == "agt_duration": r.agt_duration = v
                elif k == "hanafail": r.hanafail = v
                elif k == "slowstart_ms": r.slowstart_ms = v
                elif k == "last_change_ms": r.last_change_ms = v
                elif k == "name": _set_text(r.name, FL_SRVI_NAME_LEN, v)
                elif k == "addr": _set_text(r.addr, FL_SRVI_ADDR_LEN, v)
                elif k == "cookie": _set_text(r.cookie, FL_SRVI_NAME_LEN, v)
                elif k == "tracked": _set_text(r.tracked, FL_SRVI_TEXT_LEN, v)
                elif k == "last_chk": _set_text(r.last_chk, FL_SRVI_TEXT_LEN, v)
                elif k == "last_agt": _set_text(r.last_agt, FL_SRVI_TEXT_LEN, v)
                else:
                    raise KeyError(k)
        finally:
            fl_seq_write_end(&r.seq)

    def get_backend_info(self, int index):
        cdef fl_be_info_t r
        if index < 0 or <uint32_t>index >= self.nb_backends:
            raise IndexError("backend index out of range")
        if not fl_seq_read(fl_shm_be_info(self.base) + index, &r, sizeof(fl_be_info_t)):
            raise RuntimeError(f"backend info {index} is being rewritten")
        return {"chkdown": r.chkdown, "last_change_ms": r.last_change_ms, "down_since_ms": r.down_since_ms,
                "down_time_ms": r.down_time_ms}

    def set_backend_info(self, int index, uint32_t chkdown, uint64_t last_change_ms, uint64_t down_since_ms,
                         uint64_t down_time_ms):
        if index < 0 or <uint32_t>index >= self.nb_backends:
            raise IndexError("backend index out of range")
        cdef fl_be_info_t *r = fl_shm_be_info(self.base) + index
        fl_seq_write_begin(&r.seq)
        r.chkdown = chkdown
        r.last_change_ms = last_change_ms
        r.down_since_ms = down_since_ms
        r.down_time_ms = down_time_ms
        fl_seq_write_end(&r.seq)

    def total_connections(self):
        """Connections held by every worker now (HAProxy's actconn)."""
        return fl_shm_total_conn(self.base)

    def spliced_out(self):
        """Bytes every worker sent from splice pipes since start (TotalSplicdedBytesOut)."""
        return fl_shm_total_spliced_out(self.base)

    def idle_pct(self):
        """Percent of the last sample the workers spent waiting for events, averaged (Idle_pct)."""
        return fl_shm_idle_pct(self.base)

    def counters(self, uint32_t worker, uint32_t slot):
        """One worker's counters for one object, as a dict."""
        if worker >= self.nb_workers or slot >= self.nb_counters:
            raise IndexError("counter slot out of range")
        cdef uint64_t *p = <uint64_t *>(fl_shm_counters(self.base, worker) + slot)
        return _unpack(p)

    def sum_counters(self, uint32_t slot):
        """Counters of one object summed over the workers (max for timestamps)."""
        cdef uint32_t w
        cdef uint64_t *p
        total = None
        for w in range(self.nb_workers):
            p = <uint64_t *>(fl_shm_counters(self.base, w) + slot)
            d = _unpack(p)
            if total is None:
                total = d
                continue
            for k, v in d.items():
                if isinstance(v, list):
                    total[k] = [a + b for a, b in zip(total[k], v)]
                elif k in _MAX_FIELDS:
                    total[k] = max(total[k], v)
                else:
                    total[k] += v
        return total

    def forget_worker(self, uint32_t worker):
        """A worker is gone: its connections to servers no longer count against their maxconn
        (the shared `cur_conn`), and its current-session gauges are zeroed."""
        cdef fl_srv_state_t *srv = fl_shm_servers(self.base)
        cdef fl_srv_info_t *info = fl_shm_srv_info(self.base)
        cdef fl_counters_t *c
        cdef uint32_t slot, cs
        if worker >= self.nb_workers:
            raise IndexError("worker out of range")
        for slot in range(self.nb_servers):
            cs = info[slot].counter_slot
            if not srv[slot].in_use or cs >= self.nb_counters:
                continue
            c = fl_shm_counters(self.base, worker) + cs
            if c.cur_sess:
                fl_srv_unreserve(srv + slot, <uint32_t>c.cur_sess)
                c.cur_sess = 0

    def server_connections(self, int slot):
        """Connections to a server from every worker now (the count its maxconn limits)."""
        return fl_srv_conns(self._srv(slot))

    def clear_counters(self, uint32_t slot, bint all_fields=False):
        """`clear counters`: reset maxima (and with `all`, every counter) of one object."""
        cdef uint32_t w
        cdef fl_counters_t *c
        for w in range(self.nb_workers):
            c = fl_shm_counters(self.base, w) + slot
            if all_fields:
                cur_s, cur_q = c.cur_sess, c.cur_queue
                memset(c, 0, sizeof(fl_counters_t))
                c.cur_sess, c.cur_queue = cur_s, cur_q
            else:
                c.max_sess = c.cur_sess
                c.max_queue = c.cur_queue
                c.q_time_max = c.c_time_max = c.r_time_max = c.t_time_max = 0


cdef dict _unpack(uint64_t *p):
    cdef int i = 0, j
    d = {}
    for name, n in COUNTER_FIELDS:
        if n == 1:
            d[name] = p[i]
        else:
            d[name] = [p[i + j] for j in range(n)]
        i += n
    return d


cdef str _text(const char *p, int size):
    cdef int n = 0
    while n < size and p[n] != 0:
        n += 1
    return p[:n].decode("utf-8", "replace")


cdef void _set_text(char *dst, int size, object value) except *:
    cdef bytes raw = str(value).encode("utf-8", "replace")[:size - 1]
    memset(dst, 0, size)
    memcpy(dst, <char *>raw, len(raw))
