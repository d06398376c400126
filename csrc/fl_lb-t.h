/* fl_lb-t.h - types of the balancer: configuration, server state, lookup structures.
 *
 * The model is HAProxy 2.6's (include/haproxy/backend-t.h, server-t.h, lb_*-t.h): each server has
 * a user weight (0..256) and an effective weight scaled by the algorithm (x16 for the dynamic
 * ones, divided by the weights' GCD for the map-based ones), a "current" state used by the lookup
 * structures and a "next" state being applied, and the backend keeps the totals of usable active
 * and backup weights. Functions are in fl_lb.h.
 */
#ifndef FL_LB_T_H
#define FL_LB_T_H

#include <stdint.h>

/* Weight scales (HAProxy's BE_WEIGHT_SCALE, SRV_UWGHT_*, SRV_EWGHT_*). */
#define FL_LB_WEIGHT_SCALE 16
#define FL_LB_UWGHT_RANGE 256
#define FL_LB_UWGHT_MAX 256
#define FL_LB_EWGHT_RANGE (FL_LB_UWGHT_RANGE * FL_LB_WEIGHT_SCALE)
#define FL_LB_EWGHT_MAX (FL_LB_UWGHT_MAX * FL_LB_WEIGHT_SCALE)

/* Limits. The ring stores (server index << 12 | node index), so 2^20 servers at most; roundrobin
 * positions overflow 32-bit keys past ~4095 active servers (HAProxy documents the same limit). */
#define FL_LB_MAX_SERVERS (1 << 20)
#define FL_LB_NAME_MAX 255 /* url_param / header / rdp cookie name */

/* Return values of fl_lb_pick() besides a server index. */
#define FL_LB_NOSRV (-1)    /* no usable server: HAProxy answers 503 */
#define FL_LB_FULL (-2)     /* usable servers exist but all are saturated: queue in the backend */
#define FL_LB_INTERNAL (-3) /* "balance source" on a client without an IP address */

/* Balance algorithms ("balance <algo>"). */
enum fl_lb_algo {
    FL_LB_ROUNDROBIN = 0,
    FL_LB_STATIC_RR,
    FL_LB_LEASTCONN,
    FL_LB_FIRST,
    FL_LB_SOURCE,
    FL_LB_URI,
    FL_LB_URL_PARAM,
    FL_LB_HDR,
    FL_LB_RANDOM,
    FL_LB_RDP_COOKIE,
    FL_LB_HASH, /* "balance hash <expr>": the caller evaluates the expression */
    FL_LB_ALGO_COUNT
};

/* Lookup structure an algorithm uses (HAProxy's BE_LB_LKUP_*). */
enum fl_lb_lkup {
    FL_LB_LKUP_MAP = 0, /* weight-interleaved array: static-rr, map-based hashes */
    FL_LB_LKUP_CHASH,   /* ring of weight*16 points per server: consistent hashes, random */
    FL_LB_LKUP_FWRR,    /* fast weighted round robin trees */
    FL_LB_LKUP_FWLC,    /* least connections tree */
    FL_LB_LKUP_FAS,     /* "first available server" tree */
};

/* "hash-type <method>" */
enum fl_lb_hash_type {
    FL_LB_HASH_MAP_BASED = 0,
    FL_LB_HASH_CONSISTENT = 1,
};

/* Server operational states (HAProxy's SRV_ST_*). */
enum fl_lb_srv_st {
    FL_LB_ST_STOPPED = 0,
    FL_LB_ST_STARTING = 1, /* up, effective weight still ramping up ("slowstart") */
    FL_LB_ST_RUNNING = 2,
};

/* Backend configuration: "balance", "hash-type", "hash-balance-factor", "option allbackups". */
typedef struct fl_lb_conf {
    int algo;                 /* enum fl_lb_algo */
    int hash_type;            /* enum fl_lb_hash_type (hashing algorithms only) */
    int hash_fn;              /* enum fl_hash_fn */
    int avalanche;            /* apply fl_hash_avalanche() to the key's hash */
    int allbackups;           /* "option allbackups" */
    uint32_t uri_len;         /* "balance uri len N": hash at most N bytes (0: no limit) */
    uint32_t uri_depth;       /* "balance uri depth N": stop at the N+1th slash (0: no limit) */
    int uri_whole;            /* "balance uri whole": do not stop at '?' */
    int uri_path_only;        /* "balance uri path-only": skip scheme and authority */
    const char *name;         /* url_param / hdr / rdp-cookie name (rdp-cookie: NULL = "mstshash") */
    uint32_t name_len;
    int use_domain_only;      /* "balance hdr(<name>) use_domain_only" */
    int random_draws;         /* "balance random(N)" (default 2) */
    uint32_t hash_balance_factor; /* "hash-balance-factor" (0: off), consistent hashing/random */
} fl_lb_conf_t;

/* One server as configured. */
typedef struct fl_lb_srv_conf {
    uint32_t id;        /* HAProxy's puid: "id" keyword, default position (1-based) */
    uint32_t weight;    /* 0..256 */
    uint32_t maxconn;   /* 0: unlimited */
    uint32_t maxqueue;  /* 0: unlimited (leastconn picks a full server while its queue has room) */
    uint32_t slowstart; /* seconds (HAProxy rounds the configured milliseconds up) */
    int backup;
    int usable;         /* initial state: up and not in maintenance */
} fl_lb_srv_conf_t;

/* A key for one pick: whatever the algorithm needs, pointers into the caller's buffers. */
typedef struct fl_lb_str {
    const char *ptr;
    uint32_t len;
} fl_lb_str_t;

typedef struct fl_lb_key {
    const unsigned char *src; /* client address, network byte order */
    uint32_t src_len;         /* 4 (IPv4) or 16 (IPv6); anything else: no IP address */
    const char *uri;          /* request target as in the request line; NULL: not HTTP */
    uint32_t uri_len;
    const fl_lb_str_t *hdrs;  /* hdr(<name>): values of the header's lines, in order (only the
                               * first one matters to HAProxy 2.6; NULL/0: no such header) */
    uint32_t nhdrs;
    const char *payload;      /* rdp-cookie: the bytes received from the client so far */
    uint32_t payload_len;
    const char *sample;       /* hash <expr>: the expression's value as binary; NULL: no value */
    uint32_t sample_len;
} fl_lb_key_t;

/* An ordered set of servers (HAProxy uses ebtrees): entries sorted by key, equal keys in
 * insertion order, which is how ebtrees order duplicates. A few dozen servers is the common case,
 * so a sorted array beats a tree. The entries occupy ent[head .. head+n) of a buffer twice as large
 * as needed: removing the first entry (every roundrobin pick) is O(1), and an insert or delete
 * shifts whichever side of the position is shorter. */
typedef struct fl_lb_tent {
    uint32_t key;
    int32_t srv;
    uint64_t seq;
} fl_lb_tent_t;

typedef struct fl_lb_tree {
    fl_lb_tent_t *ent;
    uint32_t head;
    uint32_t n;
    uint32_t cap;
} fl_lb_tree_t;

/* Tree identifiers a server's node may be in. */
enum fl_lb_tree_id {
    FL_LB_TREE_NONE = -1,
    FL_LB_TREE_CURR = 0, /* fwrr: current positions; fwlc/fas: the only tree */
    FL_LB_TREE_T0 = 1,   /* fwrr: one of the two weight-ordered trees (init / next) */
    FL_LB_TREE_T1 = 2,
};

typedef struct fl_lb_srv {
    /* configuration */
    uint32_t puid;
    uint32_t iweight;
    uint32_t maxconn;
    uint32_t maxqueue;
    uint32_t slowstart;
    uint8_t backup;
    /* state: "cur" is what the lookup structures reflect, "next" what is being applied */
    uint8_t cur_state, next_state;
    uint8_t cur_admin, next_admin; /* nonzero: maintenance/drain, no new traffic */
    uint32_t uweight;
    uint32_t cur_eweight, next_eweight;
    int64_t last_change;          /* seconds, start of the slowstart ramp */
    uint32_t served;              /* connections in progress (fl_lb_take / fl_lb_release) */
    uint32_t pending;             /* requests queued on this server by the caller */
    uint32_t cumulative_weight;   /* sum of the weights of the usable servers before it */
    /* node in an ordered set (fwrr, fwlc, fas) */
    int8_t tree;      /* enum fl_lb_tree_id */
    uint32_t key;
    uint64_t seq;
    /* fwrr */
    int npos, lpos, rweight;
    /* chash: the server owns nodes 0..nodes_now-1 of the ring */
    uint32_t nodes_now;
    /* map */
    int wscore;
} fl_lb_srv_t;

/* fwrr group (active or backup servers). */
typedef struct fl_lb_fwrr_grp {
    fl_lb_tree_t curr;    /* servers sorted by next position in the current window */
    fl_lb_tree_t t[2];    /* t[init]: not yet placed; t[next]: for the next window */
    int init, next;       /* 0/1 index into t[] */
    int curr_pos;
    int curr_weight;
    int next_weight;
} fl_lb_fwrr_grp_t;

/* consistent-hash ring point: key = fl_hash_avalanche(puid * 4096 + node) */
typedef struct fl_lb_ring_ent {
    uint32_t key;
    uint32_t ref; /* server index << 12 | node index */
} fl_lb_ring_ent_t;

#define FL_LB_RING_BUCKET_BITS 8

typedef struct fl_lb_ring {
    fl_lb_ring_ent_t *ent;
    uint32_t n;
    uint32_t cap;
    /* bucket[b]: index of the first point whose position's top 8 bits are >= b, so a lookup
     * only searches the few points of one bucket (about n/256) */
    uint32_t bucket[(1u << FL_LB_RING_BUCKET_BITS) + 1];
} fl_lb_ring_t;

struct fl_lb_ops;

typedef struct fl_lb {
    fl_lb_conf_t conf;
    char name[FL_LB_NAME_MAX + 1];
    int lkup;                 /* enum fl_lb_lkup */
    const struct fl_lb_ops *ops;
    int dynamic;              /* weights may change at run time (HAProxy's BE_LB_PROP_DYN) */
    uint32_t wmult, wdiv;     /* effective weight = ceil(uweight * wdiv / wmult) */
    int nsrv;
    fl_lb_srv_t *srv;
    /* totals over usable servers ("next" values), as HAProxy's proxy/lbprm */
    int srv_act, srv_bck;
    uint32_t tot_wact, tot_wbck;
    uint32_t tot_weight, tot_used;
    int fbck;                 /* first usable backup when not "allbackups", else -1 */
    uint32_t total_served;
    int64_t now;              /* seconds, last time given to fl_lb_update() */
    uint64_t seq;             /* insertion counter for the ordered sets */
    uint64_t rnd;             /* xorshift64* state for "random" */
    /* map */
    int32_t *map;
    uint32_t map_cap;
    int32_t rr_idx;
    /* chash */
    fl_lb_ring_t ring[2];     /* [0]: active servers, [1]: backup servers */
    int last_ring;            /* ring of the fallback round-robin cursor, -1: none */
    uint32_t last_key;
    /* fwrr */
    fl_lb_fwrr_grp_t grp[2];  /* [0]: active, [1]: backup */
    /* fwlc / fas */
    fl_lb_tree_t lc[2];       /* [0]: active, [1]: backup */
    /* scratch for fwrr's saturated-server list */
    int32_t *scratch;
} fl_lb_t;

/* One lookup structure (HAProxy's lbprm callbacks). */
typedef struct fl_lb_ops {
    int (*init)(fl_lb_t *lb);
    void (*deinit)(fl_lb_t *lb);
    void (*srv_up)(fl_lb_t *lb, int s);
    void (*srv_down)(fl_lb_t *lb, int s);
    void (*srv_weight)(fl_lb_t *lb, int s); /* NULL: up/down applies the new weight */
    void (*srv_load)(fl_lb_t *lb, int s);   /* served count changed; NULL: nothing to do */
    int (*next)(fl_lb_t *lb, int avoid);    /* pick without a key; -1 when none */
    int (*by_hash)(fl_lb_t *lb, uint32_t hash, int avoid); /* map / chash only */
} fl_lb_ops_t;

#endif /* FL_LB_T_H */
