"""Drive a real HAProxy 2.6 on loopback to observe its server selection.

Used by tools/gen_lb_vectors.py (to record test vectors) and by the live differential test in
tests/lb/. One haproxy process serves many backends at once: a request names its backend in an
``X-Be`` header (``use_backend %[req.hdr(x-be)]``). Every server of every backend points to one of
a few responders started here, in this process: responder ``i`` answers with its index ``i``, and
server ``i`` of a backend always uses responder ``i``, so the answer tells which server HAProxy
chose. A responder holds a request carrying ``X-Hold: <id>`` until :meth:`Oracle.release` (long
requests for leastconn/first). A second listener accepts the PROXY protocol, so that
``balance source`` can be measured for arbitrary IPv4 and IPv6 clients; a TCP-mode listener serves
``balance rdp-cookie`` backends.

A *scenario* is a list of steps, each a dict with an ``op``:

  pick     send a request built from ``key`` (``uri``, ``host``, ``headers``, ``src`` via the PROXY
           protocol, ``bind`` a real 127.0.0.x source address, ``payload_hex``, ``sample``) and
           record the server that answered as ``expect``
  hold     same, but the responder keeps the request open (``id`` names it)
  release  let held request ``id`` finish
  weight   ``set weight <backend>/<server> <weight>`` on the runtime socket
  down/up  ``set server <backend>/<server> state maint|ready``

The same scenario replays on fastlb._lb.Balancer in the tests (tests/lb/replay.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Self

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
MAX_SERVERS = 16
STEP_TIMEOUT = 5.0  # seconds, per request / hold / release


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass(frozen=True)
class ServerSpec:
    name: str
    weight: int = 1
    backup: bool = False
    maxconn: int = 0
    id: int | None = None
    disabled: bool = False  # starts in maintenance ("disabled" keyword)
    slowstart: int = 0  # milliseconds

    def as_dict(self) -> dict:
        d: dict = {"name": self.name, "weight": self.weight}
        if self.backup:
            d["backup"] = True
        if self.maxconn:
            d["maxconn"] = self.maxconn
        if self.id is not None:
            d["id"] = self.id
        if self.disabled:
            d["usable"] = False
        if self.slowstart:
            d["slowstart"] = self.slowstart
        return d


@dataclass(frozen=True)
class BackendSpec:
    """A backend, in the words of its configuration lines."""

    name: str
    balance: str  # e.g. "uri whole", "hdr(host) use_domain_only", "random(2)"
    servers: tuple[ServerSpec, ...]
    hash_type: str = ""  # e.g. "consistent sdbm avalanche"; "" = default
    allbackups: bool = False
    hash_balance_factor: int = 0
    tcp: bool = False  # mode tcp (rdp-cookie)

    def config(self, ports: list[int]) -> str:
        lines = [f"backend {self.name}", f"    balance {self.balance}"]
        if self.tcp:
            lines.insert(1, "    mode tcp")
        if self.hash_type:
            lines.append(f"    hash-type {self.hash_type}")
        if self.allbackups:
            lines.append("    option allbackups")
        if self.hash_balance_factor:
            lines.append(f"    hash-balance-factor {self.hash_balance_factor}")
        for i, s in enumerate(self.servers):
            words = [f"    server {s.name} 127.0.0.1:{ports[i]} weight {s.weight}"]
            if s.backup:
                words.append("backup")
            if s.maxconn:
                words.append(f"maxconn {s.maxconn}")
            if s.id is not None:
                words.append(f"id {s.id}")
            if s.disabled:
                words.append("disabled")
            if s.slowstart:
                words.append(f"slowstart {s.slowstart}")
            lines.append(" ".join(words))
        return "\n".join(lines) + "\n"


# the hash converters, without then with avalanche, in the order of Oracle.hashes()
HASHES = " ".join(f"%[req.body,{fn}({a})]" for fn in ("sdbm", "djb2", "wt6", "crc32") for a in (0, 1))
HASH_RULE = (
    f'http-request return status 200 content-type text/plain lf-string "{HASHES}"'
    " if { req.hdr(x-hashtest) -m found }"
)


def global_config(
    fe_port: int, proxy_port: int, sock: str, backends: list[BackendSpec], ports: list[int]
) -> str:
    """The configuration: one HTTP frontend routing on X-Be (plus a PROXY-protocol listener), the
    hash converters on request bodies flagged X-Hashtest, and the backends."""
    head = f"""global
    nbthread 1
    stats socket {sock} level admin

defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend fe
    bind 127.0.0.1:{fe_port}
    bind 127.0.0.1:{proxy_port} accept-proxy
    option http-buffer-request
    {HASH_RULE}
    use_backend %[req.hdr(x-be)]

"""
    return head + "".join(b.config(ports) for b in backends)


class Oracle:
    """A haproxy process and the responders behind it."""

    def __init__(self, backends: list[BackendSpec], haproxy: str = HAPROXY):
        self.backends = {b.name: b for b in backends}
        self.haproxy = haproxy
        self.proc: asyncio.subprocess.Process | None = None
        self.tmp = tempfile.mkdtemp(prefix="fastlb-oracle-")
        self.sock = os.path.join(self.tmp, "admin.sock")
        self.servers: list[asyncio.base_events.Server] = []
        self.held: dict[str, tuple[int, asyncio.Event]] = {}
        self.hold_seen: dict[str, asyncio.Event] = {}
        self.hold_tasks: dict[str, asyncio.Task] = {}
        self.tcp_ports: dict[str, int] = {}
        self.last_status = 200

    # ---- responders ----

    async def _respond(self, idx: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.read(65536), STEP_TIMEOUT)
            if head[:4] in (b"GET ", b"POST", b"HEAD", b"PUT "):
                while b"\r\n\r\n" not in head:
                    more = await asyncio.wait_for(reader.read(65536), STEP_TIMEOUT)
                    if not more:
                        break
                    head += more
                hold = None
                for line in head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"x-hold":
                        hold = v.strip().decode()
                if hold is not None:
                    ev = asyncio.Event()
                    self.held[hold] = (idx, ev)
                    self.hold_seen.setdefault(hold, asyncio.Event()).set()
                    await asyncio.wait_for(ev.wait(), 60)
                body = str(idx).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                    % (len(body), body)
                )
            else:  # TCP mode: identify ourselves
                writer.write(b"%d" % idx)
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    # ---- life cycle ----

    async def start(self) -> None:
        nports = max([len(b.servers) for b in self.backends.values()] + [1])
        if nports > MAX_SERVERS:
            raise ValueError("too many servers in one backend")
        for i in range(nports):
            srv = await asyncio.start_server(lambda r, w, i=i: self._respond(i, r, w), "127.0.0.1", 0)
            self.servers.append(srv)
        self.srv_ports = [s.sockets[0].getsockname()[1] for s in self.servers]
        # haproxy's listening ports are chosen free just before it binds them: another process of
        # the machine may take one in between, so try again with new ones when haproxy cannot bind
        last: OSError | None = None
        for _ in range(5):
            try:
                await self._start_haproxy()
                return
            except OSError as exc:
                last = exc
        raise RuntimeError(f"haproxy could not bind its ports: {last}")

    async def _start_haproxy(self) -> None:
        tcp_backends = [b for b in self.backends.values() if b.tcp]
        ports = free_ports(2 + len(tcp_backends))
        self.fe_port, self.proxy_port = ports[:2]
        cfg = global_config(
            self.fe_port, self.proxy_port, self.sock, list(self.backends.values()), self.srv_ports
        )
        for b, p in zip(tcp_backends, ports[2:]):
            self.tcp_ports[b.name] = p
            cfg += (
                f"frontend fe_{b.name}\n    mode tcp\n    bind 127.0.0.1:{p}\n"
                f"    tcp-request inspect-delay 300ms\n"
                f"    tcp-request content accept if {{ req.rdp_cookie_cnt gt 0 }}\n"
                f"    tcp-request content accept if {{ req.len gt 0 }} WAIT_END\n"
                f"    default_backend {b.name}\n"
            )
        path = await asyncio.to_thread(self._write_config, cfg)
        self.proc = await asyncio.create_subprocess_exec(
            self.haproxy, "-db", "-q", "-f", path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                err = (await self.proc.stderr.read()).decode()
                if "cannot bind" in err or "Address already in use" in err:
                    raise OSError(err.strip())
                raise RuntimeError(f"haproxy exited: {err}")
            try:
                _r, w = await asyncio.open_connection("127.0.0.1", self.fe_port)
                w.close()
                if os.path.exists(self.sock):
                    return
            except OSError:
                pass
            await asyncio.sleep(0.05)
        raise RuntimeError("haproxy did not start listening")

    def _write_config(self, cfg: str) -> str:
        path = os.path.join(self.tmp, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(cfg)
        check = subprocess.run(
            [self.haproxy, "-c", "-q", "-f", path], capture_output=True, text=True, check=False
        )
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused the configuration:\n{check.stdout}{check.stderr}\n{cfg}")
        return path

    async def stop(self) -> None:
        for ev in [e for _, e in self.held.values()]:
            ev.set()
        for t in self.hold_tasks.values():
            t.cancel()
        if self.proc and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGUSR1)  # soft stop
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        for s in self.servers:
            s.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # ---- requests ----

    def _request_bytes(self, be: str, key: dict, hold: str | None = None) -> tuple[int, bytes]:
        b = self.backends[be]
        if b.tcp:
            return self.tcp_ports[be], bytes.fromhex(key["payload_hex"])
        uri = key.get("uri", "/")
        lines = [
            f"GET {uri} HTTP/1.1".encode("latin-1"),
            b"Host: " + key.get("host", "oracle").encode("latin-1"),
            f"X-Be: {be}".encode(),
            b"Connection: close",
        ]
        name = key.get("header_name")
        for v in key.get("headers", []):
            lines.append(name.encode() + b": " + v.encode("latin-1"))
        if "sample" in key:
            lines.append(b"X-K: " + key["sample"].encode("latin-1"))
        if hold is not None:
            lines.append(f"X-Hold: {hold}".encode())
        req = b"\r\n".join(lines) + b"\r\n\r\n"
        src = key.get("src")
        if src is not None:
            fam = "TCP6" if ":" in src else "TCP4"
            dst = "::1" if fam == "TCP6" else "127.0.0.1"
            req = f"PROXY {fam} {src} {dst} 40000 80\r\n".encode() + req
            return self.proxy_port, req
        return self.fe_port, req

    def _server_name(self, be: str, raw: bytes) -> str | None:
        self.last_status = 200
        if raw.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
            body = raw.split(b"\r\n\r\n", 1)[1]
        elif raw.startswith(b"HTTP/"):
            self.last_status = int(raw[9:12])  # 503: no server; 400: request refused before balancing
            return None
        elif not raw:
            self.last_status = 0  # connection closed without an answer
            return None
        else:
            body = raw
        try:
            return self.backends[be].servers[int(body.strip())].name
        except (ValueError, IndexError):
            return None

    async def _exchange(self, port: int, data: bytes, bind: str | None = None) -> bytes:
        """One connection: send <data>, read the answer to the end. <bind>: the client's source
        address (any 127.0.0.x works on Linux loopback), for balance source without PROXY."""
        r, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(bind, 0) if bind else None)
        try:
            w.write(data)
            await w.drain()
            return await asyncio.wait_for(r.read(), STEP_TIMEOUT)
        finally:
            w.close()

    async def pick(self, be: str, key: dict) -> str | None:
        port, data = self._request_bytes(be, key)
        return self._server_name(be, await self._exchange(port, data, key.get("bind")))

    async def hold(self, be: str, hold_id: str, key: dict) -> str | None:
        hold_id = f"{be}/{hold_id}"
        port, data = self._request_bytes(be, key, hold=hold_id)
        seen = self.hold_seen.setdefault(hold_id, asyncio.Event())
        task = asyncio.create_task(self._exchange(port, data, key.get("bind")))
        self.hold_tasks[hold_id] = task
        done, _ = await asyncio.wait(
            {task, asyncio.create_task(seen.wait())},
            timeout=STEP_TIMEOUT,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if task in done:  # answered without being held: no server, or an error
            return self._server_name(be, task.result())
        idx, _ = self.held[hold_id]
        return self.backends[be].servers[idx].name

    async def release(self, be: str, hold_id: str) -> None:
        hold_id = f"{be}/{hold_id}"
        if hold_id not in self.held:  # it was refused or timed out in a queue: nothing to finish
            return
        _, ev = self.held.pop(hold_id)
        ev.set()
        task = self.hold_tasks.pop(hold_id)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, STEP_TIMEOUT)
        await asyncio.sleep(0.03)  # let haproxy close the stream and update its counters

    async def cli(self, command: str) -> str:
        r, w = await asyncio.open_unix_connection(self.sock)
        try:
            w.write(command.encode() + b"\n")
            await w.drain()
            return (await asyncio.wait_for(r.read(), STEP_TIMEOUT)).decode()
        finally:
            w.close()

    async def hashes(self, data: bytes) -> dict[str, int]:
        """The sdbm/djb2/wt6/crc32 converters (without and with avalanche) applied to <data>."""
        req = (
            b"POST / HTTP/1.1\r\nHost: oracle\r\nX-Hashtest: 1\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(data), data)
        )
        raw = await self._exchange(self.fe_port, req)
        vals = [int(x) for x in raw.split(b"\r\n\r\n", 1)[1].split()]
        names = [
            "sdbm",
            "sdbm_avalanche",
            "djb2",
            "djb2_avalanche",
            "wt6",
            "wt6_avalanche",
            "crc32",
            "crc32_avalanche",
        ]
        return dict(zip(names, vals))

    # ---- scenarios ----

    async def run(self, be: str, steps: list[dict]) -> list[dict]:
        """Play <steps> on backend <be>; returns the steps with "expect" filled in."""
        out = []
        for step in steps:
            step = dict(step)
            op = step["op"]
            if op in ("pick", "hold"):
                self.last_status = 200
                if op == "pick":
                    step["expect"] = await self.pick(be, step.get("key", {}))
                else:
                    step["expect"] = await self.hold(be, step["id"], step.get("key", {}))
                if self.last_status != 200:
                    step["status"] = self.last_status
            elif op == "release":
                await self.release(be, step["id"])
            elif op == "weight":
                msg = (await self.cli(f"set weight {be}/{step['server']} {step['weight']}")).strip()
                if msg:
                    step["error"] = msg
            elif op in ("down", "up"):
                state = "maint" if op == "down" else "ready"
                await self.cli(f"set server {be}/{step['server']} state {state}")
            else:
                raise ValueError(f"unknown step {op!r}")
            out.append(step)
        return out


@dataclass
class Case:
    """A backend and a scenario to play on it (a vector once "expect" is recorded)."""

    backend: BackendSpec
    steps: list[dict] = field(default_factory=list)

    def as_dict(self, steps: list[dict]) -> dict:
        b = self.backend
        d: dict = {"name": b.name, "balance": b.balance, "servers": [s.as_dict() for s in b.servers]}
        if b.hash_type:
            d["hash_type"] = b.hash_type
        if b.allbackups:
            d["allbackups"] = True
        if b.hash_balance_factor:
            d["hash_balance_factor"] = b.hash_balance_factor
        if b.tcp:
            d["tcp"] = True
        d["steps"] = steps
        return d


async def record(cases: list[Case], haproxy: str = HAPROXY) -> list[dict]:
    """Run every case against one haproxy process; the cases with their observed results."""
    async with Oracle([c.backend for c in cases], haproxy) as o:
        return [c.as_dict(await o.run(c.backend.name, c.steps)) for c in cases]
