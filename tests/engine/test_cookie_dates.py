"""Cookie `maxidle` / `maxlife` (dated cookie values), servers without a cookie, and persistence
to drained and weight-0 servers, checked against HAProxy 2.6 running the same configuration."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import time

import pytest
from enginelib import RawClient, free_port, wait_port

HAPROXY = "/usr/sbin/haproxy"
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def enc(t: int) -> str:
    """HAProxy's s30tob64 of a date in 4-second units."""
    v = t >> 2
    return "".join(B64[(v >> (24 - 6 * i)) & 63] for i in range(5))


def dec(s: str) -> int:
    v = 0
    for c in s:
        v = (v << 6) + B64.index(c)
    return v << 2


def cfg(port: int, port2: int, sock, ports: list[int]) -> str:
    return f"""
global
    stats socket {sock} level admin
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
frontend fe2
    bind 127.0.0.1:{port2}
    default_backend be2
backend be
    cookie SRV insert indirect nocache maxidle 30s maxlife 1h
    server s1 127.0.0.1:{ports[0]} cookie c1
    server s2 127.0.0.1:{ports[1]} cookie c2
backend be2
    cookie SRV insert maxidle 10s
    server s1 127.0.0.1:{ports[0]} cookie c1
    server s2 127.0.0.1:{ports[1]} cookie c2
    server s3 127.0.0.1:{ports[2]}
"""


def get(port: int, cookie: str | None) -> tuple[int, str | None, str | None]:
    c = RawClient(port)
    try:
        r = c.request(path="/echo", headers={"Connection": "close", **({"Cookie": cookie} if cookie else {})})
    finally:
        c.close()
    srv = int(re.match(rb"srv=(\d+)", r.body).group(1))
    seen = [ln[len(b"h:Cookie: "):].decode() for ln in r.body.split(b"\n") if ln.lower().startswith(b"h:cookie:")]
    return srv, r.header("set-cookie"), seen[0] if seen else None


def normalise(set_cookie: str | None, t0: int, t1: int, base: int) -> str | None:
    """Dates in a Set-Cookie value as 'now' (emitted during the run, rounded up to 4 s as HAProxy
    does) or as the offset of the request date they were copied from (enc(base + offset))."""
    if set_cookie is None:
        return None
    now = {((t + 3) >> 2) << 2 for t in range(t0, t1 + 1)} | {dec(enc(t)) for t in range(t0, t1 + 1)}

    def one(m):
        d = dec(m.group(1))
        if d in now:
            return "|now"
        for off in (-100, -4000, -40, -6, -20, 90000):
            if d == dec(enc(base + off)):
                return f"|{off:+d}"
        return f"|?{d - base:+d}"
    return re.sub(r"\|([A-Za-z0-9+/]{5})", one, set_cookie)


def scenario(port: int, port2: int, sock) -> list:
    now = int(time.time())
    steps = [
        (port, None),                                                  # fresh: both dates
        (port, "SRV=c1"),                                              # no date: valid, dated
        (port, f"SRV=c2|{enc(now + 3)}|{enc(now - 100)}"),             # fresh enough: nothing sent
        (port, f"SRV=c2|{enc(now - 40)}|{enc(now - 100)}"),            # idle too long: ignored
        (port, f"SRV=c2|{enc(now)}|{enc(now - 4000)}"),                # too old: ignored
        (port, f"SRV=c2|{enc(now + 90000)}|{enc(now - 100)}"),         # more than a day ahead
        (port, f"SRV=c2|{enc(now + 3)}"),                              # first date added
        (port, f"SRV=c2|!!!!!|{enc(now - 100)}"),                      # bad last date
        (port, "x=1; SRV=c1|abc; y=2"),                                # too short to hold a date
        (port2, None),
        (port2, f"SRV=c2|{enc(now + 3)}|{enc(now - 100)}"),            # first date removed
        (port2, f"SRV=c2|{enc(now - 6)}"),                             # idle 6..9 s < 10 s
        (port2, f"SRV=c1|{enc(now - 20)}"),                            # idle: balanced again
        (port2, None),                                                 # s3: no cookie, removal
        (port2, "SRV=c2"),
    ]
    out = []
    for p, cookie in steps:
        srv, set_cookie, seen = get(p, cookie)
        t1 = int(time.time()) + 1
        out.append((srv, normalise(set_cookie, now - 1, t1, now), normalise(seen, now - 1, t1 + 5, now)))
    # persistent traffic to a drained or weight-0 server; maintenance breaks it
    for cmd in ("set server be2/s1 state drain", "set server be2/s1 state ready",
                "set server be2/s1 weight 0", "set server be2/s1 weight 1", "set server be2/s1 state maint"):
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(sock))
        s.sendall(cmd.encode() + b"\n")
        s.recv(100)
        s.close()
        time.sleep(0.2)
        srv, set_cookie, _ = get(port2, f"SRV=c1|{enc(int(time.time()) + 3)}")
        out.append((cmd, srv, set_cookie is not None))
    return out


@pytest.mark.skipif(not os.path.exists(HAPROXY), reason="haproxy 2.6 is not installed (CI installs it)")
def test_dated_cookies_as_haproxy(backends, run_cfg, tmp_path):
    b = backends("http", "http", "http")
    runs = {}
    for name in ("haproxy", "fastlb"):
        port, port2, sock = free_port(), free_port(), tmp_path / f"{name}.sock"
        text = cfg(port, port2, sock, b.ports)
        proc = None
        if name == "haproxy":
            path = tmp_path / "h.cfg"
            path.write_text(text)
            proc = subprocess.Popen([HAPROXY, "-f", str(path), "-db"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            wait_port(port)
        else:
            run_cfg(text.replace("global\n", "global\n    nbthread 1\n"), port)
        wait_port(port2)
        try:
            runs[name] = scenario(port, port2, sock)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait()
    assert runs["fastlb"] == runs["haproxy"]
    r = runs["fastlb"]
    # what the comparison covers, spelled out
    assert r[0][1] == "SRV=c1|now|now; path=/" and r[0][2] is None        # indirect: server never sees it
    assert r[2][1] is None                                                 # nothing to refresh
    assert r[7][1] == "SRV=c2|now|-100; path=/"                          # the first date is kept
    assert r[10][1] == "SRV=c2|now; path=/" and r[10][2].startswith("SRV=c2|")
    assert r[13][1] == "SRV=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/"
    assert [x[1] for x in r[15:]] == [b.ports[0], b.ports[0], b.ports[0], b.ports[0], b.ports[1]]


def test_dated_cookie_is_refreshed_and_expires(backends, run_cfg, tmp_path):
    """Without HAProxy: the fastlb side of the same rules, with real waiting."""
    b = backends("http", "http", "http")
    port, port2, sock = free_port(), free_port(), tmp_path / "s.sock"
    text = cfg(port, port2, sock, b.ports).replace("maxidle 10s", "maxidle 2s")
    run_cfg(text.replace("global\n", "global\n    nbthread 1\n"), port)
    wait_port(port2)  # run_cfg waits for the first frontend only
    srv, set_cookie, _ = get(port2, None)
    value = set_cookie.split(";")[0]
    assert re.fullmatch(r"SRV=c1\|[A-Za-z0-9+/]{5}", value)
    # within maxidle the client stays
    time.sleep(1.2)
    srv2, _, _ = get(port2, value)
    assert srv2 == srv
    # idle for longer than maxidle (+ the 4 s rounding): ignored, balanced elsewhere, new cookie
    time.sleep(6.5)
    srv3, fresh, _ = get(port2, value)
    assert srv3 != srv and fresh.startswith("SRV=c2|")
