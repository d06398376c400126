"""chroot, user/group switching after binding, and descriptor limits."""
from __future__ import annotations

import os
import re
import signal
import sys

import pytest
from daemon_lab import (
    FASTLB,
    alive,
    children,
    get,
    haproxy_binary,
    proxy_config,
    read_pidfile,
    status_ids,
    wait_until,
)

NOBODY = 65534
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="switching identity needs root (CI runs as root)")


def _serving(port: int) -> bool:
    try:
        return get(port, "/ping", timeout=2)[0] == 200
    except OSError:
        return False


def _soft_nofile(pid: int) -> int:
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise AssertionError("no Max open files line")


def _jail(tmp_path) -> str:
    jail = tmp_path / "jail"
    jail.mkdir()
    os.chmod(jail, 0o755)
    return str(jail)


@root_only
def test_standalone_drops_everything_after_binding(tracker, write_cfg, port, backend, tmp_path):
    """As root with ``chroot``/``user``/``group`` and a privileged port: the socket is bound as
    root, then master and workers run as nobody:nogroup, without supplementary groups, in the
    chroot; traffic flows; SIGUSR1 still stops it."""
    jail = _jail(tmp_path)
    low = 0
    import socket

    for candidate in range(900, 1000):  # a privileged port nobody uses here
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            low = candidate
            break
    assert low
    text = proxy_config(port, backend.port, global_extra=f"    chroot {jail}\n    user nobody\n    group nogroup")
    text = text.replace(f"    bind 127.0.0.1:{port}\n", f"    bind 127.0.0.1:{port}\n    bind 127.0.0.1:{low}\n")
    cfg = write_cfg(text)
    pidfile = str(tmp_path / "fastlb.pid")
    res = tracker.run([*FASTLB, "-f", cfg, "-D", "-p", pidfile])
    assert res.returncode == 0, res.stderr
    (master,) = read_pidfile(pidfile)
    tracker.add(master)
    wait_until(lambda: _serving(port) and _serving(low), 15, what="the proxy")
    workers = children(master)
    assert len(workers) == 2
    for pid in [master, *workers]:
        ids = status_ids(pid)
        assert ids["Uid"] == [NOBODY] * 4 and ids["Gid"] == [NOBODY] * 4, (pid, ids)
        assert ids["Groups"] == []
        assert os.readlink(f"/proc/{pid}/root") == jail
    os.kill(master, signal.SIGUSR1)
    wait_until(lambda: not alive(master), 10, what="the stop")


@root_only
def test_master_worker_keeps_the_master_and_drops_the_workers(tracker, write_cfg, port, backend, tmp_path):
    """``-W``: the master stays root outside the chroot (it re-executes itself and binds new
    addresses on reload), the workers run as nobody:nogroup in the chroot, also after a
    reload."""
    jail = _jail(tmp_path)
    cfg = write_cfg(proxy_config(port, backend.port, global_extra=f"    chroot {jail}\n    user nobody\n    group nogroup"))
    proc = tracker.popen([*FASTLB, "-W", "-f", cfg])
    wait_until(lambda: _serving(port), 15, what="the proxy")
    for _ in range(2):
        workers = wait_until(lambda: len(children(proc.pid)) == 2 and children(proc.pid), 10, what="workers")
        assert status_ids(proc.pid)["Uid"] == [0] * 4
        assert os.readlink(f"/proc/{proc.pid}/root") == "/"
        for pid in workers:
            ids = status_ids(pid)
            assert ids["Uid"] == [NOBODY] * 4 and ids["Gid"] == [NOBODY] * 4
            assert os.readlink(f"/proc/{pid}/root") == jail
        assert _serving(port)
        os.kill(proc.pid, signal.SIGUSR2)
        wait_until(lambda w=set(workers): not (set(children(proc.pid)) & w) and len(children(proc.pid)) == 2,
                   20, what="the reload")
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(10) == 0


@root_only
def test_numeric_uid_and_gid(tracker, write_cfg, port, backend, tmp_path):
    """``uid``/``gid`` given as numbers (here ids that have no name on the machine) are
    switched to as the names are."""
    import pwd

    uid = gid = 54321
    try:
        pwd.getpwuid(uid)
        pytest.skip(f"uid {uid} exists on this machine")
    except KeyError:
        pass
    cfg = write_cfg(proxy_config(port, backend.port, nbthread=1, global_extra=f"    uid {uid}\n    gid {gid}"))
    pidfile = str(tmp_path / "fastlb.pid")
    res = tracker.run([*FASTLB, "-f", cfg, "-D", "-p", pidfile])
    assert res.returncode == 0, res.stderr
    (master,) = read_pidfile(pidfile)
    tracker.add(master)
    wait_until(lambda: _serving(port), 15, what="the proxy")
    for pid in [master, *children(master)]:
        ids = status_ids(pid)
        assert ids["Uid"] == [uid] * 4 and ids["Gid"] == [gid] * 4, (pid, ids)
        assert ids["Groups"] == []
    os.kill(master, signal.SIGUSR1)
    wait_until(lambda: not alive(master), 10, what="the stop")


@root_only
def test_user_without_group_keeps_the_gid_as_haproxy(tracker, write_cfg, backend, tmp_path):
    """``user`` alone switches the uid and drops the supplementary groups but keeps gid 0:
    that is what haproxy 2.6 does (checked side by side)."""
    from daemon_lab import free_port

    haproxy = haproxy_binary()
    seen = []
    for prog in (FASTLB, [haproxy]):
        port = free_port()
        cfg = write_cfg(proxy_config(port, backend.port, nbthread=1, global_extra="    user nobody"),
                        name=f"u{port}.cfg")
        pidfile = str(tmp_path / f"{port}.pid")
        res = tracker.run([*prog, "-f", cfg, "-D", "-p", pidfile])
        assert res.returncode == 0, res.stderr
        (pid,) = read_pidfile(pidfile)
        tracker.add(pid)
        wait_until(lambda port=port: _serving(port), 15, what="the proxy")
        serving = children(pid) or [pid]  # fastlb's worker, haproxy's own process
        ids = status_ids(serving[0])
        seen.append((ids["Uid"], ids["Gid"], ids["Groups"]))
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda pid=pid: not alive(pid), 10, what="the stop")
    assert seen[0] == seen[1] == ([NOBODY] * 4, [0] * 4, [])


@root_only
def test_root_refuses_a_user_it_cannot_switch_to(tracker, write_cfg, port, backend):
    cfg = write_cfg(proxy_config(port, backend.port, global_extra="    user no-such-user-fastlb"))
    for mode in ([], ["-W"]):
        res = tracker.run([*FASTLB, "-f", cfg, "-db", *mode])
        assert res.returncode == 1
        assert "Cannot find user id for 'no-such-user-fastlb'" in res.stderr
        assert not _serving(port)


def test_missing_chroot_directory_is_fatal(tracker, write_cfg, port, backend, tmp_path):
    cfg = write_cfg(proxy_config(port, backend.port, global_extra=f"    chroot {tmp_path}/missing"))
    res = tracker.run([*FASTLB, "-f", cfg, "-db"])
    assert res.returncode == 1
    assert re.search(r"\[ALERT\]    \(\d+\) : \[fastlb\.main\(\)\] Cannot chroot\(.*/missing\)\.", res.stderr)


@root_only
def test_non_root_cannot_switch_to_another_uid(write_cfg, port, backend, tmp_path):
    """Started as nobody, a configuration asking for another uid is refused as haproxy does
    ("Cannot set uid N."), before anything is bound."""
    import tempfile

    with tempfile.TemporaryDirectory() as public:
        os.chmod(public, 0o755)
        cfg = os.path.join(public, "fastlb.cfg")
        with open(cfg, "w") as f:
            f.write(proxy_config(port, backend.port, global_extra="    uid 54321"))
        os.chmod(cfg, 0o644)
        code, err = _run_as_nobody(["-f", cfg, "-db"])
    assert code == 1
    assert "[fastlb.main()] Cannot set uid 54321." in err
    assert not _serving(port)


def _run_as_nobody(args: list[str]) -> tuple[int, str]:
    """fastlb's command line in a forked child that became nobody (no exec: the interpreter of
    the tests may live where nobody cannot read)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            os.close(r)
            sys.stderr = open(w, "w", buffering=1)  # noqa: SIM115 - the child exits with it open
            # nobody may not read the interpreter's library: import what the start needs first
            import fastlb.config
            import fastlb.runtime.process
            import fastlb.runtime.reload  # noqa: F401
            from fastlb.cli import main

            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            code = main(args)
        except BaseException:  # noqa: BLE001 - report through the exit status
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(w)
    err = b""
    while chunk := os.read(r, 65536):
        err += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), err.decode()


def test_maxconn_raises_the_descriptor_limit(tracker, write_cfg, port, backend):
    """``maxconn`` makes the workers' soft RLIMIT_NOFILE room for two sockets per connection."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 6000:
        pytest.skip(f"the hard descriptor limit ({hard}) is below what maxconn 6000 needs")

    def low_soft_limit() -> None:  # start from a limit that maxconn 6000 does not fit in
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))

    cfg = write_cfg(proxy_config(port, backend.port, global_extra="    maxconn 6000"))
    proc = tracker.popen([*FASTLB, "-f", cfg, "-db"], preexec_fn=low_soft_limit)
    wait_until(lambda: _serving(port), 15, what="the proxy")
    workers = children(proc.pid)
    assert workers
    for pid in workers:
        assert _soft_nofile(pid) >= 6000 // 2 * 2  # 3000 connections per worker, 2 fds each
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(10) == 0


def test_ulimit_n_sets_the_limit_or_fails_as_haproxy(tracker, write_cfg, port, backend):
    cfg = write_cfg(proxy_config(port, backend.port, global_extra="    ulimit-n 4321"))
    proc = tracker.popen([*FASTLB, "-f", cfg, "-db"])
    wait_until(lambda: _serving(port), 15, what="the proxy")
    assert _soft_nofile(proc.pid) == 4321
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(10) == 0
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard descriptor limit on this machine")
    cfg = write_cfg(proxy_config(port, backend.port, global_extra="    ulimit-n 900000000"), name="big.cfg")
    res = tracker.run([*FASTLB, "-f", cfg, "-db"])
    assert res.returncode == 1
    assert re.search(r"\[fastlb\.main\(\)\] Cannot raise FD limit to 900000000, limit is \d+\.", res.stderr)
