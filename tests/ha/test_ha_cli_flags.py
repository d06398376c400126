"""keepalived's run-time flags on fastlb-ha: ``-l`` (console log), ``-D`` (detailed log), ``-n`` (no fork),
checked against keepalived 2.2.7 on the same configuration; and daemon mode (no ``-n``): detached, pidfile,
SIGTERM stops it with a priority 0 advert."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ha_lab import SCRIPT_SECURITY, VIP, lines, skew, vrrp_conf, wait_for

pytestmark = pytest.mark.netns

PATH_SEARCH = "WARNING - script `true` resolved by path search to `/usr/bin/true`. Please specify full path."
DETAIL_ONLY = ("(VI_1) removing VIPs.", "Assigned address 192.0.2.1 for interface eth0")


@pytest.mark.parametrize("kind", ["fastlb", "keepalived"])
def test_console_and_detail_flags(lab, kind):
    hook, notes = lab.notify_hook("n1")
    script = """
vrrp_script chk {
    script "true"
    interval 1
}
"""
    conf = vrrp_conf("n1", 100, "BACKUP", extra=script, global_extra=SCRIPT_SECURITY,
                     instance_extra=f"    notify {hook}\n    track_script {{\n chk\n }}")
    runs = [("-n", "-l", "-G", "-D"), ("-n", "-l", "-G"), ("-n", "-G")]
    logs = []
    for index, flags in enumerate(runs, start=1):
        name = f"{kind}-run{index}.log"
        proc = lab.start(kind, "n1", conf, flags=flags, log_name=name)
        assert wait_for(lambda i=index: lines(notes).count("INSTANCE VI_1 BACKUP 100") == i, 5.0), lines(notes)
        assert proc.poll() is None
        assert lab.stop(proc) == 0
        logs.append(lab.log(name))
    detailed, plain, silent = logs
    for text in (detailed, plain):
        assert PATH_SEARCH in text  # keepalived logs it with or without -D
        assert "(VI_1) Entering BACKUP STATE\n" in text  # after the first script result: no "(init)"
    for line in DETAIL_ONLY:
        assert line in detailed, line
        assert line not in plain, line
    assert silent == "", silent  # no -l: nothing on the console


def test_daemon_mode_pidfile_and_sigterm(lab, tmp_path):
    lab.fastlb_ha("n2", vrrp_conf("n2", 100, "BACKUP"))
    mon2 = lab.monitor("n2")
    conf = tmp_path / "n1-daemon.conf"
    conf.write_text(vrrp_conf("n1", 150, "MASTER"))
    pidfile = tmp_path / "n1-daemon.pid"
    t0 = time.monotonic()
    launcher = subprocess.run(["ip", "netns", "exec", lab.ns["n1"], sys.executable, "-m", "fastlb.ha.cli", "-G",
                               "-f", str(conf), "-p", str(pidfile)], capture_output=True, text=True, timeout=20,
                              check=False)
    assert launcher.returncode == 0, launcher.stderr
    assert time.monotonic() - t0 < 10 and launcher.stdout == launcher.stderr == ""
    assert wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 5.0), "no pidfile"
    pid = int(pidfile.read_text())
    lab.adopt(pid)
    proc_dir = Path(f"/proc/{pid}")
    status = dict(line.split(":\t", 1) for line in (proc_dir / "status").read_text().splitlines() if ":\t" in line)
    assert b"fastlb.ha.cli" in (proc_dir / "cmdline").read_bytes()
    assert os.getsid(pid) != os.getsid(0), "the daemon did not start a new session"
    assert int(status["PPid"]) != os.getpid()
    assert os.readlink(f"/proc/{pid}/cwd") == "/"
    for fd in (0, 1, 2):
        assert os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/null"

    assert lab.wait_address("n1", VIP, True, 3 + skew(150) + 1.0), "the daemon never became MASTER"
    time.sleep(1.0)
    assert not lab.has_address("n2", VIP)
    t1 = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    taken = mon2.wait_added(VIP, t1, 3.0)
    assert taken is not None and taken - t1 <= skew(100) + 0.2, "no priority 0 advert from the stopping daemon"
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 5.0), "the daemon did not exit on SIGTERM"
    assert not pidfile.exists(), "the pidfile was left behind"
    assert not lab.has_address("n1", VIP)
