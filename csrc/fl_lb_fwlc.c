/* fl_lb_fwlc.c - least connections (HAProxy's lb_fwlc.c, "balance leastconn") and first available
 * server (HAProxy's lb_fas.c, "balance first").
 *
 * leastconn keeps the servers of each group ordered by (inflight + 1) * 4096 / eweight, where
 * inflight counts connections in progress plus requests queued on the server, and an idle server
 * sorts first (key 0). A server moves to the end of its equal-key run every time its load
 * changes, which is what makes servers with the same load take turns. The pick is the first
 * server with room (a full one is still taken while its own queue has room, "maxqueue").
 *
 * first keeps the servers ordered by id and picks the lowest id with room: it ignores weights
 * except that a server of weight 0 is not usable.
 */
#include "fl_lb.h"

static inline fl_lb_tree_t *fl_lb_lc_tree(fl_lb_t *lb, const fl_lb_srv_t *s)
{
    return &lb->lc[s->backup ? 1 : 0];
}

static void fl_lb_lc_dequeue(fl_lb_t *lb, int i)
{
    fl_lb_srv_t *s = &lb->srv[i];

    if (s->tree != FL_LB_TREE_NONE)
        fl_lb_tree_delete(fl_lb_lc_tree(lb, s), s);
}

/* ---- leastconn ---- */

static void fl_lb_fwlc_queue(fl_lb_t *lb, int i, uint32_t eweight)
{
    fl_lb_srv_t *s = &lb->srv[i];
    uint32_t inflight = s->served + s->pending;
    uint32_t key = inflight ? (uint32_t)((uint64_t)(inflight + 1) * FL_LB_EWGHT_MAX / eweight) : 0;

    fl_lb_tree_insert(lb, fl_lb_lc_tree(lb, s), i, key);
    s->tree = FL_LB_TREE_CURR;
}

static void fl_lb_fwlc_load(fl_lb_t *lb, int i)
{
    fl_lb_srv_t *s = &lb->srv[i];

    if (s->tree == FL_LB_TREE_NONE || !s->cur_eweight)
        return;
    fl_lb_lc_dequeue(lb, i);
    fl_lb_fwlc_queue(lb, i, s->cur_eweight);
}

static void fl_lb_fwlc_down(fl_lb_t *lb, int i)
{
    fl_lb_srv_t *s = &lb->srv[i];

    if (!fl_lb_srv_status_changed(s) || fl_lb_srv_willbe_usable(s))
        return;
    if (fl_lb_srv_currently_usable(s)) {
        fl_lb_lc_dequeue(lb, i);
        s->tree = FL_LB_TREE_NONE;
    }
    fl_lb_recount(lb);
    fl_lb_update_backend_weight(lb);
}

static void fl_lb_fwlc_up(fl_lb_t *lb, int i)
{
    fl_lb_srv_t *s = &lb->srv[i];

    if (!fl_lb_srv_status_changed(s) || !fl_lb_srv_willbe_usable(s))
        return;
    if (!fl_lb_srv_currently_usable(s))
        fl_lb_fwlc_queue(lb, i, s->next_eweight);
    fl_lb_recount(lb);
    fl_lb_update_backend_weight(lb);
}

static void fl_lb_fwlc_weight(fl_lb_t *lb, int i)
{
    fl_lb_srv_t *s = &lb->srv[i];

    fl_lb_lc_dequeue(lb, i);
    fl_lb_fwlc_queue(lb, i, s->next_eweight);
    fl_lb_recount(lb);
    fl_lb_update_backend_weight(lb);
}

static int fl_lb_lc_init(fl_lb_t *lb, int leastconn)
{
    lb->wdiv = FL_LB_WEIGHT_SCALE;
    for (int i = 0; i < lb->nsrv; i++) {
        fl_lb_srv_t *s = &lb->srv[i];

        s->next_eweight = (s->uweight * lb->wdiv + lb->wmult - 1) / lb->wmult;
        fl_lb_srv_commit(s);
    }
    fl_lb_recount(lb);
    fl_lb_update_backend_weight(lb);
    if (fl_lb_tree_init(&lb->lc[0], (uint32_t)lb->nsrv) < 0 ||
        fl_lb_tree_init(&lb->lc[1], (uint32_t)lb->nsrv) < 0)
        return -1;
    for (int i = 0; i < lb->nsrv; i++) {
        fl_lb_srv_t *s = &lb->srv[i];

        if (!fl_lb_srv_currently_usable(s))
            continue;
        if (leastconn) {
            fl_lb_fwlc_queue(lb, i, s->next_eweight);
        } else {
            fl_lb_tree_insert(lb, fl_lb_lc_tree(lb, s), i, s->puid);
            s->tree = FL_LB_TREE_CURR;
        }
    }
    return 0;
}

static int fl_lb_fwlc_init(fl_lb_t *lb)
{
    return fl_lb_lc_init(lb, 1);
}

static void fl_lb_lc_deinit(fl_lb_t *lb)
{
    fl_lb_tree_free(&lb->lc[0]);
    fl_lb_tree_free(&lb->lc[1]);
}

/* The group in use: its tree, or -2 with *fbck set for the first backup alone. */
static const fl_lb_tree_t *fl_lb_lc_group(fl_lb_t *lb)
{
    if (lb->srv_act)
        return &lb->lc[0];
    if (lb->fbck >= 0 || !lb->srv_bck)
        return NULL;
    return &lb->lc[1];
}

static int fl_lb_fwlc_next(fl_lb_t *lb, int avoid)
{
    const fl_lb_tree_t *t = fl_lb_lc_group(lb);
    int avoided = -1;

    if (!t)
        return lb->fbck;
    for (uint32_t k = 0; k < t->n; k++) {
        int i = fl_lb_tree_at(t, k);
        const fl_lb_srv_t *s = &lb->srv[i];

        if (!s->maxconn || s->served + s->pending < fl_lb_srv_dyn_maxconn(lb, s) + s->maxqueue) {
            if (i != avoid)
                return i;
            avoided = i;
        }
    }
    return avoided;
}

const fl_lb_ops_t fl_lb_fwlc_ops = {
    .init = fl_lb_fwlc_init,
    .deinit = fl_lb_lc_deinit,
    .srv_up = fl_lb_fwlc_up,
    .srv_down = fl_lb_fwlc_down,
    .srv_weight = fl_lb_fwlc_weight,
    .srv_load = fl_lb_fwlc_load,
    .next = fl_lb_fwlc_next,
    .by_hash = NULL,
};

/* ---- first ---- */

static void fl_lb_fas_down(fl_lb_t *lb, int i)
{
    fl_lb_fwlc_down(lb, i);
}

static void fl_lb_fas_up(fl_lb_t *lb, int i)
{
    fl_lb_srv_t *s = &lb->srv[i];

    if (!fl_lb_srv_status_changed(s) || !fl_lb_srv_willbe_usable(s))
        return;
    if (!fl_lb_srv_currently_usable(s)) {
        fl_lb_tree_insert(lb, fl_lb_lc_tree(lb, s), i, s->puid);
        s->tree = FL_LB_TREE_CURR;
    }
    fl_lb_recount(lb);
    fl_lb_update_backend_weight(lb);
}

static void fl_lb_fas_weight(fl_lb_t *lb, int i)
{
    (void)i;
    fl_lb_recount(lb);
    fl_lb_update_backend_weight(lb);
}

static int fl_lb_fas_init(fl_lb_t *lb)
{
    return fl_lb_lc_init(lb, 0);
}

static int fl_lb_fas_next(fl_lb_t *lb, int avoid)
{
    const fl_lb_tree_t *t = fl_lb_lc_group(lb);
    int avoided = -1;

    if (!t)
        return lb->fbck;
    for (uint32_t k = 0; k < t->n; k++) {
        int i = fl_lb_tree_at(t, k);

        if (fl_lb_srv_has_room(lb, &lb->srv[i])) {
            if (i != avoid)
                return i;
            avoided = i;
        }
    }
    return avoided;
}

const fl_lb_ops_t fl_lb_fas_ops = {
    .init = fl_lb_fas_init,
    .deinit = fl_lb_lc_deinit,
    .srv_up = fl_lb_fas_up,
    .srv_down = fl_lb_fas_down,
    .srv_weight = fl_lb_fas_weight,
    .srv_load = NULL, /* HAProxy requeues under the same key (the id): no-op with unique ids */
    .next = fl_lb_fas_next,
    .by_hash = NULL,
};
