"""Differential tests of response heads and chunked bodies against llhttp (httptools) and h11, on
generated messages (hypothesis), as test_differential.py does for requests.

1. Well-formed responses (HTTP/1.0 and 1.1, any status, Content-Length, chunked or neither,
   connection tokens): all three parse them, with the same status, reason, headers, keep-alive
   verdict and body; the body is read the way each reference reads it.
2. The same responses with one byte changed, inserted or removed: where llhttp and h11 reach the
   same verdict, we reach it too, except for the deliberate differences in DELIBERATE.
3. Chunked bodies (sizes, extensions, trailers), whole and mutated: same data, same end, and
   the same verdict where the references agree.

Deliberate differences (`deliberate_response` and `deliberate_chunked` name each one):
- A Host-like check does not exist for responses; the response differences are:
  - "status code not 3 digits": a status of 1 or 2 digits, or more than 3, is refused; RFC
    9112 4 makes status-code exactly 3DIGIT; llhttp and h11 read any number of digits.
  - "reason with control bytes": a reason phrase holding a control byte other than HTAB is
    refused; RFC 9112 4: reason-phrase = *( HTAB / SP / VCHAR / obs-text ).
  - "status below 100": RFC 9110 15 defines 1xx-5xx; HAProxy refuses a status below 100 as an
    invalid response (502), we refuse it at parse time; both references read it.
  - "response Transfer-Encoding not ending in chunked" (e.g. `gzip`, or a mangled `chunked"`):
    the response is valid and its body runs until the server closes, RFC 9112 6.3 rule 4 (and
    HAProxy 2.6's H1 parser, which only refuses this in requests); llhttp and h11 refuse it.
  - HTTP/1.0 response with Transfer-Encoding: never keep-alive, whatever Connection says; RFC
    9112 6.1 says a recipient of an HTTP/1.0 message with Transfer-Encoding MUST treat its
    framing as faulty and close the connection after it; llhttp keeps it alive on
    `Connection: keep-alive`.
  - "reason with control bytes" is refused where HAProxy 2.6 passes any byte but CR/LF: the
    grammar (RFC 9112 4) wins here, a proxy answering 502 rather than forwarding control bytes.
- Chunked bodies:
  - "chunk size with leading or trailing whitespace": refused; RFC 9112 7.1 has no BWS there
    (chunk-size = 1*HEXDIG, chunk-ext right after it); llhttp skips spaces after the size. A
    lenient reading where a front and a back end may differ is a smuggling vector.
  - "chunk extension without a name" (`1;=abc`, `1;`): refused; RFC 9112 7.1.1 makes
    chunk-ext-name a token (one character at least); llhttp and h11 skip it.
  - "bare LF in chunk framing": refused (RFC 9112 7.1 requires CRLF there, and bare-LF framing
    is a known smuggling vector); h11 accepts it.
- Request side (listed in test_differential.py, repeated here for the whole picture): an
  HTTP/1.1 request without Host, and one with several identical Host headers, are accepted as
  HAProxy 2.6 accepts them (its H1 parser only refuses different Host values), against RFC 9112
  3.2, which says a server MUST answer 400 in both cases; h11 refuses both. The corpus case
  `no_host_http11` (http1_corpus.py) is sent to HAProxy by test_haproxy_oracle.py.
"""
from __future__ import annotations

import re

import h11
import httptools
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_differential import INTERESTING, field_values, header_names

from fastlb import http1

REASON = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz -"


@st.composite
def responses(draw) -> tuple[bytes, dict]:
    version = draw(st.sampled_from([b"1.0", b"1.1"]))
    status = draw(st.integers(min_value=200, max_value=599).filter(lambda s: s not in (204, 304)))
    reason = draw(st.text(alphabet=REASON, max_size=20)).strip().encode() or b"X"
    headers = draw(st.lists(st.tuples(header_names, field_values()), max_size=10))
    body = draw(st.binary(max_size=80))
    framing = draw(st.sampled_from(["length", "chunked"]))
    if framing == "length":
        headers.append((b"Content-Length", b"%d" % len(body)))
        wire = body
    else:
        headers.append((b"Transfer-Encoding", b"chunked"))
        wire = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
    connection = draw(st.sampled_from([None, b"close", b"keep-alive"]))
    if connection is not None:
        headers.append((b"Connection", connection))
    head = b"HTTP/" + version + b" %d " % status + reason + b"\r\n"
    head += b"".join(n + b": " + v + b"\r\n" for n, v in headers) + b"\r\n"
    return head + wire, {"version": version, "status": status, "reason": reason, "headers": headers,
                         "body": body, "head_len": len(head), "framing": framing}


def ours_response(raw: bytes):
    """Our verdict on a response and, when valid, its head and body (framing as the proxy
    reads it)."""
    try:
        resp = http1.parse_response(raw)
    except http1.InvalidMessage as exc:
        return "invalid", exc.code
    except http1.IncompleteMessage:
        return "incomplete", None
    rest = raw[resp.consumed:]
    if resp.body == "chunked":
        try:
            body, _ = http1.decode_chunked(rest)
        except http1.InvalidMessage as exc:
            return "invalid", exc.code
        except http1.IncompleteMessage:
            return "incomplete", None
    elif resp.body == "length":
        if len(rest) < resp.content_length:
            return "incomplete", None
        body = rest[:resp.content_length]
    else:
        body = rest
    return "ok", (resp, body)


class _Llhttp:
    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.head_done = False
        self.done = False
        self.keep_alive: bool | None = None
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.head_done = True
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, data: bytes) -> None:
        self.body += data

    def on_message_complete(self) -> None:
        self.done = True


def llhttp_response(raw: bytes):
    p = _Llhttp()
    try:
        p.parser.feed_data(raw)
    except httptools.HttpParserUpgrade:
        pass
    except httptools.HttpParserError as exc:
        return "invalid", str(exc)
    if not p.head_done or not p.done:
        return "incomplete", None
    return "ok", p


def h11_response(raw: bytes):
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "a")]))
    conn.send(h11.EndOfMessage())
    try:
        conn.receive_data(raw)
        events = []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                break
            events.append(event)
            if isinstance(event, h11.EndOfMessage):
                break
    except h11.RemoteProtocolError as exc:
        return "invalid", str(exc)
    if not events or not isinstance(events[-1], h11.EndOfMessage):
        return "incomplete", None
    return "ok", events


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(responses())
def test_well_formed_responses_agree_with_body(generated) -> None:
    raw, want = generated
    ours, got = ours_response(raw)
    assert ours == "ok", got
    resp, body = got
    assert (resp.version, resp.status, resp.reason, resp.headers) == \
        (want["version"], want["status"], want["reason"], want["headers"])
    assert resp.consumed == want["head_len"] and body == want["body"]
    assert resp.body == want["framing"] or (want["framing"] == "length" and not want["body"] and resp.body == "none")

    ll, p = llhttp_response(raw)
    assert ll == "ok"
    assert (p.parser.get_status_code(), p.parser.get_http_version().encode()) == (resp.status, resp.version)
    assert resp.headers == [(n, v.rstrip(b" \t")) for n, v in p.headers]
    assert p.body == body
    if want["version"] == b"1.0" and want["framing"] == "chunked":
        assert resp.keep_alive is False  # deliberate: "HTTP/1.0 with Transfer-Encoding"
    else:
        assert p.keep_alive == resp.keep_alive

    hv, events = h11_response(raw)
    assert hv == "ok"
    head = events[0]
    assert (head.status_code, head.reason, head.http_version) == (resp.status, resp.reason, resp.version)
    assert list(head.headers.raw_items()) == resp.headers
    assert b"".join(bytes(e.data) for e in events if isinstance(e, h11.Data)) == body


def mutate(raw: bytes, pos: int, byte: int, how: str) -> bytes:
    pos %= len(raw)
    if how == "replace":
        return raw[:pos] + bytes([byte]) + raw[pos + 1:]
    if how == "insert":
        return raw[:pos] + bytes([byte]) + raw[pos:]
    return raw[:pos] + raw[pos + 1:]


def deliberate_response(raw: bytes, ours: tuple) -> str | None:
    """Name of the deliberate difference that explains our verdict on a response, if one does."""
    line = raw.split(b"\n", 1)[0].rstrip(b"\r")
    parts = line.split(b" ", 2)
    if ours == ("invalid", "STATUS_LINE"):
        code = parts[1] if len(parts) > 1 else b""
        if not (len(code) == 3 and code.isdigit()):
            return "status code not 3 digits"
        if int(code) < 100:
            return "status below 100"
    if ours == ("invalid", "REASON") and len(parts) == 3 and any(c < 0x20 and c != 0x09 or c == 0x7F
                                                                for c in parts[2]):
        return "reason with control bytes"
    if ours[0] == "ok" and ours[1][0].body == "until-close" and not ours[1][0].keep_alive and any(
            n.lower() == b"transfer-encoding" and v.rsplit(b",", 1)[-1].strip().lower() != b"chunked"
            for n, v in ours[1][0].headers):
        return "response Transfer-Encoding not ending in chunked"
    if ours[0] == "invalid" and ours[1].startswith("CHUNK"):
        return deliberate_chunked(raw[raw.find(b"\r\n\r\n") + 4:], ours)
    return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(responses(), st.integers(min_value=0, max_value=10_000), st.sampled_from(INTERESTING),
       st.sampled_from(["replace", "insert", "delete"]))
def test_mutated_responses_agree_where_references_agree(generated, pos: int, byte: int, how: str) -> None:
    raw, _ = generated
    mutated = mutate(raw, pos, byte, how)
    ll = llhttp_response(mutated)
    hv = h11_response(mutated)
    assume(ll[0] == hv[0] and ll[0] != "incomplete")
    ours = ours_response(mutated)
    if ours[0] == ll[0]:
        if ours[0] == "ok":  # the same fields and body when all accept
            resp, body = ours[1]
            assert (resp.status, resp.headers) == (hv[1][0].status_code, list(hv[1][0].headers.raw_items()))
            assert body == ll[1].body
        return
    why = deliberate_response(mutated, ours)
    assert why is not None, (mutated, ours, ll, hv)


# -- chunked bodies ------------------------------------------------------------------------------

EXT_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"


@st.composite
def chunked_bodies(draw) -> tuple[bytes, bytes]:
    chunks = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=6))
    wire = b""
    for c in chunks:
        size = b"%x" % len(c)
        if draw(st.booleans()):
            size = size.upper()
        ext = b""
        if draw(st.integers(0, 3)) == 0:
            name = draw(st.text(alphabet=EXT_CHARS, min_size=1, max_size=8)).encode()
            value = draw(st.sampled_from([b"", b"=1", b"=abc", b'="quoted value"']))
            ext = b";" + name + value
        wire += size + ext + b"\r\n" + c + b"\r\n"
    trailer = draw(st.lists(st.tuples(header_names, field_values()), max_size=2))
    wire += b"0\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in trailer) + b"\r\n"
    return wire, b"".join(chunks)


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def deliberate_chunked(body: bytes, ours: tuple) -> str | None:
    """Name of the deliberate difference that explains our verdict on a chunked body."""
    lines = body.split(b"\n")
    for line in lines:
        size = line.split(b";", 1)[0]
        if size.rstrip(b"\r") != size.rstrip(b"\r").strip(b" \t") and size.strip(b" \t\r"):
            return "chunk size with leading or trailing whitespace"
    framing = body.replace(b"\r\n", b"")
    if b"\n" in framing and ours[0] == "invalid":
        return "bare LF in chunk framing"
    if ours == ("invalid", "CHUNK_EXT") and any(
            re.search(rb";[ \t]*(=|;|\r|$)", line.split(b"\r")[0] + b"\r") for line in lines):
        return "chunk extension without a name"
    return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunked_bodies(), st.binary(max_size=8))
def test_chunked_bodies_agree(generated, after: bytes) -> None:
    wire, data = generated
    body, used = http1.decode_chunked(wire + after)
    assert (body, used) == (data, len(wire))
    ll, p = llhttp_response(CHUNKED_HEAD + wire)
    assert ll == "ok" and p.body == data
    hv, events = h11_response(CHUNKED_HEAD + wire)
    assert hv == "ok"
    assert b"".join(bytes(e.data) for e in events if isinstance(e, h11.Data)) == data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunked_bodies(), st.integers(min_value=0, max_value=10_000), st.sampled_from(INTERESTING),
       st.sampled_from(["replace", "insert", "delete"]))
def test_mutated_chunked_bodies_agree_where_references_agree(generated, pos: int, byte: int, how: str) -> None:
    wire, _ = generated
    mutated = mutate(wire, pos, byte, how)
    ll = llhttp_response(CHUNKED_HEAD + mutated)
    hv = h11_response(CHUNKED_HEAD + mutated)
    assume(ll[0] == hv[0] and ll[0] != "incomplete")
    ours = ours_response(CHUNKED_HEAD + mutated)
    if ours[0] == ll[0]:
        if ours[0] == "ok":
            assert ours[1][1] == ll[1].body
        return
    why = deliberate_chunked(mutated, ours)
    assert why is not None, (mutated, ours, ll, hv)
