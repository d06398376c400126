"""ACL fetches, matchers, flags and conditions through the engine's compiled rules.

Every case is checked twice: through the compiled router on a parsed request
(fastlb.engine._proxy.route_request, no sockets), and over real sockets, where one configuration
holds every case as `http-request add-header X-Hit <n> if <condition>` and the backend echoes
the headers it got. The socket run is repeated with HAProxy 2.6 when it is installed, so the
expected values below are HAProxy's.
"""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time

import pytest
from enginelib import RawClient, free_port, wait_port
from fastlb.engine._proxy import route_request
from test_http_mode import fields, hdr_values

from fastlb.engine.offline import offline_worker

REQUESTS = {
    "get": "GET /a/b/c.php?x=1&id=7&id=8 HTTP/1.1\r\nHost: www.Example.com\r\nX-N: 12\r\nX-L: 1, 2\r\n"
           "X-L: 3\r\nX-IP: 10.1.2.3\r\nX-IP6: 2001:db8::5\r\nCookie: a=1; sid=abc\r\nX-E:\r\n"
           "X-T: Hello/World.Foo\r\nUser-Agent: probe\r\n\r\n",
    "post": "POST /upload HTTP/1.1\r\nHost: api.example.org:8080\r\nContent-Length: 3\r\n"
            "Content-Type: text/plain\r\n\r\nabc",
    "v10": "GET /old HTTP/1.0\r\nHost: h10\r\n\r\n",
    "abs": "GET http://abs.example.net/q/r?s=1 HTTP/1.1\r\nHost: abs.example.net\r\n\r\n",
    "dash": "GET /-x HTTP/1.1\r\nHost: h\r\n\r\n",
    "purge": "PURGE /p HTTP/1.1\r\nHost: h\r\n\r\n",
}

# (acl lines with @x placeholders for ACL names, condition, request, expected)
# A case written as a bare string "<fetch ...>" is the ACL line `@a <fetch ...>` and `if @a`.
CASES: list[tuple[list[str], str, str, bool]] = []


def acl(line: str, req: str, want: bool) -> None:
    CASES.append(([f"@a {line}"], "if @a", req, want))


def cond(text: str, req: str, want: bool, acls: tuple[str, ...] = ()) -> None:
    CASES.append((list(acls), text, req, want))


for line, want in [
    # path and its derivatives
    ("path /a/b/c.php", True), ("path /a/b", False), ("path -i /A/B/C.PHP", True), ("path /A/B/C.PHP", False),
    ("path /nope /a/b/c.php", True), ("path_beg /a/b", True), ("path_beg /b", False),
    ("path_end .php", True), ("path_end .ph", False), ("path_sub b/c", True), ("path_sub x=1", False),
    ("path_reg ^/a/.*\\.php$", True), ("path_reg -i ^/A/B", True), ("path_reg ^/A/B", False),
    ("path_dir b", True), ("path_dir b/c.php", True), ("path_dir c", False), ("path_dir /a/", True),
    ("path_dom c", True), ("path_dom php", True), ("path_dom ph", False),
    ("path_len 10", True), ("path_len gt 10", False), ("path_len 5:10", True),
    # url, query, url_param, base
    ("url /a/b/c.php?x=1&id=7&id=8", True), ("url /a/b/c.php", False), ("url_beg /a/b/c.php?x", True),
    ("url_end id=8", True), ("url_sub x=1&", True), ("url_reg \\?x=1", True), ("url_dir c.php", True),
    ("url_dir x=1&id=7&id=8", True), ("url_dom id=7&id=8", False), ("url_len 24", True),
    ("url_param(id) 7", True), ("url_param(id) 8", True), ("url_param(id) -m int gt 7", True),
    ("url_param(zz) -m found", False), ("url_param(x) -m found", True), ("urlp(x) 1", True),
    ("query x=1&id=7&id=8", True), ("query -m beg x=1", True), ("query x=1", False),
    ("base www.Example.com/a/b/c.php", True), ("base -i www.example.com/a/b/c.php", True),
    ("base www.example.com/a/b/c.php", False), ("base_beg www.Example.com/a", True),
    ("method GET", True), ("method POST", False), ("method -m str -i get", True), ("method -m beg GE", True),
    # without -m a known method matches by its exact name only, -i or not (HAProxy's "meth" matcher)
    ("method -i get", False), ("method -i GET", True), ("method get", False),
    # headers
    ("hdr(host) www.Example.com", True), ("hdr(host) www.example.com", False),
    ("hdr(host) -i www.example.com", True), ("req.hdr(host) -i WWW.EXAMPLE.COM", True),
    ("hdr_beg(host) -i www.", True), ("hdr_beg(host) www.e", False), ("hdr_end(host) .com", True),
    ("hdr_sub(host) -i example", True), ("hdr_reg(host) -i ^www\\.[a-z]+\\.com$", True),
    ("hdr_dom(host) -i example.com", True), ("hdr_dom(host) -i ample.com", False),
    ("hdr_dir(x-t) World.Foo", True), ("hdr_len(host) 15", True), ("hdr_len(x-e) 0", True),
    ("hdr(x-l) 2", True), ("hdr(x-l) 3", True), ("hdr(x-l,1) 1", True), ("hdr(x-l,2) 2", True),
    ("hdr(x-l,2) 1", False), ("hdr(x-l,-1) 3", True), ("hdr(x-l,-2) 2", True), ("hdr(x-l,-3) 1", True),
    ("hdr(x-l,4) -m found", False), ("hdr(x-l,3) 3", True), ("req.hdr(x-l) 3", True),
    ('req.fhdr(x-l) "1, 2"', True), ("req.fhdr(x-l) 1", False), ("req.fhdr(x-l) 3", True),
    ("hdr_cnt(x-l) 3", True), ("hdr_cnt(x-l) eq 2", False), ("hdr_cnt(x-zz) 0", True),
    ("hdr_cnt(host) 1", True), ("req.hdr_cnt(x-l) ge 3", True),
    ("hdr_val(x-n) 12", True), ("hdr_val(x-n) ge 10", True), ("hdr_val(x-n) lt 12", False),
    ("hdr_val(x-n) le 12", True), ("hdr_val(x-n) gt 12", False), ("hdr_val(x-n) eq 13", False),
    ("hdr_val(x-n) 10:20", True), ("hdr_val(x-n) :11", False), ("hdr_val(x-n) 12:", True),
    ("hdr_val(x-n) 1 2 12", True), ("hdr_val(x-n) 13:20 1:11", False),
    ("hdr_ip(x-ip) 10.0.0.0/8", True), ("hdr_ip(x-ip) 10.1.2.0/255.255.255.0", True),
    ("hdr_ip(x-ip) 10.1.3.0/24", False), ("hdr_ip(x-ip) 10.1.2.3", True), ("hdr_ip(x-ip) 10.1.2.4", False),
    ("hdr_ip(x-ip6) 2001:db8::/32", True), ("hdr_ip(x-ip6) 2001:db9::/32", False),
    ("hdr_ip(x-ip6) 2001:db8::5", True), ("hdr_ip(x-ip6) 2001:db8::5/128", True),
    ("hdr_ip(x-ip6) 10.0.0.0/8", False),
    # cookies
    ("req.cook(sid) abc", True), ("req.cook(a) 1", True), ("req.cook(sid) -m beg ab", True),
    ("req.cook(sid) ab", False), ("req.cook(zz) -m found", False), ("cook(sid) abc", True),
    ("req.cook_cnt(sid) 1", True),
    # -m on one string sample
    ("hdr(x-t) -m str Hello/World.Foo", True), ("hdr(x-t) -m beg Hello", True),
    ("hdr(x-t) -m beg hello", False), ("hdr(x-t) -i -m beg hello", True), ("hdr(x-t) -m beg -i hello", True),
    ("hdr(x-t) -m end .Foo", True), ("hdr(x-t) -m sub World", True), ("hdr(x-t) -m sub world", False),
    ("hdr(x-t) -m reg ^H.*o$", True), ("hdr(x-t) -m dom World", True), ("hdr(x-t) -m dom orld", False),
    ("hdr(x-t) -m dir World.Foo", True), ("hdr(x-t) -m dir World", False), ("hdr(x-t) -m len 15", True),
    ("hdr(x-t) -m len lt 15", False), ("hdr(x-t) -m found", True), ("hdr(x-zz) -m found", False),
    ("hdr(x-e) -m found", True), ("hdr_val(x-n) -m bool", True), ("hdr_cnt(x-zz) -m bool", False),
    ("hdr(x-n) -m int 12", True), ("hdr(x-n) -m int gt 12", False), ("hdr(x-ip) -m ip 10.0.0.0/8", True),
    ("hdr(x-t) -m ip 10.0.0.0/8", False),
    # layer 4 (client 127.0.0.1)
    ("src 127.0.0.1", True), ("src 127.0.0.0/8", True), ("src 127.0.0.0/255.0.0.0", True),
    ("src 10.0.0.0/8", False), ("src ::1", False), ("src ::ffff:127.0.0.1", True),
    ("src ::ffff:127.0.0.0/104", True), ("src 10.0.0.1 127.0.0.1", True),
    # backends: `two` has 2 servers, `half` one of 2 disabled
    ("nbsrv(two) 2", True), ("nbsrv(two) eq 1", False), ("nbsrv(half) 1", True),
    ("ssl_fc", False),
    # -f and --
    ("path -f %PATS%", True), ("path -i -f %PATS%", True), ("path_beg -f %PATS% /zz", True),
    ("path_beg -f %PATS2%", False), ("path_beg -f %PATS2% /a/", True),   # trailing spaces are kept
]:
    acl(line, "get", want)

for line, want in [("path -f %PATS%", False), ("path -i -f %PATS%", True), ("path /upload", True),
                   ("method POST", True), ("hdr(host) api.example.org:8080", True),
                   ("hdr_dom(host) example.org", True), ("hdr_dom(host) 8080", True),
                   ("hdr_val(content-length) 3", True), ("hdr_beg(content-type) text/", True)]:
    acl(line, "post", want)
for line, want in [("method -i purge", True), ("method PURGE", True), ("method purge", False),
                   ("method -i GET PURGe", True), ("method GET POST", False), ("METH_GET", False)]:
    acl(line.replace("METH_GET", "method GET HEAD"), "purge", want)
for line, want in [("path_end -- -x", True), ("path -- /-x", True), ("path_beg -i -- /-X", True)]:
    acl(line, "dash", want)
for line, want in [("path /q/r", True), ("url_beg http://", True), ("url_dom abs.example.net", True),
                   ("base abs.example.net/q/r", True), ("query s=1", True), ("hdr(host) abs.example.net", True),
                   ("url_param(s) 1", True)]:
    acl(line, "abs", want)

for text, req, want in [
    ("if TRUE", "get", True), ("if FALSE", "get", False), ("if HTTP", "get", True),
    ("if HTTP_1.0", "get", False), ("if HTTP_1.1", "get", True), ("if HTTP_1.0", "v10", True),
    ("if HTTP_1.1", "v10", False), ("if METH_GET", "get", True), ("if METH_GET", "post", False),
    ("if METH_POST", "post", True), ("if METH_POST", "get", False), ("if METH_CONNECT", "get", False),
    ("if LOCALHOST", "get", True), ("if HTTP_CONTENT", "get", False), ("if HTTP_CONTENT", "post", True),
    ("if HTTP_URL_SLASH", "get", True), ("if HTTP_URL_SLASH", "abs", False), ("if HTTP_URL_ABS", "abs", True),
    ("if HTTP_URL_ABS", "get", False), ("if HTTP_URL_STAR", "get", False),
    ("unless TRUE", "get", False), ("unless FALSE", "get", True), ("if !FALSE", "get", True),
    ("if !TRUE", "get", False), ("if FALSE || TRUE", "get", True), ("if FALSE or TRUE", "get", True),
    ("if FALSE || FALSE", "get", False), ("if TRUE FALSE", "get", False), ("if TRUE !FALSE", "get", True),
    ("if { path /a/b/c.php } TRUE", "get", True), ("if ! { path /x }", "get", True),
    ("if !{ path /a/b/c.php }", "get", False), ("unless { path /x } || FALSE", "get", True),
    ("unless { path /x } || TRUE", "get", False),
    ("if FALSE TRUE || TRUE", "get", True), ("if TRUE || FALSE FALSE", "get", True),
    ("if FALSE || TRUE FALSE", "get", False), ("if { method GET } { path_beg /a } !{ ssl_fc }", "get", True),
    ("if { method GET } { path_beg /b } || { hdr(x-n) 12 }", "get", True),
]:
    cond(text, req, want)
# lines of one name OR together; names combine like anonymous ACLs
cond("if @a", "get", True, ("@a path /x", "@a path /a/b/c.php"))
cond("if !@a", "get", False, ("@a path /x", "@a path /a/b/c.php"))
cond("if @a @b", "get", False, ("@a path /a/b/c.php", "@b method POST"))
cond("if @a || @b", "get", True, ("@a path /nope", "@b method GET"))
cond("unless @a @b", "get", True, ("@a path /a/b/c.php", "@b method POST"))


def case_text(i: int, case, pats: str) -> tuple[list[str], str]:
    lines, text, _, _ = case

    def sub(s: str) -> str:
        s = re.sub(r"@([a-z])", lambda m: f"c{i}{m.group(1)}", s)
        return s.replace("%PATS2%", pats + "2").replace("%PATS%", pats)

    return [sub(x) for x in lines], sub(text)


BACKENDS_CFG = """
backend hit
    server s 127.0.0.1:{p}
backend miss
    server s 127.0.0.1:{p}
backend two
    server s1 127.0.0.1:{p}
    server s2 127.0.0.1:{p}
backend half
    server s1 127.0.0.1:{p}
    server s2 127.0.0.1:{p} disabled
"""


@pytest.fixture(scope="module")
def pats(tmp_path_factory) -> str:
    p = tmp_path_factory.mktemp("acl") / "paths.lst"
    # '#' only in the first column starts a comment; leading blanks go, trailing ones stay
    p.write_text("/from/file\n# a comment\n\n  \t/a/b/c.php\n/UPLOAD\n  # not a comment\n")
    (p.parent / "paths.lst2").write_text("/a/b  \n")
    return str(p)


def test_every_case_through_the_compiled_router(pats):
    lines = ["defaults", "    mode http", "    timeout connect 1s", "    timeout client 1s", "    timeout server 1s"]
    for i, case in enumerate(CASES):
        acls, text = case_text(i, case, pats)
        lines += [f"frontend f{i}", f"    bind 127.0.0.1:{20000 + i}", *(f"    acl {a}" for a in acls),
                  f"    use_backend hit {text}", "    default_backend miss"]
    w, _ = offline_worker("\n".join(lines) + BACKENDS_CFG.format(p=9))
    bad = []
    for i, (_, text, req, want) in enumerate(CASES):
        got = route_request(w, f"f{i}", REQUESTS[req].encode()) == "hit"
        if got != want:
            bad.append((CASES[i][0], text, req, want))
    assert not bad


def hits_config(port: int, backend_port: int, pats: str) -> str:
    lines = ["global", "    nbthread 1", "defaults", "    mode http", "    timeout connect 2s", "    timeout client 5s",
             "    timeout server 5s", "frontend fe", f"    bind 127.0.0.1:{port}"]
    for i, case in enumerate(CASES):
        acls, text = case_text(i, case, pats)
        lines += [f"    acl {a}" for a in acls]
        lines.append(f"    http-request add-header X-Hit {i} {text}")
    lines.append("    default_backend hit")
    return "\n".join(lines) + BACKENDS_CFG.format(p=backend_port) + "\n"


def collect_hits(port: int) -> dict[str, set[int]]:
    out = {}
    for name, raw in REQUESTS.items():
        c = RawClient(port)
        c.send(raw.encode())
        r = c.read_response()
        c.close()
        assert r.status == 200, (name, r.status)
        out[name] = {int(v) for v in hdr_values(fields(r.body), "x-hit")}
    return out


def check_hits(hits: dict[str, set[int]]) -> list:
    return [(CASES[i][0], CASES[i][1], req, want) for i, (_, _, req, want) in enumerate(CASES)
            if (i in hits[req]) != want]


def test_every_case_over_sockets(backends, run_cfg, pats):
    b = backends("http")
    port = free_port()
    run_cfg(hits_config(port, b.ports[0], pats), port)
    assert not check_hits(collect_hits(port))


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy (the reference) is not installed")
def test_haproxy_agrees_with_every_expected_value(backends, tmp_path, pats):
    b = backends("http")
    port = free_port()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(hits_config(port, b.ports[0], pats).replace("    nbthread 1\n", "    nbthread 1\n"))
    proc = subprocess.Popen(["haproxy", "-f", str(cfg), "-db"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_port(port, proc=proc)
        assert not check_hits(collect_hits(port))
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


# -- layer 4 and mode tcp, over real sockets ------------------------------------------------------

def test_dst_dst_port_src_port_and_src_over_sockets(backends, run_cfg):
    b = backends("http", "http", "http", "http")
    p1, p2 = free_port(), free_port()
    run_cfg(f"""
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{p1}
    bind 127.0.0.2:{p2}
    use_backend b2 if {{ dst_port {p2} }} {{ dst 127.0.0.2 }}
    use_backend b3 if {{ src 127.0.0.3 }} {{ src_port 1024: }}
    use_backend b4 if {{ dst 127.0.0.2 }} || {{ dst_port {p2} }}
    default_backend b1
backend b1
    server s 127.0.0.1:{b.ports[0]}
backend b2
    server s 127.0.0.1:{b.ports[1]}
backend b3
    server s 127.0.0.1:{b.ports[2]}
backend b4
    server s 127.0.0.1:{b.ports[3]}
""", p1)
    wait_port(p2, host="127.0.0.2")

    def srv(dst: str, port: int, src: str = "127.0.0.1") -> int:
        s = socket.socket()
        s.settimeout(5)
        s.bind((src, 0))
        s.connect((dst, port))
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        s.close()
        return int(fields(data.split(b"\r\n\r\n", 1)[1])["srv"])

    assert srv("127.0.0.1", p1) == b.ports[0]
    assert srv("127.0.0.2", p2) == b.ports[1]
    assert srv("127.0.0.1", p1, src="127.0.0.3") == b.ports[2]
    assert srv("127.0.0.2", p2, src="127.0.0.3") == b.ports[1]   # first match wins


def test_http_acl_is_false_in_tcp_mode(backends, run_cfg):
    b = backends("echo", "echo", "http", "http")
    pt, ph = free_port(), free_port()
    run_cfg(f"""
defaults
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend tcpfe
    mode tcp
    bind 127.0.0.1:{pt}
    use_backend t2 if HTTP
    default_backend t1
frontend httpfe
    mode http
    bind 127.0.0.1:{ph}
    use_backend h2 if HTTP
    default_backend h1
backend t1
    mode tcp
    server s 127.0.0.1:{b.ports[0]}
backend t2
    mode tcp
    server s 127.0.0.1:{b.ports[1]}
backend h1
    mode http
    server s 127.0.0.1:{b.ports[2]}
backend h2
    mode http
    server s 127.0.0.1:{b.ports[3]}
""", pt)
    s = socket.create_connection(("127.0.0.1", pt), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    deadline = time.monotonic() + 5
    data = b""
    while b":" not in data and time.monotonic() < deadline:
        data += s.recv(100)
    s.close()
    assert data.split(b":")[0] == str(b.ports[0]).encode()    # HTTP is false: default backend
    r = RawClient(ph).request(path="/echo")
    assert fields(r.body)["srv"] == str(b.ports[3])


# -- IPv6 and v4-mapped clients -------------------------------------------------------------------

@pytest.mark.parametrize("src,src_port,condition,want", [
    ("2001:db8::7", 0, "{ src 2001:db8::/32 }", True), ("2001:db8::7", 0, "{ src 2001:db9::/32 }", False),
    ("2001:db8::7", 0, "{ src 2001:db8::7/128 }", True), ("2001:db8::7", 0, "{ src 10.0.0.0/8 }", False),
    ("2001:db8::7", 0, "LOCALHOST", False), ("2001:db8::7", 0, "{ src ::/0 }", True),
    # an IPv4 pattern matches ::ffff:a.b.c.d, ::a.b.c.d and 2002:a.b.c.d:: (6to4) clients
    ("::ffff:10.1.2.3", 0, "{ src 10.0.0.0/8 }", True), ("::ffff:10.1.2.3", 0, "{ src 10.1.2.4 }", False),
    ("::10.1.2.3", 0, "{ src 10.1.2.3 }", True), ("2002:a01:203::1", 0, "{ src 10.1.2.0/24 }", True),
    ("2003:a01:203::1", 0, "{ src 10.1.2.0/24 }", False),
    # an IPv6 pattern matches an IPv4 client through its ::ffff: form
    ("10.1.2.3", 0, "{ src ::ffff:10.1.0.0/112 }", True), ("10.1.2.3", 0, "{ src 2001:db8::/32 }", False),
    ("127.3.4.5", 0, "LOCALHOST", True), ("10.1.2.3", 0, "LOCALHOST", False),
    ("10.1.2.3", 40000, "{ src_port 40000 }", True), ("10.1.2.3", 40000, "{ src_port lt 1024 }", False),
    ("2001:db8::7", 40000, "{ src_port 1024:65535 } { src 2001:db8::/64 }", True),
])
def test_ipv6_and_v4_mapped_clients_through_the_compiled_router(src, src_port, condition, want):
    w, _ = offline_worker("\n".join([
        "defaults", "    mode http", "    timeout connect 1s", "    timeout client 1s", "    timeout server 1s",
        "frontend fe", "    bind :8000", f"    use_backend hit if {condition}", "    default_backend miss",
    ]) + BACKENDS_CFG.format(p=9))
    assert (route_request(w, "fe", REQUESTS["get"].encode(), src=src, src_port=src_port) == "hit") is want


V6_ACLS = [("LOCALHOST", True), ("{ src ::1 }", True), ("{ src ::1/128 }", True), ("{ src ::/0 }", True),
           ("{ src 127.0.0.0/8 }", False), ("{ src ::ffff:0.0.0.0/96 }", False), ("{ src ::2 }", False),
           # ::1 is also the old IPv4-compatible form of 0.0.0.1
           ("{ src 0.0.0.1 }", True), ("{ src 0.0.0.0/0 }", True), ("{ src 0.0.0.2 }", False),
           ("{ dst ::1 }", True), ("{ dst 0.0.0.1 }", True), ("{ dst 127.0.0.1 }", False),
           ("{ src_port 1024: }", True), ("{ dst_port 1:1023 }", False)]


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback")
def test_an_ipv6_client_over_sockets(backends, proxy_impl):
    """A client on [::1] against IPv4 and IPv6 patterns, with fastlb and HAProxy 2.6."""
    b = backends("http")
    port = free_port()
    rules = "\n".join(f"    http-request add-header X-Hit {i} if {a}" for i, (a, _) in enumerate(V6_ACLS))
    proxy_impl(f"""
global
    nbthread 1
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    bind [::1]:{port}
{rules}
    default_backend be
backend be
    server s 127.0.0.1:{b.ports[0]}
""", port)
    wait_port(port, host="::1")
    s = socket.create_connection(("::1", port), timeout=5)
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    hits = {int(v) for v in hdr_values(fields(data.split(b"\r\n\r\n", 1)[1]), "x-hit")}
    assert [a for i, (a, want) in enumerate(V6_ACLS) if (i in hits) != want] == []


@pytest.mark.parametrize("payload,http,waits", [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True, False),
    (b"GET / HTTP/1.0\r\n\r\n", True, False),
    (b"hello\r\n", False, False),                       # not HTTP: decided at once
    (b"GET / HTTP/1.1\r\nHost: x\r\n", False, True),    # an incomplete head: waits for the delay
])
def test_http_acl_on_inspected_tcp_content(backends, proxy_impl, payload, http, waits):
    """mode tcp with tcp-request inspect-delay: HTTP is true once the bytes hold a complete
    HTTP/1 request head (fastlb and HAProxy 2.6)."""
    b = backends("echo", "echo")
    port = free_port()
    proxy_impl(f"""
global
    nbthread 1
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    tcp-request inspect-delay 1s
    tcp-request content accept if HTTP
    use_backend t2 if HTTP
    default_backend t1
backend t1
    server s 127.0.0.1:{b.ports[0]}
backend t2
    server s 127.0.0.1:{b.ports[1]}
""", port)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    t0 = time.monotonic()
    s.sendall(payload)
    data = b""
    while b":" not in data and time.monotonic() - t0 < 5:
        d = s.recv(100)
        if not d:
            break
        data += d
    elapsed = time.monotonic() - t0
    s.close()
    assert data.split(b":")[0] == str(b.ports[1 if http else 0]).encode()
    assert (0.9 <= elapsed < 2.5) if waits else elapsed < 0.6
