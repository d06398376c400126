/* fl_lb_chash.c - consistent hashing (HAProxy's lb_chash.c): "hash-type consistent" and "balance
 * random".
 *
 * Each usable server owns eweight points on a 32-bit ring (eweight = weight x 16), point n of the
 * server with id P sitting at fl_hash_avalanche(P * 4096 + n). A hash goes to the server of the
 * closest point, the one before it on a tie; removing a server only moves the keys that were
 * closest to its points. Active and backup servers have separate rings.
 *
 * The ring is a sorted array of (position, server << 12 | point): lookups are binary searches;
 * weight and state changes rebuild it by filtering and merging (control-plane cost, O(points)).
 * Since positions come from a bijection of distinct inputs, no two points share a position.
 *
 * The round-robin fallback (hash key absent) walks the ring from the point after the last one it
 * used, as HAProxy's chash_get_next_server(); when that point is removed the cursor moves to the
 * next remaining point, as chash_skip_node() does.
 */
#include <stdlib.h>
#include <string.h>

#include "fl_lb.h"

#define FL_LB_RING_REF(srv, node) (((uint32_t)(srv) << 12) | (uint32_t)(node))
#define FL_LB_RING_SRV(ref) ((int)((ref) >> 12))
#define FL_LB_RING_NODE(ref) ((ref) & 0xfffu)

static inline uint32_t fl_lb_chash_point(const fl_lb_srv_t *s, uint32_t node)
{
    return fl_hash_avalanche(s->puid * FL_LB_EWGHT_RANGE + node);
}

static inline fl_lb_ring_t *fl_lb_chash_ring_of(fl_lb_t *lb, const fl_lb_srv_t *s)
{
    return &lb->ring[s->backup ? 1 : 0];
}

/* first index with key >= k: a binary search within k's bucket */
static uint32_t fl_lb_ring_lower(const fl_lb_ring_t *r, uint32_t k)
{
    uint32_t b = k >> (32 - FL_LB_RING_BUCKET_BITS);
    uint32_t lo = r->bucket[b], hi = r->bucket[b + 1];

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (r->ent[mid].key < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Rebuild the bucket index after the ring changed. */
static void fl_lb_ring_index(fl_lb_ring_t *r)
{
    uint32_t i = 0;

    for (uint32_t b = 0; b < (1u << FL_LB_RING_BUCKET_BITS); b++) {
        while (i < r->n && (r->ent[i].key >> (32 - FL_LB_RING_BUCKET_BITS)) < b)
            i++;
        r->bucket[b] = i;
    }
    r->bucket[1u << FL_LB_RING_BUCKET_BITS] = r->n;
}

static int fl_lb_ring_reserve(fl_lb_ring_t *r, uint32_t want)
{
    fl_lb_ring_ent_t *e;
    uint32_t cap = r->cap ? r->cap : 64;

    if (want <= r->cap)
        return 0;
    while (cap < want)
        cap *= 2;
    e = realloc(r->ent, (size_t)cap * sizeof(*e));
    if (!e)
        return -1;
    r->ent = e;
    r->cap = cap;
    return 0;
}

static int fl_lb_ring_cmp(const void *a, const void *b)
{
    uint32_t x = ((const fl_lb_ring_ent_t *)a)->key, y = ((const fl_lb_ring_ent_t *)b)->key;

    return x < y ? -1 : x > y;
}

/* Set server <i>'s number of points to its next effective weight (HAProxy's
 * chash_queue_dequeue_srv()); <target> 0 takes it off the ring. */
static void fl_lb_chash_set_points(fl_lb_t *lb, int i, uint32_t target)
{
    fl_lb_srv_t *s = &lb->srv[i];
    fl_lb_ring_t *r = fl_lb_chash_ring_of(lb, s);
    int ring_id = s->backup ? 1 : 0;

    if (target > FL_LB_EWGHT_RANGE)
        target = FL_LB_EWGHT_RANGE;
    if (s->nodes_now > target) {
        uint32_t w = 0;
        int moved = 0;

        /* the cursor of the fallback round robin leaves a removed point for the next one kept */
        if (lb->last_ring == ring_id && r->n) {
            uint32_t at = fl_lb_ring_lower(r, lb->last_key);

            if (at < r->n && r->ent[at].key == lb->last_key) {
                uint32_t ref = r->ent[at].ref;

                if (FL_LB_RING_SRV(ref) == i && FL_LB_RING_NODE(ref) >= target) {
                    for (uint32_t k = 1; k < r->n; k++) {
                        uint32_t nref = r->ent[(at + k) % r->n].ref;

                        if (!(FL_LB_RING_SRV(nref) == i && FL_LB_RING_NODE(nref) >= target)) {
                            lb->last_key = r->ent[(at + k) % r->n].key;
                            moved = 1;
                            break;
                        }
                    }
                    if (!moved)
                        lb->last_ring = -1;
                }
            }
        }
        for (uint32_t k = 0; k < r->n; k++) {
            uint32_t ref = r->ent[k].ref;

            if (FL_LB_RING_SRV(ref) == i && FL_LB_RING_NODE(ref) >= target)
                continue;
            r->ent[w++] = r->ent[k];
        }
        r->n = w;
        s->nodes_now = target;
        fl_lb_ring_index(r);
    } else if (s->nodes_now < target) {
        uint32_t add = target - s->nodes_now, old_n = r->n;
        fl_lb_ring_ent_t *tmp;

        if (fl_lb_ring_reserve(r, r->n + add) < 0)
            return; /* out of memory: keep the server at its current number of points */
        tmp = malloc((size_t)add * sizeof(*tmp));
        if (!tmp)
            return;
        for (uint32_t k = 0; k < add; k++) {
            tmp[k].key = fl_lb_chash_point(s, s->nodes_now + k);
            tmp[k].ref = FL_LB_RING_REF(i, s->nodes_now + k);
        }
        qsort(tmp, add, sizeof(*tmp), fl_lb_ring_cmp);
        /* merge from the end */
        {
            int64_t a = (int64_t)old_n - 1, b = (int64_t)add - 1, o = (int64_t)old_n + add - 1;

            while (b >= 0) {
                if (a >= 0 && r->ent[a].key > tmp[b].key)
                    r->ent[o--] = r->ent[a--];
                else
                    r->ent[o--] = tmp[b--];
            }
        }
        free(tmp);
        r->n = old_n + add;
        s->nodes_now = target;
        fl_lb_ring_index(r);
    }
}

static void fl_lb_chash_down(fl_lb_t *lb, int i)
{
    fl_lb_srv_t *s = &lb->srv[i];

    if (!fl_lb_srv_status_changed(s) || fl_lb_srv_willbe_usable(s))
        return;
    fl_lb_recount(lb);
    fl_lb_update_backend_weight(lb);
    fl_lb_chash_set_points(lb, i, 0);
}

static void fl_lb_chash_up(fl_lb_t *lb, int i)
{
    fl_lb_srv_t *s = &lb->srv[i];

    if (!fl_lb_srv_status_changed(s) || !fl_lb_srv_willbe_usable(s))
        return;
    fl_lb_recount(lb);
    fl_lb_update_backend_weight(lb);
    fl_lb_chash_set_points(lb, i, s->next_eweight);
}

static void fl_lb_chash_weight(fl_lb_t *lb, int i)
{
    fl_lb_srv_t *s = &lb->srv[i];

    fl_lb_chash_set_points(lb, i, s->next_eweight);
    fl_lb_recount(lb);
    fl_lb_update_backend_weight(lb);
}

static int fl_lb_chash_init(fl_lb_t *lb)
{
    lb->wdiv = FL_LB_WEIGHT_SCALE;
    for (int i = 0; i < lb->nsrv; i++) {
        fl_lb_srv_t *s = &lb->srv[i];

        s->next_eweight = (s->uweight * lb->wdiv + lb->wmult - 1) / lb->wmult;
        fl_lb_srv_commit(s);
    }
    fl_lb_recount(lb);
    fl_lb_update_backend_weight(lb);
    for (int i = 0; i < lb->nsrv; i++) {
        if (fl_lb_srv_currently_usable(&lb->srv[i]))
            fl_lb_chash_set_points(lb, i, lb->srv[i].next_eweight);
    }
    return 0;
}

static void fl_lb_chash_deinit(fl_lb_t *lb)
{
    for (int k = 0; k < 2; k++) {
        free(lb->ring[k].ent);
        lb->ring[k].ent = NULL;
        lb->ring[k].n = lb->ring[k].cap = 0;
        fl_lb_ring_index(&lb->ring[k]);
    }
}

/* The ring the backend uses now: 0 (active), 1 (backup), -2 (the first backup alone), -1 none. */
static int fl_lb_chash_which(const fl_lb_t *lb)
{
    if (lb->srv_act)
        return 0;
    if (lb->fbck >= 0)
        return -2;
    if (lb->srv_bck)
        return 1;
    return -1;
}

/* Bounded loads ("hash-balance-factor"): may server <s> take one more connection? */
static int fl_lb_chash_eligible(const fl_lb_t *lb, const fl_lb_srv_t *s)
{
    uint32_t tot_slots = ((lb->total_served + 1) * lb->conf.hash_balance_factor + 99) / 100;
    uint32_t per_weight = tot_slots / lb->tot_weight;
    uint32_t remainder = tot_slots % lb->tot_weight;
    uint32_t slots = s->cur_eweight * per_weight;

    slots += ((s->cumulative_weight + s->cur_eweight) * remainder) / lb->tot_weight -
             (s->cumulative_weight * remainder) / lb->tot_weight;
    if (!slots)
        slots = 1;
    return s->served < slots;
}

static int fl_lb_chash_by_hash(fl_lb_t *lb, uint32_t hash, int avoid)
{
    int which = fl_lb_chash_which(lb);
    const fl_lb_ring_t *r;
    uint32_t nx, pv;
    int srv, loop = 0;

    if (which == -2)
        return lb->fbck;
    if (which < 0)
        return -1;
    r = &lb->ring[which];
    if (!r->n)
        return -1;
    nx = fl_lb_ring_lower(r, hash);
    if (nx == r->n)
        nx = 0;
    pv = nx ? nx - 1 : r->n - 1;
    /* closest point, the previous one on a tie (distances wrap around the ring) */
    if (hash - r->ent[pv].key <= r->ent[nx].key - hash)
        nx = pv;
    srv = FL_LB_RING_SRV(r->ent[nx].ref);
    while (srv == avoid || (lb->conf.hash_balance_factor && !fl_lb_chash_eligible(lb, &lb->srv[srv]))) {
        nx++;
        if (nx == r->n) {
            nx = 0;
            if (++loop > 1)
                break;
        }
        srv = FL_LB_RING_SRV(r->ent[nx].ref);
    }
    return srv;
}

/* Round robin over the ring's points: "balance <hash>" without a key on a consistent backend. */
static int fl_lb_chash_next(fl_lb_t *lb, int avoid)
{
    int which = fl_lb_chash_which(lb);
    const fl_lb_ring_t *r;
    int64_t node = -1, stop = -1, avoided_node = -1;
    int avoided = -1;

    if (which == -2)
        return lb->fbck;
    if (which < 0)
        return -1;
    r = &lb->ring[which];
    if (lb->last_ring == which && r->n) {
        uint32_t at = fl_lb_ring_lower(r, lb->last_key);

        if (at < r->n && r->ent[at].key == lb->last_key)
            node = stop = at;
    }
    do {
        const fl_lb_srv_t *s;

        node = (node < 0) ? 0 : node + 1;
        if (node >= r->n)
            node = 0;
        if (!r->n) {
            lb->last_ring = -1;
            return -1;
        }
        lb->last_ring = which;
        lb->last_key = r->ent[node].key;
        if (stop < 0)
            stop = node;
        s = &lb->srv[FL_LB_RING_SRV(r->ent[node].ref)];
        if (fl_lb_srv_has_room(lb, s)) {
            if (FL_LB_RING_SRV(r->ent[node].ref) != avoid)
                return FL_LB_RING_SRV(r->ent[node].ref);
            avoided = avoid;
            avoided_node = node;
        }
    } while (node != stop);
    if (avoided >= 0)
        lb->last_key = r->ent[avoided_node].key;
    return avoided;
}

/* "balance random(draws)": <draws> random positions on the ring, keep the least loaded server
 * relative to its weight; a saturated result means "queue in the backend" (-1). */
int fl_lb_chash_random(fl_lb_t *lb, int avoid)
{
    int draws = lb->conf.random_draws > 0 ? lb->conf.random_draws : 1;
    int prev, curr = -1;

    do {
        prev = curr;
        curr = fl_lb_chash_by_hash(lb, (uint32_t)(fl_lb_random(lb) >> 32), avoid);
        if (curr < 0)
            break;
        if (prev >= 0 && prev != curr &&
            (uint64_t)lb->srv[curr].served * lb->srv[prev].cur_eweight >
                (uint64_t)lb->srv[prev].served * lb->srv[curr].cur_eweight)
            curr = prev;
    } while (--draws > 0);
    if (curr >= 0) {
        const fl_lb_srv_t *s = &lb->srv[curr];

        if (s->pending || (s->maxconn && s->served >= fl_lb_srv_dyn_maxconn(lb, s)))
            curr = -1;
    }
    return curr;
}

const fl_lb_ops_t fl_lb_chash_ops = {
    .init = fl_lb_chash_init,
    .deinit = fl_lb_chash_deinit,
    .srv_up = fl_lb_chash_up,
    .srv_down = fl_lb_chash_down,
    .srv_weight = fl_lb_chash_weight,
    .srv_load = NULL,
    .next = fl_lb_chash_next,
    .by_hash = fl_lb_chash_by_hash,
};
