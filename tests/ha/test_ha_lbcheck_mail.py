"""The stats-socket health check against a real haproxy, and alert mails through a real SMTP server."""
from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from email import message_from_bytes
from ipaddress import IPv4Address

import pytest
from conftest_helpers import find_binary, free_port

from fastlb.ha.alerts import build_mail, send_mail
from fastlb.ha.conf_model import GlobalDefs, VirtualAddress, VrrpInstance
from fastlb.ha.lbcheck import check_lb

HAPROXY_CFG = """
global
    stats socket {sock} mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend web
    bind 127.0.0.1:{p1}
    default_backend app
frontend api
    bind 127.0.0.1:{p2}
    default_backend app
backend app
    server s1 127.0.0.1:9 disabled
"""


@pytest.fixture
def haproxy(tmp_path):
    binary = find_binary("haproxy")
    if binary is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy); .ci/run installs it")
    sock = tmp_path / "stats.sock"
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG.format(sock=sock, p1=free_port(), p2=free_port()))
    proc = subprocess.Popen([binary, "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    yield proc, str(sock)
    proc.kill()
    proc.wait()


def admin(sock: str, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock)
        s.sendall(command.encode() + b"\n")
        return s.recv(65536).decode()


def test_check_lb_follows_the_real_balancer(haproxy):
    proc, sock = haproxy
    ok, reason = asyncio.run(check_lb(sock))
    assert ok, reason
    assert "web" in reason and "api" in reason
    admin(sock, "disable frontend api")
    ok, reason = asyncio.run(check_lb(sock))
    assert not ok and reason == "frontend api is PAUSED"  # HAProxy 2.6 wording
    ok, _ = asyncio.run(check_lb(sock, ("web",)))
    assert ok  # only the named frontends count
    ok, reason = asyncio.run(check_lb(sock, ("nosuch",)))
    assert not ok and "does not exist" in reason
    proc.kill()
    proc.wait()
    ok, reason = asyncio.run(check_lb(sock))
    assert not ok and "stats socket" in reason


def test_check_lb_command_line(haproxy):
    _, sock = haproxy
    good = subprocess.run([sys.executable, "-m", "fastlb.ha.cli", "check-lb", "-s", sock, "-f", "web"],
                          capture_output=True, text=True, check=False)
    assert good.returncode == 0 and good.stdout.startswith("OK: ")
    bad = subprocess.run([sys.executable, "-m", "fastlb.ha.cli", "check-lb", "-s", sock + ".nope"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and bad.stderr.startswith("FAILED: ")


def test_alert_mail_through_real_smtp_server():
    controller_mod = pytest.importorskip("aiosmtpd.controller")
    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    port = free_port()
    controller = controller_mod.Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        defs = GlobalDefs(router_id="lb-a", notification_email=("ops@example.org", "pager@example.org"),
                          notification_email_from="ha@example.org", smtp_server=("127.0.0.1", port),
                          smtp_helo_name="lb-a.example.org", smtp_connect_timeout=5)
        inst = VrrpInstance(name="VI_1", interface="eth0", vrid=51, priority=150, initial_state="BACKUP",
                            vips=(VirtualAddress(IPv4Address("192.0.2.10"), 24, "eth0"),))
        send_mail(defs, build_mail(defs, inst, "MASTER", 150, "192.0.2.1", "eth0"))
    finally:
        controller.stop()
    (envelope,) = received
    assert envelope.mail_from == "ha@example.org"
    assert envelope.rcpt_tos == ["ops@example.org", "pager@example.org"]
    msg = message_from_bytes(envelope.content)
    assert msg["Subject"] == "[lb-a] VRRP Instance VI_1 - Entering MASTER state"
    body = msg.get_payload()
    assert "=> VRRP Instance is now owning VRRP VIPs <=" in body
    assert "Address:    192.0.2.1 on eth0" in body and "New state:  MASTER" in body
