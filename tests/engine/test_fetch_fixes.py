"""Two fetch/pattern fixes, checked on the routing of a built worker: `req.fhdr_cnt` counts header
lines (not comma-separated values), and ACL `-n` forbids name resolution (HAProxy's error)."""
from __future__ import annotations

import pytest
from fastlb.engine._proxy import route_request

from fastlb.config import load_config_text
from fastlb.engine.offline import offline_worker

HEAD = """
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
backend hit
    server s 127.0.0.1:1
backend miss
    server s 127.0.0.1:1
frontend fe
    bind 127.0.0.1:1
    default_backend miss
"""


def route(acl: str, request: bytes) -> str:
    w, _shm = offline_worker(HEAD + f"    acl a {acl}\n    use_backend hit if a\n")  # _shm: keep it mapped
    return route_request(w, "fe", request)


REQ = b"GET / HTTP/1.1\r\nHost: x\r\nX-N: 1, 2\r\nX-N: 3\r\nX-Other: a,b,c\r\n\r\n"


@pytest.mark.parametrize("acl, expected", [
    ("req.fhdr_cnt(x-n) eq 2", "hit"),       # two lines
    ("req.fhdr_cnt(x-n) eq 3", "miss"),
    ("req.hdr_cnt(x-n) eq 3", "hit"),        # three values
    ("hdr_cnt(x-n) eq 3", "hit"),
    ("req.fhdr_cnt eq 4", "hit"),            # every header line: Host, X-N, X-N, X-Other
    ("req.hdr_cnt eq 7", "hit"),             # every value: x, 1, 2, 3, a, b, c
    ("req.fhdr_cnt(x-none) eq 0", "hit"),
])
def test_header_counts(acl, expected):
    assert route(acl, REQ) == expected


def test_dash_n_refuses_names_as_haproxy():
    for pattern in ("localhost", "nosuchhost.invalid", "10.1", "localhost/24", "300.1.1.1"):
        res = load_config_text(HEAD + f"    acl a src -n {pattern}\n    use_backend hit if a\n")
        assert not res.ok
        assert (f"error detected while parsing ACL 'a' : '{pattern}' is not a valid IPv4 or IPv6 address."
                in res.report())
    for pattern in ("127.0.0.1", "10.0.0.0/8", "10.1.2.3/255.255.0.0", "::1", "2001:db8::/32"):
        assert load_config_text(HEAD + f"    acl a src -n {pattern}\n    use_backend hit if a\n").ok


def test_dash_n_addresses_match_and_names_resolve_without_it():
    req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"      # route_request's client is 127.0.0.1
    assert route("src -n 127.0.0.1", req) == "hit"
    assert route("src -n 127.0.0.0/8", req) == "hit"
    assert route("src -n 10.0.0.0/8", req) == "miss"
    assert route("src localhost", req) == "hit"       # resolved once, at start-up
    assert route("src 127.1", req) == "hit"           # inet_aton's short form, as HAProxy
    with pytest.raises(Exception, match="'nosuchhost.invalid' is not a valid IPv4 or IPv6 address"):
        route("src nosuchhost.invalid", req)
