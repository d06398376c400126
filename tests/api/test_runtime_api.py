"""The runtime API over real sockets: levels, the CLI protocol, and commands that change routing
at once on every worker."""
from __future__ import annotations

import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

from health_lab import cli_raw, config, free_port, http_get, spread, wait_for


def two_servers(lab, tmp_path, extra_sockets: str = "", nbthread: int = 2, body: str = ""):
    a1, a2 = lab.http("a1"), lab.http("a2")
    fe = free_port()
    sock = str(tmp_path / "admin.sock")
    p = lab.fastlb(config(lab.syslog.port, sock, f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend app
backend app
    server a1 127.0.0.1:{a1.port}
    server a2 127.0.0.1:{a2.port}
{body}
""", nbthread=nbthread, extra_global=extra_sockets), sock, fe)
    return p, fe, a1, a2


def test_levels_enforced_on_unix_and_tcp_sockets(lab, tmp_path):
    user_port = free_port()
    op = str(tmp_path / "op.sock")
    extra = (f"    stats socket {op} level operator\n"
             f"    stats socket ipv4@127.0.0.1:{user_port} level user\n")
    p, _fe, _a1, _a2 = two_servers(lab, tmp_path, extra)
    user = ("127.0.0.1", user_port)

    def ask(target, cmd: str) -> str:
        return cli_raw(target, (cmd + "\n").encode()).decode()

    for target, level in ((p.sock_path, "admin"), (op, "operator"), (user, "user")):
        assert ask(target, "show cli level") == f"{level}\n\n"
        assert ask(target, "get weight app/a1") == "1 (initial 1)\n\n"
        assert ask(target, "show backend") == "# name\napp\n\n"
        assert ask(target, "show info").startswith("Name: fastlb\nVersion: ")
        assert ask(target, "show stat").startswith("# pxname,svname,qcur,")
    denied = "Permission denied\n\n"
    assert ask(user, "show sess") == denied
    assert ask(user, "clear counters") == denied
    assert ask(op, "clear counters") == "\n"
    for cmd in ("clear counters all", "disable server app/a1", "set server app/a1 weight 2",
                "set maxconn global 100", "add server app/x 127.0.0.1:1", "del server app/a1",
                "enable health app/a1", "set weight app/a1 3"):
        assert ask(op, cmd) == denied, cmd
        assert ask(user, cmd) == denied, cmd
    assert ask(op, "show sess").startswith("0x")
    # a session can lower its level, never raise it
    assert ask(p.sock_path, "operator;show cli level;disable server app/a1") == "\noperator\n\n" + denied
    assert ask(user, "operator") == denied
    assert "# socket lvl processes\n" in ask(user, "show cli sockets")
    assert f"ipv4@127.0.0.1:{user_port} user all\n" in ask(user, "show cli sockets")


def test_cli_protocol_prompt_pipelining_and_errors(lab, tmp_path):
    p, _fe, _a1, _a2 = two_servers(lab, tmp_path, nbthread=1)
    path = p.sock_path
    # several commands in one write, separated by LF and ';', each answer ends with an empty line
    assert (
        cli_raw(path, b"show backend;show backend\nshow cli level\n")
        == b"# name\napp\n\n# name\napp\n\nadmin\n\n"
    )
    # a command without its end of line at EOF is dropped, as in HAProxy
    assert cli_raw(path, b"show backend", shut=True) == b""
    assert cli_raw(path, b"show backend;", shut=True) == b"# name\napp\n\n"
    # an escaped ';' belongs to the word
    assert cli_raw(path, b"get weight app\\;/a1\n") == b"No such backend.\n\n"
    # interactive mode
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    s.sendall(b"prompt\n")
    assert s.recv(100) == b"\n> "
    s.sendall(b"show backend\n")
    assert s.recv(100) == b"# name\napp\n\n> "
    s.sendall(b"quit\n")
    assert s.recv(100) == b""
    s.close()
    unknown = cli_raw(path, b"foo\n").decode()
    assert unknown.startswith("Unknown command, but maybe one of the following ones is a better match:\n")
    assert unknown.endswith(
        "  help [<command>]                        : list matching or all commands\n"
        "  prompt                                  : toggle interactive mode with prompt\n"
        "  quit                                    : disconnect\n\n"
    )
    assert (
        cli_raw(path, b"\n")
        .decode()
        .startswith("Unknown command. Please enter one of the following commands")
    )
    helpset = cli_raw(path, b"help set\n").decode().splitlines()
    assert helpset[0] == "The following commands are valid at this level:"
    assert helpset[1:5] == [
        "  set maxconn frontend <frontend> <value> : change a frontend's maxconn setting",
        "  set maxconn global <value>              : change the per-process maxconn setting",
        "  set maxconn server <bk>/<srv>           : change a server's maxconn setting",
        "  set server <bk>/<srv> [opts]            : change a server's state, weight, address or ssl",
    ]
    expected = {
        "disable server app/nope": "No such server.\n\n",
        "disable server nope/a1": "No such backend.\n\n",
        "disable server app": "Require 'backend/server'.\n\n",
        "set server app/a1 state bogus": "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n",
        "set server app/a1 weight 300": "Absolute weight can only be between 0 and 256 inclusive.\n\n",
        "set server app/a1 weight abc": "Empty weight string empty or preceded by garbage\n",
        "set server app/a1": (
            "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | "
            "agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n\n"
        ),
        "set server app/a1 addr bad": "Invalid addr 'bad' by 'stats socket command'\n\n",
        "set maxconn server app/a1 x": "maxconn string empty or preceded by garbage\n",
        "set maxconn frontend nofe 100": "No such frontend.\n\n",
        "set maxconn global 99999999": "Value out of range.\n\n",
        "set server app/a1 agent down": "agent checks are not enabled on this server.\n\n",
        "get weight app/zz": "No such server.\n\n",
        "get weight": "Require 'backend/server'.\n\n",
        "show servers state nope": "Can't find backend.\n\n",
        "show sess 0x1": "Session not found.\n\n",
        "add server nope/x 1.2.3.4:80": "No such backend.\n",
        "add server app/a1 127.0.0.1:1": "Already exists a server with the same name in backend.\n\n",
        "add server app/x 127.0.0.1:1 bogus": "unknown keyword 'bogus'.\n\n",
        "add server app/x 127.0.0.1:1 cookie abc": "'cookie' option is not accepted for dynamic server\n\n",
        "add server app/x4": "'server' expects <name> and <addr>[:<port>] as arguments.\n\n",
        "del server app/a1": "Only servers in maintenance mode can be deleted.\n",
        "del server app/zz": "No such server.\n",
    }
    for cmd, answer in expected.items():
        assert cli_raw(path, (cmd + "\n").encode()).decode() == answer, cmd
    assert re.search(r"\[ALERT\]    \(\d+\) : CLI : 'server app/x' : unknown keyword 'bogus'\.", p.output())


def test_runtime_commands_change_routing_at_once_on_every_worker(lab, tmp_path):
    p, fe, _a1, _a2 = two_servers(lab, tmp_path)
    assert spread(fe, 20) == {"a1": 10, "a2": 10} or min(spread(fe, 20).values()) >= 5
    assert p.cli("disable server app/a2") == ""
    assert spread(fe, 20) == {"a1": 20}
    lab.syslog.wait(r"Server app/a2 is going DOWN for maintenance\. 1 active and 0 backup servers left\.")
    assert p.cli("enable server app/a2") == ""
    lab.syslog.wait(r"Server app/a2 is UP/READY \(leaving forced maintenance\)\.")
    assert spread(fe, 20).get("a2", 0) >= 5
    p.cli("set server app/a1 state drain")
    assert spread(fe, 20) == {"a2": 20}
    assert "DRAIN" in p.cli("show stat").split("app,a1,", 1)[1].split("\n", 1)[0]
    p.cli("set server app/a1 state maint")
    assert spread(fe, 10) == {"a2": 10}
    p.cli("set server app/a1 state ready")
    assert spread(fe, 20).get("a1", 0) >= 5
    p.cli("set server app/a2 weight 0")
    assert p.cli("get weight app/a2") == "0 (initial 1)\n"
    assert spread(fe, 20) == {"a1": 20}
    p.cli("set weight app/a2 100%")
    assert p.cli("get weight app/a2") == "1 (initial 1)\n"
    assert spread(fe, 20).get("a2", 0) >= 5
    # health forced from the CLI
    p.cli("set server app/a1 health down")
    lab.syslog.wait(r"Server app/a1 is DOWN, changed from CLI\. 1 active and 0 backup servers left\.")
    assert spread(fe, 10) == {"a2": 10}
    p.cli("set server app/a1 health up")
    assert spread(fe, 20).get("a1", 0) >= 5
    # maxconn of a server lands in shared memory (slim) at once
    assert p.cli("set maxconn server app/a1 7") == ""
    stat = p.cli("show stat")
    cols = stat.splitlines()[0][2:].split(",")
    row = dict(zip(cols, next(r for r in stat.splitlines() if r.startswith("app,a1,")).split(",")))
    assert row["slim"] == "7"


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def answered(port: int, n: int = 8, wait: float = 1.0) -> int:
    """``n`` requests on parallel new connections: how many got a response within ``wait`` seconds."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        s.setblocking(False)
        socks.append(s)
    got: set[socket.socket] = set()
    deadline = time.monotonic() + wait
    while len(got) < n and time.monotonic() < deadline:
        ready, _, _ = select.select([s for s in socks if s not in got], [], [], max(0.0, deadline - time.monotonic()))
        for s in ready:
            try:
                if s.recv(100).startswith(b"HTTP/1.1 200"):
                    got.add(s)
            except OSError:
                pass
    for s in socks:
        s.close()
    return len(got)


def test_disable_frontend_stops_every_worker_accepting(lab, tmp_path):
    p, fe, _a1, _a2 = two_servers(lab, tmp_path, nbthread=2)
    assert answered(fe) == 8
    assert p.cli("disable frontend fe") == ""
    assert ",PAUSED," in next(r for r in p.cli("show stat").splitlines() if r.startswith("fe,FRONTEND,"))
    deadline = time.monotonic() + 2  # the workers follow the shared flag within a round
    while time.monotonic() < deadline and not refused(fe):
        time.sleep(0.02)
    assert all(refused(fe) for _ in range(8))  # no worker listens: refused, as HAProxy does
    assert p.cli("enable frontend fe") == ""
    assert ",OPEN," in next(r for r in p.cli("show stat").splitlines() if r.startswith("fe,FRONTEND,"))
    assert answered(fe, wait=3.0) == 8


def test_set_maxconn_server_limits_concurrent_requests_on_all_workers(lab, tmp_path):
    """`set maxconn server` is a limit, not only a number in `slim`: with it at 1 the server gets
    one request at a time from both workers together, the others wait in the queue."""
    p, fe, a1, _a2 = two_servers(lab, tmp_path, body="    timeout queue 10s")
    p.cli("disable server app/a2")
    a1.delay = 0.4

    def burst(n: int) -> float:
        a1.max_active = 0
        statuses: list[int] = []
        t0 = time.monotonic()
        threads = [threading.Thread(target=lambda i=i: statuses.append(http_get(fe, f"/b{i}", 10)[0]))
                   for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        assert statuses == [200] * n
        return time.monotonic() - t0

    assert burst(4) < 1.2 and a1.max_active >= 3  # no limit: answered side by side
    assert p.cli("set maxconn server app/a1 1") == ""
    queued: list[int] = []

    def watch() -> None:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            stat = p.cli("show stat")
            cols = stat.splitlines()[0][2:].split(",")
            line = next(r for r in stat.splitlines() if r.startswith("app,BACKEND,"))
            row = dict(zip(cols, line.split(",")))
            queued.append(int(row["qcur"] or 0))
            time.sleep(0.1)

    w = threading.Thread(target=watch)
    w.start()
    took = burst(6)
    w.join(5)
    assert a1.max_active == 1 and took >= 6 * 0.4, (a1.max_active, took)
    assert max(queued) >= 2, queued  # the others wait in the backend's queue
    assert a1.traffic() >= 10
    assert p.cli("set maxconn server app/a1 0") == ""  # no limit again
    assert burst(4) < 1.2 and a1.max_active >= 3


def test_a_dead_worker_gives_back_its_server_slots(lab, tmp_path):
    """The shared connection count of a server forgets the connections of a worker that died:
    after SIGKILL of the workers (one held the only slot of maxconn 1), the respawned ones serve
    at once instead of queueing behind a connection that no longer exists."""
    p, fe, a1, _a2 = two_servers(lab, tmp_path, body="    timeout queue 10s")
    p.cli("disable server app/a2")
    p.cli("set maxconn server app/a1 1")
    a1.delay = 3.0
    held = threading.Thread(target=lambda: _ignore_errors(http_get, fe, "/held", 10), daemon=True)
    held.start()
    wait_for(lambda: a1.active == 1, what="the request holding the slot")
    with open(f"/proc/{p.proc.pid}/task/{p.proc.pid}/children") as f:
        workers = [int(x) for x in f.read().split()]
    assert len(workers) == 2
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    a1.delay = 0.0
    p.wait_output(r"exited with code -9: restarting it")
    wait_for(lambda: _ignore_errors(http_get, fe, "/probe", 2) is not None, what="the respawned workers")
    t0 = time.monotonic()
    assert http_get(fe, "/after", 5)[0] == 200
    assert time.monotonic() - t0 < 1.0  # not queued behind the dead worker's connection


def _ignore_errors(fn, *args):
    try:
        return fn(*args)
    except OSError:
        return None


def test_set_server_addr_moves_traffic(lab, tmp_path):
    p, fe, _a1, a2 = two_servers(lab, tmp_path)
    b3 = lab.http("b3")
    p.cli("disable server app/a1")
    assert spread(fe, 6) == {"a2": 6}
    answer = p.cli(f"set server app/a2 addr 127.0.0.1 port {b3.port}")
    assert answer == (
        f"no need to change the addr, port changed from '{a2.port}' to '{b3.port}' "
        "by 'stats socket command'\n"
    )
    assert spread(fe, 10) == {"b3": 10}
    assert (
        p.cli("set server app/a2 addr 127.0.0.2")
        == "IP changed from '127.0.0.1' to '127.0.0.2' by 'stats socket command'\n"
    )
    assert "app 2 a2 127.0.0.2 2 0 1 1 " in p.cli("show servers state app")


def test_add_and_delete_servers_without_reload(lab, tmp_path):
    p, fe, _a1, _a2 = two_servers(lab, tmp_path)
    d = lab.http("dyn")
    assert p.cli(f"add server app/dyn 127.0.0.1:{d.port} weight 3") == "New server registered.\n"
    p.wait_output(r"\[NOTICE\]   \(\d+\) : CLI : 'server app/dyn' : New server registered\.")
    state = p.cli("show servers state app").splitlines()
    assert state[4].startswith("2 app 3 dyn 127.0.0.1 0 1 3 3 ")  # in maintenance, as in HAProxy
    assert spread(fe, 10).get("dyn", 0) == 0
    p.cli("disable server app/a1")
    p.cli("disable server app/a2")
    assert p.cli("enable server app/dyn") == ""
    assert spread(fe, 20) == {"dyn": 20}  # both workers route to it
    assert p.cli("get weight app/dyn") == "3 (initial 3)\n"
    # a worker that dies is respawned with the server added at run time
    pids = [int(x) for x in subprocess.check_output(["pgrep", "-P", str(p.proc.pid)]).split()]
    os.kill(pids[0], signal.SIGKILL)
    p.wait_output(r"exited with code .*: restarting it")
    time.sleep(0.5)
    assert spread(fe, 30) == {"dyn": 30}
    # deleting needs maintenance first
    assert p.cli("del server app/dyn") == "Only servers in maintenance mode can be deleted."
    p.cli("enable server app/a1")
    p.cli("disable server app/dyn")
    assert p.cli("del server app/dyn") == "Server deleted."
    assert "dyn" not in p.cli("show servers state app")
    assert spread(fe, 10) == {"a1": 10}
    # its slot and id are free again
    assert p.cli(f"add server app/dyn2 127.0.0.1:{d.port}") == "New server registered.\n"
    assert " 3 dyn2 " in p.cli("show servers state app")
    # configured servers can be deleted too
    assert p.cli("del server app/a2") == "Server deleted."
    assert "a2" not in p.cli("show stat")


def test_show_sess_lists_streams_of_all_workers(lab, tmp_path):
    p, fe, a1, a2 = two_servers(lab, tmp_path)
    a1.delay = a2.delay = 1.5
    threads = [threading.Thread(target=http_get, args=(fe, "/slow")) for _ in range(4)]
    for t in threads:
        t.start()
    try:

        def four_streams() -> str | None:
            out = p.cli("show sess")
            return out if len(re.findall(r"fe=fe be=app srv=a[12] ", out)) >= 4 else None

        out = wait_for(four_streams, 5, what="4 streams in show sess")
        lines = out.splitlines()
        assert re.match(
            r"0x[0-9a-f]+: proto=unix_stream src=unix:\d+ fe=GLOBAL be=<NONE> srv=<none> ts=00", lines[0]
        )
        streams = [ln for ln in lines if "fe=fe" in ln]
        assert all(
            re.match(r"0x[0-9a-f]+: proto=tcpv4 src=127\.0\.0\.1:\d+ fe=fe be=app srv=a[12] ", s)
            for s in streams
        ), streams
        assert {re.search(r"worker=(\d)", s).group(1) for s in streams} <= {"0", "1"}
        one = streams[0].split(":", 1)[0]
        detail = p.cli(f"show sess {one}")
        assert detail.startswith(f"{one}: proto=tcpv4 source=127.0.0.1:") and "frontend=fe" in detail
    finally:
        for t in threads:
            t.join(10)


def test_show_stat_and_info_formats(lab, tmp_path):
    p, fe, _a1, _a2 = two_servers(lab, tmp_path, nbthread=1)
    spread(fe, 4)
    csv = p.cli("show stat")
    header = csv.splitlines()[0]
    assert header.startswith("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,")
    assert header.endswith(
        ",agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,"
        "h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,"
        "h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,"
        "h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,"
        "h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,"
        "h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,"
    )
    ncols = header.count(",")
    rows = csv.splitlines()[1:]
    assert [r.split(",")[:2] for r in rows] == [
        ["fe", "FRONTEND"],
        ["app", "a1"],
        ["app", "a2"],
        ["app", "BACKEND"],
    ]
    assert all(r.count(",") == ncols for r in rows)
    cols = header[2:].split(",")
    fe_row = dict(zip(cols, rows[0].split(",")))
    be_row = dict(zip(cols, rows[3].split(",")))
    assert fe_row["req_tot"] == "4" and fe_row["status"] == "OPEN" and fe_row["mode"] == "http"
    assert be_row["stot"] == "4" and be_row["act"] == "2" and be_row["algo"] == "roundrobin"
    assert dict(zip(cols, rows[1].split(",")))["status"] == "no check"
    typed = p.cli("show stat typed").splitlines()
    assert "F.1.0.0.pxname.1:KNS:str:fe" in typed
    assert any(re.fullmatch(r"S\.2\.1\.7\.stot\.1:MCP:u64:2", t) for t in typed), typed[:40]
    js = json.loads(p.cli("show stat json"))
    assert js[0][0]["objType"] == "Frontend" and js[0][0]["field"] == {"pos": 0, "name": "pxname"}
    p.cli("disable server app/a2")
    assert "app,a2," not in p.cli("show stat no-maint") and "app,a2," in p.cli("show stat")
    info = json.loads(p.cli("show info json"))
    assert info[0] == {
        "field": {"pos": 0, "name": "Name"},
        "processNum": 1,
        "tags": {"origin": "Product", "nature": "Output", "scope": "Service"},
        "value": {"type": "str", "value": "fastlb"},
    }
    assert p.cli("show info typed").splitlines()[3] == "3.Nbthread.1:CGS:u32:1"
    assert re.search(r"^CumReq: 4$", p.cli("show info"), re.MULTILINE)


def test_stats_socket_bind_error_stops_start(tmp_path):
    cfg = tmp_path / "f.cfg"
    cfg.write_text(f"""
global
    stats socket {tmp_path}/missing/dir/s.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend fe
    bind 127.0.0.1:{free_port()}
    default_backend b
backend b
    server s 127.0.0.1:1
""")
    r = subprocess.run(
        [sys.executable, "-m", "fastlb", "-f", str(cfg), "-db"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert r.returncode == 1
    assert "cannot bind UNIX socket" in r.stderr and "No such file or directory" in r.stderr


def test_clear_counters_socket_mode_and_fd_socket(lab, tmp_path):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    fd_port = listener.getsockname()[1]
    a1 = lab.http("a1")
    fe = free_port()
    sock = str(tmp_path / "s.sock")
    text = config(
        lab.syslog.port,
        sock,
        f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend app
backend app
    server a1 127.0.0.1:{a1.port}
""",
        nbthread=1,
        extra_global=f"    stats socket fd@{listener.fileno()} level operator\n",
    )
    proc = lab.fastlb(text, sock, fe, pass_fds=(listener.fileno(),))
    listener.close()
    assert oct(os.stat(sock).st_mode & 0o777) == "0o600"
    spread(fe, 5)

    def stot() -> str:
        text = proc.cli("show stat")
        cols = text.splitlines()[0][2:].split(",")
        row = next(r for r in text.splitlines() if r.startswith("app,BACKEND,"))
        return dict(zip(cols, row.split(",")))["stot"]

    assert stot() == "5"
    # the fd@ socket (inherited, level operator) may clear maxima but not all counters
    assert cli_raw(("127.0.0.1", fd_port), b"show cli level\n") == b"operator\n\n"
    assert cli_raw(("127.0.0.1", fd_port), b"clear counters all\n") == b"Permission denied\n\n"
    assert stot() == "5"
    assert proc.cli("clear counters all") == ""
    assert stot() == "0"


def test_stats_page_admin_actions_are_logged_and_pause_checks(lab, tmp_path):
    a1, a2 = lab.http("a1"), lab.http("a2")
    fe, page = free_port(), free_port()
    sock = str(tmp_path / "s.sock")
    p = lab.fastlb(config(lab.syslog.port, sock, f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend app
backend app
    server a1 127.0.0.1:{a1.port} check inter 200
    server a2 127.0.0.1:{a2.port} check inter 200
listen stats
    bind 127.0.0.1:{page}
    stats enable
    stats uri /stats
    stats admin if LOCALHOST
"""), sock, fe)

    def post(action: str) -> None:
        c = http.client.HTTPConnection("127.0.0.1", page, timeout=5)
        c.request("POST", "/stats", body=f"s=a2&action={action}&b=app",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert c.getresponse().status == 303
        c.close()

    post("maint")  # written to shared memory by a worker; the master replays the transition
    lab.syslog.wait(r"Server app/a2 is going DOWN for maintenance\. 1 active and 0 backup servers left\.")
    row = p.cli("show servers state app").splitlines()[3].split()
    assert row[3] == "a2" and row[6] == "1" and int(row[13]) & 0x8  # FMAINT, checks paused
    assert spread(fe, 10) == {"a1": 10}
    post("ready")
    lab.syslog.wait(r"Server app/a2 is UP/READY \(leaving forced maintenance\)\.")
    assert spread(fe, 20).get("a2", 0) >= 5
