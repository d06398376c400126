"""Differential tests: HAProxy 2.6 and fastlb run the same configuration against the same
backends; their transition log lines, runtime API answers and statistics must agree.

Skipped when /usr/sbin/haproxy is absent (CI installs it). Values that legitimately differ are
normalised: check durations, times since the last change, proxy ids (HAProxy numbers its
``defaults`` sections too), the in-progress bit of a check.
"""
from __future__ import annotations

import csv
import difflib
import os
import re
import socket
import time

import pytest
from health_lab import HAPROXY, SyslogReceiver, cli_raw, free_port, http_get, spread, wait_for

from fastlb.api.commands import Command, _leading_words, usage_message

pytestmark = pytest.mark.skipif(
    not os.path.exists(HAPROXY), reason="haproxy 2.6 is not installed (CI installs it)"
)


def cfg(syslog: int, sock: str, fe: int, ok: int, bad: int, closed: int) -> str:
    return f"""
global
    log 127.0.0.1:{syslog} local0
    stats socket {sock} level admin
    stats timeout 30s
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 2s
frontend fe
    bind 127.0.0.1:{fe}
    default_backend app
backend app
    option httpchk GET /health
    server ok 127.0.0.1:{ok} check inter 300 rise 2 fall 3
    server bad 127.0.0.1:{bad} check inter 300 rise 2 fall 3
    server plain 127.0.0.1:{ok} weight 7
backend bk
    server main 127.0.0.1:{ok}
    server closed 127.0.0.1:{closed} check inter 300 backup
backend logged
    option httpchk
    option log-health-checks
    server ok 127.0.0.1:{ok} check inter 300
    server bad 127.0.0.1:{bad} check inter 300 fall 2
backend tcpb
    mode tcp
    server t1 127.0.0.1:{closed} check inter 300
    server t2 127.0.0.1:{ok} weight 50 disabled
"""


def norm_msg(line: str) -> str:
    m = re.match(r"(<\d+>)\w{3} [ \d]\d \d\d:\d\d:\d\d \S+\[\d+\]: (.*)\n$", line, re.DOTALL)
    assert m, line
    return m.group(1) + re.sub(r"check duration: \d+ms", "check duration: Nms", m.group(2))


def norm_state(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines()[2:]:
        f = line.split()
        f[0] = "-"  # be_id
        f[9] = "-"  # srv_time_since_last_change
        f[13] = str(int(f[13]) & ~1)  # CHK_ST_INPROGRESS
        if f[11] == "0" and int(f[10]) > 2:
            f[11] = "*"  # a check in progress has no result yet (UNKNOWN)
        rows.append(f)
    return rows


def same_states(a: list[list[str]], b: list[list[str]]) -> bool:
    """Equal rows, a result hidden by a running check ("*") matching any result."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if "*" in (x[11], y[11]):
            x, y = x[:11] + x[12:], y[:11] + y[12:]
        if x != y:
            return False
    return True


def stat_rows(text: str) -> dict[tuple[str, str], dict[str, str]]:
    rows = list(csv.reader(text.splitlines()))
    cols = [rows[0][0][2:], *rows[0][1:]]
    return {tuple(r[:2]): dict(zip(cols, r)) for r in rows[1:] if r}


@pytest.fixture
def pair(lab, tmp_path):
    ok, bad = lab.http("ok"), lab.http("bad", status=500)
    closed = free_port()
    procs = {}
    logs = {}
    for name in ("haproxy", "fastlb"):
        logs[name] = SyslogReceiver()
        lab.items.append(logs[name])
        sock = str(tmp_path / f"{name}.sock")
        fe = free_port()
        text = cfg(logs[name].port, sock, fe, ok.port, bad.port, closed)
        proc = (lab.haproxy if name == "haproxy" else lab.fastlb)(text, sock, fe)
        proc.fe = fe
        procs[name] = proc
    # steady state: every checked server has had several checks
    for name in procs:
        logs[name].wait(r"Server tcpb/t1 is DOWN")
        logs[name].wait(r"Server logged/bad is DOWN")
    time.sleep(1.0)
    return procs, logs


def test_transition_lines_and_server_states_match(pair):
    procs, logs = pair
    h = sorted(norm_msg(x) for x in logs["haproxy"].lines)
    f = sorted(norm_msg(x) for x in logs["fastlb"].lines)
    assert f == h, "\n".join(difflib.unified_diff(h, f, "haproxy", "fastlb", lineterm=""))
    for cmd in ("show servers state", "show servers state app"):
        f, h = norm_state(procs["fastlb"].cli(cmd)), norm_state(procs["haproxy"].cli(cmd))
        assert same_states(f, h), (cmd, f, h)


def test_runtime_commands_answer_and_log_alike(pair):
    procs, logs = pair
    commands = [
        "get weight app/ok",
        "get weight app/zz",
        "get weight nope/ok",
        "get weight",
        "disable server app",
        "show backend",
        "show servers state nope",
        "set server app/ok state bogus",
        "set server app/ok",
        "set server app/ok weight 300",
        "set server app/ok weight abc",
        "set server app/ok addr bad",
        "set maxconn server app/ok x",
        "set maxconn frontend nofe 1",
        "set server app/ok agent up",
        "show sess 0x1",
        "del server app/zz",
        "del server app/ok",
        "add server nope/x 1.2.3.4:80",
        "add server app/ok 127.0.0.1:1",
        "add server app/x 127.0.0.1:1 bogus",
        "add server app/x 127.0.0.1:1 cookie c",
        "add server app/x",
        # state changes, then the answers and log lines they cause
        "set server app/ok state drain",
        "set server app/ok state drain",
        "set server app/ok state maint",
        "set server app/ok state drain",
        "set server app/ok state ready",
        "disable server app/plain",
        "enable server app/plain",
        "set server app/plain health down",
        "set server app/plain health stopping",
        "set server app/plain health up",
        "set server app/plain weight 50%",
        "get weight app/plain",
        "set weight app/plain 3",
        "get weight app/plain",
        "enable server tcpb/t2",
        "disable server tcpb/t2",
        "disable health app/ok",
        "enable health app/ok",
    ]
    for cmd in commands:
        assert procs["fastlb"].cli(cmd) == procs["haproxy"].cli(cmd), cmd
        time.sleep(0.05)
    time.sleep(0.5)
    h = sorted(norm_msg(x) for x in logs["haproxy"].lines)
    f = sorted(norm_msg(x) for x in logs["fastlb"].lines)
    assert f == h, "\n".join(difflib.unified_diff(h, f, "haproxy", "fastlb", lineterm=""))
    f = norm_state(procs["fastlb"].cli("show servers state"))
    h = norm_state(procs["haproxy"].cli("show servers state"))
    assert same_states(f, h), (f, h)


def test_statistics_rows_agree(pair):
    procs, _logs = pair
    for name in procs:
        spread(procs[name].fe, 6)
    h = procs["haproxy"].cli("show stat")
    f = procs["fastlb"].cli("show stat")
    assert f.splitlines()[0] == h.splitlines()[0]  # the columns, exactly
    hr, fr = stat_rows(h), stat_rows(f)
    assert list(fr) == list(hr)
    same = [
        "status",
        "weight",
        "act",
        "bck",
        "chkfail",
        "chkdown",
        "check_status",
        "check_code",
        "check_desc",
        "last_chk",
        "check_rise",
        "check_fall",
        "check_health",
        "addr",
        "mode",
        "type",
        "qlimit",
        "algo",
        "uweight",
        "sid",
    ]
    # traffic counters of backends (a frontend also counts the probes that saw it listen; how a
    # backend spreads requests over its servers is the balancer's business, tested elsewhere)
    traffic = ["stot", "hrsp_2xx", "req_tot", "lbtot"]
    for key in hr:
        for col in same + (traffic if key[1] == "BACKEND" else []):
            assert fr[key][col] == hr[key][col], (key, col, fr[key][col], hr[key][col])
        empty_h = [c for c, v in hr[key].items() if v == ""]
        empty_f = [c for c, v in fr[key].items() if v == ""]
        assert empty_f == empty_h, key


def served(port: int) -> bool:
    """A request on a new connection is answered within a second."""
    try:
        status, _ = http_get(port, "/x", timeout=1.0)
    except OSError:
        return False
    return status == 200


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
    except ConnectionRefusedError:
        return True
    return False


def test_disable_and_enable_frontend_alike(pair):
    """Same answers, PAUSED status, refused connections and "Paused/Resumed frontend fe." logs."""
    procs, logs = pair
    commands = ["disable frontend", "disable frontend nofe", "disable frontend app", "enable frontend",
                "enable frontend nofe", "enable frontend fe", "disable frontend fe", "disable frontend fe"]
    for cmd in commands:
        assert procs["fastlb"].cli(cmd) == procs["haproxy"].cli(cmd), cmd
    for name, proc in procs.items():
        assert stat_rows(proc.cli("show stat"))[("fe", "FRONTEND")]["status"] == "PAUSED", name
        assert wait_for(lambda p=proc: refused(p.fe), 2.0), f"{name} accepted on a disabled frontend"
        logs[name].wait(r"Paused frontend fe\.")
    for cmd in ("enable frontend fe", "enable frontend fe"):
        assert procs["fastlb"].cli(cmd) == procs["haproxy"].cli(cmd), cmd
    for name, proc in procs.items():
        assert stat_rows(proc.cli("show stat"))[("fe", "FRONTEND")]["status"] == "OPEN", name
        assert wait_for(lambda p=proc: all(served(p.fe) for _ in range(6)), 5.0), name  # on every worker
        logs[name].wait(r"Resumed frontend fe\.")
    for name in logs:
        assert [m for m in logs[name].messages() if "frontend fe." in m] == ["Paused frontend fe.",
                                                                               "Resumed frontend fe."], name


def test_help_lines_and_suggestions(pair):
    procs, _logs = pair
    theirs = procs["haproxy"].cli("help").splitlines()
    ours = procs["fastlb"].cli("help").splitlines()
    assert ours[0] == theirs[0]
    positions = [theirs.index(line) for line in ours[1:]]  # every line of ours is one of HAProxy's ...
    assert positions == sorted(positions)  # ... in the same order
    # HAProxy's fuzzy matching, fed with HAProxy's own command list, answers as HAProxy does
    cmds = [Command(tuple(_leading_words(u).split()), u, None) for u in (line[2:] for line in theirs[1:-3])]
    for typed in (
        "foo",
        "shwo stat",
        "get wieght",
        "enabel server",
        "show servers stat",
        "add srv",
        "help set",
    ):
        assert (
            usage_message(typed.split(), cmds) + "\n"
            == cli_raw(procs["haproxy"].sock_path, f"{typed}\n".encode()).decode()
        ), typed
    wait_for(lambda: True)


def test_tcp_check_sequences_log_alike(lab, tmp_path):
    pong, err = lab.agent("+PONG\r\n"), lab.agent("-ERR\r\n")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    lab.items.append(silent)
    body = f"""
backend tc1
    mode tcp
    option tcp-check
    option log-health-checks
    tcp-check send PING\\r\\n
    tcp-check expect string +PONG
    server x 127.0.0.1:{pong.port} check inter 1s
backend tc2
    mode tcp
    option tcp-check
    option log-health-checks
    tcp-check comment "ping step"
    tcp-check send PING\\r\\n
    tcp-check expect rstring ^\\+PO
    server x 127.0.0.1:{err.port} check inter 1s
backend tc3
    mode tcp
    option tcp-check
    option log-health-checks
    tcp-check send-binary 50494e470d0a
    tcp-check expect string +PONG
    server x 127.0.0.1:{silent.getsockname()[1]} check inter 1s
backend tc4
    mode tcp
    option tcp-check
    option log-health-checks
    tcp-check send PING\\r\\n
    tcp-check expect ! string ERR
    server x 127.0.0.1:{err.port} check inter 1s
"""
    logs = {}
    for name in ("haproxy", "fastlb"):
        logs[name] = SyslogReceiver()
        lab.items.append(logs[name])
        sock = str(tmp_path / f"{name}-tc.sock")
        text = (
            f"global\n    log 127.0.0.1:{logs[name].port} local0\n    stats socket {sock} level admin\n"
            f"defaults\n    log global\n    timeout connect 1s\n    timeout client 5s\n"
            f"    timeout server 5s\n{body}"
        )
        (lab.haproxy if name == "haproxy" else lab.fastlb)(text, sock)
    for receiver in logs.values():
        receiver.wait(r"Server tc3/x is DOWN", timeout=8)
        receiver.wait(r"Server tc4/x is DOWN", timeout=8)
    time.sleep(0.5)
    h = sorted(norm_msg(x) for x in logs["haproxy"].lines)
    f = sorted(norm_msg(x) for x in logs["fastlb"].lines)
    assert f == h, "\n".join(difflib.unified_diff(h, f, "haproxy", "fastlb", lineterm=""))
    assert pong.received[0] == b"PING\r\n"


def test_typed_and_info_shapes_agree(pair):
    procs, _logs = pair

    def typed_shape(text: str) -> set[tuple[str, ...]]:
        out = set()
        for line in text.splitlines():
            if line:
                key, tags, vtype, _value = line.split(":", 3)
                obj, _iid, _sid, pos, name, _proc = key.split(".")
                out.add((obj, pos, name, tags, vtype))
        return out

    h = typed_shape(procs["haproxy"].cli("show stat typed"))
    f = typed_shape(procs["fastlb"].cli("show stat typed"))
    assert f == h, "\n".join(f"{'fastlb ' if x in f else 'haproxy'} {x}" for x in sorted(f ^ h))
    hi = [line.split(":", 3)[:3] for line in procs["haproxy"].cli("show info typed").splitlines() if line]
    fi = [line.split(":", 3)[:3] for line in procs["fastlb"].cli("show info typed").splitlines() if line]
    assert fi == hi
