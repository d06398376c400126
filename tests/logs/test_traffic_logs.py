"""Traffic logs over real sockets: a UDP syslog receiver gets one correctly formed line per request,
field for field as HAProxy 2.6 writes them (checked against the real haproxy when installed)."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time

import pytest
from statlib import http

HTTPLOG_RE = re.compile(
    r"^<(?P<pri>\d+)>(?P<date>\w{3} [ \d]\d \d\d:\d\d:\d\d) (?P<tag>[\w-]+)\[(?P<pid>\d+)\]: "
    r"(?P<cip>[\d.]+):(?P<cport>\d+) \[(?P<accept>\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3})\] "
    r"(?P<fe>\S+) (?P<be>[^/\s]+)/(?P<srv>\S+) (?P<TR>-?\d+)/(?P<Tw>-?\d+)/(?P<Tc>-?\d+)/(?P<Tr>-?\d+)/(?P<Ta>\d+) "
    r"(?P<status>-?\d+) (?P<bytes>\d+) (?P<CC>\S+) (?P<CS>\S+) (?P<tsc>\S{4}) "
    r"(?P<ac>\d+)/(?P<fc>\d+)/(?P<bc>\d+)/(?P<sc>\d+)/(?P<rc>\d+) (?P<sq>\d+)/(?P<bq>\d+) "
    r'"(?P<request>[^"]*)"$'
)
TCPLOG_RE = re.compile(
    r"^<(?P<pri>\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d (?P<tag>[\w-]+)\[(?P<pid>\d+)\]: "
    r"(?P<cip>[\d.]+):(?P<cport>\d+) \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] "
    r"(?P<fe>\S+) (?P<be>[^/\s]+)/(?P<srv>\S+) (?P<Tw>-?\d+)/(?P<Tc>-?\d+)/(?P<Tt>\d+) (?P<bytes>\d+) "
    r"(?P<ts>\S\S) (?P<ac>\d+)/(?P<fc>\d+)/(?P<bc>\d+)/(?P<sc>\d+)/(?P<rc>\d+) (?P<sq>\d+)/(?P<bq>\d+)$"
)

HTTP_CONFIG = """
global
    log 127.0.0.1:{syslog} local0
defaults
    mode http
    log global
    option httplog
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend web
    bind 127.0.0.1:{p0}
    default_backend app
backend app
    server a1 127.0.0.1:{b0}
"""


def haproxy_cmd() -> list[str] | None:
    path = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
    return [path] if path else None


def traffic(port: int) -> list[int]:
    """Three requests on new connections and two on one keep-alive connection; the client
    ports, in the order of the requests."""
    ports = []
    for path in ("/", "/status/404", "/q?x=1"):
        with socket.create_connection(("127.0.0.1", port)) as s:
            ports.append(s.getsockname()[1])
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            while s.recv(65536):
                pass
        # let the proxy see the close before the next connection: the connection counts in
        # the log lines (ac/fc/bc/sc) must not depend on that race, for HAProxy as for us
        time.sleep(0.05)
    with socket.create_connection(("127.0.0.1", port)) as s:
        ports += [s.getsockname()[1]] * 2
        s.sendall(b"GET /ka1 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.05)
        s.sendall(b"GET /ka2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass
    return ports


def run_http_traffic(stack, syslog, cmd=None) -> tuple[list[dict], list[int]]:
    _, v = stack.start(HTTP_CONFIG, backends=1, ports=1, cmd=cmd, syslog=syslog.port)
    syslog.collect(1, timeout=0.3)  # the wait-for-port probe (haproxy logs it as a bad request)
    syslog.messages.clear()
    ports = traffic(v["p0"])
    lines = [m.decode() for m in syslog.collect(6, timeout=1.5)]
    parsed = []
    for line in lines:
        m = HTTPLOG_RE.match(line)
        assert m, f"not an httplog line: {line!r}"
        parsed.append(m.groupdict())
    return parsed, ports


def test_httplog_one_line_per_request(stack, syslog):
    lines, ports = run_http_traffic(stack, syslog)
    assert len(lines) == 5, lines
    lines.sort(key=lambda d: d["request"])
    by_req = {d["request"]: d for d in lines}
    assert set(by_req) == {"GET / HTTP/1.1", "GET /status/404 HTTP/1.1", "GET /q?x=1 HTTP/1.1",
                           "GET /ka1 HTTP/1.1", "GET /ka2 HTTP/1.1"}
    for d in lines:
        assert d["pri"] == "134"  # local0.info
        assert d["tag"] == "haproxy"
        assert d["cip"] == "127.0.0.1" and int(d["cport"]) in ports
        assert (d["fe"], d["be"], d["srv"]) == ("web", "app", "a1")
        assert d["tsc"] == "----" and d["CC"] == "-" and d["CS"] == "-"
        assert (d["ac"], d["fc"], d["bc"], d["sc"], d["rc"], d["sq"], d["bq"]) == ("1", "1", "0", "0", "0", "0", "0")
        assert int(d["Tw"]) == 0 and int(d["Tc"]) >= 0 and int(d["Tr"]) >= 0 and int(d["bytes"]) > 0
        assert int(d["Ta"]) >= int(d["Tr"])
    assert by_req["GET /status/404 HTTP/1.1"]["status"] == "404"
    assert by_req["GET / HTTP/1.1"]["status"] == "200"
    assert by_req["GET /ka1 HTTP/1.1"]["cport"] == by_req["GET /ka2 HTTP/1.1"]["cport"]


@pytest.mark.skipif(haproxy_cmd() is None, reason="haproxy is not installed (apt-get install haproxy)")
def test_httplog_fields_as_haproxy(stack, syslog, tmp_path):
    ours, _ = run_http_traffic(stack, syslog)
    syslog.messages.clear()
    theirs, _ = run_http_traffic(stack, syslog, cmd=haproxy_cmd())
    assert len(ours) == len(theirs) == 5
    same = ("pri", "tag", "cip", "fe", "be", "srv", "Tw", "status", "CC", "CS", "tsc", "ac", "fc", "bc", "sc",
            "rc", "sq", "bq", "request")
    for a, b in zip(sorted(ours, key=_request), sorted(theirs, key=_request)):
        assert {k: a[k] for k in same} == {k: b[k] for k in same}


def _request(d: dict) -> str:
    return d["request"]


TCP_CONFIG = """
global
    log 127.0.0.1:{syslog} len 512 local1 info
defaults
    log global
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend tcpin
    mode tcp
    option tcplog
    option dontlognull
    bind 127.0.0.1:{p0}
    default_backend pool
backend pool
    mode tcp
    server t1 127.0.0.1:{b0}
"""


def test_tcplog_and_dontlognull(stack, syslog):
    _, v = stack.start(TCP_CONFIG, backends=1, ports=1, syslog=syslog.port)
    time.sleep(0.1)
    socket.create_connection(("127.0.0.1", v["p0"])).close()  # no data: not logged (dontlognull)
    with socket.create_connection(("127.0.0.1", v["p0"])) as s:
        port = s.getsockname()[1]
        s.sendall(b"GET /t HTTP/1.0\r\n\r\n")
        got = b""
        while chunk := s.recv(65536):
            got += chunk
    msgs = syslog.collect(2, timeout=2)
    assert len(msgs) == 1, msgs
    m = TCPLOG_RE.match(msgs[0].decode())
    assert m, msgs[0]
    d = m.groupdict()
    assert d["pri"] == str(17 * 8 + 6) and d["cport"] == str(port)
    assert (d["fe"], d["be"], d["srv"], d["ts"]) == ("tcpin", "pool", "t1", "--")
    assert int(d["bytes"]) == len(got)
    assert (d["ac"], d["fc"], d["bc"], d["sc"]) == ("1", "1", "0", "0")


FORMAT_CONFIG = """
global
    log 127.0.0.1:{syslog} format rfc5424 local2
    log-send-hostname myhost
defaults
    mode http
    log global
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend clf
    bind 127.0.0.1:{p0}
    option httplog clf
    default_backend app
frontend js
    bind 127.0.0.1:{p1}
    log-format "%{{+json}}o %(client)ci %(status)ST %(path)HP %(backend)b %(bytes)B %(request)r"
    option log-separate-errors
    default_backend app
backend app
    server a1 127.0.0.1:{b0}
    server dead 127.0.0.1:1 disabled
"""


def test_clf_json_rfc5424_and_separate_errors(stack, syslog):
    _, v = stack.start(FORMAT_CONFIG, backends=1, ports=2, syslog=syslog.port, wait=1)
    time.sleep(0.1)
    syslog.collect(1, timeout=0.3)
    syslog.messages.clear()
    assert http(v["p0"], target="/c?x=1")[0] == 200
    assert http(v["p1"], target="/j")[0] == 200
    msgs = [m.decode() for m in syslog.collect(2, timeout=3)]
    assert len(msgs) == 2
    head = re.compile(r"^<(\d+)>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d myhost haproxy (\d+) - - (.*)$")
    clf = head.match(msgs[0])
    assert clf and clf.group(1) == str(18 * 8 + 6)
    assert re.match(r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET /c\?x=1 HTTP/1\.1" 200 \d+ '
                    r'"" "" \d+ \d{3} "clf" "app" "a1" \d+ 0 \d+ \d+ \d+ ---- 1 1 0 0 0 0 0 "" ""$', clf.group(3))
    js = head.match(msgs[1])
    assert js
    doc = json.loads(js.group(3))
    assert doc["client"] == "127.0.0.1" and doc["status"] == 200 and doc["path"] == "/j"
    assert doc["backend"] == "app" and doc["request"] == "GET /j HTTP/1.1" and doc["bytes"] > 0


ERR_CONFIG = """
global
    log 127.0.0.1:{syslog} local0
defaults
    mode http
    log global
    option httplog
    option log-separate-errors
    timeout client 5s
    timeout server 5s
    timeout connect 500
frontend web
    bind 127.0.0.1:{p0}
    default_backend app
backend app
    retries 0
    server a1 127.0.0.1:{dead}
"""


def test_log_separate_errors_uses_err_level(stack, syslog):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    _, v = stack.start(ERR_CONFIG, backends=0, ports=1, syslog=syslog.port, dead=dead)
    time.sleep(0.1)
    syslog.collect(1, timeout=0.3)
    syslog.messages.clear()
    assert http(v["p0"], target="/e")[0] == 503
    msgs = syslog.collect(1, timeout=3)
    d = HTTPLOG_RE.match(msgs[0].decode()).groupdict()
    assert d["pri"] == str(16 * 8 + 3)  # local0.err
    assert d["status"] == "503" and d["tsc"][:2] == "SC"


STDOUT_CONFIG = """
global
    log stdout format raw daemon
defaults
    mode http
    log global
    option httplog
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend web
    bind 127.0.0.1:{p0}
    default_backend app
backend app
    server a1 127.0.0.1:{b0}
"""


def test_stdout_target_raw_format(stack):
    proc, v = stack.start(STDOUT_CONFIG, backends=1, ports=1)
    assert http(v["p0"], target="/out")[0] == 200
    time.sleep(0.3)
    out = proc.stop()
    lines = [ln for ln in out.splitlines() if '"GET /out HTTP/1.1"' in ln]
    assert len(lines) == 1 and HTTPLOG_RE.match("<0>Jan  1 00:00:00 x[1]: " + lines[0])


JSON_CONFIG = """
global
    log 127.0.0.1:{syslog} local0
defaults
    log global
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend web
    mode http
    option httplog json
    bind 127.0.0.1:{p0}
    default_backend app
frontend raw
    mode tcp
    option tcplog json
    bind 127.0.0.1:{p1}
    default_backend pool
backend app
    mode http
    server a1 127.0.0.1:{b0}
backend pool
    mode tcp
    server t1 127.0.0.1:{b0}
"""


def test_ready_made_json_lines_from_the_config(stack, syslog):
    """`option httplog json` / `option tcplog json` (fastlb's): the httplog and tcplog fields as
    one JSON object per line."""
    _, v = stack.start(JSON_CONFIG, backends=1, ports=2, syslog=syslog.port, wait=1)
    time.sleep(0.2)
    syslog.collect(2, timeout=0.3)
    syslog.messages.clear()
    with socket.create_connection(("127.0.0.1", v["p0"])) as s:
        http_port = s.getsockname()[1]
        s.sendall(b"GET /j?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass
    with socket.create_connection(("127.0.0.1", v["p1"])) as s:
        tcp_port = s.getsockname()[1]
        s.sendall(b"GET /t HTTP/1.0\r\n\r\n")
        got = b""
        while chunk := s.recv(65536):
            got += chunk
    docs = {}
    for m in syslog.collect(2, timeout=3):
        head, _, body = m.decode().rstrip("\n").partition("]: ")
        assert head.startswith("<134>"), m
        doc = json.loads(body)
        docs[doc["frontend_name"]] = doc
    h, t = docs["web"], docs["raw"]
    assert (h["client_ip"], h["client_port"]) == ("127.0.0.1", http_port)
    assert (h["backend_name"], h["server_name"]) == ("app", "a1")
    assert h["status_code"] == 200 and h["http_request"] == "GET /j?x=1 HTTP/1.1" and h["bytes_read"] > 0
    assert h["termination_state"] == "----" and h["time_queue"] == 0
    assert h["time_active"] >= h["time_response"] >= 0
    assert (t["client_port"], t["backend_name"], t["server_name"]) == (tcp_port, "pool", "t1")
    assert t["termination_state"] == "--"
    assert t["bytes_read"] == len(got) and t["time_total"] >= t["time_connect"] >= 0
    assert (t["actconn"], t["feconn"], t["retries"]) == (1, 1, 0)
