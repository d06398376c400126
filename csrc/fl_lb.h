/* fl_lb.h - server selection, as HAProxy 2.6's backend.c and lb_*.c do it.
 *
 * Life cycle: fl_lb_new() from a backend configuration and its servers; then, per request,
 * fl_lb_pick() with a key, fl_lb_take() when the connection to the chosen server is counted, and
 * fl_lb_release() when it ends. State changes (health checks, runtime API) go through
 * fl_lb_set_usable() and fl_lb_set_weight(); fl_lb_update() advances slowstart ramps and must be
 * called about once a second while fl_lb_in_slowstart() is nonzero.
 *
 * Nothing here allocates or locks on the pick/take/release path; a balancer belongs to one
 * thread (one worker process), as HAProxy's per-backend state under its lock.
 */
#ifndef FL_LB_H
#define FL_LB_H

#include "fl_hash.h"
#include "fl_lb-t.h"

/* Construction. Returns NULL and sets *err (static string) on invalid input. */
fl_lb_t *fl_lb_new(const fl_lb_conf_t *conf, const fl_lb_srv_conf_t *srv, int nsrv, int64_t now,
                   const char **err);
void fl_lb_free(fl_lb_t *lb);

/* Choose a server: its index, or FL_LB_NOSRV / FL_LB_FULL / FL_LB_INTERNAL. <avoid> is the server
 * a redispatched request failed on (-1: none): round-robin style lookups skip it when they can.
 * Hash-based lookups may return a server at its maxconn: HAProxy then queues the request on that
 * server, so the caller must check the server's room itself. */
int fl_lb_pick(fl_lb_t *lb, const fl_lb_key_t *key, int avoid);

/* The hash a key gives for this backend (function, modifier and extraction rules applied).
 * Returns 1 and sets *hash, or 0 when the key is absent (the pick falls back to round robin). */
int fl_lb_key_hash(const fl_lb_t *lb, const fl_lb_key_t *key, uint32_t *hash);

/* Connection accounting (leastconn order, "first", maxconn checks, random draws). */
void fl_lb_take(fl_lb_t *lb, int srv);
void fl_lb_release(fl_lb_t *lb, int srv);
void fl_lb_set_pending(fl_lb_t *lb, int srv, uint32_t pending);

/* Server up/down (health check, maintenance, drain). Going usable starts the slowstart ramp
 * when the server has one and the algorithm is dynamic. Returns 0, or -1 for a bad index. */
int fl_lb_set_usable(fl_lb_t *lb, int srv, int usable, int64_t now);

/* New user weight (0..256), as "set weight": returns 0, -1 for a bad index or weight, -2 when the
 * algorithm is static and the weight is neither 0 nor the configured one (HAProxy refuses it:
 * "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'."). */
int fl_lb_set_weight(fl_lb_t *lb, int srv, uint32_t weight, int64_t now);

/* Advance slowstart ramps to <now> (seconds). Returns the number of servers still ramping. */
int fl_lb_update(fl_lb_t *lb, int64_t now);
int fl_lb_in_slowstart(const fl_lb_t *lb);

/* Seed the generator of "balance random" (it starts from the clock and the balancer's address). */
void fl_lb_seed(fl_lb_t *lb, uint64_t seed);

/* Introspection (stats, tests). */
uint32_t fl_lb_eweight(const fl_lb_t *lb, int srv);        /* effective weight in use */
uint32_t fl_lb_stats_weight(const fl_lb_t *lb, int srv);   /* the stats "weight" column */
int fl_lb_is_usable(const fl_lb_t *lb, int srv);
uint32_t fl_lb_served(const fl_lb_t *lb, int srv);
uint32_t fl_lb_total_weight(const fl_lb_t *lb);            /* tot_weight */
uint32_t fl_lb_stats_total_weight(const fl_lb_t *lb);      /* the backend's stats "weight" */
int fl_lb_algo_is_hash(int algo);

/* Key extraction helpers, exposed for tests and for callers that pre-compute keys. Each returns
 * 1 and the byte range that is hashed, or 0 when there is nothing to hash. */
int fl_lb_uri_path(const char *uri, uint32_t len, const char **path, uint32_t *plen);
int fl_lb_url_param(const char *uri, uint32_t len, const char *name, uint32_t nlen,
                    const char **val, uint32_t *vlen);
int fl_lb_hdr_value(const fl_lb_str_t *hdrs, uint32_t nhdrs, const char **val, uint32_t *vlen);
int fl_lb_domain_only(const char *val, uint32_t len, const char **dom, uint32_t *dlen);
int fl_lb_rdp_cookie(const char *buf, uint32_t len, const char *name, uint32_t nlen,
                     const char **val, uint32_t *vlen);

/* Internal: shared by the lookup modules. */
int fl_lb_srv_willbe_usable(const fl_lb_srv_t *s);
int fl_lb_srv_currently_usable(const fl_lb_srv_t *s);
int fl_lb_srv_status_changed(const fl_lb_srv_t *s);
void fl_lb_srv_commit(fl_lb_srv_t *s);
void fl_lb_recount(fl_lb_t *lb);
void fl_lb_update_backend_weight(fl_lb_t *lb);
int fl_lb_srv_has_room(const fl_lb_t *lb, const fl_lb_srv_t *s);
uint32_t fl_lb_srv_dyn_maxconn(const fl_lb_t *lb, const fl_lb_srv_t *s);
uint64_t fl_lb_random(fl_lb_t *lb);

/* ordered sets (fl_lb_tree.c) */
int fl_lb_tree_init(fl_lb_tree_t *t, uint32_t nsrv); /* room for nsrv servers */
void fl_lb_tree_free(fl_lb_tree_t *t);
void fl_lb_tree_insert(fl_lb_t *lb, fl_lb_tree_t *t, int srv, uint32_t key);
void fl_lb_tree_delete(fl_lb_tree_t *t, fl_lb_srv_t *s);
static inline int fl_lb_tree_first(const fl_lb_tree_t *t)
{
    return t->n ? t->ent[t->head].srv : -1;
}

/* the server at rank k (0 = first) */
static inline int fl_lb_tree_at(const fl_lb_tree_t *t, uint32_t k)
{
    return t->ent[t->head + k].srv;
}

/* lookup modules */
extern const fl_lb_ops_t fl_lb_map_ops;
extern const fl_lb_ops_t fl_lb_chash_ops;
extern const fl_lb_ops_t fl_lb_fwrr_ops;
extern const fl_lb_ops_t fl_lb_fwlc_ops;
extern const fl_lb_ops_t fl_lb_fas_ops;
int fl_lb_chash_random(fl_lb_t *lb, int avoid);

#endif /* FL_LB_H */
