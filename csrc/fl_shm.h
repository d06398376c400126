/* fl_shm.h - layout of fastlb's shared memory segment.
 *
 * The master process maps one anonymous MAP_SHARED segment before forking the workers.
 * It holds:
 *   - a header (sizes, a state generation counter, runtime-settable limits),
 *   - one fl_srv_state per server slot: written by the master only (health checks, runtime API),
 *     read by every worker before each pick (the worker compares `generation` to notice changes),
 *   - one fl_counters per (worker, object) pair: written by one worker only, read by the master
 *     (and by whichever worker renders a stats page), summed over workers for statistics,
 *   - one fl_srv_info per server slot and one fl_be_info per backend: the statistics detail that
 *     only the master knows (check and agent health, last check output, servers added at run
 *     time), written by the master, read by whoever renders statistics (never by the data plane).
 *
 * Single writer per field, naturally aligned 32/64-bit words: no locks and no atomics are needed
 * on x86-64 and aarch64 for torn-free reads; counters may be a few events stale, which is what
 * HAProxy's own per-thread counters give as well.
 */
#ifndef FL_SHM_H
#define FL_SHM_H

#include <stdint.h>

#define FL_SHM_MAGIC 0x666c6273686d3031ULL /* "flbshm01" */

/* Latency histogram buckets (upper bounds in ms; the last bucket is +Inf). */
#define FL_HIST_BUCKETS 16
static const uint32_t fl_hist_bounds_ms[FL_HIST_BUCKETS - 1] = {
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000,
};

/* Server administrative flags (fl_srv_state.admin), as HAProxy's SRV_ADMF_*. */
#define FL_SRV_ADMF_MAINT 0x01u /* forced maintenance (runtime API / config "disabled") */
#define FL_SRV_ADMF_DRAIN 0x02u /* drain: no new connections except persistent ones */

/* Server operational state (fl_srv_state.oper), as HAProxy's SRV_ST_*. */
#define FL_SRV_ST_STOPPED 0u  /* DOWN */
#define FL_SRV_ST_STARTING 1u /* UP, in slowstart */
#define FL_SRV_ST_RUNNING 2u  /* UP */
#define FL_SRV_ST_STOPPING 3u /* UP, but no new connections (going down) */

typedef struct fl_srv_state {
    uint32_t admin;       /* FL_SRV_ADMF_* */
    uint32_t oper;        /* FL_SRV_ST_* */
    uint32_t uweight;     /* user weight: configured or set by the runtime API, 0..256 */
    uint32_t eweight;     /* effective weight after slowstart / agent percentages, 0..256*16 */
    uint32_t maxconn;     /* 0 = unlimited */
    uint32_t maxqueue;    /* 0 = unlimited */
    uint32_t addr_gen;    /* bumped when the address below changes */
    uint32_t in_use;      /* slot in use (dynamic servers) */
    uint8_t addr[28];     /* struct sockaddr_in or sockaddr_in6, or all zero = unresolved */
    uint32_t addr_len;
    uint64_t last_change; /* unix time (s) of the last state change */
    uint64_t down_time;   /* total seconds spent DOWN before last_change */
    uint32_t check_status;/* index into the check status names table (stats "check_status") */
    uint32_t check_code;  /* last L7 status code of the check */
    uint32_t check_duration_ms;
    uint32_t chk_fail;    /* failed checks */
    uint32_t chk_down;    /* UP->DOWN transitions */
    uint32_t cur_conn;    /* connections to the server from every worker (written by the workers,
                           * atomically: the server's maxconn is one limit for the whole process) */
} fl_srv_state_t;

typedef struct fl_counters {
    uint64_t cur_sess;       /* scur: current sessions of this worker (gauge) */
    uint64_t max_sess;       /* smax: max of cur_sess seen by this worker */
    uint64_t cum_sess;       /* stot */
    uint64_t cum_conn;       /* conn_tot: accepted connections (frontends) */
    uint64_t bytes_in;       /* bin: bytes received from clients (frontend/backend/server view) */
    uint64_t bytes_out;      /* bout: bytes sent to clients */
    uint64_t denied_req;     /* dreq */
    uint64_t denied_resp;    /* dresp */
    uint64_t denied_conn;    /* dcon */
    uint64_t failed_req;     /* ereq */
    uint64_t failed_conns;   /* econ */
    uint64_t failed_resp;    /* eresp */
    uint64_t retries;        /* wretr */
    uint64_t redispatches;   /* wredis */
    uint64_t failed_rewrites;/* wrew */
    uint64_t cum_req;        /* req_tot */
    uint64_t http_rsp[6];    /* hrsp_1xx .. hrsp_5xx, hrsp_other */
    uint64_t cli_aborts;     /* cli_abrt */
    uint64_t srv_aborts;     /* srv_abrt */
    uint64_t cur_queue;      /* qcur (gauge) */
    uint64_t max_queue;      /* qmax */
    uint64_t cum_lbconn;     /* lbtot: times selected by the balancer */
    uint64_t last_sess;      /* unix time (s) of the last session */
    uint64_t connect_new;    /* connect: new server connections */
    uint64_t connect_reuse;  /* reuse: reused idle server connections */
    uint64_t intercepted;    /* intercepted requests (stats page, redirects, returns) */
    uint64_t q_time_sum;     /* ms, with time_samples: averages for qtime/ctime/rtime/ttime */
    uint64_t c_time_sum;
    uint64_t r_time_sum;
    uint64_t t_time_sum;
    uint64_t time_samples;
    uint64_t rsp_time_hist[FL_HIST_BUCKETS];  /* response time (Tr) histogram */
    uint64_t conn_time_hist[FL_HIST_BUCKETS]; /* connect time (Tc) histogram */
    uint64_t q_time_max;     /* ms, highest queue/connect/response/total time seen (qtime_max...) */
    uint64_t c_time_max;
    uint64_t r_time_max;
    uint64_t t_time_max;
} fl_counters_t;

/* Frontend flags (fl_px_state.flags). */
#define FL_PX_F_PAUSED 0x01u /* "disable frontend": the workers stop accepting on its listeners */

/* Per-frontend settings the runtime API may change (written by the master). */
typedef struct fl_px_state {
    uint32_t maxconn;         /* "set maxconn frontend": 0 = unlimited (global maxconn applies) */
    uint32_t flags;           /* FL_PX_F_* */
    uint64_t pad;
} fl_px_state_t;

typedef struct fl_shm_header {
    uint64_t magic;
    uint32_t nb_workers;
    uint32_t nb_servers;      /* server slots, including spares for dynamic servers */
    uint32_t nb_counters;     /* counter slots per worker */
    uint32_t nb_proxies;      /* fl_px_state entries (frontends, by plan index) */
    uint64_t generation;      /* bumped by the master after every server state write */
    uint64_t global_maxconn;  /* runtime "set maxconn global" */
    uint64_t start_time;      /* unix time the master started */
    uint32_t nb_backends;     /* fl_be_info entries (backends, by plan index) */
    uint32_t pad0;
    uint64_t uniq_id;         /* HAProxy's global request/session counter (%rt), every worker adds */
    uint64_t pad1[6];
} fl_shm_header_t;

/* The next process-wide request number (one atomic add; only streams that log or need an id). */
static inline uint64_t fl_shm_next_uniq_id(void *base)
{
    return __atomic_fetch_add(&((fl_shm_header_t *)base)->uniq_id, 1, __ATOMIC_RELAXED);
}

/* fl_srv_info.flags */
#define FL_SRVI_VALID 0x001u     /* the record was written */
#define FL_SRVI_CHECK 0x002u     /* health check configured */
#define FL_SRVI_CHECK_ON 0x004u  /* ... and enabled */
#define FL_SRVI_CHECK_RUN 0x008u /* a health check runs now ("* L4OK") */
#define FL_SRVI_AGENT 0x010u     /* agent check configured */
#define FL_SRVI_AGENT_ON 0x020u  /* ... and enabled */
#define FL_SRVI_OBSERVE 0x040u   /* "observe" set: hanafail is meaningful */
#define FL_SRVI_BACKUP 0x080u
#define FL_SRVI_DYNAMIC 0x100u   /* added at run time */

#define FL_SRVI_NAME_LEN 64
#define FL_SRVI_ADDR_LEN 128
#define FL_SRVI_TEXT_LEN 128

/* Statistics detail of one server slot. Records are rewritten whole by the master under `seq`
 * (odd while a write is in progress); fl_srvi_read() copies one consistently. Strings are
 * NUL-terminated and cut at their size (HAProxy cuts check outputs too). */
typedef struct fl_srv_info {
    uint32_t seq;
    uint32_t flags;         /* FL_SRVI_* */
    uint32_t backend;       /* plan index of the backend */
    uint32_t sid;           /* server id */
    uint32_t order;         /* rank among the backend's servers: configuration order, then additions */
    uint32_t counter_slot;
    int32_t chk_health, chk_rise, chk_fall;
    int32_t chk_status;     /* HCHK_STATUS_* (fastlb/health/status.py) */
    int32_t chk_code;       /* -1: none */
    int32_t chk_duration;   /* ms, -1: none */
    int32_t agt_health, agt_rise, agt_fall;
    int32_t agt_status, agt_code, agt_duration;
    uint32_t hanafail;
    uint32_t slowstart_ms;
    uint64_t last_change_ms; /* unix ms of the last operational change (slowstart throttle) */
    char name[FL_SRVI_NAME_LEN];
    char addr[FL_SRVI_ADDR_LEN];      /* "ip:port", "[ip6]:port", "unix@path" */
    char cookie[FL_SRVI_NAME_LEN];
    char tracked[FL_SRVI_TEXT_LEN];   /* "backend/server" of "track" */
    char last_chk[FL_SRVI_TEXT_LEN];  /* output of the last health check */
    char last_agt[FL_SRVI_TEXT_LEN];  /* output of the last agent check */
} fl_srv_info_t;

/* Statistics detail of one backend (the BACKEND row's transitions). */
typedef struct fl_be_info {
    uint32_t seq;
    uint32_t chkdown;         /* times the backend lost its last usable server */
    uint64_t last_change_ms;  /* unix ms of the last UP/DOWN change of the backend */
    uint64_t down_since_ms;   /* unix ms the backend went DOWN, 0 while UP */
    uint64_t down_time_ms;    /* total time spent DOWN before down_since_ms */
} fl_be_info_t;

/* What each worker publishes about itself (written by that worker only; a cache line each). */
typedef struct fl_worker_state {
    uint64_t cur_conn;        /* connections this worker holds now (HAProxy's actconn is the sum) */
    uint64_t spliced_out;     /* bytes sent from a pipe with splice(), both directions (never reset:
                               * a respawned worker adds to its predecessor's count) */
    uint64_t idle_pct;        /* percent of wall time of the last sample (>= 0.5 s) spent outside the
                               * dispatch rounds, i.e. waiting in the event loop (show info Idle_pct) */
    uint64_t pad[5];
} fl_worker_state_t;

/* A connection slot of a server for one stream: 1 if taken, 0 when the server already has
 * `maxconn` connections across the workers (0 = no limit; the slot is counted all the same). */
static inline int fl_srv_reserve(fl_srv_state_t *s)
{
    uint32_t max = __atomic_load_n(&s->maxconn, __ATOMIC_RELAXED);
    uint32_t n = __atomic_add_fetch(&s->cur_conn, 1, __ATOMIC_ACQ_REL);
    if (max == 0 || n <= max)
        return 1;
    __atomic_sub_fetch(&s->cur_conn, 1, __ATOMIC_ACQ_REL);
    return 0;
}

static inline void fl_srv_unreserve(fl_srv_state_t *s, uint32_t n)
{
    uint32_t cur = __atomic_load_n(&s->cur_conn, __ATOMIC_RELAXED);
    /* never below zero (a worker that died is accounted for by the master, fl_srv_forget) */
    while (cur && !__atomic_compare_exchange_n(&s->cur_conn, &cur, cur > n ? cur - n : 0, 0,
                                               __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        ;
}

static inline uint32_t fl_srv_conns(fl_srv_state_t *s)
{
    return __atomic_load_n(&s->cur_conn, __ATOMIC_RELAXED);
}

/* Segment layout:
 *   header | fl_srv_state[nb_servers] | fl_px_state[nb_proxies] | fl_counters[nb_workers][nb_counters]
 *          | fl_srv_info[nb_servers] | fl_be_info[nb_backends] | fl_worker_state[nb_workers] */
static inline fl_srv_state_t *fl_shm_servers(void *base)
{
    return (fl_srv_state_t *)((char *)base + sizeof(fl_shm_header_t));
}

static inline fl_px_state_t *fl_shm_proxies(void *base)
{
    fl_shm_header_t *h = (fl_shm_header_t *)base;
    return (fl_px_state_t *)(fl_shm_servers(base) + h->nb_servers);
}

static inline fl_counters_t *fl_shm_counters(void *base, uint32_t worker)
{
    fl_shm_header_t *h = (fl_shm_header_t *)base;
    char *p = (char *)(fl_shm_proxies(base) + h->nb_proxies);
    return (fl_counters_t *)p + (uint64_t)worker * h->nb_counters;
}

static inline fl_srv_info_t *fl_shm_srv_info(void *base)
{
    fl_shm_header_t *h = (fl_shm_header_t *)base;
    return (fl_srv_info_t *)(fl_shm_counters(base, h->nb_workers));
}

static inline fl_be_info_t *fl_shm_be_info(void *base)
{
    fl_shm_header_t *h = (fl_shm_header_t *)base;
    return (fl_be_info_t *)(fl_shm_srv_info(base) + h->nb_servers);
}

static inline fl_worker_state_t *fl_shm_workers(void *base)
{
    fl_shm_header_t *h = (fl_shm_header_t *)base;
    return (fl_worker_state_t *)(fl_shm_be_info(base) + h->nb_backends);
}

/* Connections of every worker (HAProxy's process-wide actconn). */
static inline uint64_t fl_shm_total_conn(void *base)
{
    fl_shm_header_t *h = (fl_shm_header_t *)base;
    fl_worker_state_t *w = fl_shm_workers(base);
    uint64_t total = 0;
    for (uint32_t i = 0; i < h->nb_workers; i++)
        total += __atomic_load_n(&w[i].cur_conn, __ATOMIC_RELAXED);
    return total;
}

/* Bytes every worker sent through splice pipes (TotalSplicdedBytesOut). */
static inline uint64_t fl_shm_total_spliced_out(void *base)
{
    fl_shm_header_t *h = (fl_shm_header_t *)base;
    fl_worker_state_t *w = fl_shm_workers(base);
    uint64_t total = 0;
    for (uint32_t i = 0; i < h->nb_workers; i++)
        total += __atomic_load_n(&w[i].spliced_out, __ATOMIC_RELAXED);
    return total;
}

/* Idle percentage averaged over the workers, rounded (HAProxy averages its threads'). */
static inline uint32_t fl_shm_idle_pct(void *base)
{
    fl_shm_header_t *h = (fl_shm_header_t *)base;
    fl_worker_state_t *w = fl_shm_workers(base);
    uint64_t total = 0;
    if (h->nb_workers == 0)
        return 100;
    for (uint32_t i = 0; i < h->nb_workers; i++)
        total += __atomic_load_n(&w[i].idle_pct, __ATOMIC_RELAXED);
    return (uint32_t)((total + h->nb_workers / 2) / h->nb_workers);
}

static inline uint64_t fl_shm_size(uint32_t nb_workers, uint32_t nb_servers, uint32_t nb_proxies,
                                   uint32_t nb_counters, uint32_t nb_backends)
{
    return sizeof(fl_shm_header_t) + (uint64_t)nb_servers * sizeof(fl_srv_state_t) +
           (uint64_t)nb_proxies * sizeof(fl_px_state_t) +
           (uint64_t)nb_workers * nb_counters * sizeof(fl_counters_t) +
           (uint64_t)nb_servers * sizeof(fl_srv_info_t) + (uint64_t)nb_backends * sizeof(fl_be_info_t) +
           (uint64_t)nb_workers * sizeof(fl_worker_state_t);
}

/* Sequence-counter protocol of fl_srv_info / fl_be_info (one writer, the master). */
static inline void fl_seq_write_begin(uint32_t *seq)
{
    __atomic_store_n(seq, *seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void fl_seq_write_end(uint32_t *seq)
{
    __atomic_store_n(seq, *seq + 1, __ATOMIC_RELEASE);
}

/* Copy `size` bytes of a record that starts with its sequence counter; 0 when no stable copy
 * could be taken in a bounded number of tries (the writer died in the middle of a write). */
static inline int fl_seq_read(const void *src, void *dst, unsigned long size)
{
    const uint32_t *seq = (const uint32_t *)src;
    for (int tries = 0; tries < 10000; tries++) {
        uint32_t s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
        if (s1 & 1u)
            continue;
        __builtin_memcpy(dst, src, size);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(seq, __ATOMIC_RELAXED) == s1)
            return 1;
    }
    return 0;
}

#endif /* FL_SHM_H */
