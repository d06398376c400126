"""What -n, -N, -C, -V, -d and -L do, over real sockets, and where HAProxy 2.6 is installed the
same command lines run against it to check that fastlb answers the same."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest


def fastlb_cmd() -> list[str]:
    return [sys.executable, "-m", "fastlb"]

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
needs_haproxy = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (.ci/run installs it)")
PID = re.compile(r"\((\d+)\)")

TIMEOUTS = """
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(path_or_port: str | int, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if isinstance(path_or_port, int):
                socket.create_connection(("127.0.0.1", path_or_port), timeout=0.5).close()
            else:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(path_or_port)
            return
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(f"exited with {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{path_or_port} never listened") from None
            time.sleep(0.05)


def stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.stdout.read() if proc.stdout else ""


def stats_command(path: str, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out.decode()


def run(program: list[str], *args: str, cwd: Path | str | None = None, env: dict | None = None) -> \
        subprocess.CompletedProcess:
    return subprocess.run([*program, *args], capture_output=True, text=True, cwd=cwd, timeout=60,
                          env=env, check=False)


def programs() -> list[tuple[str, list[str]]]:
    return [("fastlb", fastlb_cmd())] + ([("haproxy", [HAPROXY])] if HAPROXY else [])


# -- -n and -N ---------------------------------------------------------------------------------

def limits(program: list[str], tmp: Path, args: list[str]) -> tuple[str, dict[str, str]]:
    sock = str(tmp / f"s{len(args)}{'n' if '-n' in args else ''}.sock")
    cfg = tmp / "limits.cfg"
    cfg.write_text(f"""
global
    maxconn 100
    stats socket {sock} level admin
{TIMEOUTS}
frontend fe
    bind 127.0.0.1:{free_port()}
    http-request return status 200
frontend fe2
    bind 127.0.0.1:{free_port()}
    maxconn 33
    http-request return status 200
""")
    proc = subprocess.Popen([*program, "-db", *args, "-f", str(cfg)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_listening(sock, proc)
        info = stats_command(sock, "show info")
        stat = stats_command(sock, "show stat")
    finally:
        stop(proc)
        if os.path.exists(sock):
            os.unlink(sock)
    maxconn = re.search(r"^Maxconn: (\d+)$", info, re.M).group(1)
    header = stat.splitlines()[0].lstrip("# ").split(",")
    slim = {}
    for line in stat.splitlines()[1:]:
        row = dict(zip(header, line.split(",")))
        if row.get("svname") == "FRONTEND":
            slim[row["pxname"]] = row["slim"]
    return maxconn, slim


@pytest.mark.parametrize("args, expected", [
    ([], ("100", {"fe": "100", "fe2": "33"})),
    (["-n", "7"], ("7", {"fe": "7", "fe2": "33"})),  # -n replaces global maxconn
    (["-N", "9"], ("100", {"fe": "9", "fe2": "33"})),  # -N: proxies that set no maxconn
    (["-n", "7", "-N", "9"], ("7", {"fe": "9", "fe2": "33"})),
])
def test_n_and_N_set_the_limits_show_info_and_stat_report(tmp_path, args, expected):
    for name, program in programs():
        assert limits(program, tmp_path, args) == expected, name


@pytest.mark.parametrize("flag", ["-n", "-N"])
def test_limit_from_the_command_line_holds_connections_back(tmp_path, flag):
    """-n 1 (process) or -N 1 (frontend): while one client holds the only slot, a second one's
    request waits; it is answered once the first leaves."""
    port = free_port()
    cfg = tmp_path / "one.cfg"
    cfg.write_text(f"global\n    nbthread 1\n{TIMEOUTS}\nfrontend fe\n    bind 127.0.0.1:{port}\n"
                   "    http-request return status 200 content-type text/plain string ok\n")
    proc = subprocess.Popen([*fastlb_cmd(), "-db", flag, "1", "-f", str(cfg)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_listening(port, proc)
        time.sleep(0.2)  # the probe connection of wait_listening is gone
        first = socket.create_connection(("127.0.0.1", port), timeout=5)
        first.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert first.recv(4096).startswith(b"HTTP/1.1 200")  # served, and kept open (keep-alive)
        second = socket.create_connection(("127.0.0.1", port), timeout=5)
        second.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        second.settimeout(0.7)
        with pytest.raises(socket.timeout):
            second.recv(4096)
        first.close()
        second.settimeout(5)
        assert second.recv(4096).startswith(b"HTTP/1.1 200")
        second.close()
    finally:
        stop(proc)


# -- -C ----------------------------------------------------------------------------------------

def test_C_changes_directory_before_reading_files(tmp_path):
    conf = tmp_path / "etc"
    (conf / "errors").mkdir(parents=True)
    (conf / "errors" / "503.http").write_text("HTTP/1.0 503 Busy\r\nContent-Type: text/plain\r\n\r\nbusy\n")
    (conf / "main.cfg").write_text(f"{TIMEOUTS}\nfrontend fe\n    bind 127.0.0.1:{free_port()}\n"
                                   "    errorfile 503 errors/503.http\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name, program in programs():
        # both the -f file and the errorfile inside it are found relative to -C
        ok = run(program, "-C", str(conf), "-c", "-f", "main.cfg", cwd=elsewhere)
        assert ok.returncode == 0 and "Configuration file is valid" in ok.stdout, (name, ok.stderr)
        assert run(program, "-f", "main.cfg", "-c", "-C", str(conf), cwd=elsewhere).returncode == 0, name
        assert run(program, "-c", "-f", "main.cfg", cwd=elsewhere).returncode == 1, name
        bad = run(program, "-C", str(tmp_path / "missing"), "-c", "-f", "main.cfg", cwd=elsewhere)
        assert bad.returncode == 1, name
        alert = [line for line in bad.stderr.splitlines() if "[ALERT]" in line]
        assert PID.sub("(PID)", alert[0]) == \
            f"[ALERT]    (PID) : Could not change to directory {tmp_path / 'missing'} : No such file or directory"


# -- -q and -V ---------------------------------------------------------------------------------

def test_V_wins_over_q_in_either_order(tmp_path):
    cfg = tmp_path / "warn.cfg"
    cfg.write_text(f'global\n    .warning "careful"\n{TIMEOUTS}\nfrontend fe\n    bind 127.0.0.1:{free_port()}\n'
                   "    http-request return status 200\n")
    warning = f"[WARNING]  (PID) : config : parsing [{cfg}:2]: 'careful'."
    for name, program in programs():
        quiet = run(program, "-c", "-q", "-f", str(cfg))
        assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", ""), name
        for order in (["-q", "-V"], ["-V", "-q"]):
            p = run(program, "-c", *order, "-f", str(cfg))
            assert p.returncode == 0
            assert "Configuration file is valid" in p.stdout.splitlines(), (name, order)
            assert warning in PID.sub("(PID)", p.stderr).splitlines(), (name, order, p.stderr)


def start_and_read(program: list[str], args: list[str], cfg: Path, port: int) -> tuple[str, str]:
    proc = subprocess.Popen([*program, *args, "-f", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        wait_listening(port, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    return out, err


@pytest.mark.parametrize("args", [["-db", "-V"], ["-d"], ["-db"]])
def test_verbose_start_names_the_poller_and_the_maxconn_chosen(tmp_path, args):
    port = free_port()
    cfg = tmp_path / "v.cfg"
    cfg.write_text(f"{TIMEOUTS}\nfrontend fe\n    bind 127.0.0.1:{port}\n    http-request return status 200\n")
    for name, program in programs():
        out, err = start_and_read(program, args, cfg, port)
        verbose = args != ["-db"]
        assert ("Using epoll() as the polling mechanism." in out.splitlines()) == verbose, (name, out)
        assert bool(re.search(r"^Note: setting global\.maxconn to \d+\.$", err, re.M)) == verbose, (name, err)
        assert ("will use epoll." in err) == verbose, name


# -- -d ----------------------------------------------------------------------------------------

class _FixedServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Fixed(socketserver.BaseRequestHandler):
    """One fixed HTTP/1.1 answer per request head, keep-alive."""

    def handle(self) -> None:
        buf = b""
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            buf += data
            while b"\r\n\r\n" in buf:
                _, buf = buf.split(b"\r\n\r\n", 1)
                self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Backend: Fixed\r\n"
                                     b"Connection: keep-alive\r\n\r\nok")


@pytest.fixture
def fixed_backend():
    srv = _FixedServer(("127.0.0.1", 0), _Fixed)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def debug_trace(program: list[str], cfg: Path, port: int) -> list[str]:
    """Two requests on one keep-alive connection and one on another, under -d; the trace lines
    with the transaction ids, fds and client ports replaced by placeholders."""
    proc = subprocess.Popen([*program, "-d", "-f", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        wait_listening(port, proc)
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            for path in ("/one", "/two"):
                c.sendall(f"GET {path} HTTP/1.1\r\nHost: example\r\nUser-Agent: t/1\r\n"
                          "Connection: keep-alive, x-thing\r\n\r\n".encode())
                assert c.recv(4096).endswith(b"ok")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(b"POST /three HTTP/1.1\r\nHost: example\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
            assert c.recv(4096).endswith(b"ok")
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    lines = []
    for line in out.splitlines():  # on stdout, as HAProxy writes them
        m = re.match(r"^([0-9a-f]{8}):(\w+)\.(\w+)(\(|\[)(.*)$", line)
        if not m:
            continue
        rest = re.sub(r"^[0-9a-f]+\)=[0-9a-f]+ from \[127\.0\.0\.1:\d+\]", "FD)=FD from [127.0.0.1:PORT]", m[5])
        rest = re.sub(r"^[0-9a-f]{4}:(ffffffff|ffff|[0-9a-f]{4})\]", lambda x: "FD:" + (
            "NONE]" if x[1].startswith("ffff") else "FD]"), rest)
        lines.append(f"{m[1]}:{m[2]}.{m[3]}{m[4]}{rest}")
    ids = {}
    return [re.sub(r"^[0-9a-f]{8}", lambda x: f"T{ids.setdefault(x[0], len(ids))}", line) for line in lines]


def test_d_traces_every_transaction_as_haproxy(tmp_path, fixed_backend):
    port = free_port()
    cfg = tmp_path / "d.cfg"
    cfg.write_text(f"global\n    daemon\n{TIMEOUTS}\nfrontend fe\n    bind 127.0.0.1:{port}\n"
                   f"    default_backend be\nbackend be\n    server s1 127.0.0.1:{fixed_backend}\n")
    trace = debug_trace(fastlb_cmd(), cfg, port)  # -d stays in the foreground despite `daemon`
    first = [
        "T0:fe.accept(FD)=FD from [127.0.0.1:PORT] ALPN=<none>",
        "T0:fe.clireq[FD:NONE]: GET /one HTTP/1.1",
        "T0:fe.clihdr[FD:NONE]: host: example",
        "T0:fe.clihdr[FD:NONE]: user-agent: t/1",
        "T0:fe.clihdr[FD:NONE]: connection: x-thing",  # close/keep-alive tokens are not shown
        "T0:be.srvrep[FD:FD]: HTTP/1.1 200 OK",
        "T0:be.srvhdr[FD:FD]: content-length: 2",
        "T0:be.srvhdr[FD:FD]: x-backend: Fixed",
    ]
    assert trace[:len(first)] == first
    for t in ("T0", "T1", "T2"):
        assert [x for x in trace if x.startswith(t) and "cls[" in x or x.startswith(t) and ".closed[" in x] == [
            f"{t}:be.{name}[FD:FD]" for name in (("clicls", "srvcls") if t != "T2" else ("srvcls", "clicls"))
        ] + [f"{t}:be.closed[FD:FD]"]  # keep-alive lets the client side go first
    assert sum(".accept(" in line for line in trace) == 3  # one per transaction, keep-alive too
    assert "T1:fe.clireq[FD:NONE]: GET /two HTTP/1.1" in trace
    assert "T2:fe.clireq[FD:NONE]: POST /three HTTP/1.1" in trace
    assert "T2:fe.clihdr[FD:NONE]: content-length: 3" in trace
    assert not any("connection: close" in line or "keep-alive" in line for line in trace)
    if HAPROXY:
        assert debug_trace([HAPROXY], cfg, port) == trace


# -- -L ----------------------------------------------------------------------------------------

def notices(text: str) -> list[str]:
    return [PID.sub("(PID)", line) for line in text.splitlines() if "parsing [" in line]


@pytest.mark.parametrize("args, env_value, peer", [
    ([], None, socket.gethostname()),          # default: the host name
    (["-L", "lb-a"], None, "lb-a"),
    ([], "inherited", socket.gethostname()),   # an inherited value is replaced, as HAProxy does
    (["-L", "lb-b"], "inherited", "lb-b"),
])
def test_L_sets_HAPROXY_LOCALPEER_for_the_configuration(tmp_path, args, env_value, peer):
    cfg = tmp_path / "peer.cfg"
    cfg.write_text(f"""global
.if defined(HAPROXY_LOCALPEER)
    .notice "local peer is ${{HAPROXY_LOCALPEER}}"
.endif
.if streq("${{HAPROXY_LOCALPEER}}",lb-a)
    .warning "this is lb-a"
.endif
{TIMEOUTS}
frontend fe
    bind 127.0.0.1:{free_port()}
    http-request return status 200
""")
    env = {k: v for k, v in os.environ.items() if k != "HAPROXY_LOCALPEER"}
    if env_value is not None:
        env["HAPROXY_LOCALPEER"] = env_value
    want = [f"[NOTICE]   (PID) : config : parsing [{cfg}:3]: 'local peer is {peer}'."]
    if peer == "lb-a":
        want.append(f"[WARNING]  (PID) : config : parsing [{cfg}:6]: 'this is lb-a'.")
    for name, program in programs():
        p = run(program, *args, "-c", "-f", str(cfg), env=env)
        assert p.returncode == 0, (name, p.stderr)
        assert notices(p.stderr) == want, name
        cc = run(program, *args, "-cc", f'streq("${{HAPROXY_LOCALPEER}}","{peer}")', env=env)
        assert cc.returncode == 0, (name, cc.stderr)
        assert run(program, *args, "-cc", 'streq("${HAPROXY_LOCALPEER}",other)', env=env).returncode == 1, name

