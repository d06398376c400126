/* fl_lb_map.c - map-based lookup (HAProxy's lb_map.c): static-rr and "hash-type map-based".
 *
 * The weights are divided by their GCD, and an array of tot_weight slots is filled so that each
 * usable server appears weight times, interleaved: at each slot every server adds its weight to a
 * score, and the server with the highest (score + tot) / tot wins the slot and pays tot. Earlier
 * servers win ties, so slot 0 is always the first usable server. A hash picks slot hash %
 * tot_weight; static-rr walks the slots in order.
 *
 * Weights are static: "set weight" only accepts 0 and the configured weight (fl_lb_set_weight),
 * so the array never outgrows the size computed here. Like HAProxy, the array is filled from all
 * usable servers of the chosen group even when only the first backup is in use; the map's size
 * is then the first backup's weight.
 */
#include <stdlib.h>

#include "fl_lb.h"

static void fl_lb_map_recalc(fl_lb_t *lb)
{
    int tot = (int)lb->tot_weight;
    int backup = lb->srv_act ? 0 : 1;

    if (!lb->tot_used)
        return;
    for (int i = 0; i < lb->nsrv; i++)
        lb->srv[i].wscore = 0;
    for (int o = 0; o < tot; o++) {
        int best = -1, max = 0;

        for (int i = 0; i < lb->nsrv; i++) {
            fl_lb_srv_t *s = &lb->srv[i];
            int v;

            if (s->backup != backup || !fl_lb_srv_willbe_usable(s))
                continue;
            if (tot == 1) {
                best = i; /* avoid the division below, the first usable one takes the slot */
                break;
            }
            s->wscore += (int)s->next_eweight;
            v = (s->wscore + tot) / tot;
            if (best < 0 || v > max) {
                max = v;
                best = i;
            }
        }
        lb->map[o] = best;
        if (best >= 0)
            lb->srv[best].wscore -= tot;
    }
}

static void fl_lb_map_update(fl_lb_t *lb, int i)
{
    if (!fl_lb_srv_status_changed(&lb->srv[i]))
        return;
    fl_lb_recount(lb);
    fl_lb_update_backend_weight(lb);
    fl_lb_map_recalc(lb);
}

static void fl_lb_map_down(fl_lb_t *lb, int i)
{
    /* the recount uses "next" values, so going down and up are the same operation */
    fl_lb_map_update(lb, i);
}

static int fl_lb_map_init(fl_lb_t *lb)
{
    uint32_t gcd = 1, act = 0, bck = 0;
    int i = 0;

    while (i < lb->nsrv && !lb->srv[i].uweight)
        i++;
    if (i < lb->nsrv) {
        gcd = lb->srv[i].uweight;
        for (i++; gcd > 1 && i < lb->nsrv; i++) {
            uint32_t w = lb->srv[i].uweight;

            while (w) {
                uint32_t t = gcd % w;

                gcd = w;
                w = t;
            }
        }
    }
    lb->wmult = gcd;
    lb->wdiv = 1;
    for (i = 0; i < lb->nsrv; i++) {
        fl_lb_srv_t *s = &lb->srv[i];

        s->next_eweight = (s->uweight * lb->wdiv + lb->wmult - 1) / lb->wmult;
        if (s->backup)
            bck += s->next_eweight;
        else
            act += s->next_eweight;
        fl_lb_srv_commit(s);
    }
    lb->map_cap = act > bck ? act : bck;
    if (!lb->map_cap)
        lb->map_cap = 1;
    lb->map = calloc(lb->map_cap, sizeof(*lb->map));
    if (!lb->map)
        return -1;
    fl_lb_recount(lb);
    fl_lb_update_backend_weight(lb);
    fl_lb_map_recalc(lb);
    return 0;
}

static void fl_lb_map_deinit(fl_lb_t *lb)
{
    free(lb->map);
    lb->map = NULL;
}

/* static-rr, and the fallback of map-based hashes when the key is absent: the next slot whose
 * server has room, skipping <avoid> unless it is the only candidate. */
static int fl_lb_map_next(fl_lb_t *lb, int avoid)
{
    int tot = (int)lb->tot_weight;
    int idx, avoided = -1, avoided_idx = 0;

    if (!tot)
        return -1;
    if (lb->rr_idx < 0 || lb->rr_idx >= tot)
        lb->rr_idx = 0;
    idx = lb->rr_idx;
    do {
        int s = lb->map[idx++];

        if (s >= 0 && fl_lb_srv_has_room(lb, &lb->srv[s])) {
            avoided = s;
            avoided_idx = idx;
            if (s != avoid) {
                lb->rr_idx = idx;
                return s;
            }
        }
        if (idx == tot)
            idx = 0;
    } while (idx != lb->rr_idx);
    if (avoided >= 0)
        lb->rr_idx = avoided_idx;
    return avoided;
}

static int fl_lb_map_by_hash(fl_lb_t *lb, uint32_t hash, int avoid)
{
    (void)avoid;
    if (!lb->tot_weight)
        return -1;
    return lb->map[hash % lb->tot_weight];
}

const fl_lb_ops_t fl_lb_map_ops = {
    .init = fl_lb_map_init,
    .deinit = fl_lb_map_deinit,
    .srv_up = fl_lb_map_update,
    .srv_down = fl_lb_map_down,
    .srv_weight = NULL,
    .srv_load = NULL,
    .next = fl_lb_map_next,
    .by_hash = fl_lb_map_by_hash,
};
