# String pattern indexes (csrc/fl_strix.c): exact, prefix, suffix, domain and directory patterns
# of one sample fetch in one hash table, so that matching a sample against thousands of patterns
# costs a walk over the sample and a few probes instead of one comparison per pattern. Used by
# the use_backend routing tables (_route.pxi) and by ACL lines with many patterns (`-f file`).
#
# Every pattern carries an integer: the index of the first rule it belongs to. A lookup returns
# the smallest index that matches, which keeps HAProxy's first-match order when several rules
# are merged into one table. An ACL line alone uses index 0 everywhere.

from libc.stdint cimport int32_t

cdef extern from "fl_strix.h":
    ctypedef struct fl_strix:
        pass
    enum:
        FL_STRIX_STR, FL_STRIX_BEG, FL_STRIX_END, FL_STRIX_DOM, FL_STRIX_DIR
    fl_strix *fl_strix_new(int icase)
    void fl_strix_free(fl_strix *ix)
    int fl_strix_add(fl_strix *ix, int kind, const char *pat, uint32_t len, int32_t idx)
    uint32_t fl_strix_size(const fl_strix *ix)
    int32_t fl_strix_best(const fl_strix *ix, const char *s, uint32_t n, int32_t best) nogil

DEF IX_NONE = 1 << 30


cdef class StrIndex:
    """Patterns of one fetch and one case mode (`icase`: sample bytes A-Z are lowered as they are
    read), each mapped to the smallest rule index that uses it."""
    cdef fl_strix *ix
    cdef readonly bint icase

    def __cinit__(self, bint icase=False):
        self.icase = icase
        self.ix = fl_strix_new(icase)
        if self.ix == NULL:
            raise MemoryError()

    def __dealloc__(self):
        fl_strix_free(self.ix)

    @staticmethod
    cdef bint supports(int mkind) noexcept:
        return mkind == M_STR or mkind == M_BEG or mkind == M_END or mkind == M_DOM or mkind == M_DIR

    cdef void add(self, int mkind, bytes pat, Py_ssize_t idx) except *:
        """Add one pattern, stripped as the matcher strips it (dom/dir)."""
        cdef int kind
        if mkind == M_STR:
            kind = FL_STRIX_STR
        elif mkind == M_BEG:
            kind = FL_STRIX_BEG
        elif mkind == M_END:
            kind = FL_STRIX_END
        elif mkind == M_DOM:
            kind = FL_STRIX_DOM
        elif mkind == M_DIR:
            kind = FL_STRIX_DIR
        else:
            raise ValueError("matcher kind not indexable")
        if fl_strix_add(self.ix, kind, <const char *>pat, <uint32_t>len(pat), <int32_t>idx) < 0:
            raise MemoryError()

    @property
    def size(self):
        return fl_strix_size(self.ix)

    cdef inline Py_ssize_t best(self, bytes b, Py_ssize_t best) noexcept:
        """The smallest index below `best` among the patterns that `b` matches, or `best`."""
        return fl_strix_best(self.ix, <const char *>b, <uint32_t>len(b), <int32_t>best)

    cdef inline Py_ssize_t best_ptr(self, const char *p, uint32_t n, Py_ssize_t best) noexcept:
        return fl_strix_best(self.ix, p, n, <int32_t>best)
