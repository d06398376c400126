"""Process management and measurement for the proxy benchmarks (bench/run.py).

Everything runs on loopback. Backends and load generators are pinned to the "load" CPU, the
proxy under test alone on the "proxy" CPU (taskset). The proxy's cost is read from /proc: the
utime + stime of all its processes over the measured interval, divided by the work done.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def need(binary: str) -> str:
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if not path:
        raise SystemExit(f"bench: {binary} is not installed (apt-get install {binary})")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields_ = f.read().rsplit(")", 1)[1].split()
            total += int(fields_[11]) + int(fields_[12])  # utime, stime
        except (OSError, IndexError):
            pass
    return total


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
        except OSError:
            pass
    return total


@dataclass
class Service:
    """A started process (tree) we can measure and stop."""

    name: str
    proc: subprocess.Popen
    port: int = 0
    workdir: str = ""

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def spawn(name: str, cmd: list[str], cpu: int | None, port: int = 0, workdir: str = "") -> Service:
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    svc = Service(name, proc, port, workdir)
    if port:
        try:
            wait_port(port, proc=proc)
        except Exception:
            err = proc.stderr.read().decode(errors="replace") if proc.poll() is not None else ""
            svc.stop()
            raise RuntimeError(f"{name} did not start: {err[-2000:]}") from None
    return svc


# ---------------------------------------------------------------------------------------------
# configurations of the three proxies: round robin over the same backends, keep-alive to the
# servers, one worker, HTTP or TCP mode

def haproxy_config(port: int, backends: list[int], mode: str, maxconn: int, splice: bool = False) -> str:
    srv = "\n".join(f"    server s{i} 127.0.0.1:{p}" for i, p in enumerate(backends))
    opts = "    option splice-request\n    option splice-response\n" if splice else ""
    http = "    http-reuse safe\n" if mode == "http" else ""
    return f"""global
    maxconn {maxconn}
    nbthread 1
defaults
    mode {mode}
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-request 300s
    timeout http-keep-alive 300s
{opts}frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    balance roundrobin
{http}{srv}
"""


def fastlb_config(port: int, backends: list[int], mode: str, maxconn: int, workers: int = 1) -> str:
    cfg = haproxy_config(port, backends, mode, maxconn * workers)
    return cfg.replace("nbthread 1", f"nbthread {workers}")


def nginx_proxy_config(workdir: str, port: int, backends: list[int], mode: str) -> str:
    ups = "\n".join(f"        server 127.0.0.1:{p};" for p in backends)
    if mode == "http":
        body = f"""http {{
    access_log off;
    upstream be {{
{ups}
        keepalive 256;
    }}
    server {{
        listen 127.0.0.1:{port} reuseport;
        keepalive_requests 100000000;
        keepalive_timeout 300s;
        location / {{
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}"""
    else:
        body = f"""stream {{
    upstream be {{
{ups}
    }}
    server {{
        listen 127.0.0.1:{port} reuseport;
        proxy_pass be;
    }}
}}"""
    load = ""
    if mode != "http":
        mod = "/usr/lib/nginx/modules/ngx_stream_module.so"
        if not os.path.exists(mod):
            raise SystemExit("bench: nginx's stream module is missing (apt-get install libnginx-mod-stream)")
        load = f"load_module {mod};\n"
    return f"""{load}worker_processes 1;
daemon off;
pid {workdir}/nginx-proxy.pid;
error_log {workdir}/nginx-proxy.err;
worker_rlimit_nofile 20000;
events {{ worker_connections 19000; }}
{body}
"""


def nginx_backend_config(workdir: str, ports: list[int], bigfile: str) -> str:
    servers = "\n".join(
        f"""    server {{
        listen 127.0.0.1:{p} reuseport backlog=4096;
        location / {{ return 200 "ok\\n"; }}
        location = /big {{ alias {bigfile}; }}
    }}""" for p in ports)
    return f"""worker_processes 1;
daemon off;
pid {workdir}/nginx-backend.pid;
error_log {workdir}/nginx-backend.err;
worker_rlimit_nofile 20000;
events {{ worker_connections 19000; }}
http {{
    access_log off;
    sendfile on;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
{servers}
}}
"""


class Stack:
    """Backends (nginx) and the proxies under test, started and stopped together."""

    def __init__(self, load_cpu: int, proxy_cpu: int, nbackends: int = 4):
        self.load_cpu, self.proxy_cpu = load_cpu, proxy_cpu
        self.workdir = tempfile.mkdtemp(prefix="fastlb-bench-")
        os.chmod(self.workdir, 0o755)  # nginx workers run as www-data when started as root
        self.bigfile = os.path.join(self.workdir, "big.bin")
        with open(self.bigfile, "wb") as f:
            f.truncate(256 * 1024 * 1024)  # sparse: served from the page cache as zeros
        os.chmod(self.bigfile, 0o644)
        self.backend_ports = [free_port() for _ in range(nbackends)]
        self.services: list[Service] = []
        need("nginx")
        need("wrk")
        need("haproxy")
        cfg = os.path.join(self.workdir, "backend.conf")
        with open(cfg, "w") as f:
            f.write(nginx_backend_config(self.workdir, self.backend_ports, self.bigfile))
        self.backend = spawn("nginx-backend", [need("nginx"), "-c", cfg], load_cpu, self.backend_ports[0])
        self.services.append(self.backend)

    def start_proxy(self, kind: str, mode: str, maxconn: int = 9000, workers: int = 1,
                    splice: bool = False) -> Service:
        port = free_port()
        wd = self.workdir
        if kind == "haproxy":
            path = os.path.join(wd, f"haproxy-{port}.cfg")
            with open(path, "w") as f:
                f.write(haproxy_config(port, self.backend_ports, mode, maxconn, splice=splice))
            svc = spawn("haproxy", [need("haproxy"), "-f", path, "-db"], self.proxy_cpu, port)
        elif kind == "fastlb":
            path = os.path.join(wd, f"fastlb-{port}.cfg")
            with open(path, "w") as f:
                f.write(fastlb_config(port, self.backend_ports, mode, maxconn, workers))
            svc = spawn("fastlb", [sys.executable, "-m", "fastlb", "-f", path, "-db", "-q"], self.proxy_cpu, port)
        elif kind == "nginx":
            path = os.path.join(wd, f"nginx-{port}.conf")
            with open(path, "w") as f:
                f.write(nginx_proxy_config(wd, port, self.backend_ports, mode))
            svc = spawn("nginx", [need("nginx"), "-c", path], self.proxy_cpu, port)
        else:
            raise ValueError(kind)
        self.services.append(svc)
        return svc

    def start_proxy_on(self, kind: str, mode: str, port: int, maxconn: int = 9000) -> Service:
        """Another HAProxy process on the same port (SO_REUSEPORT), for the 50k idle test."""
        path = os.path.join(self.workdir, f"{kind}-{port}-{len(self.services)}.cfg")
        with open(path, "w") as f:
            f.write(haproxy_config(port, self.backend_ports, mode, maxconn))
        svc = spawn(kind, [need("haproxy"), "-f", path, "-db"], self.proxy_cpu, port)
        self.services.append(svc)
        return svc

    def stop(self) -> None:
        for s in reversed(self.services):
            s.stop()
        self.services = []
        shutil.rmtree(self.workdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# load generation

@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    cpu_s: float = 0.0  # proxy CPU time during the run
    bytes: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def cpu_us_per_req(self) -> float:
        return self.cpu_s * 1e6 / self.requests if self.requests else float("nan")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def run_wrk(url: str, conns: int, seconds: float, cpu: int, pids: list[int], close: bool = False,
            threads: int = 1) -> LoadResult:
    cmd = ["taskset", "-c", str(cpu), need("wrk"), f"-t{threads}", f"-c{conns}", f"-d{max(1, round(seconds))}s",
           "--latency",
           "--timeout", "10s"]
    if close:
        cmd += ["-H", "Connection: close"]
    cmd.append(url)
    t0 = cpu_ticks(pids)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    t1 = cpu_ticks(pids)
    r = LoadResult(cpu_s=(t1 - t0) / CLK_TCK)
    m = re.search(r"(\d+) requests in ([\d.]+)(s|ms|m)", out)
    if m:
        r.requests = int(m.group(1))
        r.seconds = float(m.group(2)) * {"s": 1, "ms": 1e-3, "m": 60}[m.group(3)]
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    r.rps = float(m.group(1)) if m else 0.0
    m = re.search(r"\s50%\s+(\S+)", out)
    r.p50_ms = _ms(m.group(1)) if m else float("nan")
    m = re.search(r"\s99%\s+(\S+)", out)
    r.p99_ms = _ms(m.group(1)) if m else float("nan")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r.errors += int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r.errors += sum(int(x) for x in m.groups())
    return r
