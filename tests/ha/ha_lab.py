"""A small L2 lab for the VRRP tests: network namespaces on one bridge, addresses in 192.0.2.0/24.

Namespaces are named ``fha<id>-<node>`` with a random id per lab (``FASTLB_LAB_PREFIX`` replaces ``fha``
when several people share a machine); the bridge lives in its own namespace,
so nothing is created in the host's namespace and deleting the namespaces removes every link. Each
node's interface is called ``eth0`` (as in the mission's keepalived.conf). Processes started in the lab
are killed (with their children) when the lab closes, even when the test failed.
"""
from __future__ import annotations

import mailbox
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "192.0.2."
NS_PREFIX = os.environ.get("FASTLB_LAB_PREFIX", "fha")
SERVER_CODE = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(16)
while True:
    c, _ = s.accept()
    c.sendall(sys.argv[1].encode()); c.close()
"""
CLIENT_CODE = r"""
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[3])), timeout=float(sys.argv[2]))
    print(c.recv(100).decode())
except OSError as exc:
    print("ERROR", exc)
"""


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=20)


def netns_available() -> str | None:
    """None when the lab can run here, else the reason it cannot."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if not shutil.which("ip"):
        return "iproute2 'ip' is not installed"
    name = f"{NS_PREFIX}probe{secrets.token_hex(3)}"
    probe = run("ip", "netns", "add", name, check=False)
    if probe.returncode != 0:
        return f"'ip netns add' fails here: {probe.stderr.strip()}"
    run("ip", "netns", "del", name, check=False)
    return None


@dataclass
class AddressMonitor:
    """``ip monitor address`` in a namespace, each line stamped with time.monotonic() on arrival."""

    ns: str
    events: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.proc = subprocess.Popen(["ip", "-n", self.ns, "-o", "monitor", "address"], stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        time.sleep(0.1)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.append((time.monotonic(), line.strip()))

    def added(self, address: str, after: float) -> float | None:
        for stamp, line in list(self.events):
            if stamp >= after and not line.startswith("Deleted") and f"inet {address}/" in line:
                return stamp
        return None

    def wait_added(self, address: str, after: float, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stamp = self.added(address, after)
            if stamp is not None:
                return stamp
            time.sleep(0.01)
        return self.added(address, after)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Lab:
    def __init__(self, tmp_path, nodes: tuple[str, ...] = ("n1", "n2", "cl")) -> None:
        self.id = secrets.token_hex(3)
        self.tmp = tmp_path
        self.switch = f"{NS_PREFIX}{self.id}-sw"
        self.ns: dict[str, str] = {}
        self.ip: dict[str, str] = {}
        self.procs: list[subprocess.Popen] = []
        self.pids: list[int] = []
        self.monitors: list[AddressMonitor] = []
        try:
            run("ip", "netns", "add", self.switch)
            run("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
            run("ip", "-n", self.switch, "link", "set", "br0", "up")
            for index, node in enumerate(nodes, start=1):
                self.add_node(node, f"{PREFIX}{index if node != 'cl' else 100}")
        except Exception:
            self.close()
            raise

    def add_node(self, node: str, address: str) -> None:
        ns = f"{NS_PREFIX}{self.id}-{node}"
        run("ip", "netns", "add", ns)
        self.ns[node] = ns
        self.ip[node] = address
        run("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", f"p-{node}",
            "netns", self.switch)
        run("ip", "-n", self.switch, "link", "set", f"p-{node}", "master", "br0", "up")
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        run("ip", "-n", ns, "link", "set", "eth0", "up")

    # ---- processes --------------------------------------------------------------------------------
    def spawn(self, node: str, *cmd: str, log_name: str | None = None) -> subprocess.Popen:
        with open(self.tmp / (log_name or f"{node}.log"), "ab") as out:
            proc = subprocess.Popen(["ip", "netns", "exec", self.ns[node], *cmd], stdout=out,
                                    stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def fastlb_ha(self, node: str, conf: str, flags: tuple[str, ...] = ("-n", "-l", "-D", "-G"),
                  log_name: str | None = None) -> subprocess.Popen:
        path = self.tmp / f"{node}-fastlb.conf"
        path.write_text(conf)
        return self.spawn(node, sys.executable, "-m", "fastlb.ha.cli", *flags, "-f", str(path),
                          "-p", str(self.tmp / f"{node}-fastlb.pid"), log_name=log_name or f"{node}-fastlb.log")

    def adopt(self, pid: int) -> None:
        """A process the lab did not start itself (a daemon): killed when the lab closes."""
        self.pids.append(pid)

    def keepalived(self, node: str, conf: str, flags: tuple[str, ...] = ("-n", "-l", "-D", "-G"),
                   log_name: str | None = None) -> subprocess.Popen:
        path = self.tmp / f"{node}-keepalived.conf"
        path.write_text(conf)
        return self.spawn(node, "keepalived", *flags, "-P", "-f", str(path),
                          "-p", str(self.tmp / f"{node}-ka.pid"), "-r", str(self.tmp / f"{node}-ka-vrrp.pid"),
                          log_name=log_name or f"{node}-keepalived.log")

    def start(self, kind: str, node: str, conf: str, **kw: object) -> subprocess.Popen:
        """``kind`` is "fastlb" (fastlb-ha) or "keepalived" (skips the test when keepalived is missing);
        ``flags`` and ``log_name`` go to :meth:`fastlb_ha` / :meth:`keepalived`."""
        if kind == "keepalived":
            if not shutil.which("keepalived"):
                import pytest

                pytest.skip("keepalived is not installed (apt-get install keepalived); .ci/run installs it")
            return self.keepalived(node, conf, **kw)  # type: ignore[arg-type]
        return self.fastlb_ha(node, conf, **kw)  # type: ignore[arg-type]

    def log(self, name: str) -> str:
        path = self.tmp / name
        return path.read_text(errors="replace") if path.exists() else ""

    def notify_hook(self, node: str) -> tuple[str, Path]:
        """A notify script appending its arguments to a file: (script path, file)."""
        notes = self.tmp / f"{node}-notify.txt"
        hook = self.tmp / f"{node}-notify.sh"
        hook.write_text(f'#!/bin/sh\necho "$*" >> {notes}\n')
        hook.chmod(0o755)
        return str(hook), notes

    def serve(self, node: str) -> None:
        self.spawn(node, sys.executable, "-c", SERVER_CODE, node, log_name=f"{node}-server.log")

    def client(self, address: str, timeout: float = 1.0, port: int = 8080) -> str:
        out = run("ip", "netns", "exec", self.ns["cl"], sys.executable, "-c", CLIENT_CODE, address, str(timeout),
                  str(port))
        return out.stdout.strip()

    def monitor(self, node: str) -> AddressMonitor:
        mon = AddressMonitor(self.ns[node])
        self.monitors.append(mon)
        return mon

    def has_address(self, node: str, address: str) -> bool:
        out = run("ip", "-n", self.ns[node], "-o", "addr", "show", "dev", "eth0").stdout
        return f"inet {address}/" in out

    def wait_address(self, node: str, address: str, present: bool, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.has_address(node, address) == present:
                return True
            time.sleep(0.05)
        return self.has_address(node, address) == present

    @staticmethod
    def family(pid: int) -> list[int]:
        """pid and its descendants (keepalived forks a VRRP child even with -n)."""
        pids = [pid]
        for current in pids:
            try:
                for task in os.listdir(f"/proc/{current}/task"):
                    with open(f"/proc/{current}/task/{task}/children") as f:
                        pids.extend(int(p) for p in f.read().split())
            except OSError:
                continue
        return pids

    def freeze(self, proc: subprocess.Popen) -> None:
        for pid in self.family(proc.pid):
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass

    def link(self, node: str, up: bool) -> None:
        run("ip", "-n", self.switch, "link", "set", f"p-{node}", "up" if up else "down")

    def stop(self, proc: subprocess.Popen, timeout: float = 5.0) -> int | None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill(proc)
            return None

    def kill(self, proc: subprocess.Popen) -> None:
        for pid in reversed(self.family(proc.pid)):
            for sig in (signal.SIGKILL, signal.SIGCONT):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                self.kill(proc)
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if str(self.tmp).encode() not in f.read():
                        continue  # gone, and the number reused by another process
            except OSError:
                continue
            for sig in (signal.SIGKILL, signal.SIGCONT):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        for mon in self.monitors:
            mon.close()
        for ns in [*self.ns.values(), self.switch]:
            run("ip", "netns", "del", ns, check=False)


VIP = "192.0.2.10"


def vrrp_conf(name: str, priority: int, state: str = "BACKUP", *, advert_int: int = 1, extra: str = "",
              instance_extra: str = "", global_extra: str = "", vip: str = VIP) -> str:
    """A keepalived.conf both keepalived and fastlb-ha run: one instance on eth0, PASS authentication."""
    return f"""
global_defs {{
    router_id {name}
    vrrp_garp_master_delay 1
{global_extra}
}}
{extra}
vrrp_instance VI_1 {{
    state {state}
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int {advert_int}
    authentication {{
        auth_type PASS
        auth_pass s3cret
    }}
    virtual_ipaddress {{
        {vip}/24 dev eth0
    }}
{instance_extra}
}}
"""


def skew(priority: int) -> float:
    return (256 - priority) / 256


#: global_defs lines that let keepalived (and fastlb-ha) run scripts as root without refusing them.
SCRIPT_SECURITY = "    script_user root\n    enable_script_security"


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_for(predicate: Callable[[], object], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def start_smtp(lab, tmp_path):
    maildir = tmp_path / "maildir"
    lab.spawn("cl", sys.executable, "-m", "aiosmtpd", "-n", "-l", f"{lab.ip['cl']}:2525",
              "-c", "aiosmtpd.handlers.Mailbox", str(maildir), log_name="smtpd.log")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (maildir / "new").exists():
        time.sleep(0.05)
    time.sleep(0.3)
    return maildir


def mails(maildir) -> list:
    if not (maildir / "new").exists():
        return []
    return list(mailbox.Maildir(str(maildir), create=False))
