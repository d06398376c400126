"""Differential tests against llhttp (httptools) and h11 on generated requests (hypothesis).

1. Requests (and responses) in the grammar every parser accepts: all three accept, with the same
   fields.
2. The same requests with one byte changed, inserted or removed: where llhttp and h11 reach the same
   verdict, we reach it too, except for the deliberate differences below.

Deliberate differences (each predicate in DELIBERATE names one):
- "#" in the request target: refused (400) as HAProxy 2.6 does; a fragment is never sent on the
  wire (RFC 9112 3.2) and two readings of where the path ends are a cache-poisoning vector.
  llhttp and h11 accept it.
- Host holding a byte outside uri-host[:port] (e.g. a space): refused, RFC 9110 7.2 / 4.2.3;
  llhttp and h11 accept any value.
- Field values: llhttp keeps the trailing whitespace of a value; RFC 9110 5.5 excludes it, as we
  and h11 do, so values are compared with it stripped.
- Where llhttp and h11 disagree with each other nothing is asserted: llhttp refuses methods it does
  not know, HTTP/1.x with x > 1, bare LF, duplicate equal Content-Length and TE beside CL; h11
  refuses leading empty lines and a missing or repeated Host, accepts obs-fold and control
  characters in values. Our choices there are in http1_corpus.py and checked against HAProxy.
"""
from __future__ import annotations

import h11
import httptools
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fastlb import http1

KNOWN_METHODS = [b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH"]
TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
PATH_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/?%"
# Names with framing or connection semantics are covered by their own tests and the corpus.
SPECIAL = {b"content-length", b"transfer-encoding", b"host", b"connection", b"upgrade", b"expect",
           b"sec-websocket-key", b"te", b"trailer", b"keep-alive", b"proxy-connection"}
# field-content: VCHAR / obs-text, single SP or HTAB runs between them
VCHAR = st.sampled_from([bytes([c]) for c in list(range(0x21, 0x7F)) + list(range(0x80, 0x100))])


@st.composite
def field_values(draw) -> bytes:
    words = draw(st.lists(st.lists(VCHAR, min_size=1, max_size=12).map(b"".join), max_size=5))
    seps = [draw(st.sampled_from([b" ", b"\t", b"  "])) for _ in words]
    return b"".join(w + s for w, s in zip(words, seps)).rstrip(b" \t")


header_names = st.text(alphabet=TCHAR, min_size=1, max_size=24).map(str.encode).filter(
    lambda n: n.lower() not in SPECIAL)


@st.composite
def requests(draw) -> tuple[bytes, dict]:
    method = draw(st.sampled_from(KNOWN_METHODS))
    target = b"/" + draw(st.text(alphabet=PATH_CHARS, max_size=60)).encode()
    version = draw(st.sampled_from([b"1.0", b"1.1"]))
    headers = [(b"Host", draw(st.sampled_from([b"example.com", b"a.b.c:8080", b"[2001:db8::1]:443"])))]
    headers += draw(st.lists(st.tuples(header_names, field_values()), max_size=12))
    connection = draw(st.sampled_from([None, b"close", b"keep-alive", b"Keep-Alive", b"foo, close"]))
    if connection is not None:
        headers.append((b"Connection", connection))
    ows = draw(st.sampled_from([b"", b" ", b"\t ", b"  "]))
    raw = method + b" " + target + b" HTTP/" + version + b"\r\n"
    raw += b"".join(n + b":" + ows + v + ows + b"\r\n" for n, v in headers) + b"\r\n"
    return raw, {"method": method, "target": target, "version": version, "headers": headers}


def verdict_ours(raw: bytes):
    try:
        return "ok", http1.parse_request(raw)
    except http1.InvalidMessage as exc:
        return "invalid", exc.code
    except http1.IncompleteMessage:
        return "incomplete", None


class _LlhttpProtocol:
    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.complete = False
        self.parser: httptools.HttpRequestParser | httptools.HttpResponseParser | None = None
        self.keep_alive: bool | None = None

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        # llhttp resets its flags once the message is complete: ask for keep-alive here
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()


def verdict_llhttp(raw: bytes):
    proto = _LlhttpProtocol()
    parser = proto.parser = httptools.HttpRequestParser(proto)
    try:
        parser.feed_data(raw)
    except httptools.HttpParserUpgrade:
        pass
    except httptools.HttpParserError as exc:
        return "invalid", str(exc)
    if not proto.complete:
        return "incomplete", None
    return "ok", (parser.get_method(), proto.url, parser.get_http_version().encode(), proto.headers,
                  proto.keep_alive)


def verdict_h11(raw: bytes):
    conn = h11.Connection(h11.SERVER)
    try:
        conn.receive_data(raw)
        event = conn.next_event()
    except h11.RemoteProtocolError as exc:
        return "invalid", str(exc)
    if event is h11.NEED_DATA:
        return "incomplete", None
    return "ok", event


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_well_formed_requests_agree(generated: tuple[bytes, dict]) -> None:
    raw, want = generated
    ours, req = verdict_ours(raw)
    ll, ll_fields = verdict_llhttp(raw)
    hv, event = verdict_h11(raw)
    assert (ours, ll, hv) == ("ok", "ok", "ok"), (ours, req, ll, ll_fields, hv, event)
    assert (req.method, req.target, req.version) == (want["method"], want["target"], want["version"])
    assert req.headers == want["headers"]
    method, url, version, ll_headers, ll_keep_alive = ll_fields
    assert (req.method, req.target, req.version) == (method.encode() if isinstance(method, str) else method,
                                                     url, version)
    assert req.headers == [(n, v.rstrip(b" \t")) for n, v in ll_headers]  # llhttp keeps trailing OWS
    assert req.keep_alive == ll_keep_alive
    assert (req.method, req.target, req.version) == (event.method, event.target, event.http_version)
    assert req.headers == list(event.headers.raw_items())
    assert req.consumed == len(raw)


INTERESTING = [0x00, 0x01, 0x09, 0x0A, 0x0B, 0x0D, 0x20, 0x22, 0x23, 0x2C, 0x2F, 0x3A, 0x3B, 0x7F, 0x80, 0xFF,
               ord("a"), ord("0")]


def deliberate(raw: bytes, ours: tuple) -> str | None:
    """Name of the deliberate difference that explains our verdict, if one does."""
    line = raw.partition(b"\r\n")[0]
    parts = line.split(b" ")
    if ours == ("invalid", "TARGET") and len(parts) == 3 and b"#" in parts[1]:
        return "fragment in target"
    if ours == ("invalid", "HOST_INVALID"):
        return "invalid Host value"
    return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.integers(min_value=0, max_value=10_000), st.sampled_from(INTERESTING),
       st.sampled_from(["replace", "insert", "delete"]))
def test_mutated_requests_agree_where_references_agree(generated, pos: int, byte: int, how: str) -> None:
    raw, _ = generated
    pos %= len(raw)
    if how == "replace":
        mutated = raw[:pos] + bytes([byte]) + raw[pos + 1:]
    elif how == "insert":
        mutated = raw[:pos] + bytes([byte]) + raw[pos:]
    else:
        mutated = raw[:pos] + raw[pos + 1:]
    # Verdicts that the references reach for reasons of their own, not of the grammar: llhttp
    # refuses any method it does not know, h11 refuses leading empty lines.
    assume(mutated.split(b" ", 1)[0] in KNOWN_METHODS)
    ll = verdict_llhttp(mutated)
    hv = verdict_h11(mutated)
    assume(ll[0] == hv[0] and ll[0] != "incomplete")
    ours = verdict_ours(mutated)
    if ours[0] == ll[0]:
        return
    # h11 refuses an HTTP/1.1 request without Host whatever else is wrong or right with it
    # (the mutation may have removed it, or ended the head early with a bare LF)
    assume(not (ours[0] == "ok" and ours[1].version == b"1.1" and ours[1].host is None))
    why = deliberate(mutated, ours)
    assert why is not None, (mutated, ours, ll, hv)


@pytest.mark.parametrize(("raw", "llhttp_and_h11"), [
    (b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", "ok"),
    (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "ok"),
])
def test_listed_differences_are_real(raw: bytes, llhttp_and_h11: str) -> None:
    """The deliberate differences above exist: both references accept, we refuse."""
    assert verdict_llhttp(raw)[0] == verdict_h11(raw)[0] == llhttp_and_h11
    ours = verdict_ours(raw)
    assert ours[0] == "invalid" and deliberate(raw, ours)


@st.composite
def responses(draw) -> tuple[bytes, int, bytes, list[tuple[bytes, bytes]]]:
    status = draw(st.integers(min_value=200, max_value=599).filter(lambda s: s not in (204, 304)))
    reason = draw(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz -", max_size=20))
    reason = reason.strip().encode() or b"X"
    headers = draw(st.lists(st.tuples(header_names, field_values()), max_size=10))
    headers.append((b"Content-Length", b"0"))
    raw = b"HTTP/1.1 %d " % status + reason + b"\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in headers)
    return raw + b"\r\n", status, reason, headers


_H11_GET = h11.Request(method="GET", target="/", headers=[("Host", "a")])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(responses())
def test_well_formed_responses_agree(generated) -> None:
    raw, status, reason, headers = generated
    ours = http1.parse_response(raw)
    assert (ours.status, ours.reason, ours.headers, ours.consumed) == (status, reason, headers, len(raw))

    proto = _LlhttpProtocol()
    parser = proto.parser = httptools.HttpResponseParser(proto)
    parser.feed_data(raw)
    assert proto.complete and parser.get_status_code() == status
    assert ours.headers == [(n, v.rstrip(b" \t")) for n, v in proto.headers]

    conn = h11.Connection(h11.CLIENT)
    conn.send(_H11_GET)
    conn.send(h11.EndOfMessage())
    conn.receive_data(raw)
    event = conn.next_event()
    assert (event.status_code, event.reason) == (status, reason)
    assert ours.headers == list(event.headers.raw_items())
