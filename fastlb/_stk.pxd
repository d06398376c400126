# Declarations of fastlb._stk for the engine: the stick tables of csrc/fl_stk.h and the StickTable
# class whose cdef methods the data plane calls (no Python object per lookup or store).
from libc.stdint cimport int32_t, uint32_t, uint64_t


cdef extern from "fl_stk.h" nogil:
    enum:
        FL_STK_KEY_MAX

    ctypedef struct fl_stk_entry_info_t:
        uint32_t key_len
        int32_t server_id
        int32_t server_key
        uint64_t expire
        uint64_t key_off

    size_t fl_stk_segment_size(uint32_t size, uint32_t key_len)
    int fl_stk_init(void *seg, uint32_t size, uint32_t key_len, uint32_t expire_ms, int nopurge)
    int fl_stk_lookup(void *seg, const void *key, uint32_t klen, uint64_t now, int touch, int32_t *server_id,
                      int32_t *server_key)
    int fl_stk_store(void *seg, const void *key, uint32_t klen, int32_t server_id, int32_t server_key,
                     uint64_t now)
    int fl_stk_remove(void *seg, const void *key, uint32_t klen)
    void fl_stk_clear(void *seg)
    uint32_t fl_stk_purge(void *seg, uint64_t now)
    uint32_t fl_stk_snapshot(void *seg, uint64_t now, fl_stk_entry_info_t *infos, uint32_t max,
                             unsigned char *keys)
    uint32_t fl_stk_used(void *seg)


cdef class StickTable:
    cdef object mm                 # the mmap holding the table (MAP_SHARED: shared after fork)
    cdef void *seg
    cdef readonly str name
    cdef readonly str type         # ip | ipv6 | integer | string | binary
    cdef readonly uint32_t key_len # bytes of a key
    cdef readonly uint32_t size
    cdef readonly uint32_t expire_ms
    cdef readonly bint nopurge

    cdef readonly str srvkey       # name | addr: what server_key holds
    cdef readonly tuple server_keys  # server_key index -> server name (or address)
    cdef dict key_index            # server name (or address) -> server_key index

    # the entry of a key: 1 with the server's id and key index (touching the entry), else 0
    cdef int c_lookup(self, const unsigned char *key, uint32_t klen, uint64_t now, int32_t *sid,
                      int32_t *skey) noexcept nogil
    cdef int c_store(self, const unsigned char *key, uint32_t klen, int32_t sid, int32_t skey,
                     uint64_t now) noexcept nogil
    cpdef int server_key_index(self, str key)
    cpdef bytes key_of(self, object sample)
