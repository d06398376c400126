"""Fixtures for black-box engine tests: real backend servers in a helper process, and fastlb
started on a configuration."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BACKENDS = os.path.join(HERE, "backends.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}:\n{out}")
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port}")


class Backends:
    """Backend servers (see backends.py) run in one child process."""

    def __init__(self, specs: list[str]):
        self.ports = [free_port() for _ in specs]
        args = [f"{kind}:{port}" for kind, port in zip(specs, self.ports)]
        self.proc = subprocess.Popen([sys.executable, BACKENDS, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        for p in self.ports:
            if not specs[self.ports.index(p)].startswith("refuse"):
                wait_port(p, proc=self.proc)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def backends():
    started = []

    def start(*specs: str) -> Backends:
        b = Backends(list(specs))
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


class Proxy:
    """A running fastlb (master + workers) on a configuration."""

    def __init__(self, proc: subprocess.Popen, port: int | None):
        self.proc = proc
        self.port = port

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.stdout.read() if self.proc.stdout else ""


@pytest.fixture
def run_model(tmp_path):
    """Start fastlb on a configuration built with fastlb.config.model (Python source text that
    evaluates to a Config), on the given port."""
    proxies = []

    def start(model_src: str, port: int) -> Proxy:
        script = tmp_path / f"run_{len(proxies)}.py"
        script.write_text(textwrap.dedent(f"""
            import sys
            from types import SimpleNamespace
            from fastlb.config.model import *
            from fastlb.runtime.process import run
            cfg = {model_src}
            sys.exit(run(cfg, SimpleNamespace(foreground=True, quiet=False)))
        """))
        proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        wait_port(port, proc=proc)
        p = Proxy(proc, port)
        proxies.append(p)
        return p

    yield start
    for p in proxies:
        p.stop()
