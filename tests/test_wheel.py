"""The wheel's promise: `pip wheel .` gives a wheel that installs into a fresh venv where no
compiler can be reached and runs there: `fastlb -vv` shows every native module compiled, a
request goes through the proxy, and each SIMD level forced with FASTLB_SIMD is the one used by
every copy of the parser (bindings and engine), the proxy parsing correctly under each.

One wheel build (about 3 minutes, every module at -O3) serves all the tests of this file;
FASTLB_TEST_WHEEL=path tests a wheel built before instead."""
from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from buildlib import (
    copy_source,
    fresh_venv,
    need_compiler,
    no_compiler_env,
    offline,
    only_wheel,
    pip_wheel,
    unavailable,
)

#: FASTLB_SIMD values and the level name -vv gives for each
SIMD = {"scalar": "scalar", "sse42": "sse4.2", "avx2": "avx2"}
ORDER = ["scalar", "sse4.2", "avx2"]


class Installed:
    def __init__(self, bindir: Path, env: dict[str, str], cwd: Path):
        self.bindir, self.env, self.cwd = bindir, env, cwd

    def run(self, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bindir / "fastlb"), *args], capture_output=True, text=True,
                              env=dict(self.env, **(extra_env or {})), cwd=self.cwd, timeout=60, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    if os.environ.get("FASTLB_TEST_WHEEL"):  # a wheel built before (a release job's): test that one
        wheel = Path(os.environ["FASTLB_TEST_WHEEL"]).resolve()
    else:
        need_compiler()
        src = copy_source(tmp / "src")
        built = pip_wheel(src, tmp / "dist")
        assert built.returncode == 0, built.stdout + built.stderr
        wheel = only_wheel(tmp / "dist")
    assert wheel.name.endswith("-linux_x86_64.whl") or "manylinux" in wheel.name or "linux" in wheel.name
    bindir = fresh_venv(tmp / "venv")
    env = no_compiler_env(bindir)
    # binary wheels only (uvloop, cffi): a source build would need the compiler this env lacks
    p = subprocess.run([str(bindir / "python"), "-m", "pip", "install", "-q", "--only-binary", ":all:",
                        str(wheel)], capture_output=True, text=True, env=env, cwd=tmp, timeout=600, check=False)
    if p.returncode != 0 and offline(p.stdout + p.stderr):
        unavailable("uvloop/cffi wheels cannot be downloaded here")
    assert p.returncode == 0, p.stdout + p.stderr
    where = subprocess.run([str(bindir / "python"), "-c", "import fastlb; print(fastlb.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp, check=True).stdout
    assert where.startswith(str(tmp / "venv")), where
    return Installed(bindir, env, tmp)


class _Backend(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = f"srv={self.server.server_port} path={self.path} ua={self.headers.get('User-Agent')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def backend():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_port
    srv.shutdown()
    srv.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                return out
            out += d


def proxy_requests(inst: Installed, backend: int, tmp: Path, simd: str | None) -> list[bytes]:
    """Start the installed fastlb on a one-server configuration; send a good request (a long
    header value, so that the vector loops run) and one whose long value hides a control byte."""
    port = free_port()
    cfg = tmp / f"wheel-{simd}.cfg"
    cfg.write_text(f"""
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server s1 127.0.0.1:{backend}
""")
    env = dict(inst.env, **({"FASTLB_SIMD": simd} if simd else {}))
    proc = subprocess.Popen([str(inst.bindir / "fastlb"), "-f", str(cfg), "-db"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=inst.cwd)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "fastlb did not listen"
                time.sleep(0.05)
        ua = "Mozilla/5.0 (X11; Linux x86_64)" + " AppleWebKit/537.36" * 8
        good = exchange(port, f"GET /p/{'a' * 70}?q=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: {ua}\r\n"
                              "Connection: close\r\n\r\n".encode())
        bad = exchange(port, f"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: {ua[:45]}\x01{ua[45:]}\r\n"
                             "Connection: close\r\n\r\n".encode())
        return [good, bad, ua.encode()]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_wheel_runs_without_a_compiler(installed, backend, tmp_path):
    vv = installed.run("-vv")
    assert vv.returncode == 0, vv.stderr
    lines = vv.stdout.splitlines()
    modules = lines[lines.index("Native modules :") + 1:]
    modules = modules[:modules.index("")]
    assert len(modules) == 6 and all(" compiled " in m for m in modules), modules
    assert "  sanitizers: off" in lines
    good, bad, ua = proxy_requests(installed, backend, tmp_path, None)
    assert good.startswith(b"HTTP/1.1 200"), good
    assert good.endswith(b"srv=%d path=/p/%s?q=1 ua=%s" % (backend, b"a" * 70, ua)), good
    assert bad.startswith(b"HTTP/1.1 400"), bad


@pytest.mark.parametrize("forced", list(SIMD))
def test_wheel_simd_level_forced_by_environment(installed, backend, tmp_path, forced):
    best = installed.run("-vv").stdout.split("HTTP parser SIMD level : ")[1].split("\n")[0]
    assert best in ORDER
    want = SIMD[forced] if ORDER.index(SIMD[forced]) <= ORDER.index(best) else best  # never above the CPU
    vv = installed.run("-vv", extra_env={"FASTLB_SIMD": forced})
    # the one line covers the cffi and Cython bindings and the engine's copy (else it lists each)
    assert f"HTTP parser SIMD level : {want}" in vv.stdout.splitlines(), vv.stdout
    good, bad, ua = proxy_requests(installed, backend, tmp_path, forced)
    assert good.startswith(b"HTTP/1.1 200") and good.endswith(b"ua=" + ua), good
    assert bad.startswith(b"HTTP/1.1 400"), bad
