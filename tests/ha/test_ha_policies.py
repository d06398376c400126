"""nopreempt/preempt, a failing track_script, alert mails, notify scripts and gratuitous ARPs, on the lab."""
from __future__ import annotations

import shutil
import sys
import time

import pytest
from ha_lab import SCRIPT_SECURITY, VIP, lines, mails, run, skew, start_smtp, vrrp_conf, wait_for

pytestmark = pytest.mark.netns


def need_keepalived():
    if not shutil.which("keepalived"):
        pytest.skip("keepalived is not installed (apt-get install keepalived); .ci/run installs it")


NOPREEMPT_CASES = [
    # (the running master at priority 100, the joining node at priority 150)
    ("keepalived", "fastlb", True), ("fastlb", "keepalived", True), ("fastlb", "fastlb", True),
    ("keepalived", "fastlb", False), ("fastlb", "keepalived", False),
]


@pytest.mark.parametrize("master_kind,joiner_kind,nopreempt", NOPREEMPT_CASES)
def test_nopreempt_keeps_the_current_master(lab, master_kind, joiner_kind, nopreempt):
    """A higher-priority node joining a running master: with nopreempt it stays a *live* BACKUP (running,
    notified BACKUP, and it takes over within its skew when the master stops); without, it preempts."""
    hooks = {node: lab.notify_hook(node) for node in ("n1", "n2")}

    def conf(node: str, priority: int, state: str, extra: str = "") -> str:
        return vrrp_conf(node, priority, state, global_extra=SCRIPT_SECURITY,
                         instance_extra=f"    notify {hooks[node][0]}\n{extra}")

    master = lab.start(master_kind, "n2", conf("n2", 100, "MASTER"))
    assert lab.wait_address("n2", VIP, True, 3 + skew(100) + 1.0), "the first master never took the VIP"
    mon1 = lab.monitor("n1")
    t0 = time.monotonic()
    joiner = lab.start(joiner_kind, "n1", conf("n1", 150, "BACKUP", "    nopreempt" if nopreempt else ""))
    window = 3 + skew(150) + 1.0
    taken = mon1.wait_added(VIP, t0, window)
    notes1 = hooks["n1"][1]
    if not nopreempt:
        assert taken is not None and taken - t0 <= window, "preempting node did not take over"
        assert lab.wait_address("n2", VIP, False, 2.0)
        assert wait_for(lambda: lines(notes1) == ["INSTANCE VI_1 BACKUP 150", "INSTANCE VI_1 MASTER 150"], 2.0), \
            lines(notes1)
        return
    assert taken is None, "nopreempt node took the VIP from a live master"
    assert lab.has_address("n2", VIP)
    assert joiner.poll() is None, f"the nopreempt node exited with {joiner.returncode}"
    assert wait_for(lambda: lines(notes1) == ["INSTANCE VI_1 BACKUP 150"], 2.0), lines(notes1)
    # It really is listening: a graceful stop of the master hands the VIP over within the backup's skew.
    t1 = time.monotonic()
    assert lab.stop(master) is not None
    taken = mon1.wait_added(VIP, t1, 3.0)
    assert taken is not None and taken - t1 <= skew(150) + 0.2, "the nopreempt backup did not take over"
    assert wait_for(lambda: lines(notes1)[-1:] == ["INSTANCE VI_1 MASTER 150"], 2.0), lines(notes1)


@pytest.mark.parametrize("backup_kind", ["fastlb", "keepalived"])
def test_failing_track_script_moves_the_vip(lab, tmp_path, backup_kind):
    health = tmp_path / "healthy"
    health.write_text("ok")
    script = f"""
vrrp_script chk_lb {{
    script "/usr/bin/test -e {health}"
    interval 1
    weight -60
    fall 1
    rise 1
}}
"""
    lab.fastlb_ha("n1", vrrp_conf("n1", 150, "MASTER", extra=script, global_extra="    script_user root\n"
                                  "    enable_script_security", instance_extra="    track_script {\n chk_lb\n }"))
    if backup_kind == "keepalived":
        need_keepalived()
        lab.keepalived("n2", vrrp_conf("n2", 100, "BACKUP"))
    else:
        lab.fastlb_ha("n2", vrrp_conf("n2", 100, "BACKUP"))
    assert lab.wait_address("n1", VIP, True, 3 + skew(150) + 1.0)
    time.sleep(1.0)
    assert not lab.has_address("n2", VIP)
    mon2 = lab.monitor("n2")
    t0 = time.monotonic()
    health.unlink()  # n1 drops to 150 - 60 = 90 < 100: n2 discards its adverts and takes over
    taken = mon2.wait_added(VIP, t0, 1 + 3 + skew(100) + 1.5)
    assert taken is not None, "a failing track_script did not move the VIP"
    assert lab.wait_address("n1", VIP, False, 2.0)


def test_alert_mail_for_each_transition_and_notify_arguments(lab, tmp_path):
    pytest.importorskip("aiosmtpd")
    maildir = start_smtp(lab, tmp_path)
    notes = tmp_path / "notify.txt"
    hook = tmp_path / "notify.sh"
    hook.write_text(f"#!/bin/sh\necho \"$*\" >> {notes}\n")
    hook.chmod(0o755)
    mail_globals = f"""    notification_email {{
        ops@example.org
        oncall@example.org
    }}
    notification_email_from ha@example.org
    smtp_server {lab.ip['cl']} 2525
    smtp_connect_timeout 5
    script_user root
    enable_script_security"""
    extra_instance = f"    smtp_alert\n    notify {hook}"
    first = lab.fastlb_ha("n1", vrrp_conf("n1", 150, "MASTER", global_extra=mail_globals,
                                          instance_extra=extra_instance))
    lab.fastlb_ha("n2", vrrp_conf("n2", 100, "BACKUP", global_extra=mail_globals, instance_extra=extra_instance))
    assert lab.wait_address("n1", VIP, True, 3 + skew(150) + 1.0)
    lab.stop(first)
    assert lab.wait_address("n2", VIP, True, 2.0)

    expected = {("n1", "BACKUP"), ("n1", "MASTER"), ("n1", "STOP"), ("n2", "BACKUP"), ("n2", "MASTER")}
    deadline = time.monotonic() + 5
    seen: dict[tuple[str, str], object] = {}
    while time.monotonic() < deadline and set(seen) != expected:
        for msg in mails(maildir):
            subject = msg["Subject"]
            node = subject[1:subject.index("]")]
            state = "STOP" if subject.endswith("Stopping") else subject.split("Entering ")[1].split()[0]
            seen[(node, state)] = msg
        time.sleep(0.1)
    assert set(seen) == expected
    master_mail = seen[("n2", "MASTER")]
    assert master_mail["Subject"] == "[n2] VRRP Instance VI_1 - Entering MASTER state"
    assert master_mail["From"] == "ha@example.org"
    assert "ops@example.org" in master_mail["To"] and "oncall@example.org" in master_mail["To"]
    body = master_mail.get_payload(decode=True).decode()
    assert "New state:  MASTER" in body
    assert f"Address:    {lab.ip['n2']} on eth0" in body
    assert "192.0.2.10/24" in body
    lines = notes.read_text().splitlines()
    assert "INSTANCE VI_1 MASTER 150" in lines and "INSTANCE VI_1 STOP 150" in lines
    assert "INSTANCE VI_1 MASTER 100" in lines


SNIFFER = r"""
import socket, struct, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind(("eth0", 0x0806)); s.settimeout(0.2)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    try:
        f = s.recv(100)
    except socket.timeout:
        continue
    print(f"{time.monotonic():.3f} {f[6:12].hex()} {f[20:22].hex()} {socket.inet_ntoa(f[28:32])} "
          f"{f[32:38].hex()} {socket.inet_ntoa(f[38:42])}", flush=True)
"""


def test_gratuitous_arps_on_becoming_master(lab, tmp_path):
    sniff = lab.spawn("cl", sys.executable, "-c", SNIFFER, str(3 + skew(150) + 3.0), log_name="arp.log")
    time.sleep(0.3)
    lab.fastlb_ha("n1", vrrp_conf("n1", 150, "MASTER"))
    sniff.wait(15)
    link = run("ip", "-n", lab.ns["n1"], "-o", "link", "show", "eth0").stdout
    n1_mac = link.split("link/ether ")[1].split()[0].replace(":", "")
    frames = [line.split() for line in (tmp_path / "arp.log").read_text().splitlines()]
    garps = [f for f in frames if f[3] == VIP and f[5] == VIP]
    assert len(garps) == 10, frames
    for _stamp, src, op, _sip, target_hw, _tip in garps:
        assert src == n1_mac and op == "0001" and target_hw == "ffffffffffff"
    stamps = [float(f[0]) for f in garps]
    assert stamps[4] - stamps[0] < 0.3  # a burst of 5 ...
    assert 0.8 <= stamps[5] - stamps[4] <= 1.5  # ... and 5 more after vrrp_garp_master_delay (1 s)
