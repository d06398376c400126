/* fl_hash.h - the hash functions of HAProxy's "hash-type", bit-exact with HAProxy 2.6.
 *
 * The key is a byte string; every byte enters the arithmetic as an unsigned value 0..255 (HAProxy
 * 2.6 measured on x86-64: sdbm("\x80") = 128), so results do not depend on the signedness of
 * `char` on the platform.
 *
 * fl_hash_avalanche() is the 32-bit integer mix HAProxy applies with the "avalanche" modifier and
 * uses for the positions of the servers on the consistent-hash ring (full_hash()).
 */
#ifndef FL_HASH_H
#define FL_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Hash functions, in the order of HAProxy's "hash-type <method> <function>" keywords. */
enum fl_hash_fn {
    FL_HASH_SDBM = 0, /* the default */
    FL_HASH_DJB2 = 1,
    FL_HASH_WT6 = 2,
    FL_HASH_CRC32 = 3,
};

uint32_t fl_hash_sdbm(const char *key, size_t len);
uint32_t fl_hash_djb2(const char *key, size_t len);
uint32_t fl_hash_wt6(const char *key, size_t len);
uint32_t fl_hash_crc32(const char *key, size_t len);

/* Dispatch on enum fl_hash_fn (an unknown value hashes with sdbm, as HAProxy's default). */
uint32_t fl_hash_key(int fn, const char *key, size_t len);

/* Bob Jenkins' full avalanche of a 32-bit integer, then a multiplication by a prime close to
 * 3/4 of 2^32 (HAProxy's full_hash()). It is a bijection of the 32-bit integers: distinct inputs
 * always give distinct outputs, which the consistent-hash ring relies on. */
static inline uint32_t fl_hash_avalanche(uint32_t a)
{
    a = (a + 0x7ed55d16u) + (a << 12);
    a = (a ^ 0xc761c23cu) ^ (a >> 19);
    a = (a + 0x165667b1u) + (a << 5);
    a = (a + 0xd3a2646cu) ^ (a << 9);
    a = (a + 0xfd7046c5u) + (a << 3);
    a = (a ^ 0xb55a4f09u) ^ (a >> 16);
    return a * 3221225473u;
}

#endif /* FL_HASH_H */
