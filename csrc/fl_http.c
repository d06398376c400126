/* fl_http.c: HTTP/1.x head parser: start lines, header lines, incremental resumption.
 *
 * Lines are parsed whole: a line that is cut by the end of the buffer is left for the next call
 * (FL_HTTP_INCOMPLETE), which first looks for a line feed among the new bytes only and returns
 * at once when there is none. So a head that arrives one byte at a time costs O(n), not O(n^2):
 * each byte is scanned once by memchr and at most twice by the line parser.
 *
 * Line ends: CRLF, or a bare LF (RFC 9112 2.2 lets a recipient accept it for the start line and
 * field lines; HAProxy 2.6 does). A CR not followed by LF is refused.
 */
#include <string.h>

#include "fl_http.h"
#include "fl_http_int.h"

enum { FL_PHASE_START = 0, FL_PHASE_HEADERS = 1, FL_PHASE_DONE = 2 };
enum { FL_KIND_REQUEST = 0, FL_KIND_RESPONSE = 1, FL_KIND_HEADERS = 2 };

/* Outcome of a line parser: the next position, or one of these in *st. */
#define FL_ST_OK          0
#define FL_ST_INCOMPLETE  FL_HTTP_INCOMPLETE
#define FL_ST_INVALID     FL_HTTP_INVALID

/* Bytes examined by the head parser, all calls of this copy of the library together: an upper
 * bound (memchr over new bytes, then the line parser from the resume point). Tests read it to
 * prove that a slowly arriving head costs O(n); it is one add per call, so it stays on. */
static uint64_t fl_http_scanned;

uint64_t fl_http_scan_count(void)
{
	return fl_http_scanned;
}

/* The sanitizers this copy was compiled with: setup.py defines FL_HTTP_SANITIZERS (the
 * -fsanitize list) for FASTLB_SANITIZE=1; other ASan builds (the fuzzer's) are seen by the
 * compiler's own macros. */
#if !defined(FL_HTTP_SANITIZERS)
#if defined(__SANITIZE_ADDRESS__)
#define FL_HTTP_SANITIZERS "address"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FL_HTTP_SANITIZERS "address"
#endif
#endif
#endif
#if !defined(FL_HTTP_SANITIZERS)
#define FL_HTTP_SANITIZERS ""
#endif

uint32_t fl_http_htx_size(const struct fl_http_msg *m)
{
	uint64_t n = 85 + 8;  /* fixed overhead, and the version (HTTP/1.x) */

	if (m->flags & FL_HTTP_F_RESPONSE)
		n += 3 + m->reason_len;  /* status code, reason */
	else
		n += m->method_len + m->target_len;
	for (uint16_t i = 0; i < m->nhdrs; i++) {
		if (m->hdrs[i].flags & FL_HTTP_HF_DROP)
			continue;
		n += 8u + m->hdrs[i].name_len + m->hdrs[i].value_len;
	}
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

const char *fl_http_build_sanitizers(void)
{
	return FL_HTTP_SANITIZERS;
}

void fl_http_msg_init(struct fl_http_msg *m, struct fl_http_hdr *hdrs, uint16_t hdr_cap)
{
	memset(m, 0, sizeof(*m));
	m->hdrs = hdrs;
	m->hdr_cap = hdr_cap;
	m->content_length = -1;
}

void fl_http_msg_reset(struct fl_http_msg *m)
{
	struct fl_http_hdr *hdrs = m->hdrs;
	uint16_t cap = m->hdr_cap;

	fl_http_msg_init(m, hdrs, cap);
}

void fl_http_limits_default(struct fl_http_limits *lim)
{
	lim->max_head = FL_HTTP_DEFAULT_MAX_HEAD;
	lim->maxhdr = FL_HTTP_DEFAULT_MAXHDR;
	lim->reserved = 0;
}

static const char *const fl_http_methods[FL_HTTP_METH_COUNT] = {
	"", "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
};

const char *fl_http_method_str(int method)
{
	return method > 0 && method < FL_HTTP_METH_COUNT ? fl_http_methods[method] : "";
}

/* Methods are case-sensitive (RFC 9110 9.1). */
static inline int fl_http_method_id(const char *p, size_t n)
{
	switch (n) {
	case 3:
		if (memcmp(p, "GET", 3) == 0) return FL_HTTP_METH_GET;
		if (memcmp(p, "PUT", 3) == 0) return FL_HTTP_METH_PUT;
		break;
	case 4:
		if (memcmp(p, "POST", 4) == 0) return FL_HTTP_METH_POST;
		if (memcmp(p, "HEAD", 4) == 0) return FL_HTTP_METH_HEAD;
		break;
	case 5:
		if (memcmp(p, "PATCH", 5) == 0) return FL_HTTP_METH_PATCH;
		if (memcmp(p, "TRACE", 5) == 0) return FL_HTTP_METH_TRACE;
		break;
	case 6:
		if (memcmp(p, "DELETE", 6) == 0) return FL_HTTP_METH_DELETE;
		break;
	case 7:
		if (memcmp(p, "OPTIONS", 7) == 0) return FL_HTTP_METH_OPTIONS;
		if (memcmp(p, "CONNECT", 7) == 0) return FL_HTTP_METH_CONNECT;
		break;
	}
	return FL_HTTP_METH_OTHER;
}

static const char *const fl_http_hdr_names[FL_HTTP_HDR_COUNT] = {
	"", "host", "content-length", "transfer-encoding", "connection", "upgrade", "expect",
	"x-forwarded-for", "cookie", "set-cookie", "keep-alive", "proxy-connection", "te", "trailer",
	"sec-websocket-key", "authorization", "user-agent", "referer", "content-type",
	"x-forwarded-proto", "forwarded", "location", "x-real-ip",
};

const char *fl_http_hdr_name(int id)
{
	return id > 0 && id < FL_HTTP_HDR_COUNT ? fl_http_hdr_names[id] : "";
}

#define FL_HID(lit, id) do { if (fl_http_ieq(p, lit, sizeof(lit) - 1)) return id; } while (0)

/* Header id by name: a switch on the length, then one or two case-insensitive compares. */
static inline int fl_http_hdr_id(const char *p, size_t n)
{
	switch (n) {
	case 2: FL_HID("te", FL_HTTP_HDR_TE); break;
	case 4: FL_HID("host", FL_HTTP_HDR_HOST); break;
	case 6:
		FL_HID("cookie", FL_HTTP_HDR_COOKIE);
		FL_HID("expect", FL_HTTP_HDR_EXPECT);
		break;
	case 7:
		FL_HID("upgrade", FL_HTTP_HDR_UPGRADE);
		FL_HID("trailer", FL_HTTP_HDR_TRAILER);
		FL_HID("referer", FL_HTTP_HDR_REFERER);
		break;
	case 8: FL_HID("location", FL_HTTP_HDR_LOCATION); break;
	case 9:
		FL_HID("x-real-ip", FL_HTTP_HDR_X_REAL_IP);
		FL_HID("forwarded", FL_HTTP_HDR_FORWARDED);
		break;
	case 10:
		FL_HID("connection", FL_HTTP_HDR_CONNECTION);
		FL_HID("set-cookie", FL_HTTP_HDR_SET_COOKIE);
		FL_HID("keep-alive", FL_HTTP_HDR_KEEP_ALIVE);
		FL_HID("user-agent", FL_HTTP_HDR_USER_AGENT);
		break;
	case 12: FL_HID("content-type", FL_HTTP_HDR_CONTENT_TYPE); break;
	case 13: FL_HID("authorization", FL_HTTP_HDR_AUTHORIZATION); break;
	case 14: FL_HID("content-length", FL_HTTP_HDR_CONTENT_LENGTH); break;
	case 15: FL_HID("x-forwarded-for", FL_HTTP_HDR_X_FORWARDED_FOR); break;
	case 16: FL_HID("proxy-connection", FL_HTTP_HDR_PROXY_CONNECTION); break;
	case 17:
		FL_HID("transfer-encoding", FL_HTTP_HDR_TRANSFER_ENCODING);
		FL_HID("sec-websocket-key", FL_HTTP_HDR_SEC_WEBSOCKET_KEY);
		FL_HID("x-forwarded-proto", FL_HTTP_HDR_X_FORWARDED_PROTO);
		break;
	}
	return FL_HTTP_HDR_OTHER;
}

/* p points at the CR or LF that must end a line. Returns the position after the line end. */
static inline const char *fl_http_eol(const char *buf, const char *p, const char *end,
                                      struct fl_http_msg *m, int *st, int err)
{
	if (*p == '\n')
		return p + 1;
	if (*p == '\r') {
		if (p + 1 == end) {
			*st = FL_ST_INCOMPLETE;
			return NULL;
		}
		if (p[1] == '\n')
			return p + 2;
		*st = fl_http_set_error(m, FL_HTTP_E_BARE_CR, buf, p);
		return NULL;
	}
	*st = fl_http_set_error(m, err, buf, p);
	return NULL;
}

/* "HTTP/1.x" at p. Returns the position after it; checks what is there when it is short, so a
 * wrong version fails before the line is complete. */
static inline const char *fl_http_version(const char *buf, const char *p, const char *end,
                                          struct fl_http_msg *m, int *st)
{
	static const char lit[] = "HTTP/";
	size_t avail = (size_t)(end - p);

	if (fl_likely(avail >= 8)) {
		if (memcmp(p, lit, 5) != 0 || !fl_http_is(p[5], FL_HTTP_C_DIGIT) || p[6] != '.' ||
		    !fl_http_is(p[7], FL_HTTP_C_DIGIT)) {
			*st = fl_http_set_error(m, FL_HTTP_E_VERSION, buf, p);
			return NULL;
		}
		if (p[5] != '1') {
			*st = fl_http_set_error(m, FL_HTTP_E_VERSION_UNSUPPORTED, buf, p);
			return NULL;
		}
		m->minor = (uint8_t)(p[7] - '0');
		return p + 8;
	}
	for (size_t i = 0; i < avail; i++) {
		int ok = i < 5 ? p[i] == lit[i] : i == 6 ? p[i] == '.' : fl_http_is(p[i], FL_HTTP_C_DIGIT);
		if (!ok) {
			*st = fl_http_set_error(m, FL_HTTP_E_VERSION, buf, p + i);
			return NULL;
		}
	}
	*st = FL_ST_INCOMPLETE;
	return NULL;
}

/* request-line = method SP request-target SP HTTP-version CRLF, exactly one SP each (HAProxy 2.6
 * also takes runs of spaces and tabs; at an edge a single reading is safer). */
static const char *fl_http_request_line(const char *buf, const char *p, const char *end,
                                        struct fl_http_msg *m, int *st)
{
	const char *tok = p;

	p = fl_http_scan.token(p, end);
	if (p == end)
		goto incomplete;
	if (fl_unlikely(*p != ' ' || p == tok)) {
		int err = (p == tok || (*p != '\t' && *p != '\r' && *p != '\n')) ? FL_HTTP_E_METHOD
		                                                                 : FL_HTTP_E_REQLINE;
		*st = fl_http_set_error(m, err, buf, p);
		return NULL;
	}
	m->method_off = (uint32_t)(tok - buf);
	m->method_len = (uint32_t)(p - tok);
	m->method = (uint8_t)fl_http_method_id(tok, (size_t)(p - tok));

	tok = ++p;
	p = fl_http_scan.target(p, end);
	if (p == end)
		goto incomplete;
	if (fl_unlikely(*p != ' ' || p == tok)) {
		int err = (p == tok || *p == '\r' || *p == '\n' || *p == '\t') ? FL_HTTP_E_REQLINE
		                                                               : FL_HTTP_E_TARGET;
		*st = fl_http_set_error(m, err, buf, p);
		return NULL;
	}
	m->target_off = (uint32_t)(tok - buf);
	m->target_len = (uint32_t)(p - tok);

	p = fl_http_version(buf, p + 1, end, m, st);
	if (!p)
		return NULL;
	if (p == end)
		goto incomplete;
	return fl_http_eol(buf, p, end, m, st, FL_HTTP_E_VERSION);
incomplete:
	*st = FL_ST_INCOMPLETE;
	return NULL;
}

/* status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF. "HTTP/1.1 200" with
 * neither SP nor reason is taken too: servers send it and nothing else can be meant. */
static const char *fl_http_status_line(const char *buf, const char *p, const char *end,
                                       struct fl_http_msg *m, int *st)
{
	const char *q;

	p = fl_http_version(buf, p, end, m, st);
	if (!p)
		return NULL;
	if (end - p < 5) {
		/* check what is there: SP then digits */
		for (q = p; q < end; q++)
			if (q == p ? *q != ' ' : !fl_http_is(*q, FL_HTTP_C_DIGIT))
				goto bad_status;
		goto incomplete;
	}
	if (p[0] != ' ' || !fl_http_is(p[1], FL_HTTP_C_DIGIT) || !fl_http_is(p[2], FL_HTTP_C_DIGIT) ||
	    !fl_http_is(p[3], FL_HTTP_C_DIGIT) || p[1] == '0')
		goto bad_status;
	m->status = (uint16_t)((p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0'));
	p += 4;
	if (*p == ' ') {
		q = ++p;
		p = fl_http_scan.value(p, end);
		if (p == end)
			goto incomplete;
		m->reason_off = (uint32_t)(q - buf);
		m->reason_len = (uint32_t)(p - q);
		return fl_http_eol(buf, p, end, m, st, FL_HTTP_E_REASON);
	}
	m->reason_off = (uint32_t)(p - buf);
	m->reason_len = 0;
	return fl_http_eol(buf, p, end, m, st, FL_HTTP_E_STATUS_LINE);
bad_status:
	*st = fl_http_set_error(m, FL_HTTP_E_STATUS_LINE, buf, p);
	return NULL;
incomplete:
	*st = FL_ST_INCOMPLETE;
	return NULL;
}

/* Header lines up to and including the empty line. Complete lines are stored as they are
 * parsed; on FL_ST_INCOMPLETE *resume is the start of the cut line. */
static const char *fl_http_header_lines(const char *buf, const char *p, const char *end,
                                        struct fl_http_msg *m, unsigned maxfields, int kind,
                                        int *st, const char **resume)
{
	for (;;) {
		const char *line = p, *name, *colon, *vstart, *vend;
		struct fl_http_hdr *h;

		*resume = line;
		if (p == end)
			goto incomplete;
		if (*p == '\r' || *p == '\n')
			return fl_http_eol(buf, p, end, m, st, FL_HTTP_E_BARE_CR);

		if (fl_unlikely(*p == ' ' || *p == '\t')) {
			/* obs-fold: refused in requests; in responses the value grows over it */
			if (m->nhdrs == 0) {
				*st = fl_http_set_error(m, FL_HTTP_E_WS_FIRST_LINE, buf, p);
				return NULL;
			}
			if (kind != FL_KIND_RESPONSE) {
				*st = fl_http_set_error(m, FL_HTTP_E_OBS_FOLD, buf, p);
				return NULL;
			}
			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
			vstart = p;
			p = fl_http_scan.value(p, end);
			if (p == end)
				goto incomplete;
			vend = p;
			while (vend > vstart && (vend[-1] == ' ' || vend[-1] == '\t'))
				vend--;
			p = fl_http_eol(buf, p, end, m, st, FL_HTTP_E_HDR_VALUE);
			if (!p)
				return NULL;
			h = &m->hdrs[m->nhdrs - 1];
			if (vend > vstart) {
				if (h->value_len == 0)
					h->value_off = (uint32_t)(vstart - buf);
				else
					h->flags |= FL_HTTP_HF_FOLDED;
				h->value_len = (uint32_t)(vend - buf) - h->value_off;
			}
			m->flags |= FL_HTTP_F_FOLDED;
			continue;
		}

		name = p;
		p = fl_http_scan.token(p, end);
		if (p == end)
			goto incomplete;
		if (fl_unlikely(*p != ':' || p == name)) {
			int err = (p != name && (*p == ' ' || *p == '\t')) ? FL_HTTP_E_HDR_COLON : FL_HTTP_E_HDR_NAME;
			*st = fl_http_set_error(m, err, buf, p);
			return NULL;
		}
		if (fl_unlikely(p - name > 0xffff)) {
			*st = fl_http_set_error(m, FL_HTTP_E_HDR_TOO_LONG, buf, name);
			return NULL;
		}
		colon = p++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		vstart = p;
		p = fl_http_scan.value(p, end);
		if (p == end)
			goto incomplete;
		vend = p;
		while (vend > vstart && (vend[-1] == ' ' || vend[-1] == '\t'))
			vend--;
		p = fl_http_eol(buf, p, end, m, st, FL_HTTP_E_HDR_VALUE);
		if (!p)
			return NULL;
		if (fl_unlikely(m->nhdrs >= maxfields)) {
			*st = fl_http_set_error(m, FL_HTTP_E_TOO_MANY_HDRS, buf, name);
			return NULL;
		}
		h = &m->hdrs[m->nhdrs++];
		h->name_off = (uint32_t)(name - buf);
		h->name_len = (uint16_t)(colon - name);
		h->value_off = (uint32_t)(vstart - buf);
		h->value_len = (uint32_t)(vend - vstart);
		h->id = (uint8_t)fl_http_hdr_id(name, h->name_len);
		h->flags = 0;
	}
incomplete:
	*st = FL_ST_INCOMPLETE;
	return NULL;
}

/* The driver of the three parse functions. */
static int fl_http_parse_head(const char *buf, size_t len, struct fl_http_msg *m,
                              const struct fl_http_limits *lim, int kind, int req_method)
{
	uint32_t max_head = lim ? lim->max_head : FL_HTTP_DEFAULT_MAX_HEAD;
	unsigned maxhdr = lim ? lim->maxhdr : FL_HTTP_DEFAULT_MAXHDR;
	unsigned maxfields = maxhdr > 0 ? maxhdr - 1 : 0;
	size_t scan_len = len < max_head ? len : max_head;
	const char *end = buf + scan_len, *p, *resume;
	int st = FL_ST_OK;

	if (maxfields > m->hdr_cap)
		maxfields = m->hdr_cap;

	if (m->scan_phase == FL_PHASE_DONE || scan_len < m->scan_seen) {
		/* a finished message, or a buffer that is not the previous one grown: start over */
		fl_http_msg_reset(m);
	}
	if (m->scan_seen) {
		/* resuming: the cut line gets parsed again only once a line feed has arrived */
		fl_http_scanned += scan_len - m->scan_seen;
		if (!memchr(buf + m->scan_seen, '\n', scan_len - m->scan_seen)) {
			m->scan_seen = (uint32_t)scan_len;
			goto incomplete;
		}
		p = buf + m->scan_resume;
	} else {
		p = buf;
		m->scan_phase = FL_PHASE_START;
		if (kind == FL_KIND_HEADERS)
			m->scan_phase = FL_PHASE_HEADERS;
	}

	fl_http_scanned += (uint64_t)(end - p);
	if (m->scan_phase == FL_PHASE_START) {
		if (kind == FL_KIND_REQUEST) {
			/* RFC 9112 2.2: ignore empty lines before the request line */
			while (p < end && (*p == '\r' || *p == '\n')) {
				if (*p == '\r') {
					if (p + 1 == end)
						break;
					if (p[1] != '\n')
						return fl_http_set_error(m, FL_HTTP_E_BARE_CR, buf, p);
					p++;
				}
				p++;
			}
			m->start_off = (uint32_t)(p - buf);
			resume = p;
			if (p + 1 >= end && (p == end || *p == '\r')) {
				st = FL_ST_INCOMPLETE;
				p = NULL;
			} else {
				p = fl_http_request_line(buf, p, end, m, &st);
			}
		} else {
			m->start_off = 0;
			resume = p;
			p = fl_http_status_line(buf, p, end, m, &st);
		}
		if (!p) {
			if (st == FL_ST_INCOMPLETE) {
				m->scan_resume = (uint32_t)(resume - buf);
				goto incomplete_seen;
			}
			return st;
		}
		m->scan_phase = FL_PHASE_HEADERS;
	}

	p = fl_http_header_lines(buf, p, end, m, maxfields, kind, &st, &resume);
	if (!p) {
		if (st == FL_ST_INCOMPLETE) {
			m->scan_resume = (uint32_t)(resume - buf);
			goto incomplete_seen;
		}
		return st;
	}
	m->scan_phase = FL_PHASE_DONE;
	m->head_len = (uint32_t)(p - buf);
	if (kind == FL_KIND_REQUEST)
		return fl_http_sem_request(buf, m) < 0 ? FL_HTTP_INVALID : (int)m->head_len;
	if (kind == FL_KIND_RESPONSE)
		return fl_http_sem_response(buf, m, req_method) < 0 ? FL_HTTP_INVALID : (int)m->head_len;
	return (int)m->head_len;

incomplete_seen:
	m->scan_seen = (uint32_t)scan_len;
incomplete:
	if (len >= max_head)
		return fl_http_set_error(m, FL_HTTP_E_HEAD_TOO_LARGE, buf, end);
	return FL_HTTP_INCOMPLETE;
}

int fl_http_parse_request(const char *buf, size_t len, struct fl_http_msg *m,
                          const struct fl_http_limits *lim)
{
	return fl_http_parse_head(buf, len, m, lim, FL_KIND_REQUEST, FL_HTTP_METH_OTHER);
}

int fl_http_parse_response(const char *buf, size_t len, struct fl_http_msg *m, int req_method,
                           const struct fl_http_limits *lim)
{
	return fl_http_parse_head(buf, len, m, lim, FL_KIND_RESPONSE, req_method);
}

int fl_http_parse_headers(const char *buf, size_t len, struct fl_http_msg *m,
                          const struct fl_http_limits *lim)
{
	return fl_http_parse_head(buf, len, m, lim, FL_KIND_HEADERS, FL_HTTP_METH_OTHER);
}

void fl_http_unfold(char *buf, const struct fl_http_hdr *h)
{
	if (!(h->flags & FL_HTTP_HF_FOLDED))
		return;
	for (uint32_t i = 0; i < h->value_len; i++) {
		char *c = buf + h->value_off + i;
		if (*c == '\r' || *c == '\n')
			*c = ' ';
	}
}

int fl_http_find_hdr(const struct fl_http_msg *m, int id, int from)
{
	for (int i = from < 0 ? 0 : from; i < m->nhdrs; i++)
		if (m->hdrs[i].id == id)
			return i;
	return -1;
}

int fl_http_bench_parse_request(const char *buf, size_t len, struct fl_http_msg *m, long n)
{
	int ret = 0;

	for (long i = 0; i < n; i++) {
		fl_http_msg_reset(m);
		ret = fl_http_parse_request(buf, len, m, NULL);
	}
	return ret;
}

int fl_http_bench_parse_response(const char *buf, size_t len, struct fl_http_msg *m, long n)
{
	int ret = 0;

	for (long i = 0; i < n; i++) {
		fl_http_msg_reset(m);
		ret = fl_http_parse_response(buf, len, m, FL_HTTP_METH_GET, NULL);
	}
	return ret;
}
