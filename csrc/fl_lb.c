/* fl_lb.c - balancer construction, server state changes and the pick dispatch (HAProxy 2.6's
 * assign_server(), recount_servers(), update_backend_weight(), server_recalc_eweight()). The
 * lookup structures live in fl_lb_map.c, fl_lb_chash.c, fl_lb_fwrr.c and fl_lb_fwlc.c (leastconn
 * and first), behind the fl_lb_ops_t callback table, the key extraction in fl_lb_key.c.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fl_lb.h"

int fl_lb_algo_is_hash(int algo)
{
    switch (algo) {
    case FL_LB_SOURCE:
    case FL_LB_URI:
    case FL_LB_URL_PARAM:
    case FL_LB_HDR:
    case FL_LB_RDP_COOKIE:
    case FL_LB_HASH:
        return 1;
    default:
        return 0;
    }
}

/* Which lookup structure an algorithm uses, and whether its weights are dynamic. */
static int fl_lb_lookup_for(const fl_lb_conf_t *c, int *dynamic)
{
    *dynamic = 1;
    switch (c->algo) {
    case FL_LB_ROUNDROBIN:
        return FL_LB_LKUP_FWRR;
    case FL_LB_STATIC_RR:
        *dynamic = 0;
        return FL_LB_LKUP_MAP;
    case FL_LB_LEASTCONN:
        return FL_LB_LKUP_FWLC;
    case FL_LB_FIRST:
        return FL_LB_LKUP_FAS;
    case FL_LB_RANDOM:
        return FL_LB_LKUP_CHASH;
    default:
        if (c->hash_type == FL_LB_HASH_CONSISTENT)
            return FL_LB_LKUP_CHASH;
        *dynamic = 0;
        return FL_LB_LKUP_MAP;
    }
}

static const fl_lb_ops_t *fl_lb_ops_for(int lkup)
{
    switch (lkup) {
    case FL_LB_LKUP_MAP:
        return &fl_lb_map_ops;
    case FL_LB_LKUP_CHASH:
        return &fl_lb_chash_ops;
    case FL_LB_LKUP_FWRR:
        return &fl_lb_fwrr_ops;
    case FL_LB_LKUP_FWLC:
        return &fl_lb_fwlc_ops;
    default:
        return &fl_lb_fas_ops;
    }
}

fl_lb_t *fl_lb_new(const fl_lb_conf_t *conf, const fl_lb_srv_conf_t *sc, int nsrv, int64_t now,
                   const char **err)
{
    fl_lb_t *lb;
    const char *e = NULL;

    if (conf->algo < 0 || conf->algo >= FL_LB_ALGO_COUNT)
        e = "unknown balance algorithm";
    else if (nsrv < 0 || nsrv > FL_LB_MAX_SERVERS)
        e = "too many servers";
    else if (conf->hash_fn < FL_HASH_SDBM || conf->hash_fn > FL_HASH_CRC32)
        e = "unknown hash function";
    else if (conf->name_len > FL_LB_NAME_MAX || (conf->name_len && !conf->name))
        e = "parameter name too long";
    else if ((conf->algo == FL_LB_URL_PARAM || conf->algo == FL_LB_HDR) && !conf->name_len)
        e = "url_param and hdr need a name";
    else if (conf->random_draws < 0)
        e = "random draws must be positive";
    for (int i = 0; !e && i < nsrv; i++) {
        if (sc[i].weight > FL_LB_UWGHT_MAX)
            e = "server weight above 256";
        for (int j = 0; !e && j < i; j++)
            if (sc[j].id == sc[i].id)
                e = "duplicate server id";
    }
    if (e) {
        if (err)
            *err = e;
        return NULL;
    }

    lb = calloc(1, sizeof(*lb));
    if (!lb)
        goto oom;
    lb->conf = *conf;
    if (conf->name_len)
        memcpy(lb->name, conf->name, conf->name_len);
    lb->conf.name = lb->name;
    if (lb->conf.algo == FL_LB_RDP_COOKIE && !lb->conf.name_len) {
        strcpy(lb->name, "mstshash");
        lb->conf.name_len = 8;
    }
    if (lb->conf.algo == FL_LB_RANDOM && lb->conf.random_draws == 0)
        lb->conf.random_draws = 2;
    lb->lkup = fl_lb_lookup_for(&lb->conf, &lb->dynamic);
    lb->ops = fl_lb_ops_for(lb->lkup);
    lb->wmult = lb->wdiv = 1;
    lb->nsrv = nsrv;
    lb->now = now;
    lb->fbck = -1;
    lb->last_ring = -1;
    lb->rnd = 0x9e3779b97f4a7c15ull ^ (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)lb << 16);
    lb->srv = calloc(nsrv ? nsrv : 1, sizeof(*lb->srv));
    lb->scratch = calloc(nsrv ? nsrv : 1, sizeof(*lb->scratch));
    if (!lb->srv || !lb->scratch)
        goto oom;
    for (int i = 0; i < nsrv; i++) {
        fl_lb_srv_t *s = &lb->srv[i];

        s->puid = sc[i].id;
        s->iweight = s->uweight = sc[i].weight;
        s->maxconn = sc[i].maxconn;
        s->maxqueue = sc[i].maxqueue;
        s->slowstart = sc[i].slowstart;
        s->backup = sc[i].backup ? 1 : 0;
        s->cur_state = s->next_state = sc[i].usable ? FL_LB_ST_RUNNING : FL_LB_ST_STOPPED;
        s->last_change = now;
        s->tree = FL_LB_TREE_NONE;
    }
    if (lb->ops->init(lb) < 0)
        goto oom;
    return lb;
oom:
    if (lb && lb->ops)
        lb->ops->deinit(lb);
    if (lb) {
        free(lb->srv);
        free(lb->scratch);
        free(lb);
    }
    if (err)
        *err = "out of memory";
    return NULL;
}

void fl_lb_free(fl_lb_t *lb)
{
    if (!lb)
        return;
    lb->ops->deinit(lb);
    free(lb->srv);
    free(lb->scratch);
    free(lb);
}

/* ---- server state ---- */

int fl_lb_srv_willbe_usable(const fl_lb_srv_t *s)
{
    return s->next_eweight && !s->next_admin &&
           (s->next_state == FL_LB_ST_STARTING || s->next_state == FL_LB_ST_RUNNING);
}

int fl_lb_srv_currently_usable(const fl_lb_srv_t *s)
{
    return s->cur_eweight && !s->cur_admin &&
           (s->cur_state == FL_LB_ST_STARTING || s->cur_state == FL_LB_ST_RUNNING);
}

int fl_lb_srv_status_changed(const fl_lb_srv_t *s)
{
    return s->cur_eweight != s->next_eweight || s->cur_state != s->next_state ||
           s->cur_admin != s->next_admin;
}

void fl_lb_srv_commit(fl_lb_srv_t *s)
{
    s->cur_eweight = s->next_eweight;
    s->cur_state = s->next_state;
    s->cur_admin = s->next_admin;
}

/* Counts of usable servers and sums of their weights ("next" values), first usable backup. */
void fl_lb_recount(fl_lb_t *lb)
{
    lb->srv_act = lb->srv_bck = 0;
    lb->tot_wact = lb->tot_wbck = 0;
    lb->fbck = -1;
    for (int i = 0; i < lb->nsrv; i++) {
        fl_lb_srv_t *s = &lb->srv[i];

        if (!fl_lb_srv_willbe_usable(s))
            continue;
        if (s->backup) {
            if (!lb->srv_bck && !lb->conf.allbackups)
                lb->fbck = i;
            lb->srv_bck++;
            s->cumulative_weight = lb->tot_wbck;
            lb->tot_wbck += s->next_eweight;
        } else {
            lb->srv_act++;
            s->cumulative_weight = lb->tot_wact;
            lb->tot_wact += s->next_eweight;
        }
    }
}

/* The weight the backend balances over: active servers, else the first backup alone, else all
 * backups ("option allbackups"). */
void fl_lb_update_backend_weight(fl_lb_t *lb)
{
    if (lb->srv_act) {
        lb->tot_weight = lb->tot_wact;
        lb->tot_used = lb->srv_act;
    } else if (lb->fbck >= 0) {
        lb->tot_weight = lb->srv[lb->fbck].next_eweight;
        lb->tot_used = 1;
    } else {
        lb->tot_weight = lb->tot_wbck;
        lb->tot_used = lb->srv_bck;
    }
}

/* Effective weight for the current time: during slowstart it grows from 1/16 of the weight to
 * the full weight in 16 steps (dynamic algorithms only); at the end the server is RUNNING. */
static void fl_lb_recalc_eweight(fl_lb_t *lb, fl_lb_srv_t *s, int64_t now)
{
    uint32_t w;

    if (now < s->last_change || now >= s->last_change + (int64_t)s->slowstart) {
        if (s->next_state == FL_LB_ST_STARTING)
            s->next_state = FL_LB_ST_RUNNING;
    }
    if (s->next_state == FL_LB_ST_STARTING && lb->dynamic)
        w = (uint32_t)((lb->wdiv * (uint64_t)(now - s->last_change) + s->slowstart) / s->slowstart);
    else
        w = lb->wdiv;
    s->next_eweight = (s->uweight * w + lb->wmult - 1) / lb->wmult;
}

/* Apply a server's next state to the lookup structures (HAProxy's srv_update_status()). */
static void fl_lb_propagate(fl_lb_t *lb, int i)
{
    fl_lb_srv_t *s = &lb->srv[i];
    int was, will;

    if (!fl_lb_srv_status_changed(s))
        return;
    was = fl_lb_srv_currently_usable(s);
    will = fl_lb_srv_willbe_usable(s);
    if (was != will) {
        if (will)
            lb->ops->srv_up(lb, i);
        else
            lb->ops->srv_down(lb, i);
    } else if (will && s->cur_eweight != s->next_eweight) {
        if (lb->ops->srv_weight)
            lb->ops->srv_weight(lb, i);
        else
            lb->ops->srv_up(lb, i);
    }
    fl_lb_srv_commit(s);
}

int fl_lb_set_usable(fl_lb_t *lb, int srv, int usable, int64_t now)
{
    fl_lb_srv_t *s;

    if (srv < 0 || srv >= lb->nsrv)
        return -1;
    s = &lb->srv[srv];
    lb->now = now;
    if (usable) {
        if (s->next_state == FL_LB_ST_STOPPED || s->next_admin) {
            s->next_admin = 0;
            s->next_state = s->slowstart ? FL_LB_ST_STARTING : FL_LB_ST_RUNNING;
            s->last_change = now;
        }
    } else if (s->next_state != FL_LB_ST_STOPPED) {
        s->next_state = FL_LB_ST_STOPPED;
        s->last_change = now;
    }
    fl_lb_recalc_eweight(lb, s, now);
    fl_lb_propagate(lb, srv);
    return 0;
}

int fl_lb_set_weight(fl_lb_t *lb, int srv, uint32_t weight, int64_t now)
{
    fl_lb_srv_t *s;

    if (srv < 0 || srv >= lb->nsrv || weight > FL_LB_UWGHT_MAX)
        return -1;
    s = &lb->srv[srv];
    if (weight && weight != s->iweight && !lb->dynamic)
        return -2;
    lb->now = now;
    s->uweight = weight;
    fl_lb_recalc_eweight(lb, s, now);
    fl_lb_propagate(lb, srv);
    return 0;
}

int fl_lb_update(fl_lb_t *lb, int64_t now)
{
    int ramping = 0;

    lb->now = now;
    for (int i = 0; i < lb->nsrv; i++) {
        fl_lb_srv_t *s = &lb->srv[i];

        if (s->next_state != FL_LB_ST_STARTING)
            continue;
        fl_lb_recalc_eweight(lb, s, now);
        fl_lb_propagate(lb, i);
        ramping += s->next_state == FL_LB_ST_STARTING;
    }
    return ramping;
}

int fl_lb_in_slowstart(const fl_lb_t *lb)
{
    int n = 0;

    for (int i = 0; i < lb->nsrv; i++)
        n += lb->srv[i].next_state == FL_LB_ST_STARTING;
    return n;
}

/* ---- load ---- */

/* maxconn, ramped from 1 to 100% during slowstart (HAProxy's srv_dynamic_maxconn() without
 * minconn/fullconn). */
uint32_t fl_lb_srv_dyn_maxconn(const fl_lb_t *lb, const fl_lb_srv_t *s)
{
    uint32_t max = s->maxconn;

    if (s->cur_state == FL_LB_ST_STARTING && lb->now >= s->last_change &&
        lb->now < s->last_change + (int64_t)s->slowstart) {
        uint32_t ratio = (uint32_t)(100 * (lb->now - s->last_change) / s->slowstart);

        max = max * ratio / 100;
        if (max < 1)
            max = 1;
    }
    return max;
}

int fl_lb_srv_has_room(const fl_lb_t *lb, const fl_lb_srv_t *s)
{
    return !s->maxconn || (!s->pending && s->served < fl_lb_srv_dyn_maxconn(lb, s));
}

void fl_lb_take(fl_lb_t *lb, int srv)
{
    if (srv < 0 || srv >= lb->nsrv)
        return;
    lb->srv[srv].served++;
    lb->total_served++;
    if (lb->ops->srv_load)
        lb->ops->srv_load(lb, srv);
}

void fl_lb_release(fl_lb_t *lb, int srv)
{
    if (srv < 0 || srv >= lb->nsrv || !lb->srv[srv].served)
        return;
    lb->srv[srv].served--;
    lb->total_served--;
    if (lb->ops->srv_load)
        lb->ops->srv_load(lb, srv);
}

void fl_lb_set_pending(fl_lb_t *lb, int srv, uint32_t pending)
{
    if (srv < 0 || srv >= lb->nsrv || lb->srv[srv].pending == pending)
        return;
    lb->srv[srv].pending = pending;
    if (lb->ops->srv_load)
        lb->ops->srv_load(lb, srv);
}

/* xorshift64*: only "balance random" uses it; quality is ample, cost is a few cycles. */
uint64_t fl_lb_random(fl_lb_t *lb)
{
    uint64_t x = lb->rnd;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    lb->rnd = x;
    return x * 0x2545f4914f6cdd1dull;
}

void fl_lb_seed(fl_lb_t *lb, uint64_t seed)
{
    lb->rnd = seed ? seed : 0x9e3779b97f4a7c15ull; /* xorshift must not start at 0 */
}

/* ---- pick ---- */

int fl_lb_pick(fl_lb_t *lb, const fl_lb_key_t *key, int avoid)
{
    uint32_t hash;
    int r;

    if (avoid < 0 || avoid >= lb->nsrv)
        avoid = -1;
    if (!lb->tot_weight)
        return FL_LB_NOSRV;
    switch (lb->conf.algo) {
    case FL_LB_ROUNDROBIN:
    case FL_LB_LEASTCONN:
    case FL_LB_FIRST:
    case FL_LB_STATIC_RR:
        r = lb->ops->next(lb, avoid);
        break;
    case FL_LB_RANDOM:
        r = fl_lb_chash_random(lb, avoid);
        break;
    default:
        if (lb->conf.algo == FL_LB_SOURCE && (!key || !key->src || (key->src_len != 4 && key->src_len != 16)))
            return FL_LB_INTERNAL;
        r = -1;
        if (key && fl_lb_key_hash(lb, key, &hash))
            r = lb->ops->by_hash(lb, hash, avoid);
        if (r < 0) /* no key: round robin over the same structure */
            r = lb->ops->next(lb, avoid);
        break;
    }
    return r < 0 ? FL_LB_FULL : r;
}

/* ---- introspection ---- */

uint32_t fl_lb_eweight(const fl_lb_t *lb, int srv)
{
    return (srv >= 0 && srv < lb->nsrv) ? lb->srv[srv].cur_eweight : 0;
}

uint32_t fl_lb_stats_weight(const fl_lb_t *lb, int srv)
{
    if (srv < 0 || srv >= lb->nsrv)
        return 0;
    return (lb->srv[srv].cur_eweight * lb->wmult + lb->wdiv - 1) / lb->wdiv;
}

int fl_lb_is_usable(const fl_lb_t *lb, int srv)
{
    return (srv >= 0 && srv < lb->nsrv) ? fl_lb_srv_currently_usable(&lb->srv[srv]) : 0;
}

uint32_t fl_lb_served(const fl_lb_t *lb, int srv)
{
    return (srv >= 0 && srv < lb->nsrv) ? lb->srv[srv].served : 0;
}

uint32_t fl_lb_total_weight(const fl_lb_t *lb)
{
    return lb->tot_weight;
}

uint32_t fl_lb_stats_total_weight(const fl_lb_t *lb)
{
    return (uint32_t)(((uint64_t)lb->tot_weight * lb->wmult + lb->wdiv - 1) / lb->wdiv);
}
