/* fl_lb_tree.c - ordered sets of servers, keyed by a 32-bit integer, equal keys kept in insertion
 * order (the order ebtrees give duplicates, which roundrobin and leastconn depend on).
 *
 * A sorted array: lookups of the first element are O(1), inserts and deletes O(n) memmoves of
 * 16-byte entries. With the few dozen servers of a typical backend this is faster than a tree and
 * needs no allocation after construction (capacity = number of servers).
 */
#include <stdlib.h>
#include <string.h>

#include "fl_lb.h"

int fl_lb_tree_init(fl_lb_tree_t *t, uint32_t cap)
{
    t->n = 0;
    t->cap = cap ? cap : 1;
    t->ent = calloc(t->cap, sizeof(*t->ent));
    return t->ent ? 0 : -1;
}

void fl_lb_tree_free(fl_lb_tree_t *t)
{
    free(t->ent);
    t->ent = NULL;
    t->n = t->cap = 0;
}

/* first index whose entry sorts after (key, seq) */
static uint32_t fl_lb_tree_upper(const fl_lb_tree_t *t, uint32_t key, uint64_t seq)
{
    uint32_t lo = 0, hi = t->n;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const fl_lb_tent_t *e = &t->ent[mid];

        if (e->key < key || (e->key == key && e->seq <= seq))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Insert server <srv> with <key> after every entry of an equal key. A server is in at most one
 * set at a time and each set can hold every server, so the capacity is never exceeded. */
void fl_lb_tree_insert(fl_lb_t *lb, fl_lb_tree_t *t, int srv, uint32_t key)
{
    fl_lb_srv_t *s = &lb->srv[srv];
    uint64_t seq = ++lb->seq;
    uint32_t pos = fl_lb_tree_upper(t, key, seq);

    if (t->n >= t->cap)
        return; /* cannot happen, see above; refuse rather than overflow */
    memmove(&t->ent[pos + 1], &t->ent[pos], (t->n - pos) * sizeof(*t->ent));
    t->ent[pos].key = key;
    t->ent[pos].srv = srv;
    t->ent[pos].seq = seq;
    t->n++;
    s->key = key;
    s->seq = seq;
}

/* Remove server <s> from <t> if it is there (eb32_delete() of a detached node is a no-op too). */
void fl_lb_tree_delete(fl_lb_tree_t *t, fl_lb_srv_t *s)
{
    uint32_t pos = fl_lb_tree_upper(t, s->key, s->seq);

    if (pos == 0)
        return;
    pos--;
    if (t->ent[pos].key != s->key || t->ent[pos].seq != s->seq)
        return;
    memmove(&t->ent[pos], &t->ent[pos + 1], (t->n - pos - 1) * sizeof(*t->ent));
    t->n--;
}
