"""Log fields over real sockets, against the real haproxy where it is installed: the datagram's
trailing newline, queue positions (%sq/%bq), the unique id (%ID, unique-id-header), the server
connection's source (%bi/%bp), sample expressions, ``option log-separate-errors``, tcplog, the
process-wide connection count (%ac) and the log targets (unix@, path, ipv6@, stderr)."""
from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time

import pytest
from statlib import ThreadBackend, free_port, http

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
BOTH = [None, "haproxy"] if HAPROXY else [None]
needs_haproxy = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (apt-get install haproxy)")


@pytest.fixture
def backend():
    made: list[ThreadBackend] = []

    def make(delay: float = 0.0) -> ThreadBackend:
        b = ThreadBackend(delay)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


def start(stack, syslog, template: str, which: str | None, wait: int = 0, **values):
    cmd = [HAPROXY] if which == "haproxy" else None
    _, v = stack.start(template, backends=0, ports=2, cmd=cmd, wait=wait, syslog=syslog.port, **values)
    syslog.collect(1, timeout=0.3)  # the wait-for-port probe, when it is logged
    syslog.messages.clear()
    return v


def message(datagram: bytes) -> str:
    """The log line of an rfc3164 datagram (after ``tag[pid]: ``)."""
    text = datagram.decode()
    return text.split("]: ", 1)[1] if "]: " in text else text


# -- datagrams -------------------------------------------------------------------------------------

LEN_CONFIG = """
global
    log 127.0.0.1:{syslog} len 80 local0
    log 127.0.0.1:{syslog} local1
defaults
    mode http
    log global
    option httplog
    option dontlognull
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend web
    bind 127.0.0.1:{p0}
    default_backend app
backend app
    server a1 127.0.0.1:{b}
"""


@pytest.mark.parametrize("which", BOTH)
def test_datagrams_end_with_a_newline_and_len_cuts_before_it(stack, syslog, backend, which):
    b = backend()
    v = start(stack, syslog, LEN_CONFIG, which, b=b.port)
    assert http(v["p0"], target="/x")[0] == 200
    got = syslog.collect(2, timeout=3)
    assert len(got) == 2
    short = next(d for d in got if d.startswith(b"<134>"))
    full = next(d for d in got if d.startswith(b"<142>"))
    assert full.endswith(b'"GET /x HTTP/1.1"\n') and full.count(b"\n") == 1
    assert len(short) == 81 and short.endswith(b"\n") and full.startswith(b"<142>" + short[5:80])


# -- queues -----------------------------------------------------------------------------------------

QUEUE_CONFIG = """
global
    nbthread 1
    log 127.0.0.1:{syslog} local0
defaults
    mode http
    log global
    option httplog
    option dontlognull
    timeout client 10s
    timeout server 10s
    timeout connect 1s
    timeout queue 10s
frontend web
    bind 127.0.0.1:{p0}
    default_backend app
backend app
    balance {balance}
    server a1 127.0.0.1:{b} maxconn 1
"""


def queue_positions(stack, syslog, backend, which: str | None, balance: str) -> list[tuple[str, str]]:
    b = backend(delay=0.4)
    v = start(stack, syslog, QUEUE_CONFIG, which, b=b.port, balance=balance)
    threads = []
    for i in range(3):  # the first takes the only slot, the others queue, in this order
        t = threading.Thread(target=http, args=(v["p0"],), kwargs={"target": "/same", "timeout": 10})
        t.start()
        threads.append(t)
        time.sleep(0.1)
    for t in threads:
        t.join(15)
    lines = [message(d) for d in syslog.collect(3, timeout=5)]
    assert len(lines) == 3, lines
    out = []
    for line in lines:
        m = re.search(r" \d+/\d+/\d+/\d+/\d+ (\d+)/(\d+) ", line)
        assert m, line
        out.append(m.groups())
    return sorted(out)


@pytest.mark.parametrize("balance, expected", [
    ("roundrobin", [("0", "0"), ("0", "1"), ("0", "2")]),   # queued in the backend
    ("uri", [("0", "0"), ("1", "0"), ("2", "0")]),          # a hash picks the server: its own queue
])
def test_queue_positions_sq_bq(stack, syslog, backend, balance, expected):
    assert queue_positions(stack, syslog, backend, None, balance) == expected
    if HAPROXY:
        syslog.messages.clear()
        assert queue_positions(stack, syslog, backend, "haproxy", balance) == expected


# -- unique id, server connection source ------------------------------------------------------------

UID_CONFIG = """
global
    log 127.0.0.1:{syslog} local0
defaults
    mode http
    log global
    option dontlognull
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend web
    bind 127.0.0.1:{p0}
    unique-id-format %{{+X}}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid
    unique-id-header X-Unique-ID
    log-format "%ID %bi:%bp %[unique-id] %rt"
    default_backend app
backend app
    server a1 127.0.0.1:{b}
"""
# %{+X}: addresses as 8 hexadecimal digits, numbers as at least 4 ("%04X"), as HAProxy prints them
UID_RE = r"[0-9A-F]{8}:[0-9A-F]{4}_7F000001:[0-9A-F]{4}_[0-9A-F]{8}_[0-9A-F]{4,}:[0-9A-F]{4,}"


@pytest.mark.parametrize("which", BOTH)
def test_unique_id_header_and_backend_source_in_the_log(stack, syslog, backend, which):
    b = backend()
    v = start(stack, syslog, UID_CONFIG, which, b=b.port)
    for _ in range(2):
        assert http(v["p0"], target="/u")[0] == 200
    lines = [message(d).rstrip("\n") for d in syslog.collect(2, timeout=3)]
    assert len(lines) == 2 and len(b.seen) == 2
    counters = []
    for line, (peer, head) in zip(lines, b.seen):
        uid, bsrc, fetched, rt = line.split(" ")
        assert re.fullmatch(UID_RE, uid), line
        # the server got the same id (HAProxy sends header names in lower case)
        assert fetched == uid and f"\r\nx-unique-id: {uid}".encode() in head.lower().replace(uid.lower().encode(),
                                                                                               uid.encode())
        assert bsrc == peer  # %bi:%bp: where the server saw the connection come from
        counters.append(int(rt))
    assert counters[1] == counters[0] + 1


# -- sample expressions --------------------------------------------------------------------------

SAMPLE_CONFIG = """
global
    log 127.0.0.1:{syslog} local0
defaults
    mode http
    log global
    option dontlognull
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend web
    bind 127.0.0.1:{p0}
    capture request header Host len 30
    log-format "%[src] %{{+Q}}[capture.req.hdr(0),lower] %[status] %[fe_name]/%[be_name]/%[srv_name] \
%[capture.req.method] %[capture.req.uri] %[capture.req.ver] %[str(abc),upper] %[src,ipmask(8)] \
%[capture.req.hdr(0),length] %[capture.req.hdr(3)] %{{+Q}}[capture.req.hdr(0),hex]"
    default_backend app
backend app
    server a1 127.0.0.1:{b}
"""


@needs_haproxy
def test_sample_expressions_print_as_haproxy(stack, syslog, backend):
    lines = {}
    for which in BOTH:
        b = backend()
        v = start(stack, syslog, SAMPLE_CONFIG, which, b=b.port)
        assert http(v["p0"], target="/s?q=1", headers={"Host": "ExAmple.ORG"})[0] == 200
        got = syslog.collect(1, timeout=3)
        assert len(got) == 1
        lines[which] = message(got[0])
        syslog.messages.clear()
    assert lines[None] == lines["haproxy"]
    assert lines[None] == ('127.0.0.1 "example.org" 200 web/app/a1 GET /s?q=1 HTTP/1.1 ABC 127.0.0.0 11 - '
                           '"4578416D706C652E4F5247"\n')


# -- log-separate-errors ---------------------------------------------------------------------------

ERRORS_CONFIG = """
global
    nbthread 1
    log 127.0.0.1:{syslog} local0
defaults
    mode http
    log global
    option httplog
    option dontlognull
    option log-separate-errors
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend web
    bind 127.0.0.1:{p0}
    http-request redirect location /elsewhere if {{ path /redirect }}
    default_backend app
backend app
    balance roundrobin
    retries 1
    option redispatch 1
    server dead 127.0.0.1:{dead}
    server live 127.0.0.1:{b}
"""


def classify(stack, syslog, backend, which: str | None) -> list[tuple[str, str, str, str]]:
    b = backend()
    v = start(stack, syslog, ERRORS_CONFIG, which, b=b.port, dead=free_port())
    for path in ("/redirect", "/a", "/b", "/status/503"):
        http(v["p0"], target=path)
    out = []
    for d in syslog.collect(4, timeout=5):
        text = d.decode()
        m = re.search(r'^<(\d+)>.* (\S{4}) \d+/\d+/\d+/\d+/(\+?\d+) \d+/\d+ "(\S+) (\S+)', text)
        assert m, text
        pri, tsc, rc, _method, path = m.groups()
        out.append((path, pri, tsc, rc))
    assert len(out) == 4
    return sorted(out)


def test_log_separate_errors_classifies_as_haproxy(stack, syslog, backend):
    ours = classify(stack, syslog, backend, None)
    by_path = {p: (pri, tsc, rc) for p, pri, tsc, rc in ours}
    assert by_path["/redirect"][:2] == ("134", "LR--")   # a local answer is not an error: info
    assert by_path["/status/503"][0] == "131"             # a 5xx is: err
    redispatched = [p for p in ("/a", "/b") if by_path[p][2] == "+1"]
    assert redispatched  # round robin sent at least one of them to the dead server first
    for p in ("/a", "/b"):  # answered by the live server; redispatched ones are errors
        assert by_path[p] == ("131", "----", "+1") if p in redispatched else ("134", "----", "0"), p
    if HAPROXY:
        syslog.messages.clear()
        assert classify(stack, syslog, backend, "haproxy") == ours


# -- tcplog ----------------------------------------------------------------------------------------

TCP_CONFIG = """
global
    log 127.0.0.1:{syslog} local0
defaults
    mode tcp
    log global
    option tcplog
    option dontlognull
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend tcpin
    bind 127.0.0.1:{p0}
    default_backend pool
backend pool
    server t1 127.0.0.1:{b}
backend unused
    server u1 127.0.0.1:{b}
"""
TCPLOG = re.compile(
    r"^(?P<cip>[\d.]+):\d+ \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] (?P<fe>\S+) (?P<be>[^/\s]+)/(?P<srv>\S+) "
    r"(?P<Tw>-?\d+)/(?P<Tc>-?\d+)/(?P<Tt>\d+) (?P<bytes>\d+) (?P<ts>\S\S) "
    r"(?P<conns>\d+/\d+/\d+/\d+/\d+) (?P<queues>\d+/\d+)\n$"
)


def tcp_session(stack, syslog, backend, which: str | None) -> dict:
    b = backend()
    v = start(stack, syslog, TCP_CONFIG, which, b=b.port)
    with socket.create_connection(("127.0.0.1", v["p0"]), timeout=5) as s:
        s.sendall(b"GET /t HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass
    got = syslog.collect(1, timeout=3)
    assert len(got) == 1
    m = TCPLOG.match(message(got[0]))
    assert m, got[0]
    return m.groupdict()


@needs_haproxy
def test_tcplog_field_for_field_as_haproxy(stack, syslog, backend):
    ours = tcp_session(stack, syslog, backend, None)
    syslog.messages.clear()
    theirs = tcp_session(stack, syslog, backend, "haproxy")
    for f in ("cip", "fe", "be", "srv", "bytes", "ts", "conns", "queues"):
        assert ours[f] == theirs[f], f
    assert (ours["fe"], ours["be"], ours["srv"], ours["ts"]) == ("tcpin", "pool", "t1", "--")
    for d in (ours, theirs):  # timers: measured, so only their consistency is compared
        assert int(d["Tw"]) >= 0 and int(d["Tc"]) >= 0 and int(d["Tt"]) >= int(d["Tc"])


# -- actconn over every worker -------------------------------------------------------------------

AC_CONFIG = """
global
    nbthread 2
    log 127.0.0.1:{syslog} local0
    stats socket {sock} level admin
defaults
    mode http
    log global
    option httplog
    option dontlognull
    timeout client 10s
    timeout server 5s
    timeout connect 1s
frontend web
    bind 127.0.0.1:{p0}
    default_backend app
backend app
    server a1 127.0.0.1:{b}
"""


def cli(path: str, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out.decode()


def test_actconn_counts_the_connections_of_every_worker(stack, syslog, backend, tmp_path):
    b = backend()
    sock = str(tmp_path / "s.sock")
    _, v = stack.start(AC_CONFIG, backends=0, ports=1, syslog=syslog.port, b=b.port, sock=sock)
    deadline = time.monotonic() + 10
    while not os.path.exists(sock) and time.monotonic() < deadline:
        time.sleep(0.05)
    idle = []
    try:
        workers: set[str] = set()
        for _ in range(40):  # idle connections until both workers hold some (SO_REUSEPORT spreads them)
            c = socket.create_connection(("127.0.0.1", v["p0"]), timeout=5)
            c.sendall(b"GET")  # a started request: a stream in its worker
            idle.append(c)
            time.sleep(0.02)
            workers = set(re.findall(r" worker=(\d+)", cli(sock, "show sess")))
            if len(workers) == 2 and len(idle) >= 4:
                break
        assert workers == {"0", "1"}
        syslog.messages.clear()
        assert http(v["p0"], target="/ac")[0] == 200
        got = syslog.collect(1, timeout=3)
        assert len(got) == 1
        ac = re.search(r" (\d+)/\d+/\d+/\d+/\d+ \d+/\d+ ", got[0].decode()).group(1)
        assert int(ac) == len(idle) + 1  # every worker's connections, and this one
    finally:
        for c in idle:
            c.close()


# -- log targets -----------------------------------------------------------------------------------

TARGETS_CONFIG = """
global
    log unix@{unix1} local0
    log {unix2} local1
    log ipv6@[::1]:{port6} local2
    log stderr format raw local3
defaults
    mode http
    log global
    option httplog
    option dontlognull
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend web
    bind 127.0.0.1:{p0}
    default_backend app
backend app
    server a1 127.0.0.1:{b}
"""


def test_log_targets_unix_path_ipv6_and_stderr(stack, backend, tmp_path):
    b = backend()
    socks = []
    try:
        for path in (tmp_path / "u1.sock", tmp_path / "u2.sock"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.bind(str(path))
            socks.append(s)
        s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s6.bind(("::1", 0))
        socks.append(s6)
        proc, v = stack.start(TARGETS_CONFIG, backends=0, ports=1, b=b.port, unix1=tmp_path / "u1.sock",
                              unix2=tmp_path / "u2.sock", port6=s6.getsockname()[1])
        assert http(v["p0"], target="/targets")[0] == 200
        pris = []
        for s in socks:
            s.settimeout(5)
            while True:
                data = s.recv(65536)
                if b"/targets" in data:
                    break
            assert data.endswith(b'"GET /targets HTTP/1.1"\n')
            pris.append(data[:5])
        assert pris == [b"<134>", b"<142>", b"<150>"]  # local0/1/2 .info
    finally:
        for s in socks:
            s.close()
    out = proc.stop()
    assert re.search(r'^127\.0\.0\.1:\d+ \[.*\] web app/a1 .* "GET /targets HTTP/1\.1"$', out, re.MULTILINE), out
