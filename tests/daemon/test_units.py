"""White-box checks of the daemon's pieces that need no running proxy."""
from __future__ import annotations

import os
import socket
import sys

import pytest

from fastlb.runtime import daemon, mcli, reload


def test_reexec_command_line_drops_one_shot_options(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/venv/bin/fastlb", "-W", "-f", "a.cfg", "-sf", "12", "13", "-x",
                                      "/run/s.sock", "-C", "/etc/x", "-p", "/run/p", "-st", "-S", "/run/m.sock"])
    monkeypatch.setattr(sys, "orig_argv", ["/usr/bin/python3", "-X", "dev", "/venv/bin/fastlb", *sys.argv[1:]])
    assert reload.reexec_argv() == [sys.executable, "-X", "dev", "/venv/bin/fastlb", "-W", "-f", "a.cfg", "-p",
                                    "/run/p", "-S", "/run/m.sock"]
    monkeypatch.setattr(sys, "argv", ["/x/fastlb/__main__.py", "-W", "--", "b.cfg", "-sf"])
    monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "fastlb", "-W", "--", "b.cfg", "-sf"])
    assert reload.reexec_argv() == [sys.executable, "-m", "fastlb", "-W", "--", "b.cfg", "-sf"]


def test_state_survives_the_environment():
    st = reload.MworkerState(started=12.5, reloads=3, failed=1, listeners={"127.0.0.1:80": [5, 6]},
                             mcli=[("/run/m.sock,level,user", 7)],
                             procs=[reload.ProcInfo(pid=42, started=1.0, reloads=2, leaving=True,
                                                    hard_stop_ms=3000, death_fd=9)])
    back = reload.MworkerState.from_env(st.to_env())
    assert back == st


def test_master_cli_specs():
    s = mcli.parse_spec("/run/m.sock,mode,660,level,operator,uid,0,gid,0")
    assert (s.family, s.address, s.mode, s.level, s.uid, s.gid) == (socket.AF_UNIX, "/run/m.sock", 0o660, 2, 0, 0)
    s = mcli.parse_spec("127.0.0.1:1234")
    assert (s.family, s.address, s.level) == (socket.AF_INET, ("127.0.0.1", 1234), 3)
    s = mcli.parse_spec("ipv6@[::1]:99")
    assert (s.family, s.address) == (socket.AF_INET6, ("::1", 99))
    assert mcli.parse_spec("abns@x").address == "\0x"
    with pytest.raises(mcli.CliBindError):
        mcli.parse_spec("/run/m.sock,level,root")
    with pytest.raises(mcli.CliBindError):
        mcli.parse_spec("localhost")


def test_show_proc_layout():
    class View:
        reloads, failed_reloads, started = 2, 1, 1000.0

        def process_rows(self):
            return [reload.ProcInfo(pid=11, started=990.0, version="v")], \
                   [reload.ProcInfo(pid=7, started=100.0, reloads=1, version="v", leaving=True)]

    text = mcli.show_proc(View(), now=1000.0 + 3 * 86400 + 3661)
    lines = text.split("\n")
    assert lines[0] == "#<PID>          <type>          <reloads>       <uptime>        <version>      "
    assert lines[1].startswith(f"{os.getpid():<15} master          2 [failed: 1]   3d01h01m01s     ")
    assert lines[2:4] == ["# workers", "11              worker          0               3d01h01m11s     v              "]
    assert lines[4] == "# old workers"
    assert lines[5].startswith("7               worker          1               3d01h16m01s")
    assert lines[6:] == ["# programs", ""]


def test_run_mode_precedence():
    from fastlb.config.model import GlobalSection

    class Opts:
        foreground = False
        debug = False
        daemon = True
        master_worker = False
        systemd_notify = False
        pidfile = None
        quiet = False

    g = GlobalSection(pidfile="/run/cfg.pid", master_worker=True)
    m = daemon.run_mode(Opts(), g)
    assert m.daemon and m.master_worker and m.pidfile == "/run/cfg.pid"
    o = Opts()
    o.foreground = True  # -db wins over -D
    assert not daemon.run_mode(o, g).daemon
    o = Opts()
    o.systemd_notify = True  # -Ws: master-worker in the foreground
    m = daemon.run_mode(o, GlobalSection(daemon=True))
    assert m.master_worker and m.systemd and not m.daemon


def test_identity_checks():
    from fastlb.config.model import GlobalSection

    with pytest.raises(daemon.StartupError, match="Cannot find user id for 'no-such-user-fastlb'"):
        daemon.resolve_identity(GlobalSection(user="no-such-user-fastlb", user_exists=False))
    ident = daemon.resolve_identity(GlobalSection(user="nobody", group="nogroup", chroot="/"))
    assert ident == daemon.Identity(chroot="/", uid=65534, gid=65534)
    with pytest.raises(daemon.StartupError, match=r"Cannot chroot\(/no/such/dir\)\."):
        daemon.check_identity(daemon.Identity(chroot="/no/such/dir"))
    assert not daemon.Identity().changes


def test_sd_notify_reaches_abstract_and_path_sockets(tmp_path, monkeypatch):
    for name, addr in (("@fastlb-test-notify", "\0fastlb-test-notify"), (str(tmp_path / "n"), str(tmp_path / "n"))):
        rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        rx.bind(addr)
        rx.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", name)
        assert daemon.sd_notify("READY=1")
        assert rx.recv(100) == b"READY=1"
        rx.close()
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not daemon.sd_notify("READY=1")
