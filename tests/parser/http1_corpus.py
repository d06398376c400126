"""Corpus of HTTP/1 messages with the verdict the parser must reach.

A verdict is "ok" or the name of the C error (enum fl_http_err without the FL_HTTP_E_ prefix).
For requests whose head is accepted with a chunked body, ``body`` is the verdict on the body
(decoded data as bytes, or an error name). The verdicts follow RFC 9110/9112 and, where the RFCs
leave a choice, what HAProxy 2.6 does; test_haproxy_oracle.py checks the latter against a live
haproxy, and HAPROXY_DIFFERENCES lists where we are stricter on purpose, with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    verdict: str
    body: bytes | str | None = None   # chunked body verdict when the head is accepted


def _req(headers: bytes, body: bytes = b"", line: bytes = b"POST / HTTP/1.1") -> bytes:
    return line + b"\r\nHost: a\r\n" + headers + b"\r\n" + body


CHUNKED = b"Transfer-Encoding: chunked\r\n"

REQUESTS: list[Case] = [
    # --- well-formed ---
    Case("simple_get", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "ok"),
    Case("bare_lf_lines", b"GET / HTTP/1.1\nHost: a\n\n", "ok"),
    Case("crlf_then_lf_end", b"GET / HTTP/1.1\r\nHost: a\r\n\n", "ok"),
    Case("leading_empty_lines", b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "ok"),
    Case("leading_bare_lf", b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "ok"),
    Case("no_host_http11", b"GET / HTTP/1.1\r\n\r\n", "ok"),
    Case("http10", b"GET / HTTP/1.0\r\n\r\n", "ok"),
    Case("http12_as_11", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", "ok"),
    Case("unknown_method_lowercase", b"get / HTTP/1.1\r\nHost: a\r\n\r\n", "ok"),
    Case("asterisk_options", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "ok"),
    Case("connect_authority", b"CONNECT x.com:443 HTTP/1.1\r\nHost: x.com:443\r\n\r\n", "ok"),
    Case("absolute_uri", b"GET http://x.com/p HTTP/1.1\r\nHost: x.com\r\n\r\n", "ok"),
    Case("absolute_uri_default_port", b"GET http://x.com:80/p HTTP/1.1\r\nHost: x.com\r\n\r\n", "ok"),
    Case("absolute_uri_userinfo", b"GET http://u@x.com/ HTTP/1.1\r\nHost: x.com\r\n\r\n", "ok"),
    Case("absolute_uri_no_host", b"GET http://x.com/p HTTP/1.1\r\n\r\n", "ok"),
    Case("target_quote_pipe_brace", b'GET /a"b|{c} HTTP/1.1\r\nHost: a\r\n\r\n', "ok"),
    Case("value_obs_text", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\xc3\xa9c\r\n\r\n", "ok"),
    Case("value_tabs", b"GET / HTTP/1.1\r\nHost: a\r\nX-A:\tb\tc\t\r\n\r\n", "ok"),
    Case("empty_value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A:\r\n\r\n", "ok"),
    Case("host_empty", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", "ok"),
    Case("host_twice_same", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", "ok"),
    Case("cl_body", _req(b"Content-Length: 3\r\n", b"abc"), "ok"),
    Case("cl_zero", _req(b"Content-Length: 0\r\n"), "ok"),
    Case("cl_leading_zeros", _req(b"Content-Length: 003\r\n", b"abc"), "ok"),
    Case("cl_ows", _req(b"Content-Length: \t 3 \t\r\n", b"abc"), "ok"),
    Case("cl_duplicate_equal", _req(b"Content-Length: 3\r\nContent-Length: 3\r\n", b"abc"), "ok"),
    Case("cl_list_equal", _req(b"Content-Length: 3, 3\r\n", b"abc"), "ok"),
    Case("cl_max_int64", _req(b"Content-Length: 9223372036854775807\r\n"), "ok"),
    Case("te_chunked", _req(CHUNKED, b"3\r\nabc\r\n0\r\n\r\n"), "ok", b"abc"),
    Case("te_chunked_mixed_case", _req(b"Transfer-Encoding: ChUnKeD\r\n", b"3\r\nabc\r\n0\r\n\r\n"), "ok",
         b"abc"),
    Case("te_http10", _req(CHUNKED, b"3\r\nabc\r\n0\r\n\r\n", b"POST / HTTP/1.0"), "ok", b"abc"),
    # --- request smuggling: CL.TE / TE.CL (chunked wins, CL dropped, connection closed) ---
    Case("smuggle_cl_te", _req(b"Content-Length: 6\r\n" + CHUNKED, b"0\r\n\r\nG"), "ok", b""),
    Case("smuggle_te_cl", _req(CHUNKED + b"Content-Length: 3\r\n", b"8\r\nSMUGGLED\r\n0\r\n\r\n"), "ok",
         b"SMUGGLED"),
    # --- Transfer-Encoding obfuscation ---
    Case("te_xchunked", _req(b"Transfer-Encoding: xchunked\r\n"), "TE_INVALID"),
    Case("te_space_before_colon", _req(b"Transfer-Encoding : chunked\r\n"), "HDR_COLON"),
    Case("te_tab_before_colon", _req(b"Transfer-Encoding\t: chunked\r\n"), "HDR_COLON"),
    Case("te_vertical_tab", _req(b"Transfer-Encoding:\x0bchunked\r\n"), "HDR_VALUE"),
    Case("te_form_feed", _req(b"Transfer-Encoding: chunked\x0c\r\n"), "HDR_VALUE"),
    Case("te_nul_in_value", _req(b"Transfer-Encoding: chu\x00nked\r\n"), "HDR_VALUE"),
    Case("te_nul_in_name", _req(b"Transfer-Encoding\x00: chunked\r\n"), "HDR_NAME"),
    Case("te_quoted", _req(b'Transfer-Encoding: "chunked"\r\n'), "TE_INVALID"),
    Case("te_chunked_then_identity", _req(b"Transfer-Encoding: chunked, identity\r\n"), "TE_INVALID"),
    Case("te_identity", _req(b"Transfer-Encoding: identity\r\n"), "TE_INVALID"),
    Case("te_chunked_twice", _req(b"Transfer-Encoding: chunked, chunked\r\n"), "TE_INVALID"),
    Case("te_chunked_two_headers", _req(CHUNKED + CHUNKED), "TE_INVALID"),
    Case("te_gzip_chunked", _req(b"Transfer-Encoding: gzip, chunked\r\n"), "TE_UNSUPPORTED"),
    Case("te_split_headers", _req(b"Transfer-Encoding: gzip\r\n" + CHUNKED), "TE_UNSUPPORTED"),
    Case("te_chunked_then_other_header", _req(CHUNKED + b"Transfer-Encoding: x\r\n"), "TE_INVALID"),
    Case("te_empty", _req(b"Transfer-Encoding: \r\n"), "TE_INVALID"),
    Case("te_empty_elements", _req(b"Transfer-Encoding: ,chunked,\r\n"), "TE_INVALID"),
    Case("te_with_parameter", _req(b"Transfer-Encoding: chunked;q=1\r\n"), "TE_INVALID"),
    Case("te_obs_fold", _req(b"X-A: b\r\n Transfer-Encoding: chunked\r\n"), "OBS_FOLD"),
    Case("te_obs_fold_value", _req(b"Transfer-Encoding:\r\n chunked\r\n"), "OBS_FOLD"),
    Case("te_first_line_indented", b"POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: a\r\n\r\n",
         "WS_FIRST_LINE"),
    Case("te_bare_cr_separated", _req(b"X-A: b\rTransfer-Encoding: chunked\r\n"), "BARE_CR"),
    # --- Content-Length ---
    Case("cl_duplicate_different", _req(b"Content-Length: 3\r\nContent-Length: 4\r\n", b"abcd"),
         "CL_MISMATCH"),
    Case("cl_list_different", _req(b"Content-Length: 3, 4\r\n"), "CL_MISMATCH"),
    Case("cl_negative", _req(b"Content-Length: -1\r\n"), "CL_INVALID"),
    Case("cl_plus", _req(b"Content-Length: +3\r\n"), "CL_INVALID"),
    Case("cl_huge", _req(b"Content-Length: 99999999999999999999999\r\n"), "CL_INVALID"),
    Case("cl_2_pow_63", _req(b"Content-Length: 9223372036854775808\r\n"), "CL_INVALID"),
    Case("cl_empty", _req(b"Content-Length: \r\n"), "CL_INVALID"),
    Case("cl_inner_space", _req(b"Content-Length: 1 2\r\n"), "CL_INVALID"),
    Case("cl_hex", _req(b"Content-Length: 0x3\r\n"), "CL_INVALID"),
    Case("cl_trailing_comma", _req(b"Content-Length: 3,\r\n"), "CL_INVALID"),
    Case("cl_leading_comma", _req(b"Content-Length: ,3\r\n"), "CL_INVALID"),
    Case("cl_space_before_colon", _req(b"Content-Length : 3\r\n"), "HDR_COLON"),
    # --- chunked bodies (head accepted, body verdict) ---
    Case("chunk_extension", _req(CHUNKED, b"3;foo=bar\r\nabc\r\n0\r\n\r\n"), "ok", b"abc"),
    Case("chunk_extension_quoted", _req(CHUNKED, b'3;foo="b r\\"x"\r\nabc\r\n0\r\n\r\n'), "ok", b"abc"),
    Case("chunk_extension_bws", _req(CHUNKED, b"3 ; x = y\r\nabc\r\n0\r\n\r\n"), "ok", b"abc"),
    Case("chunk_extension_ctl", _req(CHUNKED, b"3;\x01\r\nabc\r\n0\r\n\r\n"), "ok", "CHUNK_EXT"),
    Case("chunk_extension_lf_in_quotes", _req(CHUNKED, b'3;a="x\nb"\r\nabc\r\n0\r\n\r\n'), "ok", "CHUNK_EXT"),
    Case("chunk_extension_no_name", _req(CHUNKED, b"3;=x\r\nabc\r\n0\r\n\r\n"), "ok", "CHUNK_EXT"),
    Case("chunk_size_trailing_ws", _req(CHUNKED, b"3 \r\nabc\r\n0\r\n\r\n"), "ok", b"abc"),
    Case("chunk_size_leading_ws", _req(CHUNKED, b" 3\r\nabc\r\n0\r\n\r\n"), "ok", "CHUNK_SIZE"),
    Case("chunk_size_leading_zeros", _req(CHUNKED, b"0003\r\nabc\r\n0\r\n\r\n"), "ok", b"abc"),
    Case("chunk_size_0x", _req(CHUNKED, b"0x3\r\nabc\r\n0\r\n\r\n"), "ok", "CHUNK_SIZE"),
    Case("chunk_size_empty", _req(CHUNKED, b"\r\nabc\r\n0\r\n\r\n"), "ok", "CHUNK_SIZE"),
    Case("chunk_size_negative", _req(CHUNKED, b"-3\r\nabc\r\n0\r\n\r\n"), "ok", "CHUNK_SIZE"),
    Case("chunk_size_overflow", _req(CHUNKED, b"ffffffffffffffffff1\r\nabc\r\n0\r\n\r\n"), "ok", "CHUNK_SIZE"),
    Case("chunk_size_2_pow_63", _req(CHUNKED, b"8000000000000000\r\n"), "ok", "CHUNK_SIZE"),
    Case("chunk_size_nul", _req(CHUNKED, b"3\x00\r\nabc\r\n0\r\n\r\n"), "ok", "CHUNK_SIZE"),
    Case("chunk_bare_lf_everywhere", _req(CHUNKED, b"3\nabc\n0\n\n"), "ok", "CHUNK_CRLF"),
    Case("chunk_size_bare_lf", _req(CHUNKED, b"3\nabc\r\n0\r\n\r\n"), "ok", "CHUNK_CRLF"),
    Case("chunk_data_bare_lf", _req(CHUNKED, b"3\r\nabc\n0\r\n\r\n"), "ok", "CHUNK_CRLF"),
    Case("chunk_data_too_long", _req(CHUNKED, b"3\r\nabcX\r\n0\r\n\r\n"), "ok", "CHUNK_CRLF"),
    Case("chunk_trailer", _req(CHUNKED, b"3\r\nabc\r\n0\r\nX-T: v\r\n\r\n"), "ok", b"abc"),
    Case("chunk_trailer_bad_name", _req(CHUNKED, b"3\r\nabc\r\n0\r\nX T: v\r\n\r\n"), "ok", "TRAILER"),
    Case("chunk_trailer_fold", _req(CHUNKED, b"3\r\nabc\r\n0\r\nX-T: v\r\n w\r\n\r\n"), "ok", "TRAILER"),
    Case("chunk_last_extension", _req(CHUNKED, b"3\r\nabc\r\n0;x=y\r\n\r\n"), "ok", b"abc"),
    # --- header syntax ---
    Case("obs_fold", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", "OBS_FOLD"),
    Case("value_nul", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n", "HDR_VALUE"),
    Case("value_ctl", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n", "HDR_VALUE"),
    Case("value_del", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7fc\r\n\r\n", "HDR_VALUE"),
    Case("value_bare_cr", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", "BARE_CR"),
    Case("name_inner_space", b"GET / HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n", "HDR_COLON"),
    Case("name_empty", b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", "HDR_NAME"),
    Case("name_no_colon", b"GET / HTTP/1.1\r\nHost: a\r\nXA\r\n\r\n", "HDR_NAME"),
    Case("name_separator", b"GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n", "HDR_NAME"),
    Case("name_non_ascii", b"GET / HTTP/1.1\r\nHost: a\r\nX\xe9: b\r\n\r\n", "HDR_NAME"),
    Case("end_bare_cr", b"GET / HTTP/1.1\r\nHost: a\r\n\rX", "BARE_CR"),
    # --- request line ---
    Case("method_separator", b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", "METHOD"),
    Case("method_leading_space", b" GET / HTTP/1.1\r\nHost: a\r\n\r\n", "METHOD"),
    Case("two_spaces", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "REQLINE"),
    Case("tab_separator", b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", "REQLINE"),
    Case("http09", b"GET /\r\n\r\n", "REQLINE"),
    Case("no_version", b"GET / \r\nHost: a\r\n\r\n", "VERSION"),
    Case("version_lowercase", b"GET / http/1.1\r\nHost: a\r\n\r\n", "VERSION"),
    Case("version_three_digits", b"GET / HTTP/1.11\r\nHost: a\r\n\r\n", "VERSION"),
    Case("version_trailing_space", b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", "VERSION"),
    Case("http2_version", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", "VERSION_UNSUPPORTED"),
    Case("request_line_bare_cr", b"GET / HTTP/1.1\rHost: a\r\n\r\n", "BARE_CR"),
    Case("target_non_ascii", b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", "TARGET"),
    Case("target_del", b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", "TARGET"),
    Case("target_nul", b"GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n", "TARGET"),
    Case("target_fragment", b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", "TARGET"),
    Case("target_relative", b"GET abc HTTP/1.1\r\nHost: a\r\n\r\n", "TARGET_FORM"),
    Case("connect_origin_form", b"CONNECT /x HTTP/1.1\r\nHost: x.com:443\r\n\r\n", "TARGET_FORM"),
    Case("connect_no_port", b"CONNECT x.com HTTP/1.1\r\nHost: x.com\r\n\r\n", "TARGET_FORM"),
    Case("absolute_uri_empty_host", b"GET http:///p HTTP/1.1\r\n\r\n", "TARGET_FORM"),
    # --- Host ---
    Case("host_twice_different", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "HOST_MULTIPLE"),
    Case("host_space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "HOST_INVALID"),
    Case("host_slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", "HOST_INVALID"),
    Case("absolute_uri_other_host", b"GET http://x.com/p HTTP/1.1\r\nHost: y.com\r\n\r\n", "HOST_MISMATCH"),
    Case("absolute_uri_other_port", b"GET http://x.com:81/p HTTP/1.1\r\nHost: x.com\r\n\r\n",
         "HOST_MISMATCH"),
    Case("connect_host_default_port", b"CONNECT x.com:443 HTTP/1.1\r\nHost: x.com\r\n\r\n", "ok"),
    Case("connect_other_host", b"CONNECT x.com:443 HTTP/1.1\r\nHost: y.com:443\r\n\r\n", "HOST_MISMATCH"),
    Case("absolute_uri_userinfo_trick", b"GET http://x.com@y.com/ HTTP/1.1\r\nHost: x.com\r\n\r\n",
         "HOST_MISMATCH"),
    # --- Upgrade ---
    Case("websocket_with_key", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", "ok"),
    Case("websocket_without_key", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
         b"Upgrade: websocket\r\n\r\n", "WS_KEY_MISSING"),
    Case("upgrade_other_protocol", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n",
         "ok"),
    # --- limits (defaults: 15360 bytes of head, 100 header fields) ---
    Case("head_at_limit", b"GET / HTTP/1.1\r\nX: " + b"a" * (15360 - 23) + b"\r\n\r\n", "ok"),
    Case("head_over_limit", b"GET / HTTP/1.1\r\nX: " + b"a" * (15361 - 23) + b"\r\n\r\n", "HEAD_TOO_LARGE"),
    Case("request_line_over_limit", b"GET /" + b"a" * 16000 + b" HTTP/1.1\r\n\r\n", "HEAD_TOO_LARGE"),
    Case("headers_100", b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(100)) + b"\r\n",
         "ok"),
    Case("headers_101", b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\n",
         "TOO_MANY_HDRS"),
]

#: Where a live HAProxy 2.6 accepts what we refuse (or answers another status), and why.
HAPROXY_DIFFERENCES: dict[str, str] = {
    "value_nul": "RFC 9110 5.5: NUL in a field value is invalid; HAProxy 2.6 forwards it",
    "value_ctl": "RFC 9110 5.5: control characters are not field-content; HAProxy forwards them",
    "value_del": "RFC 9110 5.5: DEL is not field-content; HAProxy forwards it",
    "two_spaces": "RFC 9112 3: one SP; HAProxy takes runs of whitespace, a second reading of the "
                  "request line is a smuggling vector",
    "tab_separator": "as two_spaces",
    "http2_version": "HTTP/2.0 in an HTTP/1 request line is not HTTP/1: 505 (RFC 9110 15.6.6); "
                     "HAProxy forwards it as HTTP/1.1",
    "host_space": "RFC 9110 7.2: Host is uri-host[:port]; HAProxy forwards any value",
    "host_slash": "as host_space",
    "te_empty_elements": "HAProxy refuses it too, with 422; an empty list element beside chunked "
                         "is malformed framing, so 400",
    "te_obs_fold_value": "same verdict (400); HAProxy unfolds obs-fold in requests, RFC 9112 5.2 "
                         "lets a server refuse it and a proxy in front of others should",
    "obs_fold": "RFC 9112 5.2: obs-fold in a request is refused here; HAProxy unfolds it",
    "te_obs_fold": "as obs_fold (HAProxy makes it part of the previous value)",
    "absolute_uri_empty_host": "RFC 9110 4.2.1: an http URI with an empty host is invalid and must be "
                               "refused; HAProxy 2.6 forwards it",
    "head_at_limit": "HAProxy's limit is on its internal HTX form, ~90 bytes smaller than the raw "
                     "15360 bytes counted here",
}

RESPONSES: list[tuple[str, bytes, bytes, str]] = [
    # name, request method, raw, verdict
    ("ok_length", b"GET", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok"),
    ("no_reason", b"GET", b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", "ok"),
    ("empty_reason", b"GET", b"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", "ok"),
    ("obs_fold", b"GET", b"HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 0\r\n\r\n", "ok"),
    ("status_two_digits", b"GET", b"HTTP/1.1 20 OK\r\n\r\n", "STATUS_LINE"),
    ("status_four_digits", b"GET", b"HTTP/1.1 2000 OK\r\n\r\n", "STATUS_LINE"),
    ("status_leading_zero", b"GET", b"HTTP/1.1 099 OK\r\n\r\n", "STATUS_LINE"),
    ("status_letters", b"GET", b"HTTP/1.1 2x0 OK\r\n\r\n", "STATUS_LINE"),
    ("reason_ctl", b"GET", b"HTTP/1.1 200 O\x01K\r\n\r\n", "REASON"),
    ("http2_status", b"GET", b"HTTP/2.0 200 OK\r\n\r\n", "VERSION_UNSUPPORTED"),
    ("no_version", b"GET", b"200 OK\r\n\r\n", "VERSION"),
    ("cl_mismatch", b"GET", b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
     "CL_MISMATCH"),
    ("cl_invalid", b"GET", b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "CL_INVALID"),
    ("chunked_twice", b"GET", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
     "TE_INVALID"),
    ("value_nul", b"GET", b"HTTP/1.1 200 OK\r\nX-A: \x00\r\n\r\n", "HDR_VALUE"),
    ("name_space", b"GET", b"HTTP/1.1 200 OK\r\nX-A : b\r\n\r\n", "HDR_COLON"),
    ("fold_first_line", b"GET", b"HTTP/1.1 200 OK\r\n X-A: b\r\n\r\n", "WS_FIRST_LINE"),
]
