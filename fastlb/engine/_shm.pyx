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
    ("conn_time_hist", FL_HIST_BUCKETS),
)
_MAX_FIELDS = frozenset(("last_sess",))
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

    def __init__(self, uint32_t nb_workers, uint32_t nb_servers, uint32_t nb_counters, uint32_t nb_proxies=0):
        self.stick_tables = {}
        cdef uint64_t size = fl_shm_size(nb_workers, nb_servers, nb_proxies, nb_counters)
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
        self.nb_proxies = nb_proxies
        self.nb_workers = nb_workers
        self.nb_servers = nb_servers
        self.nb_counters = nb_counters

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
