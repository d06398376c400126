/* fl_lb_fwrr.c - weighted round robin with dynamic weights (HAProxy's lb_fwrr.c), "balance
 * roundrobin".
 *
 * Time is cut into windows of tot_weight picks (eweights are x16). Within a window each server is
 * due at a position: a server of weight w is picked every tot/w positions, the remainder carried
 * in rweight so that it gets exactly w picks per window. Servers wait in three ordered sets per
 * group (active/backup):
 *   curr   servers with a position in this window, ordered by position then by heavier weight;
 *   init   servers not placed yet, heaviest first: they enter as soon as there is a hole;
 *   next   servers whose next position falls in the following window.
 * When curr and init are exhausted the window ends: next becomes init (positions restart).
 * A weight change keeps the server's place as far as possible, so slowstart ramps are smooth.
 *
 * The sets keep equal keys in insertion order (fl_lb_tree.c), as HAProxy's ebtrees, so the pick
 * sequence from a fresh start is the one HAProxy produces with a single thread.
 */
#include "fl_lb.h"

static inline fl_lb_fwrr_grp_t *fl_lb_fwrr_grp(fl_lb_t *lb, const fl_lb_srv_t *s)
{
    return &lb->grp[s->backup ? 1 : 0];
}

static inline fl_lb_tree_t *fl_lb_fwrr_tree(fl_lb_fwrr_grp_t *g, int id)
{
    return id == FL_LB_TREE_CURR ? &g->curr : &g->t[id - FL_LB_TREE_T0];
}

static inline int fl_lb_fwrr_init_id(const fl_lb_fwrr_grp_t *g)
{
    return FL_LB_TREE_T0 + g->init;
}

static inline int fl_lb_fwrr_next_id(const fl_lb_fwrr_grp_t *g)
{
    return FL_LB_TREE_T0 + g->next;
}

static void fl_lb_fwrr_dequeue(fl_lb_t *lb, int i)
{
    fl_lb_srv_t *s = &lb->srv[i];

    if (s->tree != FL_LB_TREE_NONE)
        fl_lb_tree_delete(fl_lb_fwrr_tree(fl_lb_fwrr_grp(lb, s), s->tree), s);
}

/* heaviest first: the key is the complement of the weight */
static void fl_lb_fwrr_queue_by_weight(fl_lb_t *lb, int tree_id, int i)
{
    fl_lb_srv_t *s = &lb->srv[i];

    fl_lb_tree_insert(lb, fl_lb_fwrr_tree(fl_lb_fwrr_grp(lb, s), tree_id), i,
                      FL_LB_EWGHT_MAX - s->next_eweight);
    s->tree = (int8_t)tree_id;
}

/* Place a server by its next position: in this window, or in the next one. */
static void fl_lb_fwrr_queue(fl_lb_t *lb, int i)
{
    fl_lb_srv_t *s = &lb->srv[i];
    fl_lb_fwrr_grp_t *g = fl_lb_fwrr_grp(lb, s);

    if (!fl_lb_srv_willbe_usable(s)) {
        s->tree = FL_LB_TREE_NONE;
    } else if (s->next_eweight == 0 || s->npos >= 2 * g->curr_weight ||
               s->npos >= g->curr_weight + g->next_weight) {
        s->npos -= g->curr_weight;
        fl_lb_fwrr_queue_by_weight(lb, fl_lb_fwrr_next_id(g), i);
    } else {
        /* position in units of 256, then the heavier (and the more behind) first */
        uint32_t key = (uint32_t)FL_LB_UWGHT_RANGE * (uint32_t)s->npos +
                       (uint32_t)(FL_LB_EWGHT_MAX + s->rweight - (int)s->next_eweight) / FL_LB_WEIGHT_SCALE;

        fl_lb_tree_insert(lb, &g->curr, i, key);
        s->tree = FL_LB_TREE_CURR;
    }
}

/* Prepare a server leaving its set: reset when it was never placed, shift a next-window
 * position into this window, start at the current position when it was down. */
static void fl_lb_fwrr_get(fl_lb_t *lb, int i)
{
    fl_lb_srv_t *s = &lb->srv[i];
    fl_lb_fwrr_grp_t *g = fl_lb_fwrr_grp(lb, s);

    if (s->tree == fl_lb_fwrr_init_id(g)) {
        s->npos = s->rweight = 0;
    } else if (s->tree == fl_lb_fwrr_next_id(g)) {
        s->npos += g->curr_weight;
    } else if (s->tree == FL_LB_TREE_NONE) {
        s->npos = g->curr_pos;
    }
}

static void fl_lb_fwrr_switch(fl_lb_fwrr_grp_t *g)
{
    int t = g->init;

    g->init = g->next;
    g->next = t;
    g->curr_weight = g->next_weight;
    g->curr_pos = g->curr_weight;
}

/* The server due now, or one from init when there is a hole; -1 when both are empty. */
static int fl_lb_fwrr_from_group(fl_lb_t *lb, fl_lb_fwrr_grp_t *g)
{
    int s1 = fl_lb_tree_first(&g->curr), s2;

    if (s1 >= 0 && lb->srv[s1].cur_eweight && lb->srv[s1].npos <= g->curr_pos)
        return s1;
    s2 = fl_lb_tree_first(&g->t[g->init]);
    if (s2 >= 0 && lb->srv[s2].cur_eweight) {
        lb->srv[s2].npos = lb->srv[s2].rweight = 0;
        return s2;
    }
    return s1;
}

static void fl_lb_fwrr_update_position(fl_lb_fwrr_grp_t *g, fl_lb_srv_t *s)
{
    int ew = (int)s->cur_eweight;

    if (!ew)
        return;
    if (!s->npos)
        s->npos = g->curr_pos; /* first pick ever */
    s->lpos = s->npos;
    s->npos += g->next_weight / ew;
    s->rweight += g->next_weight % ew;
    if (s->rweight >= ew) {
        s->rweight -= ew;
        s->npos++;
    }
}

static int fl_lb_fwrr_next(fl_lb_t *lb, int avoid)
{
    fl_lb_fwrr_grp_t *g;
    int srv, avoided = -1, switched = 0, nfull = 0;
    int32_t *full = lb->scratch; /* servers taken out while saturated or avoided */

    if (lb->srv_act)
        g = &lb->grp[0];
    else if (lb->fbck >= 0)
        return lb->fbck;
    else if (lb->srv_bck)
        g = &lb->grp[1];
    else
        return -1;

    for (;;) {
        if (!g->curr_weight)
            g->curr_pos = g->curr_weight = g->next_weight;
        for (;;) {
            srv = fl_lb_fwrr_from_group(lb, g);
            if (srv >= 0)
                break;
            if (switched) {
                if (avoided >= 0) {
                    srv = avoided;
                    goto take;
                }
                goto requeue;
            }
            switched = 1;
            fl_lb_fwrr_switch(g);
        }
        fl_lb_fwrr_update_position(g, &lb->srv[srv]);
        fl_lb_fwrr_dequeue(lb, srv);
        g->curr_pos++;
        if (fl_lb_srv_has_room(lb, &lb->srv[srv])) {
            if (srv != avoid || avoided >= 0)
                break;
            avoided = srv;
        }
        if (nfull < lb->nsrv)
            full[nfull++] = srv;
    }
take:
    fl_lb_fwrr_queue(lb, srv);
requeue:
    /* put back the servers taken out, most recent first (HAProxy chains them in a list) */
    while (nfull > 0) {
        int f = full[--nfull];

        if (f == srv)
            continue;
        if (switched)
            fl_lb_fwrr_queue_by_weight(lb, fl_lb_fwrr_init_id(g), f); /* their place is lost */
        else
            fl_lb_fwrr_queue(lb, f);
    }
    return srv;
}

static void fl_lb_fwrr_down(fl_lb_t *lb, int i)
{
    fl_lb_srv_t *s = &lb->srv[i];

    if (!fl_lb_srv_status_changed(s) || fl_lb_srv_willbe_usable(s))
        return;
    if (fl_lb_srv_currently_usable(s)) {
        fl_lb_fwrr_grp(lb, s)->next_weight -= (int)s->cur_eweight;
        fl_lb_fwrr_dequeue(lb, i);
        s->tree = FL_LB_TREE_NONE;
    }
    fl_lb_recount(lb);
    fl_lb_update_backend_weight(lb);
}

static void fl_lb_fwrr_up(fl_lb_t *lb, int i)
{
    fl_lb_srv_t *s = &lb->srv[i];
    fl_lb_fwrr_grp_t *g = fl_lb_fwrr_grp(lb, s);

    if (!fl_lb_srv_status_changed(s) || !fl_lb_srv_willbe_usable(s))
        return;
    if (!fl_lb_srv_currently_usable(s)) {
        g->next_weight += (int)s->next_eweight;
        fl_lb_fwrr_get(lb, i);
        s->npos = g->curr_pos + (g->next_weight + g->curr_weight - g->curr_pos) / (int)s->next_eweight;
        fl_lb_fwrr_queue(lb, i);
    }
    fl_lb_recount(lb);
    fl_lb_update_backend_weight(lb);
}

static void fl_lb_fwrr_weight(fl_lb_t *lb, int i)
{
    fl_lb_srv_t *s = &lb->srv[i];
    fl_lb_fwrr_grp_t *g = fl_lb_fwrr_grp(lb, s);

    g->next_weight = g->next_weight - (int)s->cur_eweight + (int)s->next_eweight;
    if (s->tree == fl_lb_fwrr_init_id(g)) {
        fl_lb_fwrr_dequeue(lb, i);
        fl_lb_fwrr_queue_by_weight(lb, fl_lb_fwrr_init_id(g), i);
    } else if (s->tree == FL_LB_TREE_NONE) {
        fl_lb_fwrr_get(lb, i);
        s->npos = g->curr_pos + (g->next_weight + g->curr_weight - g->curr_pos) / (int)s->next_eweight;
        fl_lb_fwrr_queue(lb, i);
    } else {
        /* in curr or next: keep its last position, move the next one by the new step, but not
         * later than planned, nor too close to now (HAProxy's fwrr_update_server_weight()) */
        fl_lb_fwrr_get(lb, i);
        if (s->next_eweight > 0) {
            int prev_next = s->npos;
            int step = g->next_weight / (int)s->next_eweight;

            s->npos = s->lpos + step;
            s->rweight = 0;
            if (s->npos > prev_next)
                s->npos = prev_next;
            if (s->npos < g->curr_pos + 2)
                s->npos = g->curr_pos + step;
        } else {
            s->npos = g->curr_pos + g->curr_weight;
        }
        fl_lb_fwrr_dequeue(lb, i);
        fl_lb_fwrr_queue(lb, i);
    }
    fl_lb_recount(lb);
    fl_lb_update_backend_weight(lb);
}

static int fl_lb_fwrr_init(fl_lb_t *lb)
{
    lb->wdiv = FL_LB_WEIGHT_SCALE;
    for (int i = 0; i < lb->nsrv; i++) {
        fl_lb_srv_t *s = &lb->srv[i];

        s->next_eweight = (s->uweight * lb->wdiv + lb->wmult - 1) / lb->wmult;
        fl_lb_srv_commit(s);
    }
    fl_lb_recount(lb);
    fl_lb_update_backend_weight(lb);
    for (int k = 0; k < 2; k++) {
        fl_lb_fwrr_grp_t *g = &lb->grp[k];
        int w = (int)(k ? lb->tot_wbck : lb->tot_wact);

        g->curr_pos = g->curr_weight = g->next_weight = w;
        g->init = 0;
        g->next = 1;
        if (fl_lb_tree_init(&g->curr, (uint32_t)lb->nsrv) < 0 ||
            fl_lb_tree_init(&g->t[0], (uint32_t)lb->nsrv) < 0 ||
            fl_lb_tree_init(&g->t[1], (uint32_t)lb->nsrv) < 0)
            return -1;
    }
    for (int i = 0; i < lb->nsrv; i++) {
        if (fl_lb_srv_currently_usable(&lb->srv[i]))
            fl_lb_fwrr_queue_by_weight(lb, fl_lb_fwrr_init_id(fl_lb_fwrr_grp(lb, &lb->srv[i])), i);
    }
    return 0;
}

static void fl_lb_fwrr_deinit(fl_lb_t *lb)
{
    for (int k = 0; k < 2; k++) {
        fl_lb_tree_free(&lb->grp[k].curr);
        fl_lb_tree_free(&lb->grp[k].t[0]);
        fl_lb_tree_free(&lb->grp[k].t[1]);
    }
}

const fl_lb_ops_t fl_lb_fwrr_ops = {
    .init = fl_lb_fwrr_init,
    .deinit = fl_lb_fwrr_deinit,
    .srv_up = fl_lb_fwrr_up,
    .srv_down = fl_lb_fwrr_down,
    .srv_weight = fl_lb_fwrr_weight,
    .srv_load = NULL,
    .next = fl_lb_fwrr_next,
    .by_hash = NULL,
};
