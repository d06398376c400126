"""Agent checks, ``observe`` with ``on-error``, ``slowstart`` and HTTP check requests, over real
sockets."""
from __future__ import annotations

import csv
import re
import socket
import time

from health_lab import config, free_port, spread, wait_for


def _stat(p, backend: str, server: str) -> dict[str, str]:
    rows = list(csv.reader(p.cli("show stat").splitlines()))
    cols = [rows[0][0][2:], *rows[0][1:]]
    return dict(zip(cols, next(r for r in rows[1:] if r[:2] == [backend, server])))


def test_agent_replies_drive_state_weight_and_maxconn(lab, tmp_path):
    a1, a2 = lab.http("a1"), lab.http("a2")
    agent = lab.agent("up\n")
    fe = free_port()
    sock = str(tmp_path / "s.sock")
    p = lab.fastlb(
        config(
            lab.syslog.port,
            sock,
            f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend app
backend app
    default-server agent-inter 150 agent-send hello\\n
    server a1 127.0.0.1:{a1.port} weight 4 check inter 200 agent-check agent-port {agent.port}
    server a2 127.0.0.1:{a2.port} check inter 200
""",
        ),
        sock,
        fe,
    )
    wait_for(lambda: agent.received, what="an agent connection")
    assert agent.received[0] == b"hello\n"

    agent.reply = "down #maint window\n"
    line = lab.syslog.wait(r"Server app/a1 is DOWN")
    assert re.search(
        r'Server app/a1 is DOWN, reason: Layer7 wrong status, code: 0, info: "via agent : down '
        r'\(maint window\)", check duration: \d+ms\. 1 active and 0 backup servers left\.',
        line,
    ), line
    assert _stat(p, "app", "a1")["status"] == "DOWN (agent)"
    assert spread(fe, 20) == {"a2": 20}

    agent.reply = "up 50%\n"
    lab.syslog.wait(
        r'Server app/a1 is UP, reason: Layer7 check passed, code: 0, info: "via agent : up", '
        r"check duration: \d+ms\. 2 active and 0 backup servers online\."
    )
    wait_for(lambda: p.cli("get weight app/a1") == "2 (initial 4)\n", what="agent weight 50%")

    agent.reply = "drain\n"
    lab.syslog.wait(r"Server app/a1 enters drain state\. 1 active and 0 backup servers online\.")
    assert _stat(p, "app", "a1")["status"] == "DRAIN (agent)"
    assert spread(fe, 20) == {"a2": 20}

    agent.reply = "ready maxconn:30\n"
    lab.syslog.wait(r"Server app/a1 is UP \(leaving forced drain\)\.")
    wait_for(lambda: _stat(p, "app", "a1")["slim"] == "30", what="agent maxconn")
    seen = spread(fe, 20)
    assert seen.get("a1", 0) >= 5, seen

    # a word glued to '#' is not a keyword (HAProxy ignores "down#x")
    agent.reply = "down#x\n"
    time.sleep(0.6)
    assert _stat(p, "app", "a1")["status"] == "UP"
    assert "via agent : down#x" not in "".join(lab.syslog.lines)


def test_observe_layer4_mark_down_from_real_traffic(lab, tmp_path):
    a1 = lab.http("a1")
    a2 = lab.http("a2")
    fe = free_port()
    sock = str(tmp_path / "s.sock")
    p = lab.fastlb(
        config(
            lab.syslog.port,
            sock,
            f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend app
backend app
    retries 0
    default-server error-limit 2 on-error mark-down
    server a1 127.0.0.1:{a1.port} check inter 20s fastinter 200 observe layer4
    server a2 127.0.0.1:{a2.port} check inter 20s
""",
            nbthread=1,
        ),
        sock,
        fe,
    )
    wait_for(lambda: _stat(p, "app", "a1")["check_status"] == "L4OK", what="first check")
    a1.stop()  # the next check is 20 s away: only real traffic can notice
    errors = 0
    deadline = time.monotonic() + 10
    while not any("is DOWN" in m for m in lab.syslog.messages()) and time.monotonic() < deadline:
        errors += sum(n for k, n in spread(fe, 2).items() if k.startswith("status:"))
    assert errors >= 2
    line = lab.syslog.wait(r"Server app/a1 is DOWN")
    assert re.search(
        r'Server app/a1 is DOWN, reason: Health analyze, info: "Detected \d+ consecutive errors, '
        r'last one was: L4 unsuccessful connection"\. 1 active and 0 backup servers left\.',
        line,
    ), line
    f = _stat(p, "app", "a1")
    assert f["check_status"] == "HANA" and f["hanafail"] == "1"
    assert spread(fe, 10) == {"a2": 10}


def test_slowstart_ramps_the_weight_after_recovery(lab, tmp_path):
    a1 = lab.http("a1")
    port2 = free_port()
    fe = free_port()
    sock = str(tmp_path / "s.sock")
    p = lab.fastlb(
        config(
            lab.syslog.port,
            sock,
            f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend app
backend app
    server a1 127.0.0.1:{a1.port} check inter 200
    server a2 127.0.0.1:{port2} check inter 100 rise 1 weight 40 slowstart 3s
""",
        ),
        sock,
        fe,
    )
    lab.syslog.wait(r"Server app/a2 is DOWN")
    lab.http("a2", port=port2)
    lab.syslog.wait(r"Server app/a2 is UP")
    f = _stat(p, "app", "a2")
    assert f["status"] == "UP" and 1 <= int(f["weight"]) < 40 and f["uweight"] == "40", f
    assert 0 <= int(f["throttle"]) < 100
    assert " 1 0 40 40 " in p.cli("show servers state app").splitlines()[3]  # op state 1 = starting
    ramp = [int(_stat(p, "app", "a2")["weight"])]
    for _ in range(4):
        time.sleep(0.5)
        ramp.append(int(_stat(p, "app", "a2")["weight"]))
    assert ramp == sorted(ramp) and ramp[-1] > ramp[0], ramp
    wait_for(lambda: _stat(p, "app", "a2")["weight"] == "40", timeout=5, what="full weight")
    assert " 2 0 40 40 " in p.cli("show servers state app").splitlines()[3]


def test_http_check_requests_on_the_wire_and_expect_rules(lab, tmp_path):
    c1, c2, c3 = lab.http("c1"), lab.http("c2"), lab.http("c3")
    fe = free_port()
    sock = str(tmp_path / "s.sock")
    p = lab.fastlb(
        config(
            lab.syslog.port,
            sock,
            f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend b1
backend b1
    option httpchk
    server x 127.0.0.1:{c1.port} check inter 300
backend b2
    option httpchk GET /health HTTP/1.1
    http-check expect string nothere
    server x 127.0.0.1:{c2.port} check inter 300
backend b3
    option httpchk
    http-check send meth HEAD uri /health/h ver HTTP/1.1 hdr Host example.com hdr X-A b body hello
    http-check expect ! rstatus ^5
    server x 127.0.0.1:{c3.port} check inter 300
""",
            nbthread=1,
        ),
        sock,
        fe,
    )
    wait_for(lambda: c1.raw and c2.raw and c3.raw, what="one check on each server")
    # the bytes HAProxy 2.6 sends for the same configuration (captured from it)
    assert c1.raw[0] == b"OPTIONS / HTTP/1.0\r\n\r\n"
    assert c2.raw[0] == b"GET /health HTTP/1.1\r\nconnection: close\r\n\r\n"
    assert c3.raw[0] == (
        b"HEAD /health/h HTTP/1.1\r\nhost: example.com\r\nx-a: b\r\ncontent-length: 5\r\n"
        b"connection: close\r\n\r\nhello"
    )
    line = lab.syslog.wait(r"Server b2/x is DOWN")
    assert 'reason: Layer7 invalid response, info: "HTTP content check did not match", check duration' in line
    c3.status = 503
    line = lab.syslog.wait(r"Server b3/x is DOWN")
    assert 'reason: Layer7 wrong status, code: 503, info: "Service Unavailable"' in line
    assert _stat(p, "b1", "x")["status"] == "UP"


def test_check_timeout_is_a_layer7_timeout(lab, tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts (kernel backlog) and never answers
    lab.items.append(silent)
    fe = free_port()
    sock = str(tmp_path / "s.sock")
    lab.fastlb(
        config(
            lab.syslog.port,
            sock,
            f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend b
backend b
    option httpchk
    timeout check 100ms
    server x 127.0.0.1:{silent.getsockname()[1]} check inter 400
""",
            nbthread=1,
        ),
        sock,
        fe,
    )
    line = lab.syslog.wait(r"Server b/x is DOWN")
    m = re.search(r"Server b/x is DOWN, reason: Layer7 timeout, check duration: (\d+)ms\.", line)
    assert m, line
    # HAProxy bounds the whole check by min(timeout connect, inter) = 400 ms here
    assert 380 <= int(m.group(1)) < 900, line


def test_observe_layer7_counts_5xx_answers(lab, tmp_path):
    a1 = lab.http("a1")
    a1.fail_prefix = "/fail"  # checks on /health pass, real traffic on /fail gets 500
    fe = free_port()
    sock = str(tmp_path / "s.sock")
    p = lab.fastlb(
        config(
            lab.syslog.port,
            sock,
            f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend app
backend app
    option httpchk GET /health
    server a1 127.0.0.1:{a1.port} check inter 20s observe layer7 error-limit 3 on-error fail-check
""",
            nbthread=1,
        ),
        sock,
        fe,
    )
    wait_for(lambda: _stat(p, "app", "a1")["check_status"] == "L7OK", what="first check")
    # successes in between reset the count (pauses let the master sample each run apart)
    for _ in range(3):
        spread(fe, 2, "/fail")
        time.sleep(0.3)
        spread(fe, 2, "/ok")
        time.sleep(0.3)
    assert _stat(p, "app", "a1")["hanafail"] == "0"
    spread(fe, 3, "/fail")
    wait_for(lambda: _stat(p, "app", "a1")["hanafail"] == "1", what="one HANA event")
    # fail-check: one failed check (health 4 -> 3), the server stays UP
    assert _stat(p, "app", "a1")["status"] == "UP 2/3"
    assert _stat(p, "app", "a1")["check_status"] == "HANA"
    assert _stat(p, "app", "a1")["last_chk"].startswith("Detected ")
    assert "Wrong http response" in _stat(p, "app", "a1")["last_chk"]


def test_check_port_and_addr_options(lab, tmp_path):
    svc = lab.http("svc")
    side = lab.http("side")
    fe = free_port()
    sock = str(tmp_path / "s.sock")
    p = lab.fastlb(
        config(
            lab.syslog.port,
            sock,
            f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend app
backend app
    option httpchk GET /health
    server a 127.0.0.1:{svc.port} check inter 200 port {side.port}
    server b 127.0.0.1:{free_port()} check inter 200 addr 127.0.0.1 port {side.port}
""",
            nbthread=1,
        ),
        sock,
        fe,
    )
    wait_for(lambda: side.hits.get("/health", 0) >= 4, what="checks on the check port")
    assert svc.hits.get("/health", 0) == 0
    assert _stat(p, "app", "a")["status"] == "UP" and _stat(p, "app", "b")["status"] == "UP"
    assert f" {side.port} 127.0.0.1 - 0" in p.cli("show servers state app").splitlines()[3]
    p.cli(f"set server app/a check-port {svc.port}")
    wait_for(lambda: svc.hits.get("/health", 0) >= 1, what="checks moved by set server check-port")


def test_unix_socket_server_is_checked(lab, tmp_path):
    path = str(tmp_path / "backend.sock")
    fe = free_port()
    sock = str(tmp_path / "s.sock")
    lab.fastlb(
        config(
            lab.syslog.port,
            sock,
            f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend app
backend app
    server u unix@{path} check inter 200
""",
            nbthread=1,
        ),
        sock,
        fe,
    )
    line = lab.syslog.wait(r"Server app/u is DOWN")
    assert 'reason: Layer4 connection problem, info: "No such file or directory"' in line
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(8)
    lab.items.append(srv)
    lab.syslog.wait(r"Server app/u is UP, reason: Layer4 check passed")
