"""The statistics page's exports over real sockets: CSV and JSON shaped as HAProxy 2.6's, numbers
that match the traffic sent, authentication, admin actions that change where traffic goes."""
from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import shutil
import subprocess
import time

import pytest
from statlib import free_port, http

from fastlb.version import __version__

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)

CONFIG = """
global
    nbthread 2
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend fe
    bind 127.0.0.1:{p0}
    default_backend be
backend be
    server s1 127.0.0.1:{b0}
    server s2 127.0.0.1:{b1}
listen stats
    bind 127.0.0.1:{p1}
    stats enable
    stats uri /stats
    stats admin if LOCALHOST
    {extra}
"""


def csv_rows(text: str) -> tuple[list[str], dict[tuple[str, str], dict[str, str]]]:
    lines = text.splitlines()
    header = lines[0][2:].split(",")
    rows = {}
    for r in csv.reader(io.StringIO("\n".join(lines[1:]))):
        if r:
            rows[(r[0], r[1])] = dict(zip(header, r))
    return header, rows


def send(port: int, n: int, path: str = "/") -> list[str]:
    out = []
    for _ in range(n):
        status, _, body = http(port, target=path)
        assert status == 200
        out.append(body.decode().split()[0])
    return out


def test_csv_counts_match_traffic(stack):
    _, v = stack.start(CONFIG, extra="", wait=1)
    answers = send(v["p0"], 10)
    assert set(answers) == {f"srv={v['b0']}", f"srv={v['b1']}"}  # round robin over both
    status, headers, body = http(v["p1"], target="/stats;csv")
    assert status == 200 and headers["content-type"] == "text/plain"
    header, rows = csv_rows(body.decode())
    assert header[:4] == ["pxname", "svname", "qcur", "qmax"] and header[-1] == ""
    fe, be = rows[("fe", "FRONTEND")], rows[("be", "BACKEND")]
    assert fe["stot"] == "10" and fe["req_tot"] == "10" and fe["hrsp_2xx"] == "10" and fe["conn_tot"] == "10"
    assert be["req_tot"] == "10" and be["hrsp_2xx"] == "10" and be["status"] == "UP" and be["act"] == "2"
    s1, s2 = rows[("be", "s1")], rows[("be", "s2")]
    assert int(s1["lbtot"]) + int(s2["lbtot"]) == 10
    assert int(s1["stot"]) == answers.count(f"srv={v['b0']}")
    assert s1["status"] == "no check" and s1["type"] == "2" and s1["sid"] == "1" and s2["sid"] == "2"
    assert int(fe["bin"]) > 0 and int(fe["bout"]) > int(be["bout"]) - 1 > 0
    # empty exactly where HAProxy leaves fields out
    assert fe["econ"] == "" and fe["qcur"] == "" and s1["ereq"] == "" and be["ereq"] == ""


def test_json_is_typed_like_haproxy(stack):
    _, v = stack.start(CONFIG, extra="", wait=1)
    send(v["p0"], 3)
    status, headers, body = http(v["p1"], target="/stats;json")
    assert status == 200 and headers["content-type"] == "application/json"
    data = json.loads(body)
    kinds = [(r[0]["objType"], r[1]["value"]["value"]) for r in data]
    assert kinds == [("Frontend", "FRONTEND"), ("Server", "s1"), ("Server", "s2"), ("Backend", "BACKEND"),
                     ("Frontend", "FRONTEND"), ("Backend", "BACKEND")]
    fe = {f["field"]["name"]: f for f in data[0]}
    assert fe["req_tot"]["value"] == {"type": "u64", "value": 3}
    assert fe["req_tot"]["field"]["pos"] == 48
    assert fe["scur"]["tags"] == {"origin": "Metric", "nature": "Gauge", "scope": "Process"}
    assert fe["pxname"]["tags"]["origin"] == "Key" and "econ" not in fe
    srv = {f["field"]["name"]: f for f in data[1]}
    assert srv["act"]["tags"]["origin"] == "Status" and srv["lastsess"]["value"]["type"] == "s32"
    assert all(f["proxyId"] == 2 and f["id"] == 1 for f in data[1])


def test_auth_realm_and_refresh(stack):
    _, v = stack.start(CONFIG, extra="stats auth admin:s3cret\n    stats realm Load\\ balancer\n"
                                     "    stats refresh 7s")
    status, headers, _ = http(v["p1"], target="/stats")
    assert status == 401 and headers["www-authenticate"] == 'Basic realm="Load balancer"'
    assert http(v["p1"], target="/stats", auth=("admin", "wrong"))[0] == 401
    status, headers, body = http(v["p1"], target="/stats", auth=("admin", "s3cret"))
    assert status == 200 and headers["refresh"] == "7" and b'http-equiv="refresh" content="7"' in body
    status, headers, _ = http(v["p1"], target="/stats;norefresh", auth=("admin", "s3cret"))
    assert status == 200 and "refresh" not in headers


def test_scope_limits_proxies(stack):
    _, v = stack.start(CONFIG, extra="stats scope be")
    _, rows = csv_rows(http(v["p1"], target="/stats;csv")[2].decode())
    assert {px for px, _ in rows} == {"be"}


def test_admin_maint_takes_traffic_away_and_ready_brings_it_back(stack):
    _, v = stack.start(CONFIG, extra="", wait=1)
    status, headers, _ = http(v["p1"], "POST", "/stats", body=b"s=s1&action=maint&b=%232",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303 and headers["location"] == "/stats;st=DONE"
    time.sleep(0.1)
    assert set(send(v["p0"], 6)) == {f"srv={v['b1']}"}  # every worker stopped using s1
    _, rows = csv_rows(http(v["p1"], target="/stats;csv")[2].decode())
    assert rows[("be", "s1")]["status"] == "MAINT" and rows[("be", "BACKEND")]["act"] == "1"
    status, headers, _ = http(v["p1"], "POST", "/stats", body=b"s=s1&action=ready&b=be")
    assert headers["location"] == "/stats;st=DONE"
    time.sleep(0.1)
    assert set(send(v["p0"], 6)) == {f"srv={v['b0']}", f"srv={v['b1']}"}


def test_admin_refused_without_the_condition(stack):
    cfg = CONFIG.replace("stats admin if LOCALHOST", "stats admin if {{ src 10.0.0.0/8 }}")
    _, v = stack.start(cfg, extra="", wait=1)
    status, headers, _ = http(v["p1"], "POST", "/stats", body=b"s=s1&action=maint&b=%232")
    assert status == 303 and headers["location"] == "/stats;st=DENY"
    _, rows = csv_rows(http(v["p1"], target="/stats;csv")[2].decode())
    assert rows[("be", "s1")]["status"] == "no check"
    status, _, body = http(v["p1"], target="/stats")
    assert b'name="action"' not in body  # no admin form either


def test_bad_admin_form(stack):
    _, v = stack.start(CONFIG, extra="", wait=1)
    assert http(v["p1"], "POST", "/stats", body=b"s=s1&action=explode&b=be")[1]["location"].endswith("st=ERRP")
    assert http(v["p1"], "POST", "/stats", body=b"s=nosuch&action=maint&b=be")[1]["location"].endswith("st=ERRP")
    status, _, body = http(v["p1"], target="/stats;st=ERRP")
    assert status == 200 and b"invalid parameters" in body


@pytest.mark.parametrize("suffix", [";metrics", "/metrics"])
def test_prometheus_on_the_stats_uri(stack, suffix):
    _, v = stack.start(CONFIG, extra="", wait=1)
    send(v["p0"], 4)
    status, headers, body = http(v["p1"], target="/stats" + suffix)
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    assert 'haproxy_frontend_http_requests_total{proxy="fe"} 4\n' in text
    assert 'haproxy_server_status{proxy="be",server="s1",state="UP"} 1\n' in text
    assert 'haproxy_backend_http_responses_total{proxy="be",code="2xx"} 4\n' in text
    assert "# TYPE haproxy_backend_response_time_seconds histogram\n" in text
    assert 'haproxy_backend_response_time_seconds_count{proxy="be"} 4\n' in text
    assert 'haproxy_backend_response_time_seconds_bucket{proxy="be",le="+Inf"} 4\n' in text
    total = 0
    for line in text.splitlines():
        if line.startswith("haproxy_server_response_time_seconds_count"):
            total += int(line.split()[-1])
    assert total == 4


LEGENDS_CONFIG = """
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend fe
    bind 127.0.0.1:{p0}
    default_backend be
backend be
    balance leastconn
    cookie SRV insert
    server s1 127.0.0.1:{b0} cookie c1
    server s2 [::1]:{b1}
    server s3 unix@{sock}
listen stats
    bind 127.0.0.1:{p1}
    stats enable
    stats uri /stats
    {extra}
"""


def _page(stack, tmp_path, extra: str, cmd=None) -> str:
    _, v = stack.start(LEGENDS_CONFIG, extra=extra, wait=1, cmd=cmd, sock=tmp_path / "nobody.sock")
    status, _, body = http(v["p1"], target="/stats")
    assert status == 200
    return body.decode()


def _legends(page: str) -> list[str]:
    """The show-legends detail: what the tooltips of proxy and server names say (HAProxy's page
    also has tooltips on numbers: not those)."""
    tips = [html.unescape(t) for t in re.findall(r'<div class="?tips"?>(.*?)</div>', page)]
    return [t for t in tips if t.startswith(("cap: ", "IPv4: ", "IPv6: ", "unix, ", "balancing: "))]


def test_hide_version_and_show_legends_on_the_page(stack, tmp_path):
    plain = _page(stack, tmp_path, "")
    shown = _page(stack, tmp_path, "stats show-legends\n    stats hide-version")
    assert f"version {__version__}" in plain and __version__ not in shown
    # hide-version keeps the pid of the process that answered, as HAProxy
    for page in (plain, shown):
        assert re.search(r"<h2>Statistics Report for pid \d+</h2>", page), page[:400]
        assert "<title>Statistics Report for fastlb</title>" in page
    assert _legends(plain) == []
    want = ["cap: frontend, mode: http, id: 1", "cap: backend, mode: http, id: 2", "IPv4: 127.0.0.1:{b0}, id: 1, "
            "cookie: 'c1'", "IPv6: [::1]:{b1}, id: 2", "unix, id: 3", "balancing: leastconn, cookie: 'SRV'",
            "cap: proxy, mode: http, id: 3", "balancing: roundrobin"]
    got = _legends(shown)
    ports = re.search(r"IPv4: 127\.0\.0\.1:(\d+).*IPv6: \[::1\]:(\d+)", " ".join(got))
    assert ports, got
    assert got == [w.format(b0=ports[1], b1=ports[2]) for w in want]
    if HAPROXY:  # the same detail on HAProxy's page, in the same order, and the same headings
        page = _page(stack, tmp_path, "stats show-legends\n    stats hide-version", cmd=[HAPROXY])
        assert re.search(r"<h2>Statistics Report for pid \d+</h2>", page)
        assert "<title>Statistics Report for HAProxy</title>" in page
        theirs = _legends(page)
        assert [re.sub(r":\d+,", ":N,", t) for t in theirs] == [re.sub(r":\d+,", ":N,", t) for t in got]


ADMIN_CONFIG = """
global
    nbthread 1
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 1s
userlist ops
    group admins users alice
    user alice insecure-password wonder
    user bob insecure-password builder
frontend fe
    bind 127.0.0.1:{p0}
    default_backend be
backend be
    server s1 127.0.0.1:{b0}
    server s2 127.0.0.1:{b1}
listen stats
    bind 127.0.0.1:{p1}
    stats enable
    stats uri /stats
    {admin}
"""

ALICE = {"Authorization": "Basic YWxpY2U6d29uZGVy"}   # alice:wonder, in group admins
BOB = {"Authorization": "Basic Ym9iOmJ1aWxkZXI="}     # bob:builder, in no group


#: (stats lines, headers of a request granted admin rights or None, headers of one refused or None)
ADMIN_CASES = {
    "TRUE": ("stats admin if TRUE", {}, None),
    "LOCALHOST": ("stats admin if LOCALHOST", {}, None),
    "src acl": ("acl local src 127.0.0.0/8\n    stats admin if local", {}, None),
    "src not matching": ("stats admin if { src 10.0.0.0/8 }", None, {}),
    "hdr": ("stats admin if { hdr(x-admin) -m str yes }", {"X-Admin": "yes"}, {"X-Admin": "no"}),
    "hdr_sub unless": ("stats admin unless { hdr_sub(user-agent) -i robot }", {"User-Agent": "curl"},
                       {"User-Agent": "a RoBoT"}),
    "and, method": ("acl adm hdr(x-admin) yes\n    stats admin if adm METH_POST LOCALHOST",
                    {"X-Admin": "yes"}, {}),
    "http_auth_group": ("acl ops http_auth_group(ops) admins\n    stats admin if ops", ALICE, BOB),
}


@pytest.mark.parametrize("impl", ["fastlb", "haproxy"] if HAPROXY else ["fastlb"])
@pytest.mark.parametrize("case", list(ADMIN_CASES))
def test_stats_admin_conditions_like_haproxy(stack, impl, case):
    """HAProxy's usual ``stats admin`` conditions, evaluated on the real request that posts the
    admin form: the granted request puts s1 into maintenance (and traffic leaves it), the refused
    one is answered DENY and changes nothing; haproxy 2.6 answers the same."""
    admin, granted, refused = ADMIN_CASES[case]
    _, v = stack.start(ADMIN_CONFIG, admin=admin, wait=1, cmd=[HAPROXY] if impl == "haproxy" else None)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    if refused is not None:
        status, headers, _ = http(v["p1"], "POST", "/stats", body=b"s=s1&action=maint&b=be",
                                  headers=form | refused)
        assert status == 303 and headers["location"].endswith("/stats;st=DENY"), headers
        _, rows = csv_rows(http(v["p1"], target="/stats;csv")[2].decode())
        assert rows[("be", "s1")]["status"] == "no check"
    if granted is not None:
        status, headers, _ = http(v["p1"], "POST", "/stats", body=b"s=s1&action=maint&b=be",
                                  headers=form | granted)
        assert status == 303 and headers["location"].endswith("/stats;st=DONE"), headers
        time.sleep(0.1)
        assert set(send(v["p0"], 4)) == {f"srv={v['b1']}"}
        _, rows = csv_rows(http(v["p1"], target="/stats;csv")[2].decode())
        assert rows[("be", "s1")]["status"] == "MAINT"


def test_stats_admin_condition_the_engine_cannot_run_stops_the_start(fastlb, tmp_path):
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(ADMIN_CONFIG.format(p0=free_port(), p1=free_port(), b0=free_port(), b1=free_port(),
                                       admin="stats admin if { src,ipmask(24) 127.0.0.0 }"))
    p = subprocess.run([*fastlb, "-f", str(cfg), "-db"], capture_output=True, text=True, timeout=30, check=False)
    assert p.returncode != 0
    assert "proxy 'stats' : 'stats admin' condition : converter 'ipmask(24)'" in p.stdout + p.stderr
