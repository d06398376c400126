# Declarations of fastlb._lb for other Cython modules (the engine): the C balancer of
# csrc/fl_lb.h, mirrored one-to-one, and the Balancer class whose cdef methods are the hot path.
#
#     from fastlb._lb cimport Balancer, fl_lb_key_t, fl_lb_key_clear, FL_LB_NOSRV
#     cdef fl_lb_key_t key
#     fl_lb_key_clear(&key)
#     key.uri = <const char *>buf + uri_off; key.uri_len = uri_len
#     idx = balancer.pick(&key, -1)          # nogil; an index into the server list, or < 0
#     if idx >= 0: balancer.take(idx)        # ... and balancer.release(idx) when done
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.string cimport memset


cdef extern from "fl_hash.h" nogil:
    enum:
        FL_HASH_SDBM
        FL_HASH_DJB2
        FL_HASH_WT6
        FL_HASH_CRC32
    uint32_t fl_hash_key(int fn, const char *key, size_t len)
    uint32_t fl_hash_avalanche(uint32_t a)


cdef extern from "fl_lb.h" nogil:
    enum:
        FL_LB_NOSRV
        FL_LB_FULL
        FL_LB_INTERNAL
        FL_LB_NAME_MAX
        FL_LB_MAX_SERVERS

    enum fl_lb_algo:
        FL_LB_ROUNDROBIN
        FL_LB_STATIC_RR
        FL_LB_LEASTCONN
        FL_LB_FIRST
        FL_LB_SOURCE
        FL_LB_URI
        FL_LB_URL_PARAM
        FL_LB_HDR
        FL_LB_RANDOM
        FL_LB_RDP_COOKIE
        FL_LB_HASH

    enum fl_lb_hash_type:
        FL_LB_HASH_MAP_BASED
        FL_LB_HASH_CONSISTENT

    ctypedef struct fl_lb_conf_t:
        int algo
        int hash_type
        int hash_fn
        int avalanche
        int allbackups
        uint32_t uri_len
        uint32_t uri_depth
        int uri_whole
        int uri_path_only
        const char *name
        uint32_t name_len
        int use_domain_only
        int random_draws
        uint32_t hash_balance_factor

    ctypedef struct fl_lb_srv_conf_t:
        uint32_t id
        uint32_t weight
        uint32_t maxconn
        uint32_t maxqueue
        uint32_t slowstart
        int backup
        int usable

    ctypedef struct fl_lb_str_t:
        const char *ptr
        uint32_t len

    ctypedef struct fl_lb_key_t:
        const unsigned char *src
        uint32_t src_len
        const char *uri
        uint32_t uri_len
        const fl_lb_str_t *hdrs
        uint32_t nhdrs
        const char *payload
        uint32_t payload_len
        const char *sample
        uint32_t sample_len

    ctypedef struct fl_lb_t:
        pass

    fl_lb_t *fl_lb_new(const fl_lb_conf_t *conf, const fl_lb_srv_conf_t *srv, int nsrv, int64_t now,
                       const char **err)
    void fl_lb_free(fl_lb_t *lb)
    int fl_lb_pick(fl_lb_t *lb, const fl_lb_key_t *key, int avoid)
    int fl_lb_key_hash(const fl_lb_t *lb, const fl_lb_key_t *key, uint32_t *hash)
    void fl_lb_take(fl_lb_t *lb, int srv)
    void fl_lb_release(fl_lb_t *lb, int srv)
    void fl_lb_set_pending(fl_lb_t *lb, int srv, uint32_t pending)
    int fl_lb_set_usable(fl_lb_t *lb, int srv, int usable, int64_t now)
    int fl_lb_set_weight(fl_lb_t *lb, int srv, uint32_t weight, int64_t now)
    int fl_lb_update(fl_lb_t *lb, int64_t now)
    int fl_lb_in_slowstart(const fl_lb_t *lb)
    uint32_t fl_lb_eweight(const fl_lb_t *lb, int srv)
    uint32_t fl_lb_stats_weight(const fl_lb_t *lb, int srv)
    int fl_lb_is_usable(const fl_lb_t *lb, int srv)
    uint32_t fl_lb_served(const fl_lb_t *lb, int srv)
    uint32_t fl_lb_total_weight(const fl_lb_t *lb)
    uint32_t fl_lb_stats_total_weight(const fl_lb_t *lb)
    int fl_lb_algo_is_hash(int algo)
    void fl_lb_seed(fl_lb_t *lb, uint64_t seed)


cdef inline void fl_lb_key_clear(fl_lb_key_t *key) noexcept nogil:
    memset(key, 0, sizeof(fl_lb_key_t))


cdef class Balancer:
    cdef fl_lb_t *lb
    cdef readonly str algorithm
    cdef readonly tuple names          # server names, by index
    cdef readonly tuple ids            # server ids (HAProxy "id"), by index
    cdef readonly bytes hdr_name       # lower-case header name for "hdr(<name>)", else None
    cdef readonly int needs            # NEED_* bits: which key fields pick() reads

    cdef int pick(self, const fl_lb_key_t *key, int avoid) noexcept nogil
    cdef void take(self, int srv) noexcept nogil
    cdef void release(self, int srv) noexcept nogil
    cdef void set_pending(self, int srv, uint32_t pending) noexcept nogil
    cdef int c_set_usable(self, int srv, bint usable, int64_t now) noexcept nogil
    cdef int c_set_weight(self, int srv, uint32_t weight, int64_t now) noexcept nogil
    cdef int c_update(self, int64_t now) noexcept nogil
    cdef int _check(self, int srv) except -1
