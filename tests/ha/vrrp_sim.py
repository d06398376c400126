"""A simulated world for the VRRP state machine: a fake clock/event loop, a fake host and a wire.

``FakeLoop`` runs timer callbacks in time order while the test advances the clock, so the tests assert
exact instants (the Master_Down_Interval to the microsecond) without sleeping. ``FakeHost`` records what
a router does to the machine (VIPs, gratuitous ARPs, notifications) and ``FakeChannel`` records every
advertisement sent, decoded again by the real parser (so a malformed packet fails the test). ``Wire``
connects several routers with a latency, for elections between simulated routers.
"""
from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from fastlb.ha.conf_model import VirtualAddress, VrrpInstance
from fastlb.ha.instance import VrrpRouter
from fastlb.ha.packet import AUTH_NONE, AUTH_PASS, Advert, build_packet, parse_packet
from fastlb.ha.tracking import ScriptState

GROUP = IPv4Address("224.0.0.18")
VIP = IPv4Address("192.0.2.10")


class FakeHandle:
    def __init__(self, when: float, callback: Callable[..., object], args: tuple) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, FakeHandle]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[..., object], *args: object) -> FakeHandle:
        return self.call_at(self.now + delay, callback, *args)

    def call_at(self, when: float, callback: Callable[..., object], *args: object) -> FakeHandle:
        handle = FakeHandle(when, callback, args)
        heapq.heappush(self._heap, (when, next(self._seq), handle))
        return handle

    def add_reader(self, fd: int, callback: Callable[..., object]) -> None:
        pass

    def remove_reader(self, fd: int) -> bool:
        return True

    def run_until(self, when: float) -> None:
        """Run every callback due at or before ``when`` (in order), then set the clock to ``when``."""
        while self._heap and self._heap[0][0] <= when:
            at, _, handle = heapq.heappop(self._heap)
            if handle.cancelled:
                continue
            self.now = max(self.now, at)
            handle.callback(*handle.args)
        self.now = max(self.now, when)

    def advance(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    def every(self, interval: float, callback: Callable[[], object], start: float | None = None) -> Ticker:
        ticker = Ticker(self, interval, callback)
        ticker.handle = self.call_at(self.now if start is None else start, ticker.fire)
        return ticker


@dataclass
class Ticker:
    loop: FakeLoop
    interval: float
    callback: Callable[[], object]
    handle: FakeHandle | None = None

    def fire(self) -> None:
        self.callback()
        self.handle = self.loop.call_later(self.interval, self.fire)

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()


@dataclass
class Sent:
    time: float
    advert: Advert


class _FakeSocket:
    def fileno(self) -> int:
        return -1


class FakeChannel:
    def __init__(self, host: FakeHost, cfg: VrrpInstance) -> None:
        self.host = host
        self.cfg = cfg
        self.rx = _FakeSocket()
        self.closed = False

    def send(self, packet: bytes, dst: IPv4Address) -> None:
        cfg = self.cfg
        advert = parse_packet(packet, cfg.version, cfg.advert_int, AUTH_PASS if cfg.auth_type else AUTH_NONE,
                              cfg.auth_pass, not cfg.unicast_peers)
        assert advert.dst == dst
        self.host.sent.append(Sent(self.host.loop.now, advert))
        if self.host.wire is not None:
            self.host.wire.carry(self.host, packet)

    def close(self) -> None:
        self.closed = True


class FakeNotifier:
    def __init__(self, host: FakeHost) -> None:
        self.host = host

    def state_change(self, instance: VrrpInstance, state: str, priority: int, address: str, ifname: str) -> None:
        self.host.events.append((self.host.loop.now, state, priority))


class FakeHost:
    mcast_group = GROUP

    def __init__(self, loop: FakeLoop, source: str = "192.0.2.1") -> None:
        self.loop = loop
        self.source = IPv4Address(source)
        self.links: dict[str, bool] = {"eth0": True, "eth1": True}
        self.scripts: dict[str, ScriptState] = {}
        self.vips: set[IPv4Address] = set()
        self.stale_sweeps = 0
        self.garps: list[tuple[float, int]] = []
        self.sent: list[Sent] = []
        self.events: list[tuple[float, str, int]] = []
        self.notifier = FakeNotifier(self)
        self.wire: Wire | None = None
        self.router: VrrpRouter | None = None

    # the interface VrrpRouter uses
    def link_up(self, name: str) -> bool:
        return self.links.get(name, False)

    def script_state(self, name: str) -> ScriptState:
        return self.scripts.get(name, ScriptState.INIT)

    def source_address(self, cfg: VrrpInstance) -> IPv4Address | None:
        return cfg.unicast_src_ip or self.source

    def open_channel(self, cfg: VrrpInstance, source: IPv4Address | None) -> FakeChannel:
        return FakeChannel(self, cfg)

    def add_vips(self, cfg: VrrpInstance) -> None:
        self.vips.update(v.address for v in cfg.vips)

    def remove_vips(self, cfg: VrrpInstance, stale: bool = False) -> None:
        self.stale_sweeps += stale
        self.vips.difference_update(v.address for v in cfg.vips)

    def send_garps(self, cfg: VrrpInstance, count: int) -> None:
        self.garps.append((self.loop.now, count))

    # helpers for the tests
    def states(self) -> list[str]:
        return [state for _, state, _ in self.events]

    def priorities_sent(self) -> list[int]:
        return [s.advert.priority for s in self.sent]


@dataclass
class Wire:
    """Delivers every advert sent by one host to the routers of the others after ``latency`` seconds."""

    loop: FakeLoop
    latency: float = 0.001
    hosts: list[FakeHost] = field(default_factory=list)
    cut: bool = False

    def attach(self, host: FakeHost) -> None:
        host.wire = self
        self.hosts.append(host)

    def carry(self, sender: FakeHost, packet: bytes) -> None:
        if self.cut:
            return
        for host in self.hosts:
            if host is not sender and host.router is not None:
                self.loop.call_later(self.latency, host.router.receive, packet)


def instance(**kw: object) -> VrrpInstance:
    base: dict[str, object] = {
        "name": "VI_1", "interface": "eth0", "vrid": 51, "priority": 100, "initial_state": "BACKUP",
        "advert_int": 1.0, "auth_type": "PASS", "auth_pass": b"s3cret\0\0",
        "vips": (VirtualAddress(VIP, 24, "eth0"),), "garp_master_delay": 5.0,
    }
    base.update(kw)
    if base.get("version") == 3:
        base["auth_type"], base["auth_pass"] = None, b""
    return VrrpInstance(**base)  # type: ignore[arg-type]


def advert(cfg: VrrpInstance, src: str, priority: int, adver_int: float | None = None,
           addresses: tuple[IPv4Address, ...] | None = None) -> bytes:
    """What a peer router of ``cfg``'s virtual router sends."""
    return build_packet(Advert(
        version=cfg.version, vrid=cfg.vrid, priority=priority,
        addresses=tuple(v.address for v in cfg.vips) if addresses is None else addresses,
        adver_int=cfg.advert_int if adver_int is None else adver_int,
        auth_type=AUTH_PASS if cfg.auth_type else AUTH_NONE, auth_data=cfg.auth_pass,
        src=IPv4Address(src), dst=GROUP))


def make_router(cfg: VrrpInstance, loop: FakeLoop | None = None, source: str = "192.0.2.1",
                start: bool = True) -> tuple[VrrpRouter, FakeHost, FakeLoop]:
    loop = loop or FakeLoop()
    host = FakeHost(loop, source)
    router = VrrpRouter(cfg, host, loop=loop)  # type: ignore[arg-type]
    host.router = router
    if start:
        router.start()
    return router, host, loop


def run_coroutine(coro) -> object:
    """Run a coroutine that never really suspends (VrrpRouter.shutdown) without an event loop."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the coroutine suspended")
