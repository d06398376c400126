/* fl_http-t.h: types of the HTTP/1.x parser (functions are in fl_http.h).
 *
 * The parser is zero-copy: every field is an offset + length into the caller's buffer, and
 * every result goes to caller-owned structs (no allocation anywhere). Offsets are uint32_t, so a
 * buffer handed to the parser must be shorter than 4 GiB; the head-size limit keeps real heads
 * far below that.
 */
#ifndef FL_HTTP_T_H
#define FL_HTTP_T_H

#include <stdint.h>
#include <stddef.h>

/* Return codes shared by every parse function: >= 0 is success (bytes consumed). */
#define FL_HTTP_INVALID      (-1)   /* malformed or refused: see fl_http_msg.error */
#define FL_HTTP_INCOMPLETE   (-2)   /* need more bytes; call again with the longer buffer */

/* Defaults, from HAProxy 2.6: tune.bufsize 16384 - tune.maxrewrite 1024 = 15360 bytes of head,
 * tune.http.maxhdr 101. */
#define FL_HTTP_DEFAULT_MAX_HEAD   15360u
#define FL_HTTP_DEFAULT_MAXHDR     101u

/* Known methods. Others parse as FL_HTTP_METH_OTHER (their bytes are at method_off/len). */
enum fl_http_meth {
	FL_HTTP_METH_OTHER = 0,
	FL_HTTP_METH_GET,
	FL_HTTP_METH_HEAD,
	FL_HTTP_METH_POST,
	FL_HTTP_METH_PUT,
	FL_HTTP_METH_DELETE,
	FL_HTTP_METH_CONNECT,
	FL_HTTP_METH_OPTIONS,
	FL_HTTP_METH_TRACE,
	FL_HTTP_METH_PATCH,
	FL_HTTP_METH_COUNT
};

/* Header names the proxy acts on, recognised case-insensitively while parsing. */
enum fl_http_hid {
	FL_HTTP_HDR_OTHER = 0,
	FL_HTTP_HDR_HOST,
	FL_HTTP_HDR_CONTENT_LENGTH,
	FL_HTTP_HDR_TRANSFER_ENCODING,
	FL_HTTP_HDR_CONNECTION,
	FL_HTTP_HDR_UPGRADE,
	FL_HTTP_HDR_EXPECT,
	FL_HTTP_HDR_X_FORWARDED_FOR,
	FL_HTTP_HDR_COOKIE,
	FL_HTTP_HDR_SET_COOKIE,
	FL_HTTP_HDR_KEEP_ALIVE,
	FL_HTTP_HDR_PROXY_CONNECTION,
	FL_HTTP_HDR_TE,
	FL_HTTP_HDR_TRAILER,
	FL_HTTP_HDR_SEC_WEBSOCKET_KEY,
	FL_HTTP_HDR_AUTHORIZATION,
	FL_HTTP_HDR_USER_AGENT,
	FL_HTTP_HDR_REFERER,
	FL_HTTP_HDR_CONTENT_TYPE,
	FL_HTTP_HDR_X_FORWARDED_PROTO,
	FL_HTTP_HDR_FORWARDED,
	FL_HTTP_HDR_LOCATION,
	FL_HTTP_HDR_X_REAL_IP,
	FL_HTTP_HDR_COUNT
};

/* How the body that follows the head is delimited. */
enum fl_http_body {
	FL_HTTP_BODY_NONE = 0,      /* no body (also Content-Length: 0) */
	FL_HTTP_BODY_LENGTH,        /* content_length bytes */
	FL_HTTP_BODY_CHUNKED,       /* chunked transfer coding: use fl_http_chunked_* */
	FL_HTTP_BODY_UNTIL_CLOSE,   /* responses only: everything until the server closes */
	FL_HTTP_BODY_TUNNEL         /* responses only: 101 or 2xx to CONNECT, bytes flow both ways */
};

/* Why a message was refused. fl_http_error_str() gives the text, fl_http_error_status() the
 * status a proxy answers a request with (HAProxy 2.6's choice where it has one). */
enum fl_http_err {
	FL_HTTP_E_NONE = 0,
	FL_HTTP_E_METHOD,            /* method is not a token */
	FL_HTTP_E_REQLINE,           /* request line is not "method SP target SP version" */
	FL_HTTP_E_TARGET,            /* forbidden byte in the request target */
	FL_HTTP_E_TARGET_FORM,       /* target is none of origin/absolute/authority/asterisk form */
	FL_HTTP_E_VERSION,           /* malformed HTTP-version */
	FL_HTTP_E_VERSION_UNSUPPORTED, /* well-formed, but not HTTP/1.x */
	FL_HTTP_E_STATUS_LINE,       /* status line is not "version SP 3DIGIT [SP reason]" */
	FL_HTTP_E_REASON,            /* control character in the reason phrase */
	FL_HTTP_E_BARE_CR,           /* CR not followed by LF */
	FL_HTTP_E_HDR_NAME,          /* header name empty or not a token */
	FL_HTTP_E_HDR_COLON,         /* whitespace between a header name and its colon */
	FL_HTTP_E_HDR_VALUE,         /* control character in a header value */
	FL_HTTP_E_OBS_FOLD,          /* line folding (obs-fold) in a request */
	FL_HTTP_E_WS_FIRST_LINE,     /* whitespace before the first header line */
	FL_HTTP_E_TOO_MANY_HDRS,     /* more than maxhdr - 1 header fields */
	FL_HTTP_E_HEAD_TOO_LARGE,    /* head longer than max_head */
	FL_HTTP_E_HDR_TOO_LONG,      /* header name longer than 65535 bytes */
	FL_HTTP_E_CL_INVALID,        /* Content-Length is not 1*DIGIT (list) or overflows int64 */
	FL_HTTP_E_CL_MISMATCH,       /* several different Content-Length values */
	FL_HTTP_E_TE_INVALID,        /* Transfer-Encoding malformed, chunked not last or repeated */
	FL_HTTP_E_TE_UNSUPPORTED,    /* request transfer-coding other than chunked */
	FL_HTTP_E_HOST_MULTIPLE,     /* several different Host values */
	FL_HTTP_E_HOST_INVALID,      /* forbidden byte in Host */
	FL_HTTP_E_HOST_MISMATCH,     /* Host differs from the authority of the target */
	FL_HTTP_E_WS_KEY_MISSING,    /* WebSocket upgrade without Sec-WebSocket-Key */
	FL_HTTP_E_CHUNK_SIZE,        /* chunk size not hex, empty, or over 2^63 - 1 */
	FL_HTTP_E_CHUNK_EXT,         /* malformed chunk extension */
	FL_HTTP_E_CHUNK_CRLF,        /* chunk line or chunk data not ended by CRLF */
	FL_HTTP_E_CHUNK_LINE_TOO_LONG, /* chunk-size line (extensions) over FL_HTTP_CHUNK_LINE_MAX */
	FL_HTTP_E_TRAILER,           /* malformed trailer field */
	FL_HTTP_E_TRAILER_TOO_LARGE, /* trailer section longer than its limit */
	FL_HTTP_E_COUNT
};

/* Per-header flags. */
#define FL_HTTP_HF_FOLDED  0x01u  /* response value spans obs-fold(s): see fl_http_unfold() */
#define FL_HTTP_HF_DROP    0x02u  /* must not be forwarded (Content-Length beside chunked) */

/* One header field: offsets into the parsed buffer. The value has its leading and trailing
 * whitespace (OWS) removed. name_len is 16 bits: longer names are refused
 * (FL_HTTP_E_HDR_TOO_LONG). */
struct fl_http_hdr {
	uint32_t name_off;
	uint32_t value_off;
	uint32_t value_len;
	uint16_t name_len;
	uint8_t  id;       /* enum fl_http_hid */
	uint8_t  flags;    /* FL_HTTP_HF_* */
};

/* Message flags (fl_http_msg.flags). The first group is the verdict the proxy acts on, the
 * second records what the headers said. */
#define FL_HTTP_F_KEEPALIVE     0x00000001u /* connection may carry another message after this one */
#define FL_HTTP_F_UPGRADE       0x00000002u /* request: Connection: upgrade + Upgrade (HTTP/1.1) */
#define FL_HTTP_F_WEBSOCKET     0x00000004u /* ... and the Upgrade list names websocket */
#define FL_HTTP_F_EXPECT_100    0x00000008u /* request: Expect: 100-continue (HTTP/1.1) */
#define FL_HTTP_F_CL_IGNORED    0x00000010u /* Content-Length beside Transfer-Encoding: the CL
                                             * headers carry FL_HTTP_HF_DROP */
#define FL_HTTP_F_FOLDED        0x00000020u /* response had obs-fold(s) */
#define FL_HTTP_F_ABS_URI       0x00000040u /* request target in absolute-form */
#define FL_HTTP_F_AUTHORITY_FORM 0x00000080u /* request target in authority-form (CONNECT) */
#define FL_HTTP_F_ASTERISK      0x00000100u /* request target "*" */
#define FL_HTTP_F_HAS_HOST      0x00000200u /* a Host header was present */
#define FL_HTTP_F_HAS_CL        0x00000400u
#define FL_HTTP_F_HAS_TE        0x00000800u
#define FL_HTTP_F_TE_CHUNKED    0x00001000u /* chunked is the final transfer-coding */
#define FL_HTTP_F_CONN_CLOSE    0x00002000u /* Connection: close */
#define FL_HTTP_F_CONN_KA       0x00004000u /* Connection: keep-alive */
#define FL_HTTP_F_CONN_UPGRADE  0x00008000u /* Connection: upgrade */
#define FL_HTTP_F_HAS_UPGRADE   0x00010000u /* an Upgrade header was present */
#define FL_HTTP_F_RESPONSE      0x00020000u /* parsed as a response */

/* Parser limits. A NULL limits pointer means the defaults. */
struct fl_http_limits {
	uint32_t max_head;   /* bytes from the buffer start to the end of the empty line */
	uint16_t maxhdr;     /* HAProxy's tune.http.maxhdr: at most maxhdr - 1 header fields, since
	                      * HAProxy's own list keeps one slot for its end marker */
	uint16_t reserved;
};

/* A parsed head, request or response. The caller owns it and its header array:
 * fl_http_msg_init() once, then parse; fl_http_msg_reset() before the next message.
 *
 * Incremental parsing: when a parse returns FL_HTTP_INCOMPLETE, the struct remembers how far
 * it got (complete lines already parsed, where the scan for the next line feed resumes); call
 * again with the same buffer grown by the new bytes (same start, earlier bytes unchanged) and
 * only the new bytes are scanned. Each byte is scanned at most twice overall. */
struct fl_http_msg {
	struct fl_http_hdr *hdrs;  /* caller's array */
	uint16_t hdr_cap;          /* its capacity; fewer than maxhdr - 1 slots lowers the limit */
	uint16_t nhdrs;            /* header fields parsed */

	uint8_t  method;           /* enum fl_http_meth (response: the request method given) */
	uint8_t  minor;            /* HTTP/1.<minor>; minor >= 1 gets HTTP/1.1 semantics */
	uint8_t  body;             /* enum fl_http_body */
	uint8_t  error;            /* enum fl_http_err when FL_HTTP_INVALID was returned */
	uint16_t status;           /* response status code */
	uint16_t pad0;
	uint32_t flags;            /* FL_HTTP_F_* */

	uint32_t head_len;         /* bytes consumed: from buffer start through the empty line */
	uint32_t start_off;        /* first byte of the request/status line (leading CRLFs skipped) */
	uint32_t method_off, method_len;
	uint32_t target_off, target_len;
	uint32_t path_off, path_len;           /* origin-form part of the target ("/p?q"; may be
	                                        * empty for "http://host"); the target for "*" */
	uint32_t authority_off, authority_len; /* absolute-form / authority-form authority */
	uint32_t host_off, host_len;           /* routing host: authority of an absolute-form
	                                        * target (without userinfo), else Host header */
	uint32_t reason_off, reason_len;
	uint32_t error_off;        /* offset of the byte that failed (best effort) */
	int64_t  content_length;   /* -1 when absent or ignored */

	/* incremental state, private to the parser */
	uint32_t scan_resume;      /* first byte of the line that was incomplete */
	uint32_t scan_seen;        /* buffer length at the previous call */
	uint8_t  scan_phase;       /* 0: start line pending, 1: header lines, 2: done */
	uint8_t  scan_pad[3];
};

/* Chunked body decoder state (fl_http_chunked_init() then feed repeatedly). */
#define FL_HTTP_CHUNK_LINE_MAX   4096u   /* bytes of chunk extensions tolerated on one line */
struct fl_http_chunked {
	uint64_t remaining;       /* data bytes left in the current chunk */
	uint64_t total;           /* data bytes decoded so far */
	uint32_t line_len;        /* bytes of the current size or trailer line */
	uint32_t trailer_len;     /* bytes of the trailer section so far */
	uint32_t max_trailer;     /* limit on the trailer section (default: FL_HTTP_DEFAULT_MAX_HEAD) */
	uint8_t  state;           /* private */
	uint8_t  error;           /* enum fl_http_err after FL_HTTP_INVALID */
	uint8_t  ndigits;         /* significant hex digits of the current size */
	uint8_t  pad;
};

/* SIMD scanning levels, in increasing order. */
enum fl_http_simd {
	FL_HTTP_SIMD_SCALAR = 0,
	FL_HTTP_SIMD_SSE42 = 1,
	FL_HTTP_SIMD_AVX2 = 2
};

#endif /* FL_HTTP_T_H */
