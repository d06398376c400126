/* Stick tables (HAProxy's "stick-table" for "stick on/match/store-request"): keys mapped to a
 * server id, with an expiry refreshed by each store and each match.
 *
 * One table lives in one memory segment laid out by fl_stk_init(): a header, a hash bucket array
 * and a fixed array of entries. The master maps it MAP_SHARED before forking the workers, so every
 * worker (and the master's runtime API) reads and writes the same table, as HAProxy's threads share
 * one. A robust process-shared mutex guards it; the critical sections are a few hundred
 * nanoseconds without system calls. A process killed while holding the lock leaves the table to
 * be cleared by the next locker (EOWNERDEAD): stickiness is lost, nothing is corrupted.
 *
 * Entries are kept on a list in order of last use. Since a table has one expire delay, that is
 * also the order of expiry: expired entries are dropped from the head, and a full table drops its
 * oldest entry for a new one, as HAProxy purges its oldest entries (unless "nopurge"). Times are
 * CLOCK_MONOTONIC milliseconds, the same in every process of the machine.
 */
#ifndef FL_STK_H
#define FL_STK_H

#include <stdint.h>
#include <stddef.h>

#define FL_STK_KEY_MAX 4096     /* "len" of string/binary tables */

typedef struct fl_stk_entry_info {
    uint32_t key_len;
    int32_t server_id;
    int32_t server_key;         /* index of the server's name (or address) in the caller's list */
    uint32_t pad;
    uint64_t expire;            /* monotonic ms, 0 = never */
    uint64_t key_off;           /* offset of the key in the snapshot's key area */
} fl_stk_entry_info_t;

/* bytes needed for a table of <size> entries of keys up to <key_len> bytes */
size_t fl_stk_segment_size(uint32_t size, uint32_t key_len);

/* lay out a zeroed segment; expire_ms 0 = entries never expire. 0 on success, -1 on error */
int fl_stk_init(void *seg, uint32_t size, uint32_t key_len, uint32_t expire_ms, int nopurge);

/* the entry for <key>: 1 and its server id and key when present and not expired, else 0. <touch>
 * pushes its expiry to now + expire (HAProxy refreshes an entry a "stick match" finds). */
int fl_stk_lookup(void *seg, const void *key, uint32_t klen, uint64_t now, int touch, int32_t *server_id,
                  int32_t *server_key);

/* create or update the entry for <key> with the server, expiring at now + expire. 1 when stored,
 * 0 when the table is full and may not purge ("nopurge"), -1 on a bad key. HAProxy keeps both the
 * server's id and its name ("srvkey"): another backend sharing the table looks the name up first. */
int fl_stk_store(void *seg, const void *key, uint32_t klen, int32_t server_id, int32_t server_key,
                 uint64_t now);

/* remove the entry for <key>: 1 if there was one */
int fl_stk_remove(void *seg, const void *key, uint32_t klen);

/* remove every entry */
void fl_stk_clear(void *seg);

/* drop the expired entries; the number of entries left */
uint32_t fl_stk_purge(void *seg, uint64_t now);

/* copy the live entries, oldest first: up to <max> infos and their keys packed in <keys> (room
 * for max * key_len bytes). Returns the number copied. */
uint32_t fl_stk_snapshot(void *seg, uint64_t now, fl_stk_entry_info_t *infos, uint32_t max,
                         unsigned char *keys);

uint32_t fl_stk_used(void *seg);
uint32_t fl_stk_size(void *seg);
uint32_t fl_stk_key_len(void *seg);

#endif
