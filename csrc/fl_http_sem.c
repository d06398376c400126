/* fl_http_sem.c: message semantics of a parsed head, all in one place.
 *
 * Framing (RFC 9112 6, with HAProxy 2.6's choices where the RFC leaves one):
 *  - Content-Length is 1*DIGIT or a comma list of them; equal values (in one header or several)
 *    collapse, different ones are an error, and so is a value that overflows int64.
 *  - Transfer-Encoding in a request must end with chunked, once; any other coding beside it is
 *    refused (HAProxy 2.6.12 answers 422). In a response, chunked not last means the body runs
 *    until the server closes.
 *  - Transfer-Encoding beside Content-Length: the message is chunked, the Content-Length headers
 *    get FL_HTTP_HF_DROP (the proxy removes them before forwarding) and the connection closes
 *    after this message (HAProxy 2.6 does all three; RFC 9112 6.1 asks for the close).
 *  - Transfer-Encoding in an HTTP/1.0 message: chunked as HAProxy 2.6 does, and no keep-alive.
 * Connection tokens, Expect: 100-continue and Upgrade count only from HTTP/1.1 on, where the RFC
 * says an HTTP/1.0 recipient ignores them (keep-alive excepted).
 * Host: several identical values collapse (HAProxy), different ones are an error; the authority of
 * an absolute or CONNECT target must match Host (HAProxy 2.6 compares them without a default
 * port: 80 for http, 443 for https and CONNECT).
 */
#include <stdint.h>
#include <string.h>

#include "fl_http.h"
#include "fl_http_int.h"

static inline int fl_http_alpha(char c)
{
	return (unsigned)((unsigned char)(c | 0x20) - 'a') < 26u;
}

static inline int fl_http_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Next element of a comma list in [*pp, end): returns its bounds with OWS trimmed (may be empty),
 * advances *pp past the comma (NULL after the last element). Returns 0 when the list is done. */
static int fl_http_list_next(const char **pp, const char *end, const char **e_beg, const char **e_end)
{
	const char *p = *pp, *b, *e;

	if (!p)
		return 0;
	b = p;
	while (p < end && *p != ',')
		p++;
	e = p;
	while (b < e && fl_http_ows(*b))
		b++;
	while (e > b && fl_http_ows(e[-1]))
		e--;
	*e_beg = b;
	*e_end = e;
	*pp = p < end ? p + 1 : NULL;  /* past the comma, or done */
	return 1;
}

/* Content-Length value: 1*DIGIT *( OWS "," OWS 1*DIGIT ), every element equal.
 * Returns 0, or FL_HTTP_E_CL_INVALID / FL_HTTP_E_CL_MISMATCH. *cl holds the previous value
 * (-1 for none) and receives the new one. */
static int fl_http_content_length(const char *p, const char *end, int64_t *cl)
{
	const char *b, *e;

	while (fl_http_list_next(&p, end, &b, &e)) {
		uint64_t v = 0;

		if (b == e)
			return FL_HTTP_E_CL_INVALID;  /* empty element: HAProxy refuses "3," and ",3" */
		for (; b < e; b++) {
			unsigned d = (unsigned char)*b - '0';
			if (d > 9)
				return FL_HTTP_E_CL_INVALID;
			if (v > ((uint64_t)INT64_MAX - d) / 10)
				return FL_HTTP_E_CL_INVALID;
			v = v * 10 + d;
		}
		if (*cl >= 0 && (uint64_t)*cl != v)
			return FL_HTTP_E_CL_MISMATCH;
		*cl = (int64_t)v;
	}
	return 0;
}

/* Transfer-Encoding state carried across several headers. */
struct fl_http_te {
	unsigned chunked;      /* times chunked was seen */
	unsigned others;       /* other codings */
	unsigned empty;        /* empty list elements */
	int last_chunked;      /* the last coding seen was chunked */
	int malformed;         /* an element that is not a token (parameters aside) */
};

static void fl_http_te_scan(const char *p, const char *end, struct fl_http_te *te)
{
	const char *b, *e;

	while (fl_http_list_next(&p, end, &b, &e)) {
		const char *t = b;

		if (b == e) {
			te->empty++;
			continue;
		}
		while (t < e && fl_http_is(*t, FL_HTTP_C_TCHAR))
			t++;
		if (t == b || (t < e && !fl_http_ows(*t) && *t != ';'))
			te->malformed = 1;
		if (t - b == 7 && t == e && fl_http_ieq(b, "chunked", 7)) {
			te->chunked++;
			te->last_chunked = 1;
		} else {
			te->others++;
			te->last_chunked = 0;
		}
	}
}

/* Connection tokens. */
static void fl_http_connection(const char *p, const char *end, uint32_t *flags)
{
	const char *b, *e;

	while (fl_http_list_next(&p, end, &b, &e)) {
		size_t n = (size_t)(e - b);
		if (n == 5 && fl_http_ieq(b, "close", 5))
			*flags |= FL_HTTP_F_CONN_CLOSE;
		else if (n == 10 && fl_http_ieq(b, "keep-alive", 10))
			*flags |= FL_HTTP_F_CONN_KA;
		else if (n == 7 && fl_http_ieq(b, "upgrade", 7))
			*flags |= FL_HTTP_F_CONN_UPGRADE;
	}
}

static int fl_http_upgrade_names_websocket(const char *p, const char *end)
{
	const char *b, *e;

	while (fl_http_list_next(&p, end, &b, &e))
		if (e - b == 9 && fl_http_ieq(b, "websocket", 9))
			return 1;
	return 0;
}

static int fl_http_icase_equal(const char *a, size_t na, const char *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
		if ((unsigned)(x - 'A') < 26u) x |= 0x20;
		if ((unsigned)(y - 'A') < 26u) y |= 0x20;
		if (x != y)
			return 0;
	}
	return 1;
}

/* Drop a default port (":80" for http, ":443" for https) or an empty one ("host:") from the end
 * of a host[:port], as HAProxy 2.6 does before comparing Host and the target's authority. */
static size_t fl_http_strip_default_port(const char *h, size_t n, int scheme_port)
{
	size_t i = n;

	while (i > 0 && fl_http_is(h[i - 1], FL_HTTP_C_DIGIT))
		i--;
	if (i == 0 || h[i - 1] != ':' || (i >= 2 && h[i - 2] == ':'))
		return n;  /* no port (or part of an IPv6 literal without brackets) */
	if (i == n)
		return n - 1;  /* "host:" */
	if (h[0] == '[' && memchr(h + i, ']', n - i))
		return n;
	{
		unsigned port = 0;
		for (size_t k = i; k < n && port < 100000; k++)
			port = port * 10 + (unsigned)(h[k] - '0');
		if ((int)port == scheme_port)
			return i - 1;
	}
	return n;
}

/* Request target form; fills the authority/path fields. Returns 0 or an error code. */
static int fl_http_target_form(const char *buf, struct fl_http_msg *m, int *scheme_port)
{
	const char *t = buf + m->target_off, *end = t + m->target_len, *p, *a;

	*scheme_port = -1;
	if (*t == '/') {
		if (m->method == FL_HTTP_METH_CONNECT)
			return FL_HTTP_E_TARGET_FORM;
		m->path_off = m->target_off;
		m->path_len = m->target_len;
		return 0;
	}
	if (*t == '*') {
		if (m->target_len != 1 || m->method == FL_HTTP_METH_CONNECT)
			return FL_HTTP_E_TARGET_FORM;
		m->flags |= FL_HTTP_F_ASTERISK;
		m->path_off = m->target_off;
		m->path_len = 1;
		return 0;
	}
	if (m->method == FL_HTTP_METH_CONNECT) {
		/* authority-form = uri-host ":" port */
		const char *colon = NULL;
		for (p = t; p < end; p++) {
			if (*p == '/' || *p == '?' || *p == '@')
				return FL_HTTP_E_TARGET_FORM;
			if (*p == ':')
				colon = p;
		}
		if (!colon || colon == t || colon + 1 == end)
			return FL_HTTP_E_TARGET_FORM;
		for (p = colon + 1; p < end; p++)
			if (!fl_http_is(*p, FL_HTTP_C_DIGIT))
				return FL_HTTP_E_TARGET_FORM;
		m->flags |= FL_HTTP_F_AUTHORITY_FORM;
		*scheme_port = 443;  /* HAProxy 2.6 takes "Host: x" for "CONNECT x:443" */
		m->authority_off = m->target_off;
		m->authority_len = m->target_len;
		m->host_off = m->target_off;
		m->host_len = m->target_len;
		return 0;
	}
	/* absolute-form: scheme "://" authority [path-abempty] ["?" query] */
	p = t;
	if (!fl_http_alpha(*p))
		return FL_HTTP_E_TARGET_FORM;
	while (p < end && (fl_http_is(*p, FL_HTTP_C_DIGIT) || fl_http_alpha(*p) ||
	                   *p == '+' || *p == '-' || *p == '.'))
		p++;
	if (end - p < 3 || p[0] != ':' || p[1] != '/' || p[2] != '/')
		return FL_HTTP_E_TARGET_FORM;
	if (p - t == 4 && fl_http_ieq(t, "http", 4))
		*scheme_port = 80;
	else if (p - t == 5 && fl_http_ieq(t, "https", 5))
		*scheme_port = 443;
	a = p += 3;
	while (p < end && *p != '/' && *p != '?')
		p++;
	m->flags |= FL_HTTP_F_ABS_URI;
	m->authority_off = (uint32_t)(a - buf);
	m->authority_len = (uint32_t)(p - a);
	m->path_off = (uint32_t)(p - buf);
	m->path_len = (uint32_t)(end - p);
	{
		/* routing host: the authority without userinfo */
		const char *h = a;
		for (const char *q = a; q < p; q++)
			if (*q == '@')
				h = q + 1;
		m->host_off = (uint32_t)(h - buf);
		m->host_len = (uint32_t)(p - h);
		if (h == p && *scheme_port > 0)
			return FL_HTTP_E_TARGET_FORM;  /* RFC 9110 4.2.1: http(s) needs a host */
	}
	return 0;
}

int fl_http_sem_request(const char *buf, struct fl_http_msg *m)
{
	struct fl_http_te te = {0, 0, 0, 0, 0};
	uint32_t flags;
	int64_t cl = -1;
	const char *host = NULL;
	size_t host_len = 0;
	int ws_key = 0, websocket = 0, err, scheme_port;
	int te_hdr = -1;

	err = fl_http_target_form(buf, m, &scheme_port);
	if (err)
		return fl_http_set_error(m, err, buf, buf + m->target_off);
	flags = m->flags;

	for (unsigned i = 0; i < m->nhdrs; i++) {
		struct fl_http_hdr *h = &m->hdrs[i];
		const char *v = buf + h->value_off, *ve = v + h->value_len;

		switch (h->id) {
		case FL_HTTP_HDR_HOST:
			for (const char *q = v; q < ve; q++)
				if (!fl_http_is(*q, FL_HTTP_C_HOST))
					return fl_http_set_error(m, FL_HTTP_E_HOST_INVALID, buf, q);
			if (host && !fl_http_icase_equal(host, host_len, v, h->value_len))
				return fl_http_set_error(m, FL_HTTP_E_HOST_MULTIPLE, buf, v);
			host = v;
			host_len = h->value_len;
			flags |= FL_HTTP_F_HAS_HOST;
			break;
		case FL_HTTP_HDR_CONTENT_LENGTH:
			err = fl_http_content_length(v, ve, &cl);
			if (err)
				return fl_http_set_error(m, err, buf, v);
			flags |= FL_HTTP_F_HAS_CL;
			break;
		case FL_HTTP_HDR_TRANSFER_ENCODING:
			fl_http_te_scan(v, ve, &te);
			flags |= FL_HTTP_F_HAS_TE;
			if (te_hdr < 0)
				te_hdr = (int)i;
			break;
		case FL_HTTP_HDR_CONNECTION:
			fl_http_connection(v, ve, &flags);
			break;
		case FL_HTTP_HDR_UPGRADE:
			flags |= FL_HTTP_F_HAS_UPGRADE;
			websocket |= fl_http_upgrade_names_websocket(v, ve);
			break;
		case FL_HTTP_HDR_EXPECT:
			if (m->minor >= 1 && h->value_len == 12 && fl_http_ieq(v, "100-continue", 12))
				flags |= FL_HTTP_F_EXPECT_100;
			break;
		case FL_HTTP_HDR_SEC_WEBSOCKET_KEY:
			ws_key = 1;
			break;
		}
	}

	if (flags & FL_HTTP_F_HAS_TE) {
		const char *at = buf + m->hdrs[te_hdr].value_off;
		if (te.malformed || te.empty || te.chunked != 1 || !te.last_chunked)
			return fl_http_set_error(m, FL_HTTP_E_TE_INVALID, buf, at);
		if (te.others)
			return fl_http_set_error(m, FL_HTTP_E_TE_UNSUPPORTED, buf, at);
		flags |= FL_HTTP_F_TE_CHUNKED;
		m->body = FL_HTTP_BODY_CHUNKED;
		if (flags & FL_HTTP_F_HAS_CL) {
			flags |= FL_HTTP_F_CL_IGNORED;
			for (unsigned i = 0; i < m->nhdrs; i++)
				if (m->hdrs[i].id == FL_HTTP_HDR_CONTENT_LENGTH)
					m->hdrs[i].flags |= FL_HTTP_HF_DROP;
		}
		m->content_length = -1;
	} else if (flags & FL_HTTP_F_HAS_CL) {
		m->content_length = cl;
		m->body = cl > 0 ? FL_HTTP_BODY_LENGTH : FL_HTTP_BODY_NONE;
	} else {
		m->content_length = -1;
		m->body = FL_HTTP_BODY_NONE;
	}

	if (m->minor >= 1 && (flags & FL_HTTP_F_CONN_UPGRADE) && (flags & FL_HTTP_F_HAS_UPGRADE)) {
		flags |= FL_HTTP_F_UPGRADE;
		if (websocket) {
			flags |= FL_HTTP_F_WEBSOCKET;
			if (!ws_key)  /* HAProxy 2.6 refuses it: the upgrade could not complete */
				return fl_http_set_error(m, FL_HTTP_E_WS_KEY_MISSING, buf, buf + m->start_off);
		}
	}

	if (flags & (FL_HTTP_F_ABS_URI | FL_HTTP_F_AUTHORITY_FORM)) {
		if (host) {
			const char *a = buf + m->host_off;
			size_t na = fl_http_strip_default_port(a, m->host_len, scheme_port);
			size_t nh = fl_http_strip_default_port(host, host_len, scheme_port);
			if (!fl_http_icase_equal(a, na, host, nh))
				return fl_http_set_error(m, FL_HTTP_E_HOST_MISMATCH, buf, host);
		}
	} else if (host) {
		m->host_off = (uint32_t)(host - buf);
		m->host_len = (uint32_t)host_len;
	}

	if (m->minor >= 1)
		flags = (flags & FL_HTTP_F_CONN_CLOSE) ? flags & ~FL_HTTP_F_KEEPALIVE : flags | FL_HTTP_F_KEEPALIVE;
	else if ((flags & FL_HTTP_F_CONN_KA) && !(flags & FL_HTTP_F_CONN_CLOSE))
		flags |= FL_HTTP_F_KEEPALIVE;
	if ((flags & FL_HTTP_F_HAS_TE) && ((flags & FL_HTTP_F_HAS_CL) || m->minor == 0))
		flags &= ~FL_HTTP_F_KEEPALIVE;
	m->flags = flags;
	return 0;
}

int fl_http_sem_response(const char *buf, struct fl_http_msg *m, int req_method)
{
	struct fl_http_te te = {0, 0, 0, 0, 0};
	uint32_t flags = m->flags | FL_HTTP_F_RESPONSE;
	int64_t cl = -1;
	int err;

	m->method = (uint8_t)(req_method >= 0 && req_method < FL_HTTP_METH_COUNT ? req_method : 0);
	for (unsigned i = 0; i < m->nhdrs; i++) {
		struct fl_http_hdr *h = &m->hdrs[i];
		const char *v = buf + h->value_off, *ve = v + h->value_len;

		switch (h->id) {
		case FL_HTTP_HDR_CONTENT_LENGTH:
			err = fl_http_content_length(v, ve, &cl);
			if (err)
				return fl_http_set_error(m, err, buf, v);
			flags |= FL_HTTP_F_HAS_CL;
			break;
		case FL_HTTP_HDR_TRANSFER_ENCODING:
			fl_http_te_scan(v, ve, &te);
			flags |= FL_HTTP_F_HAS_TE;
			break;
		case FL_HTTP_HDR_CONNECTION:
			fl_http_connection(v, ve, &flags);
			break;
		case FL_HTTP_HDR_UPGRADE:
			flags |= FL_HTTP_F_HAS_UPGRADE;
			break;
		}
	}
	if ((flags & FL_HTTP_F_HAS_TE) && te.chunked > 1)
		return fl_http_set_error(m, FL_HTTP_E_TE_INVALID, buf, buf);

	if (m->minor >= 1)
		flags = (flags & FL_HTTP_F_CONN_CLOSE) ? flags & ~FL_HTTP_F_KEEPALIVE : flags | FL_HTTP_F_KEEPALIVE;
	else if ((flags & FL_HTTP_F_CONN_KA) && !(flags & FL_HTTP_F_CONN_CLOSE))
		flags |= FL_HTTP_F_KEEPALIVE;

	m->content_length = -1;
	if (m->status < 200 || m->status == 204 || m->status == 304 || req_method == FL_HTTP_METH_HEAD) {
		/* RFC 9112 6.3 (1): no body whatever the headers say; 101 switches protocols */
		m->body = m->status == 101 ? FL_HTTP_BODY_TUNNEL : FL_HTTP_BODY_NONE;
		if (m->status == 101)
			flags &= ~FL_HTTP_F_KEEPALIVE;
		if (flags & FL_HTTP_F_HAS_CL)
			m->content_length = cl;
	} else if (req_method == FL_HTTP_METH_CONNECT && m->status < 300) {
		m->body = FL_HTTP_BODY_TUNNEL;
		flags &= ~FL_HTTP_F_KEEPALIVE;
	} else if (flags & FL_HTTP_F_HAS_TE) {
		if (te.last_chunked) {
			flags |= FL_HTTP_F_TE_CHUNKED;
			m->body = FL_HTTP_BODY_CHUNKED;
		} else {
			m->body = FL_HTTP_BODY_UNTIL_CLOSE;
			flags &= ~FL_HTTP_F_KEEPALIVE;
		}
		if (flags & FL_HTTP_F_HAS_CL) {
			flags |= FL_HTTP_F_CL_IGNORED;
			flags &= ~FL_HTTP_F_KEEPALIVE;
			for (unsigned i = 0; i < m->nhdrs; i++)
				if (m->hdrs[i].id == FL_HTTP_HDR_CONTENT_LENGTH)
					m->hdrs[i].flags |= FL_HTTP_HF_DROP;
		}
		if (m->minor == 0)
			flags &= ~FL_HTTP_F_KEEPALIVE;
	} else if (flags & FL_HTTP_F_HAS_CL) {
		m->content_length = cl;
		m->body = cl > 0 ? FL_HTTP_BODY_LENGTH : FL_HTTP_BODY_NONE;
	} else {
		m->body = FL_HTTP_BODY_UNTIL_CLOSE;
		flags &= ~FL_HTTP_F_KEEPALIVE;
	}
	m->flags = flags;
	return 0;
}

/* ---- error table ---- */

struct fl_http_err_desc {
	const char *name;
	const char *text;
	int status;
};

static const struct fl_http_err_desc fl_http_errors[FL_HTTP_E_COUNT] = {
	[FL_HTTP_E_NONE] = {"NONE", "no error", 0},
	[FL_HTTP_E_METHOD] = {"METHOD", "invalid character in method", 400},
	[FL_HTTP_E_REQLINE] = {"REQLINE", "malformed request line", 400},
	[FL_HTTP_E_TARGET] = {"TARGET", "invalid character in request target", 400},
	[FL_HTTP_E_TARGET_FORM] = {"TARGET_FORM", "request target form not allowed", 400},
	[FL_HTTP_E_VERSION] = {"VERSION", "malformed HTTP version", 400},
	[FL_HTTP_E_VERSION_UNSUPPORTED] = {"VERSION_UNSUPPORTED", "HTTP version not supported", 505},
	[FL_HTTP_E_STATUS_LINE] = {"STATUS_LINE", "malformed status line", 502},
	[FL_HTTP_E_REASON] = {"REASON", "invalid character in reason phrase", 502},
	[FL_HTTP_E_BARE_CR] = {"BARE_CR", "CR not followed by LF", 400},
	[FL_HTTP_E_HDR_NAME] = {"HDR_NAME", "invalid header name", 400},
	[FL_HTTP_E_HDR_COLON] = {"HDR_COLON", "whitespace between header name and colon", 400},
	[FL_HTTP_E_HDR_VALUE] = {"HDR_VALUE", "invalid character in header value", 400},
	[FL_HTTP_E_OBS_FOLD] = {"OBS_FOLD", "obsolete line folding in request", 400},
	[FL_HTTP_E_WS_FIRST_LINE] = {"WS_FIRST_LINE", "whitespace before the first header", 400},
	[FL_HTTP_E_TOO_MANY_HDRS] = {"TOO_MANY_HDRS", "too many headers", 400},
	[FL_HTTP_E_HEAD_TOO_LARGE] = {"HEAD_TOO_LARGE", "message head too large", 400},
	[FL_HTTP_E_HDR_TOO_LONG] = {"HDR_TOO_LONG", "header name too long", 400},
	[FL_HTTP_E_CL_INVALID] = {"CL_INVALID", "invalid Content-Length", 400},
	[FL_HTTP_E_CL_MISMATCH] = {"CL_MISMATCH", "conflicting Content-Length values", 400},
	[FL_HTTP_E_TE_INVALID] = {"TE_INVALID", "invalid Transfer-Encoding", 400},
	[FL_HTTP_E_TE_UNSUPPORTED] = {"TE_UNSUPPORTED", "unsupported transfer-coding in request", 422},
	[FL_HTTP_E_HOST_MULTIPLE] = {"HOST_MULTIPLE", "conflicting Host values", 400},
	[FL_HTTP_E_HOST_INVALID] = {"HOST_INVALID", "invalid character in Host", 400},
	[FL_HTTP_E_HOST_MISMATCH] = {"HOST_MISMATCH", "Host does not match the target authority", 400},
	[FL_HTTP_E_WS_KEY_MISSING] = {"WS_KEY_MISSING", "WebSocket upgrade without Sec-WebSocket-Key", 400},
	[FL_HTTP_E_CHUNK_SIZE] = {"CHUNK_SIZE", "invalid chunk size", 400},
	[FL_HTTP_E_CHUNK_EXT] = {"CHUNK_EXT", "invalid chunk extension", 400},
	[FL_HTTP_E_CHUNK_CRLF] = {"CHUNK_CRLF", "chunk not terminated by CRLF", 400},
	[FL_HTTP_E_CHUNK_LINE_TOO_LONG] = {"CHUNK_LINE_TOO_LONG", "chunk size line too long", 400},
	[FL_HTTP_E_TRAILER] = {"TRAILER", "invalid trailer field", 400},
	[FL_HTTP_E_TRAILER_TOO_LARGE] = {"TRAILER_TOO_LARGE", "trailer section too large", 400},
};

const char *fl_http_error_str(int err)
{
	return err >= 0 && err < FL_HTTP_E_COUNT ? fl_http_errors[err].text : "unknown error";
}

const char *fl_http_error_name(int err)
{
	return err >= 0 && err < FL_HTTP_E_COUNT ? fl_http_errors[err].name : "UNKNOWN";
}

int fl_http_error_status(int err)
{
	return err > 0 && err < FL_HTTP_E_COUNT ? fl_http_errors[err].status : 400;
}
