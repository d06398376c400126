/* Stick tables in a shared segment (see fl_stk.h for the model and its limits). */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "fl_stk.h"

#define FL_STK_MAGIC 0x666c73746b303031ULL  /* "flstk001" */
#define FL_STK_NIL 0u                       /* entry links are index + 1; 0 is "none" */

typedef struct fl_stk_hdr {
    uint64_t magic;
    pthread_mutex_t lock;
    uint32_t size;          /* entries */
    uint32_t key_len;       /* key bytes per entry */
    uint32_t nbuckets;      /* power of two */
    uint32_t entry_size;
    uint32_t expire_ms;
    uint32_t nopurge;
    uint32_t used;
    uint32_t free_head;     /* free list through hnext */
    uint32_t lru_head;      /* least recently used (expires first) */
    uint32_t lru_tail;
    uint32_t never_used;    /* entries [never_used, size) were never handed out */
    uint32_t pad;
} fl_stk_hdr_t;

typedef struct fl_stk_ent {
    uint32_t hnext;
    uint32_t prev;
    uint32_t next;
    uint32_t key_len;
    uint32_t hash;
    int32_t server_id;
    int32_t server_key;
    uint32_t pad;
    uint64_t expire;        /* 0 = never */
    unsigned char key[];
} fl_stk_ent_t;

static inline size_t fl_stk_align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static inline size_t fl_stk_hdr_size(void)
{
    return fl_stk_align8(sizeof(fl_stk_hdr_t));
}

static inline uint32_t fl_stk_nbuckets(uint32_t size)
{
    uint32_t n = 16;

    while (n < size && n < (1u << 30))
        n <<= 1;
    return n;
}

static inline uint32_t *fl_stk_buckets(fl_stk_hdr_t *h)
{
    return (uint32_t *)((char *)h + fl_stk_hdr_size());
}

static inline fl_stk_ent_t *fl_stk_ent(fl_stk_hdr_t *h, uint32_t link)
{
    char *base = (char *)h + fl_stk_hdr_size() + fl_stk_align8((size_t)h->nbuckets * 4);

    return (fl_stk_ent_t *)(base + (size_t)(link - 1) * h->entry_size);
}

size_t fl_stk_segment_size(uint32_t size, uint32_t key_len)
{
    size_t esz = fl_stk_align8(sizeof(fl_stk_ent_t) + key_len);

    return fl_stk_hdr_size() + fl_stk_align8((size_t)fl_stk_nbuckets(size) * 4) + (size_t)size * esz;
}

int fl_stk_init(void *seg, uint32_t size, uint32_t key_len, uint32_t expire_ms, int nopurge)
{
    fl_stk_hdr_t *h = seg;
    pthread_mutexattr_t attr;

    if (!size || !key_len || key_len > FL_STK_KEY_MAX)
        return -1;
    if (pthread_mutexattr_init(&attr) != 0)
        return -1;
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (pthread_mutex_init(&h->lock, &attr) != 0) {
        pthread_mutexattr_destroy(&attr);
        return -1;
    }
    pthread_mutexattr_destroy(&attr);
    h->size = size;
    h->key_len = key_len;
    h->nbuckets = fl_stk_nbuckets(size);
    h->entry_size = (uint32_t)fl_stk_align8(sizeof(fl_stk_ent_t) + key_len);
    h->expire_ms = expire_ms;
    h->nopurge = nopurge ? 1 : 0;
    h->used = 0;
    h->free_head = FL_STK_NIL;
    h->lru_head = h->lru_tail = FL_STK_NIL;
    h->never_used = 0;
    memset(fl_stk_buckets(h), 0, (size_t)h->nbuckets * 4);
    h->magic = FL_STK_MAGIC;
    return 0;
}

static void fl_stk_reset(fl_stk_hdr_t *h)
{
    h->used = 0;
    h->free_head = FL_STK_NIL;
    h->lru_head = h->lru_tail = FL_STK_NIL;
    h->never_used = 0;
    memset(fl_stk_buckets(h), 0, (size_t)h->nbuckets * 4);
}

static void fl_stk_lock(fl_stk_hdr_t *h)
{
    int r = pthread_mutex_lock(&h->lock);

    if (r == EOWNERDEAD) {
        /* the previous owner died inside a critical section: start from an empty table */
        fl_stk_reset(h);
        pthread_mutex_consistent(&h->lock);
    }
}

static inline void fl_stk_unlock(fl_stk_hdr_t *h)
{
    pthread_mutex_unlock(&h->lock);
}

/* FNV-1a: keys are short (4..32 bytes typically) and any decent mix will do here */
static inline uint32_t fl_stk_hash(const unsigned char *k, uint32_t n)
{
    uint32_t x = 2166136261u;

    while (n--) {
        x ^= *k++;
        x *= 16777619u;
    }
    return x;
}

static void fl_stk_lru_unlink(fl_stk_hdr_t *h, uint32_t link, fl_stk_ent_t *e)
{
    if (e->prev)
        fl_stk_ent(h, e->prev)->next = e->next;
    else
        h->lru_head = e->next;
    if (e->next)
        fl_stk_ent(h, e->next)->prev = e->prev;
    else
        h->lru_tail = e->prev;
    e->prev = e->next = FL_STK_NIL;
    (void)link;
}

static void fl_stk_lru_append(fl_stk_hdr_t *h, uint32_t link, fl_stk_ent_t *e)
{
    e->next = FL_STK_NIL;
    e->prev = h->lru_tail;
    if (h->lru_tail)
        fl_stk_ent(h, h->lru_tail)->next = link;
    else
        h->lru_head = link;
    h->lru_tail = link;
}

/* the link of the entry for the key, and the link pointing to it in its chain (*pprev) */
static uint32_t fl_stk_find(fl_stk_hdr_t *h, const unsigned char *key, uint32_t klen, uint32_t hash,
                            uint32_t **pprev)
{
    uint32_t *p = &fl_stk_buckets(h)[hash & (h->nbuckets - 1)];

    while (*p) {
        fl_stk_ent_t *e = fl_stk_ent(h, *p);

        if (e->hash == hash && e->key_len == klen && memcmp(e->key, key, klen) == 0) {
            if (pprev)
                *pprev = p;
            return *p;
        }
        p = &e->hnext;
    }
    return FL_STK_NIL;
}

static void fl_stk_unchain(fl_stk_hdr_t *h, uint32_t link, fl_stk_ent_t *e)
{
    uint32_t *p = &fl_stk_buckets(h)[e->hash & (h->nbuckets - 1)];

    while (*p && *p != link)
        p = &fl_stk_ent(h, *p)->hnext;
    if (*p)
        *p = e->hnext;
}

static void fl_stk_delete(fl_stk_hdr_t *h, uint32_t link)
{
    fl_stk_ent_t *e = fl_stk_ent(h, link);

    fl_stk_unchain(h, link, e);
    fl_stk_lru_unlink(h, link, e);
    e->hnext = h->free_head;
    h->free_head = link;
    h->used--;
}

static inline int fl_stk_expired(const fl_stk_ent_t *e, uint64_t now)
{
    return e->expire && e->expire <= now;
}

/* drop expired entries from the head of the use list (at most <max>, 0 = all) */
static void fl_stk_expire_head(fl_stk_hdr_t *h, uint64_t now, uint32_t max)
{
    uint32_t n = 0;

    while (h->lru_head && fl_stk_expired(fl_stk_ent(h, h->lru_head), now)) {
        fl_stk_delete(h, h->lru_head);
        if (max && ++n >= max)
            break;
    }
}

static int fl_stk_valid(void *seg, const void *key, uint32_t klen)
{
    fl_stk_hdr_t *h = seg;

    return h && h->magic == FL_STK_MAGIC && (key || !klen) && klen <= h->key_len;
}

int fl_stk_lookup(void *seg, const void *key, uint32_t klen, uint64_t now, int touch, int32_t *server_id,
                  int32_t *server_key)
{
    fl_stk_hdr_t *h = seg;
    uint32_t link, hash;
    int found = 0;

    if (!fl_stk_valid(seg, key, klen))
        return 0;
    hash = fl_stk_hash(key, klen);
    fl_stk_lock(h);
    link = fl_stk_find(h, key, klen, hash, NULL);
    if (link) {
        fl_stk_ent_t *e = fl_stk_ent(h, link);

        if (fl_stk_expired(e, now)) {
            fl_stk_delete(h, link);
        } else {
            found = 1;
            *server_id = e->server_id;
            *server_key = e->server_key;
            if (touch) {
                e->expire = h->expire_ms ? now + h->expire_ms : 0;
                fl_stk_lru_unlink(h, link, e);
                fl_stk_lru_append(h, link, e);
            }
        }
    }
    fl_stk_unlock(h);
    return found;
}

int fl_stk_store(void *seg, const void *key, uint32_t klen, int32_t server_id, int32_t server_key,
                 uint64_t now)
{
    fl_stk_hdr_t *h = seg;
    uint32_t link, hash;
    fl_stk_ent_t *e;

    if (!fl_stk_valid(seg, key, klen))
        return -1;
    hash = fl_stk_hash(key, klen);
    fl_stk_lock(h);
    fl_stk_expire_head(h, now, 8);   /* bounded work per call; show table purges the rest */
    link = fl_stk_find(h, key, klen, hash, NULL);
    if (link) {
        e = fl_stk_ent(h, link);
        fl_stk_lru_unlink(h, link, e);
    } else {
        if (h->free_head) {
            link = h->free_head;
            h->free_head = fl_stk_ent(h, link)->hnext;
        } else if (h->never_used < h->size) {
            link = ++h->never_used;
        } else if (h->nopurge || !h->lru_head) {
            fl_stk_unlock(h);
            return 0;
        } else {
            /* full: the oldest entry makes room */
            fl_stk_delete(h, h->lru_head);
            link = h->free_head;
            h->free_head = fl_stk_ent(h, link)->hnext;
        }
        e = fl_stk_ent(h, link);
        e->key_len = klen;
        e->hash = hash;
        memcpy(e->key, key, klen);
        e->hnext = fl_stk_buckets(h)[hash & (h->nbuckets - 1)];
        fl_stk_buckets(h)[hash & (h->nbuckets - 1)] = link;
        h->used++;
    }
    e->server_id = server_id;
    e->server_key = server_key;
    e->expire = h->expire_ms ? now + h->expire_ms : 0;
    fl_stk_lru_append(h, link, e);
    fl_stk_unlock(h);
    return 1;
}

int fl_stk_remove(void *seg, const void *key, uint32_t klen)
{
    fl_stk_hdr_t *h = seg;
    uint32_t link;

    if (!fl_stk_valid(seg, key, klen))
        return 0;
    fl_stk_lock(h);
    link = fl_stk_find(h, key, klen, fl_stk_hash(key, klen), NULL);
    if (link)
        fl_stk_delete(h, link);
    fl_stk_unlock(h);
    return link != FL_STK_NIL;
}

void fl_stk_clear(void *seg)
{
    fl_stk_hdr_t *h = seg;

    if (!h || h->magic != FL_STK_MAGIC)
        return;
    fl_stk_lock(h);
    fl_stk_reset(h);
    fl_stk_unlock(h);
}

uint32_t fl_stk_purge(void *seg, uint64_t now)
{
    fl_stk_hdr_t *h = seg;
    uint32_t used;

    if (!h || h->magic != FL_STK_MAGIC)
        return 0;
    fl_stk_lock(h);
    fl_stk_expire_head(h, now, 0);
    used = h->used;
    fl_stk_unlock(h);
    return used;
}

uint32_t fl_stk_snapshot(void *seg, uint64_t now, fl_stk_entry_info_t *infos, uint32_t max,
                         unsigned char *keys)
{
    fl_stk_hdr_t *h = seg;
    uint32_t n = 0, link;
    uint64_t off = 0;

    if (!h || h->magic != FL_STK_MAGIC)
        return 0;
    fl_stk_lock(h);
    fl_stk_expire_head(h, now, 0);
    for (link = h->lru_head; link && n < max; link = fl_stk_ent(h, link)->next) {
        fl_stk_ent_t *e = fl_stk_ent(h, link);

        infos[n].key_len = e->key_len;
        infos[n].server_id = e->server_id;
        infos[n].server_key = e->server_key;
        infos[n].expire = e->expire;
        infos[n].key_off = off;
        memcpy(keys + off, e->key, e->key_len);
        off += e->key_len;
        n++;
    }
    fl_stk_unlock(h);
    return n;
}

uint32_t fl_stk_used(void *seg)
{
    fl_stk_hdr_t *h = seg;

    return h && h->magic == FL_STK_MAGIC ? h->used : 0;
}

uint32_t fl_stk_size(void *seg)
{
    fl_stk_hdr_t *h = seg;

    return h && h->magic == FL_STK_MAGIC ? h->size : 0;
}

uint32_t fl_stk_key_len(void *seg)
{
    fl_stk_hdr_t *h = seg;

    return h && h->magic == FL_STK_MAGIC ? h->key_len : 0;
}
