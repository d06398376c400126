"""notify_master/backup/fault/stop and notify scripts really run, in keepalived's order and with its
arguments (fastlb-ha and keepalived 2.2.7 through the same sequence write the same files), a FAULT alert
mail arrives, and track_interface moves the VIP (weighted) or puts the instance in FAULT (unweighted)."""
from __future__ import annotations

import time

import pytest
from ha_lab import SCRIPT_SECURITY, VIP, lines, mails, run, skew, start_smtp, vrrp_conf, wait_for

pytestmark = pytest.mark.netns

STATES = ["backup", "master", "fault", "backup", "master", "stop"]
GENERIC = ["INSTANCE VI_1 BACKUP 150", "INSTANCE VI_1 MASTER 150", "INSTANCE VI_1 FAULT 150",
           "INSTANCE VI_1 BACKUP 150", "INSTANCE VI_1 MASTER 150", "INSTANCE VI_1 STOP 150"]


@pytest.mark.parametrize("kind", ["fastlb", "keepalived"])
def test_notify_scripts_run_for_each_state(lab, tmp_path, kind):
    health = tmp_path / "healthy"
    health.write_text("ok")
    per_state = tmp_path / "states.txt"
    hook = tmp_path / "state.sh"
    hook.write_text(f'#!/bin/sh\necho "$*" >> {per_state}\n')
    hook.chmod(0o755)
    generic_hook, generic = lab.notify_hook("n1")
    mail_globals = ""
    maildir = None
    if kind == "fastlb":
        pytest.importorskip("aiosmtpd")
        maildir = start_smtp(lab, tmp_path)
        mail_globals = f"""
    notification_email {{
        ops@example.org
    }}
    notification_email_from ha@example.org
    smtp_server {lab.ip['cl']} 2525
    smtp_connect_timeout 5"""
    script = f"""
vrrp_script chk_up {{
    script "/usr/bin/test -e {health}"
    interval 1
    weight 0
}}
"""
    notify = "\n".join(f'    notify_{s} "{hook} {s}"' for s in ("master", "backup", "fault", "stop"))
    conf = vrrp_conf("n1", 150, "MASTER", extra=script, global_extra=SCRIPT_SECURITY + mail_globals,
                     instance_extra=f"{notify}\n    notify {generic_hook}\n    track_script {{\n chk_up\n }}"
                     + ("\n    smtp_alert" if kind == "fastlb" else ""))
    proc = lab.start(kind, "n1", conf)
    assert lab.wait_address("n1", VIP, True, 1 + 3 + skew(150) + 1.0)
    assert wait_for(lambda: lines(per_state) == STATES[:2], 2.0), lines(per_state)
    health.unlink()  # weight 0: a failing script is FAULT
    assert lab.wait_address("n1", VIP, False, 3.0), "a failing weight-0 script did not release the VIP"
    assert wait_for(lambda: lines(per_state) == STATES[:3], 2.0), lines(per_state)
    health.write_text("ok")
    assert lab.wait_address("n1", VIP, True, 1 + 3 + skew(150) + 1.0), "no recovery from FAULT"
    assert wait_for(lambda: lines(per_state) == STATES[:5], 2.0), lines(per_state)
    assert lab.stop(proc) is not None
    assert wait_for(lambda: lines(per_state) == STATES, 2.0), lines(per_state)
    assert lines(generic) == GENERIC
    if maildir is not None:
        def subjects() -> list[str]:
            return sorted(str(m["Subject"]) for m in mails(maildir))

        expected = sorted(["[n1] VRRP Instance VI_1 - Entering BACKUP state"] * 2
                          + ["[n1] VRRP Instance VI_1 - Entering MASTER state"] * 2
                          + ["[n1] VRRP Instance VI_1 - Entering FAULT state", "[n1] VRRP Instance VI_1 - Stopping"])
        assert wait_for(lambda: subjects() == expected, 5.0), subjects()
        fault = next(m for m in mails(maildir) if "FAULT" in str(m["Subject"]))
        body = fault.get_payload(decode=True).decode()
        assert "=> VRRP Instance is no longer owning VRRP VIPs <=" in body and "New state:  FAULT" in body


def test_track_interface_weight_and_fault(lab):
    """eth1 tracked with weight -60 (down: 150 -> 90, n2 at 100 takes over), eth2 unweighted (down: FAULT)."""
    for dev in ("eth1", "eth2"):
        run("ip", "-n", lab.ns["n1"], "link", "add", dev, "type", "veth", "peer", "name", f"{dev}-peer")
        for name in (dev, f"{dev}-peer"):
            run("ip", "-n", lab.ns["n1"], "link", "set", name, "up")
    tracked = "    track_interface {\n        eth1 weight -60\n        eth2\n    }"
    lab.fastlb_ha("n1", vrrp_conf("n1", 150, "MASTER", instance_extra=tracked))
    lab.fastlb_ha("n2", vrrp_conf("n2", 100, "BACKUP"))
    mon1, mon2 = lab.monitor("n1"), lab.monitor("n2")
    assert lab.wait_address("n1", VIP, True, 3 + skew(150) + 1.0)
    time.sleep(1.0)
    assert not lab.has_address("n2", VIP)

    t0 = time.monotonic()
    run("ip", "-n", lab.ns["n1"], "link", "set", "eth1", "down")
    assert mon2.wait_added(VIP, t0, 3 + skew(100) + 1.5) is not None, "a weighted track_interface did not move"
    assert lab.wait_address("n1", VIP, False, 2.0)
    log = lab.log("n1-fastlb.log")
    assert "Changing effective priority from 150 to 90" in log and "Entering FAULT STATE" not in log

    t1 = time.monotonic()
    run("ip", "-n", lab.ns["n1"], "link", "set", "eth1", "up")
    assert mon1.wait_added(VIP, t1, 3 + skew(150) + 1.5) is not None, "n1 did not preempt after eth1 came up"
    assert lab.wait_address("n2", VIP, False, 2.0)

    t2 = time.monotonic()
    run("ip", "-n", lab.ns["n1"], "link", "set", "eth2", "down")
    assert lab.wait_address("n1", VIP, False, 1.0), "an unweighted track_interface down kept the VIP"
    # FAULT sends priority 0: n2 takes over after its skew time, not after a full down interval
    taken = mon2.wait_added(VIP, t2, 3.0)
    assert taken is not None and taken - t2 <= skew(100) + 0.3, "n2 did not take over at once"
    assert wait_for(lambda: "(VI_1) Entering FAULT STATE" in lab.log("n1-fastlb.log"), 1.0)
