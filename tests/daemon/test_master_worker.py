"""Master-worker mode: the master CLI, failed reloads, systemd notifications, background mode,
containers (foreground, logs on stdout, PID 1)."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest
from daemon_lab import (
    FASTLB,
    alive,
    children,
    free_port,
    get,
    haproxy_binary,
    proxy_config,
    read_pidfile,
    stats_cmd,
    wait_until,
)


def _serving(port: int) -> bool:
    try:
        return get(port, "/ping", timeout=2)[0] == 200
    except OSError:
        return False


def _start_mw(tracker, cfg: str, sock: str, *extra: str) -> subprocess.Popen:
    proc = tracker.popen([*FASTLB, "-W", "-f", cfg, "-S", sock, *extra])
    wait_until(lambda: proc.poll() is not None or os.path.exists(sock), 15, what="the master CLI")
    assert proc.poll() is None, proc.stderr.read()
    return proc


def _normalize_proc_table(text: str) -> list[str]:
    """`show proc` with pids, uptimes and versions replaced, the layout kept."""
    out = []
    for line in text.split("\n"):
        line = re.sub(r"^\d+( +)", lambda m: "PID" + " " * (len(m.group(0)) - 3), line)
        line = re.sub(r"\dd\d\dh\d\dm\d\ds", "0d00h00m00s", line)
        fields = line.split()
        if len(fields) >= 4 and fields[0] == "PID":
            line = line[: line.rindex("0d00h00m00s") + len("0d00h00m00s")]
        out.append(line.rstrip())
    return out


def test_show_proc_has_haproxy_layout(tracker, write_cfg, backend, tmp_path):
    """``show proc`` on the master CLI: same table as haproxy 2.6 -W for the same configuration
    (pids, uptimes and version strings aside)."""
    haproxy = haproxy_binary()
    tables = []
    for prog in (FASTLB, [haproxy]):
        port = free_port()
        cfg = write_cfg(proxy_config(port, backend.port, nbthread=1), name=f"c{port}.cfg")
        sock = str(tmp_path / f"m{port}.sock")
        proc = tracker.popen([*prog, "-W", "-f", cfg, "-S", sock])
        wait_until(lambda port=port: _serving(port), 15, what="the proxy")
        tables.append(wait_until(lambda sock=sock: _try_cmd(sock, "show proc"), 10, what="the master CLI"))
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)
    ours, theirs = tables
    assert ours.startswith("#<PID>          <type>          <reloads>       <uptime>        <version>")
    assert _normalize_proc_table(ours) == _normalize_proc_table(theirs)


def test_master_cli_commands_and_levels(tracker, cfg, port, tmp_path):
    sock = str(tmp_path / "m.sock")
    usock = str(tmp_path / "u.sock")
    proc = _start_mw(tracker, cfg, sock, "-S", f"{usock},level,user,mode,600")
    wait_until(lambda: _serving(port), 15, what="the proxy")
    assert stat_mode(usock) == 0o600
    assert stats_cmd(sock, "show cli level") == "admin\n\n"
    assert stats_cmd(sock, "operator; show cli level") == "operator\n\n"
    assert stats_cmd(usock, "show cli level") == "user\n\n"
    assert stats_cmd(usock, "operator") == "Permission denied!\n"
    assert stats_cmd(usock, "reload") == "Permission denied\n\n"
    help_text = stats_cmd(sock, "help")
    assert help_text.startswith("The following commands are valid at this level:\n")
    assert "  show proc                               : show processes status\n" in help_text
    assert "Unknown command" in stats_cmd(sock, "bogus")
    assert stats_cmd(sock, "@!1 show info") == "Can't find the target PID matching the prefix '@!1'\n"
    worker = children(proc.pid)[0]
    assert stats_cmd(sock, f"@!{worker} show info") == "Can't connect to the target CLI!\n"
    version = stats_cmd(sock, "show version")
    from fastlb.version import __version__

    assert version == f"{__version__}\n\n"
    # interactive mode: a prompt after each answer
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(sock)
        s.sendall(b"prompt\nshow cli level\n")
        got = b""
        while got.count(b"master> ") < 2:
            got += s.recv(4096)
        assert got == b"master> admin\n\nmaster> "
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(10) == 0


def stat_mode(path: str) -> int:
    return os.stat(path).st_mode & 0o777


def test_failed_reload_keeps_serving_and_recovers(tracker, write_cfg, port, backend, tmp_path):
    """A reload with a broken configuration: "Loading failure!", the workers keep serving, the
    prompt says ReloadFailed; once fixed, the next reload works and clears the failure."""
    good = proxy_config(port, backend.port)
    cfg = write_cfg(good)
    sock = str(tmp_path / "m.sock")
    proc = _start_mw(tracker, cfg, sock)
    wait_until(lambda: _serving(port), 15, what="the proxy")
    workers = set(children(proc.pid))
    with open(cfg, "a") as f:
        f.write("    bogus-keyword 1\n")
    os.kill(proc.pid, signal.SIGUSR2)
    wait_until(lambda: "[failed: 1]" in stats_cmd(sock, "show proc"), 10, what="the failed reload")
    assert set(children(proc.pid)) == workers
    assert _serving(port)
    table = stats_cmd(sock, "show proc")
    assert re.search(rf"\n{proc.pid} +master +1 \[failed: 1\]", table)
    assert "# old workers" not in table
    for w in workers:
        assert re.search(rf"\n{w} +worker +1 ", table)
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(sock)
        s.sendall(b"prompt\n")
        assert s.recv(100) == b"master[ReloadFailed]> "
    with open(cfg, "w") as f:
        f.write(good)
    assert stats_cmd(sock, "reload") == ""
    wait_until(lambda: not (set(children(proc.pid)) & workers) and len(children(proc.pid)) == 2, 20,
               what="new workers")
    wait_until(lambda: "2 [failed: 0]" in stats_cmd(sock, "show proc"), 10, what="the reload")
    assert _serving(port)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(10) == 0
    err = proc.stderr.read()
    assert "unknown keyword 'bogus-keyword'" in err
    assert f"[WARNING]  ({proc.pid}) : Loading failure!" in err


def test_reload_that_cannot_bind_waits_with_the_old_workers(tracker, write_cfg, port, backend, tmp_path):
    """The new configuration is valid but its new address is taken: the re-executed master
    keeps the previous workers serving ("wait mode") until a reload succeeds."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    taken = holder.getsockname()[1]
    good = proxy_config(port, backend.port)
    cfg = write_cfg(good)
    sock = str(tmp_path / "m.sock")
    try:
        proc = _start_mw(tracker, cfg, sock)
        wait_until(lambda: _serving(port), 15, what="the proxy")
        workers = set(children(proc.pid))
        with open(cfg, "w") as f:
            f.write(good.replace(f"    bind 127.0.0.1:{port}\n", f"    bind 127.0.0.1:{port}\n    bind 127.0.0.1:{taken}\n"))
        os.kill(proc.pid, signal.SIGUSR2)
        wait_until(lambda: "[failed: 1]" in _try_cmd(sock, "show proc"), 15, what="wait mode")
        assert set(children(proc.pid)) == workers
        assert _serving(port)
        with open(cfg, "w") as f:
            f.write(good)
        os.kill(proc.pid, signal.SIGUSR2)
        wait_until(lambda: not (set(children(proc.pid)) & workers) and len(children(proc.pid)) == 2, 20,
                   what="new workers after the recovery")
        assert _serving(port)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(10) == 0
        assert "cannot bind socket" in proc.stderr.read()
    finally:
        holder.close()


def _try_cmd(sock: str, cmd: str) -> str:
    try:
        return stats_cmd(sock, cmd)
    except OSError:
        return ""


def test_old_workers_are_bounded_by_hard_stop_after(tracker, write_cfg, port, backend, tmp_path):
    """After a reload, a previous worker still busy with a long request is listed under "old
    workers", then terminated once ``hard-stop-after`` (1 s) has passed, even if the master
    re-executed itself again meanwhile."""
    cfg = write_cfg(proxy_config(port, backend.port, nbthread=1, global_extra="    hard-stop-after 1s"))
    sock = str(tmp_path / "m.sock")
    proc = _start_mw(tracker, cfg, sock)
    wait_until(lambda: _serving(port), 15, what="the proxy")
    (old,) = children(proc.pid)
    slow = socket.create_connection(("127.0.0.1", port), timeout=20)
    slow.sendall(b"GET /slow/10000 HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGUSR2)
    wait_until(lambda: len(children(proc.pid)) == 2, 15, what="the new worker")
    table = wait_until(lambda: "# old workers" in (t := _try_cmd(sock, "show proc")) and t, 10,
                       what="the old worker to be listed")
    assert re.search(rf"# old workers\n{old} +worker +1 ", table)
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGUSR2)  # another reload meanwhile: the deadline survives exec()
    wait_until(lambda: not alive(old), 8, what="the hard stop of the old worker")
    assert time.monotonic() - t0 < 3  # well before the 10 s the request needed
    assert slow.recv(100) == b""
    slow.close()
    assert _serving(port)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(10) == 0
    err = proc.stderr.read()
    assert f"Former worker ({old}) still running after hard-stop-after: performing a hard-stop." in err


def test_master_worker_daemon_pidfile_holds_the_master(tracker, cfg, port, tmp_path):
    """``-W -D -p``: the pidfile names the master (the same pid across reloads)."""
    pidfile = str(tmp_path / "fastlb.pid")
    res = tracker.run([*FASTLB, "-W", "-D", "-f", cfg, "-p", pidfile])
    assert res.returncode == 0, res.stderr
    (master,) = read_pidfile(pidfile)
    tracker.add(master)
    wait_until(lambda: _serving(port), 15, what="the proxy")
    workers = set(children(master))
    assert len(workers) == 2
    os.kill(master, signal.SIGUSR2)
    wait_until(lambda: len(children(master)) == 2 and not (set(children(master)) & workers), 20,
               what="the reload")
    assert read_pidfile(pidfile) == [master]
    os.kill(master, signal.SIGUSR1)
    wait_until(lambda: not alive(master), 10, what="the master to leave")


def test_systemd_notifications(tracker, cfg, port, tmp_path):
    """``-Ws`` under a fake systemd: READY=1 once the workers serve, RELOADING=1 then READY=1
    around a reload, STOPPING=1 on stop."""
    path = str(tmp_path / "notify")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    rx.settimeout(15)
    try:
        env = dict(os.environ, NOTIFY_SOCKET=path)
        proc = tracker.popen([*FASTLB, "-Ws", "-f", cfg], env=env)
        assert rx.recv(4096) == b"READY=1"
        assert _serving(port)
        os.kill(proc.pid, signal.SIGUSR2)
        msg = rx.recv(4096).decode()
        assert msg.startswith("RELOADING=1\nMONOTONIC_USEC=")
        assert rx.recv(4096) == b"READY=1"
        assert _serving(port)
        os.kill(proc.pid, signal.SIGTERM)
        assert rx.recv(4096) == b"STOPPING=1"
        assert proc.wait(10) == 0
    finally:
        rx.close()


def test_container_foreground_logs_to_stdout_as_pid_1(tracker, write_cfg, backend, tmp_path):
    """A container: ``fastlb -W`` in the foreground as PID 1 of its own PID namespace, traffic
    logs on stdout (``log stdout``), process messages on stderr, SIGTERM stops it with 0."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) to create a PID namespace")
    port = free_port()
    cfg = write_cfg(proxy_config(
        port, backend.port, nbthread=1,
        global_extra="    log stdout format raw local0",
        frontend_extra="    log global\n    option httplog",
    ))
    proc = tracker.popen([unshare, "--pid", "--fork", "--kill-child", *FASTLB, "-W", "-f", cfg])
    wait_until(lambda: _serving(port), 20, what="the proxy")
    assert get(port, "/logged")[0] == 200
    time.sleep(0.3)
    (init,) = children(proc.pid)  # PID 1 of the namespace, seen from here
    with open(f"/proc/{init}/status") as f:
        assert re.search(r"NSpid:\s+\d+\s+1\n", f.read())
    nsenter = shutil.which("nsenter")
    if nsenter:  # an orphan in the namespace is re-parented to fastlb, which must reap it
        workers = set(children(init))
        subprocess.run([nsenter, "-t", str(init), "-p", "--", "/bin/sh", "-c", "sleep 1.5 & exit 0"],
                       timeout=10, check=True)
        assert len(_all_children(init)) > len(workers)  # the orphan (still sleeping) is ours now
        wait_until(lambda: set(_all_children(init)) == workers, 5, what="the orphan to be reaped")
    os.kill(init, signal.SIGTERM)
    assert proc.wait(10) == 0
    out, err = proc.stdout.read(), proc.stderr.read()
    assert re.search(r"fe be/s1 .* 200 .* \"GET /logged HTTP/1.1\"", out), out
    assert "[NOTICE]   (1) : New worker (" in err
    assert "[WARNING]  (1) : All workers exited. Exiting... (0)" in err


def _all_children(pid: int) -> list[int]:
    """Children of `pid`, zombies included."""
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


def test_unit_file_is_valid_for_systemd(tmp_path):
    """tools/fastlb.service passes ``systemd-analyze verify`` (with its binary path pointed at
    this installation) and uses the notify protocol with USR2 reloads."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    here = os.path.dirname(os.path.abspath(__file__))
    unit = os.path.join(here, "..", "..", "tools", "fastlb.service")
    with open(unit) as f:
        text = f.read()
    assert "Type=notify\n" in text
    assert re.search(r"ExecStart=\S*fastlb -Ws -f \$CONFIG -p \$PIDFILE \$EXTRAOPTS", text)
    assert "ExecReload=/bin/kill -USR2 $MAINPID" in text
    binary = shutil.which("fastlb") or "/usr/local/bin/fastlb"
    local = tmp_path / "fastlb.service"
    local.write_text(text.replace("/usr/local/bin/fastlb", binary))
    res = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True, timeout=60, check=False)
    problems = [line for line in res.stderr.splitlines() if str(local) in line]
    assert res.returncode == 0 and not problems, res.stderr
