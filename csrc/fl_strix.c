/* fl_strix.c - string pattern index (see fl_strix.h).
 *
 * One open-addressing hash table (linear probing, power-of-two size, at most half full) holds the
 * patterns of every kind. A slot's key is (kind, length, bytes); its hash is FNV-1a over the
 * pattern bytes in the order a lookup reads them (suffix patterns backwards), finished with the
 * kind and a 64-bit mix, so that a lookup can extend one running hash byte by byte and probe at
 * every length a pattern of that kind has (the per-kind length maps say which).
 */
#include "fl_strix.h"

#include <stdlib.h>
#include <string.h>

#define FNV_SEED 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull
#define LEN_SLOTS 257   /* lengths 0..255, and 256 for "some pattern of 256 bytes or more" */

typedef struct {
    uint64_t hash;      /* finished hash; slot empty when pat == NULL */
    char *pat;          /* owned copy, lower-case with icase */
    uint32_t len;
    int32_t idx;
    uint8_t kind;
} fl_strix_slot;

struct fl_strix {
    fl_strix_slot *slots;
    uint32_t mask;      /* size - 1 */
    uint32_t used;
    uint8_t icase;
    uint8_t has[FL_STRIX_KINDS];
    uint32_t maxlen[FL_STRIX_KINDS];
    uint8_t lens[FL_STRIX_KINDS][LEN_SLOTS];
};

static inline unsigned char fl_strix_fold(const fl_strix *ix, unsigned char c)
{
    return (ix->icase && c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static inline uint64_t fl_strix_step(uint64_t h, unsigned char c)
{
    return (h ^ c) * FNV_PRIME;
}

static inline uint64_t fl_strix_finish(uint64_t h, int kind, uint32_t len)
{
    h ^= ((uint64_t)kind << 56) ^ len;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static inline int fl_strix_len_present(const fl_strix *ix, int kind, uint32_t len)
{
    return ix->lens[kind][len < 256 ? len : 256];
}

static inline int fl_strix_is_delim(int kind, unsigned char c)
{
    if (kind == FL_STRIX_DIR)
        return c == '/' || c == '?';
    return c == '.' || c == '/' || c == ':' || c == '?';
}

fl_strix *fl_strix_new(int icase)
{
    fl_strix *ix = calloc(1, sizeof(*ix));
    if (!ix)
        return NULL;
    ix->slots = calloc(16, sizeof(fl_strix_slot));
    if (!ix->slots) {
        free(ix);
        return NULL;
    }
    ix->mask = 15;
    ix->icase = icase ? 1 : 0;
    return ix;
}

void fl_strix_free(fl_strix *ix)
{
    if (!ix)
        return;
    for (uint32_t i = 0; i <= ix->mask; i++)
        free(ix->slots[i].pat);
    free(ix->slots);
    free(ix);
}

uint32_t fl_strix_size(const fl_strix *ix)
{
    return ix->used;
}

/* Compare sample bytes (folded with icase) with a stored pattern. */
static inline int fl_strix_same(const fl_strix *ix, const char *s, const char *pat, uint32_t len)
{
    if (!ix->icase)
        return memcmp(s, pat, len) == 0;
    for (uint32_t i = 0; i < len; i++)
        if (fl_strix_fold(ix, (unsigned char)s[i]) != (unsigned char)pat[i])
            return 0;
    return 1;
}

/* Slot holding (kind, s[0..len)) with finished hash `h`, or the empty slot where it would go. */
static fl_strix_slot *fl_strix_find(const fl_strix *ix, uint64_t h, int kind, const char *s, uint32_t len)
{
    uint32_t i = (uint32_t)h & ix->mask;
    for (;;) {
        fl_strix_slot *sl = &ix->slots[i];
        if (!sl->pat)
            return sl;
        if (sl->hash == h && sl->kind == kind && sl->len == len && fl_strix_same(ix, s, sl->pat, len))
            return sl;
        i = (i + 1) & ix->mask;
    }
}

static int fl_strix_grow(fl_strix *ix)
{
    uint32_t size = (ix->mask + 1) * 2;
    fl_strix_slot *old = ix->slots;
    uint32_t oldsize = ix->mask + 1;
    fl_strix_slot *slots = calloc(size, sizeof(fl_strix_slot));
    if (!slots)
        return -1;
    ix->slots = slots;
    ix->mask = size - 1;
    for (uint32_t i = 0; i < oldsize; i++) {
        if (!old[i].pat)
            continue;
        uint32_t j = (uint32_t)old[i].hash & ix->mask;
        while (slots[j].pat)
            j = (j + 1) & ix->mask;
        slots[j] = old[i];
    }
    free(old);
    return 0;
}

int fl_strix_add(fl_strix *ix, int kind, const char *pat, uint32_t len, int32_t idx)
{
    uint64_t h = FNV_SEED;
    if (kind < 0 || kind >= FL_STRIX_KINDS)
        return -1;
    if ((kind == FL_STRIX_DOM || kind == FL_STRIX_DIR) && len == 0)
        return 0;
    if ((ix->used + 1) * 2 > ix->mask + 1 && fl_strix_grow(ix) < 0)
        return -1;
    if (kind == FL_STRIX_END) {
        for (uint32_t i = len; i > 0; i--)
            h = fl_strix_step(h, fl_strix_fold(ix, (unsigned char)pat[i - 1]));
    } else {
        for (uint32_t i = 0; i < len; i++)
            h = fl_strix_step(h, fl_strix_fold(ix, (unsigned char)pat[i]));
    }
    h = fl_strix_finish(h, kind, len);
    fl_strix_slot *sl = fl_strix_find(ix, h, kind, pat, len);
    if (sl->pat) {
        if (idx < sl->idx)
            sl->idx = idx;
        return 0;
    }
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return -1;
    for (uint32_t i = 0; i < len; i++)
        copy[i] = (char)fl_strix_fold(ix, (unsigned char)pat[i]);
    sl->pat = copy;
    sl->hash = h;
    sl->len = len;
    sl->idx = idx;
    sl->kind = (uint8_t)kind;
    ix->used++;
    ix->has[kind] = 1;
    if (len > ix->maxlen[kind])
        ix->maxlen[kind] = len;
    ix->lens[kind][len < 256 ? len : 256] = 1;
    return 1;
}

static inline int32_t fl_strix_probe(const fl_strix *ix, uint64_t h, int kind, const char *s, uint32_t len,
                                     int32_t best)
{
    const fl_strix_slot *sl = fl_strix_find(ix, fl_strix_finish(h, kind, len), kind, s, len);
    return (sl->pat && sl->idx < best) ? sl->idx : best;
}

/* Words (dom/dir): from each word start (0 or after a delimiter), extend the hash up to the next
 * delimiters and probe where a word may end (a delimiter or the end of the sample). A pattern may
 * contain delimiters itself ("example.com"), so a word runs on past them, up to maxlen bytes. */
static int32_t fl_strix_words(const fl_strix *ix, int kind, const char *s, uint32_t n, int32_t best)
{
    uint32_t maxlen = ix->maxlen[kind];
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0 && !fl_strix_is_delim(kind, (unsigned char)s[i - 1]))
            continue;
        uint64_t h = FNV_SEED;
        uint32_t stop = n - i < maxlen ? n : i + maxlen;
        for (uint32_t j = i; j < stop; j++) {
            h = fl_strix_step(h, fl_strix_fold(ix, (unsigned char)s[j]));
            uint32_t len = j + 1 - i;
            if ((j + 1 == n || fl_strix_is_delim(kind, (unsigned char)s[j + 1])) &&
                fl_strix_len_present(ix, kind, len))
                best = fl_strix_probe(ix, h, kind, s + i, len, best);
        }
    }
    return best;
}

int32_t fl_strix_best(const fl_strix *ix, const char *s, uint32_t n, int32_t best)
{
    uint64_t h;
    uint32_t lim;
    if (ix->has[FL_STRIX_STR] && fl_strix_len_present(ix, FL_STRIX_STR, n)) {
        h = FNV_SEED;
        for (uint32_t i = 0; i < n; i++)
            h = fl_strix_step(h, fl_strix_fold(ix, (unsigned char)s[i]));
        best = fl_strix_probe(ix, h, FL_STRIX_STR, s, n, best);
    }
    if (ix->has[FL_STRIX_BEG]) {
        h = FNV_SEED;
        lim = n < ix->maxlen[FL_STRIX_BEG] ? n : ix->maxlen[FL_STRIX_BEG];
        for (uint32_t len = 0;; len++) {
            if (fl_strix_len_present(ix, FL_STRIX_BEG, len))
                best = fl_strix_probe(ix, h, FL_STRIX_BEG, s, len, best);
            if (len == lim)
                break;
            h = fl_strix_step(h, fl_strix_fold(ix, (unsigned char)s[len]));
        }
    }
    if (ix->has[FL_STRIX_END]) {
        h = FNV_SEED;
        lim = n < ix->maxlen[FL_STRIX_END] ? n : ix->maxlen[FL_STRIX_END];
        for (uint32_t len = 0;; len++) {
            if (fl_strix_len_present(ix, FL_STRIX_END, len))
                best = fl_strix_probe(ix, h, FL_STRIX_END, s + n - len, len, best);
            if (len == lim)
                break;
            h = fl_strix_step(h, fl_strix_fold(ix, (unsigned char)s[n - 1 - len]));
        }
    }
    if (ix->has[FL_STRIX_DOM])
        best = fl_strix_words(ix, FL_STRIX_DOM, s, n, best);
    if (ix->has[FL_STRIX_DIR])
        best = fl_strix_words(ix, FL_STRIX_DIR, s, n, best);
    return best;
}
