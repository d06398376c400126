/* fl_http_chunked.c: incremental decoder of the chunked transfer coding (RFC 9112 7.1).
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-ext    = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 *
 * Strict where smuggling lives: the framing lines (size lines, the CRLF after chunk data) need
 * CRLF, a bare LF is refused (RFC 9112 2.2 allows a bare LF for the start line and fields only;
 * HAProxy 2.6 takes it, a front proxy that does lets a lenient back end see other chunks).
 * Extensions are checked against the grammar above and ignored; their line is bounded by
 * FL_HTTP_CHUNK_LINE_MAX. Chunk sizes up to 2^63 - 1 (16 significant hex digits, leading zeros
 * free but counted in the line bound). Trailer fields follow the field-line rules (token name,
 * colon right after it, no control characters, CRLF or LF) and the section is bounded by
 * max_trailer. The decoder is a byte-wise state machine except for chunk data, which is moved
 * with memmove in one step per chunk and buffer.
 */
#include <string.h>

#include "fl_http.h"
#include "fl_http_int.h"

enum {
	CS_SIZE_FIRST = 0,  /* first hex digit of a size */
	CS_SIZE,            /* more digits */
	CS_SIZE_WS,         /* BWS after the size */
	CS_EXT_NAME_FIRST,  /* after ';' and BWS */
	CS_EXT_NAME,
	CS_EXT_NAME_WS,     /* BWS after a name */
	CS_EXT_VAL_FIRST,   /* after '=' and BWS */
	CS_EXT_VAL_TOKEN,
	CS_EXT_VAL_QUOTED,
	CS_EXT_VAL_QESC,
	CS_EXT_AFTER_VAL,   /* BWS after a value */
	CS_SIZE_LF,         /* CR seen at the end of the size line */
	CS_DATA,
	CS_DATA_CR,
	CS_DATA_LF,
	CS_TRAILER_START,   /* start of a trailer line, or of the final empty line */
	CS_TRAILER_NAME,
	CS_TRAILER_VALUE,
	CS_TRAILER_LF,      /* CR seen at the end of a trailer line */
	CS_END_LF,          /* CR of the final empty line seen */
	CS_DONE,
	CS_ERROR
};

void fl_http_chunked_init(struct fl_http_chunked *d)
{
	memset(d, 0, sizeof(*d));
	d->max_trailer = FL_HTTP_DEFAULT_MAX_HEAD;
	d->state = CS_SIZE_FIRST;
}

static inline int fl_http_hexval(unsigned char c)
{
	if ((unsigned)(c - '0') < 10u) return c - '0';
	c |= 0x20;
	if ((unsigned)(c - 'a') < 6u) return c - 'a' + 10;
	return -1;
}

int fl_http_chunked_feed(struct fl_http_chunked *d, const char *in, size_t in_len, size_t *in_used,
                         char *out, size_t *out_len)
{
	const char *p = in, *end = in + in_len;
	size_t olen = 0;
	int err = 0;

	if (d->state == CS_DONE) {
		*in_used = 0;
		*out_len = 0;
		return 0;
	}
	if (d->state == CS_ERROR) {
		*in_used = 0;
		*out_len = 0;
		return FL_HTTP_INVALID;
	}
	while (p < end) {
		unsigned char c;

		if (d->state == CS_DATA) {
			size_t n = (size_t)(end - p);
			if (n > d->remaining)
				n = (size_t)d->remaining;
			if (out) {
				if (out + olen != p)
					memmove(out + olen, p, n);
				olen += n;
			}
			p += n;
			d->remaining -= n;
			d->total += n;
			if (d->remaining == 0)
				d->state = CS_DATA_CR;
			continue;
		}
		c = (unsigned char)*p++;
		if (d->state <= CS_SIZE_LF) {
			if (++d->line_len > FL_HTTP_CHUNK_LINE_MAX) {
				err = FL_HTTP_E_CHUNK_LINE_TOO_LONG;
				goto fail;
			}
		} else if (d->state >= CS_TRAILER_START && d->state <= CS_END_LF) {
			if (++d->trailer_len > d->max_trailer) {
				err = FL_HTTP_E_TRAILER_TOO_LARGE;
				goto fail;
			}
		}
		switch (d->state) {
		case CS_SIZE_FIRST:
		case CS_SIZE: {
			int v = fl_http_hexval(c);
			if (v >= 0) {
				if (d->remaining > ((uint64_t)INT64_MAX >> 4)) {
					err = FL_HTTP_E_CHUNK_SIZE;
					goto fail;
				}
				d->remaining = (d->remaining << 4) | (unsigned)v;
				d->state = CS_SIZE;
				break;
			}
			if (d->state == CS_SIZE_FIRST) {
				err = FL_HTTP_E_CHUNK_SIZE;
				goto fail;
			}
			goto after_size;
		}
		case CS_SIZE_WS:
		after_size:
			if (c == ' ' || c == '\t')
				d->state = CS_SIZE_WS;
			else if (c == ';')
				d->state = CS_EXT_NAME_FIRST;
			else if (c == '\r')
				d->state = CS_SIZE_LF;
			else {
				err = c == '\n' ? FL_HTTP_E_CHUNK_CRLF : FL_HTTP_E_CHUNK_SIZE;
				goto fail;
			}
			break;
		case CS_EXT_NAME_FIRST:
			if (c == ' ' || c == '\t')
				break;
			if (!fl_http_is(c, FL_HTTP_C_TCHAR)) {
				err = FL_HTTP_E_CHUNK_EXT;
				goto fail;
			}
			d->state = CS_EXT_NAME;
			break;
		case CS_EXT_NAME:
			if (fl_http_is(c, FL_HTTP_C_TCHAR))
				break;
			/* fall through */
		case CS_EXT_NAME_WS:
			if (c == ' ' || c == '\t')
				d->state = CS_EXT_NAME_WS;
			else if (c == '=')
				d->state = CS_EXT_VAL_FIRST;
			else if (c == ';')
				d->state = CS_EXT_NAME_FIRST;
			else if (c == '\r')
				d->state = CS_SIZE_LF;
			else {
				err = c == '\n' ? FL_HTTP_E_CHUNK_CRLF : FL_HTTP_E_CHUNK_EXT;
				goto fail;
			}
			break;
		case CS_EXT_VAL_FIRST:
			if (c == ' ' || c == '\t')
				break;
			if (c == '"')
				d->state = CS_EXT_VAL_QUOTED;
			else if (fl_http_is(c, FL_HTTP_C_TCHAR))
				d->state = CS_EXT_VAL_TOKEN;
			else {
				err = FL_HTTP_E_CHUNK_EXT;
				goto fail;
			}
			break;
		case CS_EXT_VAL_TOKEN:
			if (fl_http_is(c, FL_HTTP_C_TCHAR))
				break;
			/* fall through */
		case CS_EXT_AFTER_VAL:
			if (c == ' ' || c == '\t')
				d->state = CS_EXT_AFTER_VAL;
			else if (c == ';')
				d->state = CS_EXT_NAME_FIRST;
			else if (c == '\r')
				d->state = CS_SIZE_LF;
			else {
				err = c == '\n' ? FL_HTTP_E_CHUNK_CRLF : FL_HTTP_E_CHUNK_EXT;
				goto fail;
			}
			break;
		case CS_EXT_VAL_QUOTED:
			if (c == '"')
				d->state = CS_EXT_AFTER_VAL;
			else if (c == '\\')
				d->state = CS_EXT_VAL_QESC;
			else if (!fl_http_is(c, FL_HTTP_C_QDTEXT)) {
				err = FL_HTTP_E_CHUNK_EXT;
				goto fail;
			}
			break;
		case CS_EXT_VAL_QESC:
			/* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
			if (!fl_http_is(c, FL_HTTP_C_VALUE)) {
				err = FL_HTTP_E_CHUNK_EXT;
				goto fail;
			}
			d->state = CS_EXT_VAL_QUOTED;
			break;
		case CS_SIZE_LF:
			if (c != '\n') {
				err = FL_HTTP_E_CHUNK_CRLF;
				goto fail;
			}
			d->line_len = 0;
			d->state = d->remaining ? CS_DATA : CS_TRAILER_START;
			break;
		case CS_DATA_CR:
			if (c != '\r') {
				err = FL_HTTP_E_CHUNK_CRLF;
				goto fail;
			}
			d->state = CS_DATA_LF;
			break;
		case CS_DATA_LF:
			if (c != '\n') {
				err = FL_HTTP_E_CHUNK_CRLF;
				goto fail;
			}
			d->state = CS_SIZE_FIRST;
			break;
		case CS_TRAILER_START:
			if (c == '\r')
				d->state = CS_END_LF;
			else if (c == '\n')
				goto done;
			else if (fl_http_is(c, FL_HTTP_C_TCHAR))
				d->state = CS_TRAILER_NAME;
			else {
				err = FL_HTTP_E_TRAILER;  /* includes obs-fold: refused in trailers */
				goto fail;
			}
			break;
		case CS_TRAILER_NAME:
			if (c == ':')
				d->state = CS_TRAILER_VALUE;
			else if (!fl_http_is(c, FL_HTTP_C_TCHAR)) {
				err = FL_HTTP_E_TRAILER;
				goto fail;
			}
			break;
		case CS_TRAILER_VALUE:
			if (c == '\r')
				d->state = CS_TRAILER_LF;
			else if (c == '\n')
				d->state = CS_TRAILER_START;
			else if (!fl_http_is(c, FL_HTTP_C_VALUE)) {
				err = FL_HTTP_E_TRAILER;
				goto fail;
			}
			break;
		case CS_TRAILER_LF:
			if (c != '\n') {
				err = FL_HTTP_E_BARE_CR;
				goto fail;
			}
			d->state = CS_TRAILER_START;
			break;
		case CS_END_LF:
			if (c != '\n') {
				err = FL_HTTP_E_BARE_CR;
				goto fail;
			}
			goto done;
		}
	}
	*in_used = (size_t)(p - in);
	*out_len = olen;
	return FL_HTTP_INCOMPLETE;
done:
	d->state = CS_DONE;
	*in_used = (size_t)(p - in);
	*out_len = olen;
	return 0;
fail:
	d->state = CS_ERROR;
	d->error = (uint8_t)err;
	*in_used = (size_t)(p - 1 - in);
	*out_len = olen;
	return FL_HTTP_INVALID;
}

ssize_t fl_http_decode_chunked(struct fl_http_chunked *d, char *buf, size_t *len)
{
	size_t used, olen;
	int r = fl_http_chunked_feed(d, buf, *len, &used, buf, &olen);

	if (r == 0) {
		size_t rest = *len - used;
		if (rest && olen != used)
			memmove(buf + olen, buf + used, rest);
		*len = olen;
		return (ssize_t)rest;
	}
	*len = olen;
	return r;
}
