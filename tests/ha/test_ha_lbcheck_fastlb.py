"""Tracking the local *fastlb* (not only HAProxy) through its stats socket: ``check_lb`` against a running
fastlb, the in-process ``script "fastlb-ha check-lb ..."`` path, and on the lab a fastlb whose frontend is
disabled or that stops moves the VIP to the other node."""
from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time

import pytest
from conftest_helpers import free_port
from ha_lab import VIP, skew, vrrp_conf, wait_for

from fastlb.ha.conf_keywords import _is_builtin
from fastlb.ha.conf_parser import parse_config
from fastlb.ha.daemon import script_tracker
from fastlb.ha.lbcheck import check_lb
from fastlb.ha.tracking import ScriptState

FASTLB_CFG = """
global
    stats socket {sock} mode 600 level admin
    nbthread 1
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend web
    bind {bind_web}
    default_backend app
frontend api
    bind {bind_api}
    default_backend app
backend app
    server s1 127.0.0.1:{server_port}
"""


def admin(sock: str, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(sock)
        s.sendall(command.encode() + b"\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        return data.decode()


def wait_socket(sock: str, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    def ready() -> bool:
        assert proc.poll() is None, f"fastlb exited with {proc.returncode}"
        try:
            return "web" in admin(sock, "show stat")
        except OSError:
            return False

    assert wait_for(ready, timeout), "fastlb never answered on its stats socket"


@pytest.fixture
def fastlb(tmp_path):
    sock = str(tmp_path / "lb.sock")
    cfg = tmp_path / "fastlb.cfg"
    cfg.write_text(FASTLB_CFG.format(sock=sock, bind_web=f"127.0.0.1:{free_port()}",
                                     bind_api=f"127.0.0.1:{free_port()}", server_port=9))
    proc = subprocess.Popen([sys.executable, "-m", "fastlb", "-f", str(cfg), "-db"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_socket(sock, proc)
        yield proc, sock
    finally:
        proc.kill()
        proc.wait()


def test_check_lb_follows_a_running_fastlb(fastlb):
    proc, sock = fastlb
    ok, reason = asyncio.run(check_lb(sock))
    assert ok and reason == f"process {proc.pid} serving web, api", reason
    assert admin(sock, "disable frontend api") == "\n"
    ok, reason = asyncio.run(check_lb(sock))
    assert not ok and reason == "frontend api is PAUSED"
    assert asyncio.run(check_lb(sock, ("web",)))[0]  # only the named frontends count
    assert admin(sock, "enable frontend api") == "\n"
    assert asyncio.run(check_lb(sock))[0]
    proc.terminate()
    proc.wait(10)
    ok, reason = asyncio.run(check_lb(sock))
    assert not ok and "stats socket" in reason


def test_in_process_check_lb_from_a_config(fastlb, tmp_path):
    """``script "fastlb-ha check-lb ..."`` runs inside fastlb-ha: it works although the named program does
    not exist (a fork would fail) and needs no script security (nothing runs as root)."""
    _proc, sock = fastlb
    conf = tmp_path / "keepalived.conf"
    conf.write_text(f"""
vrrp_script chk_lb {{
    script "/nonexistent/bin/fastlb-ha check-lb --socket {sock} --frontend web"
    interval 1
    weight -60
}}
vrrp_instance U {{
    virtual_router_id 42
    priority 120
    unicast_src_ip 192.0.2.1
    unicast_peer {{
        192.0.2.2
    }}
    virtual_ipaddress {{
        192.0.2.10/24
    }}
    track_script {{
        chk_lb
    }}
}}
""")
    config = parse_config(str(conf))
    assert config.exit_code == 0, [str(m) for m in config.messages]
    (script,) = config.scripts
    assert _is_builtin(script.command.argv)
    changes: list[ScriptState] = []
    tracker = script_tracker(script, lambda s, state: changes.append(state))

    async def run_for(seconds: float) -> None:
        tracker.start()
        await asyncio.sleep(seconds)
        await tracker.stop()

    asyncio.run(run_for(0.5))
    assert changes == [ScriptState.OK]
    admin(sock, "disable frontend web")
    asyncio.run(run_for(0.5))
    assert changes == [ScriptState.OK, ScriptState.FAILED]


LAB_LB = """
global
    stats socket {sock} mode 600 level admin
    nbthread 1
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend web
    bind :8081
    default_backend app
backend app
    server local 127.0.0.1:8080
"""


@pytest.mark.netns
def test_vip_follows_the_local_fastlb(lab, tmp_path):
    """Both nodes run fastlb (port 8081 -> their local server) and fastlb-ha tracking it in-process."""
    socks, balancers = {}, {}
    for node in ("n1", "n2"):
        lab.serve(node)
        socks[node] = str(tmp_path / f"{node}-lb.sock")
        cfg = tmp_path / f"{node}-lb.cfg"
        cfg.write_text(LAB_LB.format(sock=socks[node]))
        balancers[node] = lab.spawn(node, sys.executable, "-m", "fastlb", "-f", str(cfg), "-db",
                                    log_name=f"{node}-lb.log")
        wait_socket(socks[node], balancers[node])

    def ha_conf(node: str, priority: int, state: str) -> str:
        script = f"""
vrrp_script chk_lb {{
    script "fastlb-ha check-lb --socket {socks[node]}"
    interval 1
    weight -60
}}
"""
        return vrrp_conf(node, priority, state, extra=script, instance_extra="    track_script {\n chk_lb\n }")

    lab.fastlb_ha("n1", ha_conf("n1", 150, "MASTER"))
    lab.fastlb_ha("n2", ha_conf("n2", 100, "BACKUP"))
    mon1, mon2 = lab.monitor("n1"), lab.monitor("n2")
    assert lab.wait_address("n1", VIP, True, 3 + skew(150) + 1.0)
    time.sleep(1.0)
    assert not lab.has_address("n2", VIP)
    assert lab.client(VIP, port=8081) == "n1"
    move = 1 + 3 + skew(100) + 1.5  # a check interval, then n2's down timer

    # n1's frontend disabled: n1 drops to 90 and n2 takes over
    t0 = time.monotonic()
    assert admin(socks["n1"], "disable frontend web") == "\n"
    assert mon2.wait_added(VIP, t0, move) is not None, "a disabled frontend did not move the VIP"
    assert lab.wait_address("n1", VIP, False, 2.0)
    assert lab.client(VIP, port=8081) == "n2"
    assert "Changing effective priority from 150 to 90" in lab.log("n1-fastlb.log")

    # enabled again: n1 is back to 150 and preempts
    t1 = time.monotonic()
    assert admin(socks["n1"], "enable frontend web") == "\n"
    assert mon1.wait_added(VIP, t1, 1 + 3 + skew(150) + 1.5) is not None, "n1 did not preempt after recovery"
    assert lab.wait_address("n2", VIP, False, 2.0)
    assert lab.client(VIP, port=8081) == "n1"

    # n1's fastlb stops: its stats socket goes away and n2 takes over again
    t2 = time.monotonic()
    assert lab.stop(balancers["n1"]) is not None
    assert mon2.wait_added(VIP, t2, move) is not None, "a stopped fastlb did not move the VIP"
    assert lab.client(VIP, port=8081) == "n2"
