/* fl_lb_tree.c - ordered sets of servers, keyed by a 32-bit integer, equal keys kept in insertion
 * order (the order ebtrees give duplicates, which roundrobin and leastconn depend on).
 *
 * A sorted array in the middle of a buffer of 2n+2 entries (see fl_lb-t.h): roundrobin removes the
 * first entry at every pick and re-inserts the server further on, leastconn moves a server a few
 * ranks; both shift only the shorter side. No allocation after construction: a server is in at
 * most one set at a time, so a set never holds more than every server.
 */
#include <stdlib.h>
#include <string.h>

#include "fl_lb.h"

int fl_lb_tree_init(fl_lb_tree_t *t, uint32_t nsrv)
{
    t->n = 0;
    t->cap = 2 * nsrv + 2;
    t->head = t->cap / 2;
    t->ent = calloc(t->cap, sizeof(*t->ent));
    return t->ent ? 0 : -1;
}

void fl_lb_tree_free(fl_lb_tree_t *t)
{
    free(t->ent);
    t->ent = NULL;
    t->n = t->cap = t->head = 0;
}

/* rank of the first entry sorting after (key, seq) */
static uint32_t fl_lb_tree_upper(const fl_lb_tree_t *t, uint32_t key, uint64_t seq)
{
    const fl_lb_tent_t *e = t->ent + t->head;
    uint32_t lo = 0, hi = t->n;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (e[mid].key < key || (e[mid].key == key && e[mid].seq <= seq))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Insert server <srv> with <key> after every entry of an equal key. */
void fl_lb_tree_insert(fl_lb_t *lb, fl_lb_tree_t *t, int srv, uint32_t key)
{
    fl_lb_srv_t *s = &lb->srv[srv];
    uint64_t seq = ++lb->seq;
    uint32_t pos = fl_lb_tree_upper(t, key, seq);
    fl_lb_tent_t *slot;

    if (t->n + 1 >= t->cap)
        return; /* cannot happen (see above); refuse rather than overflow */
    if (pos <= t->n / 2 && t->head > 0) {
        /* open the slot by moving the front part one step left */
        memmove(&t->ent[t->head - 1], &t->ent[t->head], pos * sizeof(*t->ent));
        t->head--;
    } else {
        if (t->head + t->n >= t->cap) {
            /* no room after the last entry: re-centre the entries, then shift the back part */
            uint32_t nh = (t->cap - t->n) / 2;

            memmove(&t->ent[nh], &t->ent[t->head], t->n * sizeof(*t->ent));
            t->head = nh;
        }
        memmove(&t->ent[t->head + pos + 1], &t->ent[t->head + pos], (t->n - pos) * sizeof(*t->ent));
    }
    slot = &t->ent[t->head + pos];
    slot->key = key;
    slot->srv = srv;
    slot->seq = seq;
    t->n++;
    s->key = key;
    s->seq = seq;
}

/* Remove server <s> from <t> if it is there (eb32_delete() of a detached node is a no-op too). */
void fl_lb_tree_delete(fl_lb_tree_t *t, fl_lb_srv_t *s)
{
    uint32_t pos = fl_lb_tree_upper(t, s->key, s->seq);
    fl_lb_tent_t *e = t->ent + t->head;

    if (pos == 0 || e[pos - 1].key != s->key || e[pos - 1].seq != s->seq)
        return;
    pos--;
    if (pos < t->n / 2) {
        memmove(&t->ent[t->head + 1], &t->ent[t->head], pos * sizeof(*t->ent));
        t->head++;
    } else {
        memmove(&t->ent[t->head + pos], &t->ent[t->head + pos + 1], (t->n - pos - 1) * sizeof(*t->ent));
    }
    t->n--;
    if (!t->n)
        t->head = t->cap / 2;
}
