"""Run one test against fastlb and against HAProxy 2.6 (the reference) on the same configuration:
fixture `proxy_impl`, a function start(config_text, port) for the current implementation."""
from __future__ import annotations

import shutil
import subprocess
import textwrap

import pytest
from enginelib import wait_port


@pytest.fixture(params=["fastlb", "haproxy"])
def proxy_impl(request, run_cfg, tmp_path):
    procs: list[subprocess.Popen] = []
    if request.param == "haproxy" and shutil.which("haproxy") is None:
        pytest.skip("haproxy (the reference) is not installed")

    def start(text: str, port: int) -> str:
        if request.param == "fastlb":
            run_cfg(text, port)
        else:
            path = tmp_path / f"haproxy{len(procs)}.cfg"
            path.write_text(textwrap.dedent(text))
            proc = subprocess.Popen(["haproxy", "-f", str(path), "-db"], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            procs.append(proc)
            wait_port(port, proc=proc)
        return request.param

    start.name = request.param
    yield start
    for p in procs:
        p.terminate()
        p.communicate(timeout=10)
