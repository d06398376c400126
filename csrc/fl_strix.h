/* fl_strix.h - string pattern index for ACLs and routing tables.
 *
 * One index holds the patterns of one sample fetch with one case mode: exact strings, prefixes,
 * suffixes, and "words" for the dom (delimiters . / : ?) and dir (delimiters / ?) matchers, with
 * HAProxy's semantics (configuration manual 7.1.3). Each pattern carries an integer, the index of
 * the first rule that uses it; a lookup returns the smallest index among the patterns a sample
 * matches. Merged use_backend rules keep their first-match order this way.
 *
 * Cost of a lookup: the sample is read once per kind of pattern present, a hash is extended one
 * byte at a time (prefixes forward, suffixes backward, words forward from each word start), and
 * the table is probed only at the lengths some pattern has. No allocation, so a table of 10,000
 * patterns costs about what a table of 10 does.
 *
 * Case: with `icase` the patterns are stored lower-case and sample bytes A-Z are lowered as they
 * are read (ASCII only, as Python's bytes.lower() and HAProxy's -i).
 */
#ifndef FL_STRIX_H
#define FL_STRIX_H

#include <stdint.h>

enum fl_strix_kind {
    FL_STRIX_STR = 0,   /* exact */
    FL_STRIX_BEG = 1,   /* prefix */
    FL_STRIX_END = 2,   /* suffix */
    FL_STRIX_DOM = 3,   /* word between . / : ? or the edges */
    FL_STRIX_DIR = 4,   /* word between / ? or the edges */
    FL_STRIX_KINDS = 5,
};

#define FL_STRIX_NONE INT32_MAX   /* "no match" for fl_strix_best() */

typedef struct fl_strix fl_strix;

fl_strix *fl_strix_new(int icase);
void fl_strix_free(fl_strix *ix);

/* Add a pattern (lowered by the index when icase). Keeps the smallest index per pattern. An
 * empty dom/dir word is ignored: it never matches. Returns 1 when the pattern is new, 0 when it
 * was there already, -1 when out of memory or for an unknown kind. */
int fl_strix_add(fl_strix *ix, int kind, const char *pat, uint32_t len, int32_t idx);

/* Number of distinct patterns. */
uint32_t fl_strix_size(const fl_strix *ix);

/* The smallest index below `best` among the patterns `s` matches, or `best` when none does. */
int32_t fl_strix_best(const fl_strix *ix, const char *s, uint32_t n, int32_t best);

#endif
