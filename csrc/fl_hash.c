/* fl_hash.c - sdbm, djb2, wt6 and crc32 as HAProxy 2.6 computes them. All arithmetic is on
 * uint32_t, so overflow wraps as HAProxy's `unsigned int` does. */
#include "fl_hash.h"

/* The byte as HAProxy 2.6's hash functions see it: unsigned, 0..255 (measured on x86-64, where a
 * plain `char` would be signed: sdbm("\x80") is 128 there, not 0xffffff80). */
static inline uint32_t fl_hash_byte(const char *p)
{
    return (uint32_t)(unsigned char)*p;
}

uint32_t fl_hash_sdbm(const char *key, size_t len)
{
    uint32_t h = 0;

    for (size_t i = 0; i < len; i++)
        h = fl_hash_byte(key + i) + (h << 6) + (h << 16) - h;
    return h;
}

uint32_t fl_hash_djb2(const char *key, size_t len)
{
    uint32_t h = 5381;

    for (size_t i = 0; i < len; i++)
        h = (h << 5) + h + fl_hash_byte(key + i);
    return h;
}

/* A rotation that stays defined for n == 0 (HAProxy writes (x << n) | (x >> (32 - n)), which the
 * compiler turns into a rotate instruction; a rotation by 0 is the identity). */
static inline uint32_t fl_hash_rotl(uint32_t x, uint32_t n)
{
    n &= 31;
    return n ? (x << n) | (x >> (32 - n)) : x;
}

uint32_t fl_hash_wt6(const char *key, size_t len)
{
    uint32_t h0 = 0xa53c965au, h1 = 0x5ca6953au;
    uint32_t step0 = 6, step1 = 18;

    for (size_t i = 0; i < len; i++) {
        uint32_t t = fl_hash_byte(key + i);

        h0 = ~(h0 ^ t);
        h1 = ~(h1 + t);
        t = fl_hash_rotl(h1, step0);
        h1 = fl_hash_rotl(h0, step1);
        h0 = t;
        t = ((h0 >> 16) ^ h1) & 0xffff;
        step0 = t & 0x1f;
        step1 = t >> 11;
    }
    return h0 ^ h1;
}

/* CRC-32 (reflected polynomial 0xedb88320, the one of zlib and Ethernet). HAProxy computes it bit
 * by bit (8 shifts per byte); a 256-entry table gives the same values 5-8 times faster for 1 KiB
 * of constant data, built at compile time below so there is no initialisation to race on. */
#define FL_CRC_B(c) (((c) & 1) ? ((c) >> 1) ^ 0xedb88320u : (c) >> 1)
#define FL_CRC_4(c) FL_CRC_B(FL_CRC_B(FL_CRC_B(FL_CRC_B(c))))
#define FL_CRC_8(c) FL_CRC_4(FL_CRC_4((uint32_t)(c)))
#define FL_CRC_R4(n) FL_CRC_8(n), FL_CRC_8((n) + 1), FL_CRC_8((n) + 2), FL_CRC_8((n) + 3)
#define FL_CRC_R16(n) FL_CRC_R4(n), FL_CRC_R4((n) + 4), FL_CRC_R4((n) + 8), FL_CRC_R4((n) + 12)
#define FL_CRC_R64(n) FL_CRC_R16(n), FL_CRC_R16((n) + 16), FL_CRC_R16((n) + 32), FL_CRC_R16((n) + 48)

static const uint32_t fl_crc32_table[256] = {
    FL_CRC_R64(0), FL_CRC_R64(64), FL_CRC_R64(128), FL_CRC_R64(192),
};

uint32_t fl_hash_crc32(const char *key, size_t len)
{
    uint32_t h = ~0u;

    for (size_t i = 0; i < len; i++)
        h = (h >> 8) ^ fl_crc32_table[(h ^ fl_hash_byte(key + i)) & 0xff];
    return ~h;
}

uint32_t fl_hash_key(int fn, const char *key, size_t len)
{
    switch (fn) {
    case FL_HASH_DJB2:
        return fl_hash_djb2(key, len);
    case FL_HASH_WT6:
        return fl_hash_wt6(key, len);
    case FL_HASH_CRC32:
        return fl_hash_crc32(key, len);
    case FL_HASH_SDBM:
    default:
        return fl_hash_sdbm(key, len);
    }
}
