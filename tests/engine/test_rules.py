"""ACL routing, http-request/http-response/tcp-request rules and balancing, through fastlb."""
from __future__ import annotations

import socket

from enginelib import RawClient, free_port, http_cfg
from test_http_mode import fields, hdr_values


def backend_section(name, port):
    return f"backend {name}\n    server {name}1 127.0.0.1:{port}\n"


def test_mission_commented_acl_examples_route_to_the_right_backend(backends, run_cfg):
    names = ["server_www", "server_app", "server_bbs", "server_cache", "static", "www"]
    b = backends(*["http"] * len(names))
    port_of = dict(zip(names, b.ports))
    p1, p2 = free_port(), free_port()
    cfg = f"""
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend first
    bind 127.0.0.1:{p1}
    acl www_policy    hdr_reg(host) -i    ^(www.z.cn|z.cn)
    acl bbs_policy    hdr_dom(host) -i    bbs.z.cn
    acl url_policy    url_sub -i          buy_sid=
    use_backend       server_www          if www_policy
    use_backend       server_app          if url_policy
    use_backend       server_bbs          if bbs_policy
    default_backend   server_cache
frontend second
    bind 127.0.0.1:{p2}
    acl url_static    path_end            .gif .png .jpg .css .js
    acl host_www      hdr_beg(host) -i    www
    acl host_static   hdr_beg(host) -i    img. video. download. ftp.
    use_backend static    if host_static || host_www url_static
    use_backend www       if host_www
    default_backend       server_cache
""" + "".join(backend_section(n, p) for n, p in port_of.items())
    run_cfg(cfg, p1)

    def where(port, host, path="/"):
        return int(fields(RawClient(port).request(path=path, headers={"Host": host}).body)["srv"])

    assert where(p1, "www.z.cn") == port_of["server_www"]
    assert where(p1, "Z.CN") == port_of["server_www"]
    assert where(p1, "bbs.z.cn") == port_of["server_bbs"]
    assert where(p1, "x.bbs.z.cn:80") == port_of["server_bbs"]
    assert where(p1, "other.cn", "/pay?BUY_SID=1") == port_of["server_app"]
    assert where(p1, "other.cn") == port_of["server_cache"]
    assert where(p2, "img.example.com", "/a") == port_of["static"]
    assert where(p2, "www.example.com", "/a.png") == port_of["static"]
    assert where(p2, "www.example.com", "/a.html") == port_of["www"]
    assert where(p2, "example.com", "/a.png") == port_of["server_cache"]


def test_http_request_actions(backends, run_cfg, tmp_path):
    b = backends("http")
    port = free_port()
    fe = """
    userlist_placeholder
    acl secret path_beg /secret
    http-request deny if { path /forbidden }
    http-request deny deny_status 429 if { path /slow-down }
    http-request return status 200 content-type text/plain string hello if { path /hello }
    http-request auth realm Private if secret !{ http_auth(admins) }
    http-request redirect location /new code 301 if { path /old }
    http-request redirect prefix /v2 if { path_beg /v1 }
    http-request redirect scheme https drop-query if { path /secure }
    http-request set-header X-Client %[src]
    http-request add-header X-Tag one
    http-request add-header X-Tag two
    http-request del-header X-Remove
    http-request replace-header X-Rewrite ^abc(.*)$ xyz\\1
    http-request set-path /rewritten if { path /set-path }
    tcp-request connection accept if { src 127.0.0.1 }
""".replace("    userlist_placeholder\n", "")
    cfg = "userlist admins\n    user alice insecure-password wonderland\n" + http_cfg(port, b.ports, frontend_extra=fe)
    run_cfg(cfg, port)
    c = RawClient(port)
    r = c.request(path="/forbidden")
    assert r.status == 403 and b"Request forbidden by administrative rules." in r.body
    assert c.request(path="/slow-down").status == 429
    r = c.request(path="/hello")
    assert (r.status, r.body, r.header("content-type")) == (200, b"hello", "text/plain")
    r = c.request(path="/secret/x")
    assert r.status == 401 and r.header("www-authenticate") == 'Basic realm="Private"'
    import base64
    ok = "Basic " + base64.b64encode(b"alice:wonderland").decode()
    r = c.request(path="/secret/x", headers={"Authorization": ok})
    assert r.status == 200 and fields(r.body)["path"] == "/secret/x"
    bad = "Basic " + base64.b64encode(b"alice:nope").decode()
    assert c.request(path="/secret/x", headers={"Authorization": bad}).status == 401
    r = c.request(path="/old")
    assert (r.status, r.header("location")) == (301, "/new")
    r = c.request(path="/v1/items?id=3")
    assert (r.status, r.header("location")) == (302, "/v2/v1/items?id=3")
    r = c.request(path="/secure?x=1", headers={"Host": "example.org"})
    assert r.header("location") == "https://example.org/secure"
    r = c.request(path="/echo", headers={"X-Remove": "gone", "X-Rewrite": "abc123"})
    f = fields(r.body)
    assert hdr_values(f, "x-client") == ["127.0.0.1"]
    assert hdr_values(f, "x-tag") == ["one", "two"]
    assert hdr_values(f, "x-remove") == []
    assert hdr_values(f, "x-rewrite") == ["xyz123"]
    assert fields(c.request(path="/set-path").body)["path"] == "/rewritten"
    assert fields(c.request(path="/still-alive").body)["path"] == "/still-alive"


def test_http_response_actions(backends, run_cfg):
    b = backends("http")
    port = free_port()
    be = """    http-response set-header X-Served-By fastlb
    http-response del-header X-Drop
    http-response set-status 299 reason Fine if { status 200 }
    http-response deny if { status 404 }
"""
    run_cfg(http_cfg(port, b.ports, backend_extra=be), port)
    c = RawClient(port)
    r = c.request(path="/hdrs?X-Drop=1&X-Keep=2")
    assert (r.status, r.reason) == (299, "Fine")
    assert r.header("x-served-by") == "fastlb"
    assert r.header("x-drop") is None and r.header("x-keep") == "2"
    r = c.request(path="/status?code=404")
    assert r.status == 502


def test_tcp_request_connection_reject(backends, run_cfg):
    b = backends("http")
    port = free_port()
    run_cfg(http_cfg(port, b.ports, frontend_extra="    tcp-request connection reject if { src 127.0.0.2 }"), port)
    assert RawClient(port).request().status == 200
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.connect(("127.0.0.1", port))
    s.settimeout(3)
    try:
        # the reset may already be there when we send: either way nothing comes back
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = s.recv(100)
    except (ConnectionResetError, BrokenPipeError):
        data = b""
    assert data == b""


def test_prometheus_use_service(backends, run_cfg):
    b = backends("http")
    port = free_port()
    run_cfg(http_cfg(port, b.ports, frontend_extra="    http-request use-service prometheus-exporter if { path /metrics }"),
            port)
    c = RawClient(port)
    c.request(path="/echo")
    c.request(path="/echo")
    r = c.request(path="/metrics")
    assert r.status == 200
    body = r.body.decode()
    # the two proxied requests, and the scrape itself (counted before it is answered)
    assert '\nhaproxy_frontend_http_requests_total{proxy="fe"} 3\n' in body
    assert '\nhaproxy_backend_http_responses_total{proxy="be",code="2xx"} 2\n' in body
    assert '\nhaproxy_server_status{proxy="be",server="s1",state="UP"} 1\n' in body
    assert '\nhaproxy_backend_response_time_seconds_count{proxy="be"} 2\n' in body
    # the other checks of the exporter: tests/stats/test_prometheus.py


def test_balance_source_and_uri_through_the_proxy(backends, run_cfg):
    b = backends("http", "http", "http", "http")
    port = free_port()
    run_cfg(http_cfg(port, b.ports, backend_extra="    balance uri"), port)
    got = [int(fields(RawClient(port).request(path=f"/url{i}").body)["srv"]) for i in (1, 2, 3, 4)]
    assert got == [b.ports[1], b.ports[2], b.ports[3], b.ports[0]]   # HAProxy 2.6's choice
    port2 = free_port()
    run_cfg(http_cfg(port2, b.ports, backend_extra="    balance source"), port2)
    seen = {}
    for n in range(1, 9):
        for _ in range(3):
            s = socket.socket()
            s.bind((f"127.0.0.{n}", 0))
            s.connect(("127.0.0.1", port2))
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
            s.close()
            srv = int(data.split(b"\r\n\r\n", 1)[1].split(b" ")[0].split(b"=")[1])
            seen.setdefault(n, set()).add(srv)
    assert all(len(v) == 1 for v in seen.values())         # sticky per source address
    assert len({next(iter(v)) for v in seen.values()}) > 1  # and spread


def cookie_cfg(port, ports, cookie_line, extra=""):
    srv = "\n".join(f"    server s{i + 1} 127.0.0.1:{p} cookie c{i + 1}" for i, p in enumerate(ports))
    return f"""
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    {cookie_line}
{extra}
{srv}
"""


def test_cookie_insert_indirect_nocache(backends, run_cfg):
    b = backends("http", "http", "http")
    port = free_port()
    run_cfg(cookie_cfg(port, b.ports, "cookie SERVERID insert indirect nocache httponly"), port)
    c = RawClient(port)
    r = c.request(path="/echo")
    first = int(fields(r.body)["srv"])
    idx = b.ports.index(first) + 1
    assert r.header("set-cookie") == f"SERVERID=c{idx}; path=/; HttpOnly"
    # with the cookie: always the same server, no new cookie, and the server never sees it
    for _ in range(6):
        r = c.request(path="/echo", headers={"Cookie": f"SERVERID=c{idx}; other=1"})
        f = fields(r.body)
        assert int(f["srv"]) == first
        assert r.header("set-cookie") is None
        assert hdr_values(f, "cookie") == ["other=1"]
    r = c.request(path="/echo", headers={"Cookie": f"SERVERID=c{idx}"})
    assert hdr_values(fields(r.body), "cookie") == []
    # nocache: a cacheable response that gets a cookie is marked private (HAProxy's header)
    r = RawClient(port).request(path="/cacheable")
    assert r.header("set-cookie").startswith("SERVERID=c")
    assert [v for k, v in r.headers if k.lower() == "cache-control"] == ["max-age=60", "private"]
    r = c.request(path="/cacheable", headers={"Cookie": f"SERVERID=c{idx}"})
    assert [v for k, v in r.headers if k.lower() == "cache-control"] == ["max-age=60"]
    # an unknown cookie value: balanced and a fresh cookie
    r = c.request(path="/echo", headers={"Cookie": "SERVERID=nope"})
    assert r.header("set-cookie").startswith("SERVERID=c")


def test_cookie_to_a_down_server_is_redispatched(backends, run_cfg):
    b = backends("http", "refuse")
    port = free_port()
    run_cfg(cookie_cfg(port, b.ports, "cookie SRV insert", "    option redispatch\n    retries 1\n    timeout connect 100ms"),
            port)
    c = RawClient(port)
    r = c.request(path="/echo", headers={"Cookie": "SRV=c2"})
    assert r.status == 200 and int(fields(r.body)["srv"]) == b.ports[0]
    assert r.header("set-cookie") == "SRV=c1; path=/"


def test_cookie_prefix_and_rewrite(backends, run_cfg):
    b = backends("http")
    port = free_port()
    # the test backend does not set cookies itself; the prefix mode must still strip the prefix
    run_cfg(cookie_cfg(port, b.ports, "cookie JSESSIONID prefix"), port)
    c = RawClient(port)
    r = c.request(path="/echo", headers={"Cookie": "JSESSIONID=c1~abc123"})
    f = fields(r.body)
    assert hdr_values(f, "cookie") == ["JSESSIONID=abc123"]
