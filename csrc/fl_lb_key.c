/* fl_lb_key.c - what each hashing algorithm hashes, as HAProxy 2.6's backend.c extracts it.
 *
 *  source       the client address, folded into 32 bits by XOR of its big-endian 32-bit words
 *               (IPv4: the address itself; IPv6: the XOR of its four words); no hash function.
 *  uri          the request target up to '?' (all of it with "whole"), cut at "len" bytes and
 *               before the "depth"+1th slash; with "path-only" the scheme and authority of an
 *               absolute URI are skipped first.
 *  url_param    the value of the first "<name>=" parameter of the query string (up to '&').
 *  hdr(<name>)  the first non-empty comma-separated value of the header (quoted strings kept
 *               whole); with use_domain_only, the label before the last dot.
 *  rdp-cookie   the value of "Cookie: <name>=<value>\r\n" in the RDP connection request.
 *  hash <expr>  the expression's value, computed by the caller.
 */
#include <string.h>
#include <strings.h>

#include "fl_lb.h"

static inline int fl_lb_is_lws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static inline int fl_lb_is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline int fl_lb_is_alnum(char c)
{
    return fl_lb_is_alpha(c) || (c >= '0' && c <= '9');
}

/* The path of a request target, as HAProxy's http_parse_path(): the whole target when it is in
 * origin form ("/..."); after "scheme://authority" for an absolute URI (the query string stays
 * part of the path); nothing for "*", for an authority-form target or an absolute URI without a
 * path. */
int fl_lb_uri_path(const char *uri, uint32_t len, const char **path, uint32_t *plen)
{
    const char *p = uri, *end = uri + len;

    if (!len || *uri == '*')
        return 0;
    if (*uri != '/') {
        /* scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) "://" */
        if (!fl_lb_is_alpha(*p))
            return 0;
        p++;
        while (p < end && (fl_lb_is_alnum(*p) || *p == '+' || *p == '-' || *p == '.'))
            p++;
        if (end - p < 3 || p[0] != ':' || p[1] != '/' || p[2] != '/')
            return 0;
        p += 3;
        /* authority: up to the first '/' */
        while (p < end && *p != '/')
            p++;
        if (p == end)
            return 0;
    }
    *path = p;
    *plen = (uint32_t)(end - p);
    return 1;
}

/* Value of parameter <name> in the query string of <uri> (HAProxy's get_server_ph()): parameters
 * are compared byte for byte, case-sensitively, from the first '?' on; a name is only recognised
 * at the start of a parameter and must be followed by '='. The value may be empty. */
int fl_lb_url_param(const char *uri, uint32_t len, const char *name, uint32_t nlen,
                    const char **val, uint32_t *vlen)
{
    const char *q = memchr(uri, '?', len);
    const char *params, *p;
    uint32_t left;

    if (!q)
        return 0;
    params = q + 1;
    left = len - (uint32_t)(params - uri);
    while (left > nlen) {
        if (params[nlen] == '=' && memcmp(params, name, nlen) == 0) {
            const char *v = params + nlen + 1, *e = v;
            uint32_t vleft = left - nlen - 1;

            while (vleft && *e != '&') {
                vleft--;
                e++;
            }
            *val = v;
            *vlen = (uint32_t)(e - v);
            return 1;
        }
        p = memchr(params, '&', left);
        if (!p)
            return 0;
        p++;
        left -= (uint32_t)(p - params);
        params = p;
    }
    return 0;
}

/* End of the first element of a comma-separated header value; commas inside a quoted string
 * (with backslash escapes) do not count (HAProxy's http_find_hdr_value_end()). */
static const char *fl_lb_hdr_value_end(const char *s, const char *e)
{
    int quoted = 0, qdpair = 0;

    for (; s < e; s++) {
        if (qdpair)
            qdpair = 0;
        else if (quoted) {
            if (*s == '\\')
                qdpair = 1;
            else if (*s == '"')
                quoted = 0;
        } else if (*s == '"')
            quoted = 1;
        else if (*s == ',')
            return s;
    }
    return s;
}

/* The value hdr(<name>) hashes (HAProxy 2.6's http_find_header() without "full", measured): the
 * first comma-separated element of the header's first line, blanks trimmed. When that element is
 * empty HAProxy falls back to round robin: it does not look further in the line nor at the
 * following lines. */
int fl_lb_hdr_value(const fl_lb_str_t *hdrs, uint32_t nhdrs, const char **val, uint32_t *vlen)
{
    const char *p, *end;

    if (!nhdrs || !hdrs[0].ptr)
        return 0;
    p = hdrs[0].ptr;
    end = p + hdrs[0].len;
    while (p < end && fl_lb_is_lws(*p))
        p++;
    end = fl_lb_hdr_value_end(p, end);
    while (end > p && fl_lb_is_lws(end[-1]))
        end--;
    if (end == p)
        return 0;
    *val = p;
    *vlen = (uint32_t)(end - p);
    return 1;
}

/* "use_domain_only": scanning backwards, the hashed part ends at the last dot and starts after
 * the dot before it (or at the start): "haproxy.1wt.eu" -> "1wt", "example.com" -> "example", a
 * name without a dot is hashed whole. HAProxy's loop also looks at the byte just after the value
 * (an out-of-range read we do not reproduce: a dot there is treated as absent). */
int fl_lb_domain_only(const char *val, uint32_t len, const char **dom, uint32_t *dlen)
{
    const char *p = val + len, *end = p;
    int in_domain = 0;

    while (p > val) {
        if (in_domain) {
            if (p[-1] == '.')
                break;
        } else if (p < val + len && *p == '.') {
            end = p;
            in_domain = 1;
        }
        p--;
    }
    /* as in HAProxy, the first byte of the value is never taken for the last dot */
    *dom = p;
    *dlen = (uint32_t)(end - p);
    return 1;
}

/* RDP cookie value in an X.224 connection request (HAProxy's fetch_rdp_cookie_name()): after the
 * 11 bytes of TPKT + X.224 headers comes "Cookie:" (any case), spaces, "<name>=" (any case; with
 * no name, any name) and the value up to "\r\n". 0 when absent or incomplete. */
int fl_lb_rdp_cookie(const char *buf, uint32_t len, const char *name, uint32_t nlen,
                     const char **val, uint32_t *vlen)
{
    const char *p, *end;

    if (len <= 11)
        return 0;
    p = buf + 11;
    end = buf + len;
    if (end - p <= 7 || strncasecmp(p, "Cookie:", 7) != 0)
        return 0;
    p += 7;
    while (p < end && *p == ' ')
        p++;
    if (nlen) {
        if (end - p <= (long)nlen || p[nlen] != '=' || strncasecmp(name, p, nlen) != 0)
            return 0;
        p += nlen + 1;
    } else {
        while (p < end && *p != '=') {
            if (*p == '\r' || *p == '\n')
                return 0;
            p++;
        }
        if (p >= end)
            return 0;
        p++;
    }
    *val = p;
    while (p < end && *p != '\r')
        p++;
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
        return 0;
    *vlen = (uint32_t)(p - *val);
    return 1;
}

/* uri hash: HAProxy's get_server_uh() without its one-server shortcut */
static uint32_t fl_lb_uri_hash(const fl_lb_t *lb, const char *uri, uint32_t len)
{
    const char *start = uri, *end = uri;
    uint32_t slashes = 0;
    uint32_t stop_at = lb->conf.uri_depth ? lb->conf.uri_depth + 1 : 0;

    if (lb->conf.uri_len && lb->conf.uri_len < len)
        len = lb->conf.uri_len;
    if (!stop_at) {
        /* no depth: the key ends at '?' (or is whole), memchr finds it faster than the loop */
        const char *q = lb->conf.uri_whole ? NULL : memchr(start, '?', len);

        return fl_hash_key(lb->conf.hash_fn, start, q ? (size_t)(q - start) : len);
    }
    while (len--) {
        char c = *end;

        if (c == '/') {
            slashes++;
            if (slashes == stop_at)
                break;
        } else if (c == '?' && !lb->conf.uri_whole)
            break;
        end++;
    }
    return fl_hash_key(lb->conf.hash_fn, start, (size_t)(end - start));
}

static inline uint32_t fl_lb_mod(const fl_lb_t *lb, uint32_t h)
{
    return lb->conf.avalanche ? fl_hash_avalanche(h) : h;
}

int fl_lb_key_hash(const fl_lb_t *lb, const fl_lb_key_t *key, uint32_t *hash)
{
    const char *v;
    uint32_t vlen, h = 0;

    switch (lb->conf.algo) {
    case FL_LB_SOURCE:
        if (!key->src || (key->src_len != 4 && key->src_len != 16))
            return 0;
        if (lb->tot_used == 1)
            break; /* one server left: HAProxy does not hash (hash 0) */
        for (uint32_t l = 0; l + 4 <= key->src_len; l += 4)
            h ^= ((uint32_t)key->src[l] << 24) | ((uint32_t)key->src[l + 1] << 16) |
                 ((uint32_t)key->src[l + 2] << 8) | key->src[l + 3];
        h = fl_lb_mod(lb, h);
        break;
    case FL_LB_URI:
        if (!key->uri)
            return 0;
        if (lb->tot_used == 1)
            break;
        v = key->uri;
        vlen = key->uri_len;
        if (lb->conf.uri_path_only && !fl_lb_uri_path(key->uri, key->uri_len, &v, &vlen))
            vlen = 0;
        h = fl_lb_mod(lb, fl_lb_uri_hash(lb, v, vlen));
        break;
    case FL_LB_URL_PARAM:
        /* no one-server shortcut in HAProxy for this one */
        if (!key->uri || !fl_lb_url_param(key->uri, key->uri_len, lb->name, lb->conf.name_len, &v, &vlen))
            return 0;
        h = fl_lb_mod(lb, fl_hash_key(lb->conf.hash_fn, v, vlen));
        break;
    case FL_LB_HDR:
        if (!key->uri)
            return 0; /* not an HTTP request */
        if (lb->tot_used == 1)
            break;
        if (!fl_lb_hdr_value(key->hdrs, key->nhdrs, &v, &vlen))
            return 0;
        if (lb->conf.use_domain_only)
            fl_lb_domain_only(v, vlen, &v, &vlen);
        h = fl_lb_mod(lb, fl_hash_key(lb->conf.hash_fn, v, vlen));
        break;
    case FL_LB_RDP_COOKIE:
        if (!key->payload ||
            !fl_lb_rdp_cookie(key->payload, key->payload_len, lb->name, lb->conf.name_len, &v, &vlen) ||
            !vlen)
            return 0;
        if (lb->tot_used == 1)
            break;
        h = fl_lb_mod(lb, fl_hash_key(lb->conf.hash_fn, v, vlen));
        break;
    case FL_LB_HASH:
        if (lb->tot_used == 1)
            break;
        if (!key->sample)
            return 0;
        h = fl_lb_mod(lb, fl_hash_key(lb->conf.hash_fn, key->sample, key->sample_len));
        break;
    default:
        return 0;
    }
    *hash = h;
    return 1;
}
