"""The running speaker: the host's interfaces and addresses, scripts, instances, signals.

SIGTERM/SIGINT stop it the keepalived way (masters send priority 0 and remove their VIPs, STOP is
notified, pending alert mails get up to ``smtp_connect_timeout`` to leave). Link and address changes
come from an rtnetlink monitor socket, so a link going down puts its instances in FAULT at once.
"""
from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from ipaddress import IPv4Address

from .alerts import Notifier
from .channel import VrrpChannel
from .conf_keywords import _is_builtin
from .conf_model import KeepalivedConfig, VrrpInstance, VrrpScript
from .garp import GarpSender
from .instance import VrrpRouter
from .lbcheck import builtin_check
from .netlink import (
    RTM_DELADDR,
    RTM_DELLINK,
    RTM_NEWADDR,
    RTM_NEWLINK,
    LinkInfo,
    Netlink,
    monitor_socket,
    parse_link,
    parse_messages,
)
from .tracking import ScriptState, ScriptTracker

log = logging.getLogger("fastlb.ha")


class Host:
    """What the instances need from the machine, in one place."""

    def __init__(self, config: KeepalivedConfig) -> None:
        self.config = config
        self.netlink = Netlink()
        self.garp = GarpSender()
        self.notifier = Notifier(config.global_defs)
        self.mcast_group = config.global_defs.vrrp_mcast_group4
        self.links: dict[str, LinkInfo] = {}
        self.trackers: dict[str, ScriptTracker] = {}
        self.routers: list[VrrpRouter] = []
        self.refresh_links()

    def refresh_links(self) -> None:
        self.links = {link.name: link for link in self.netlink.links()}

    def link_up(self, name: str) -> bool:
        link = self.links.get(name)
        return link is not None and link.up

    def script_state(self, name: str) -> ScriptState:
        tracker = self.trackers.get(name)
        return tracker.state if tracker is not None else ScriptState.INIT

    def _vip_ifindex(self, cfg: VrrpInstance, dev: str | None) -> int | None:
        name = dev or cfg.interface
        link = self.links.get(name) if name else None
        return link.ifindex if link else None

    def source_address(self, cfg: VrrpInstance) -> IPv4Address | None:
        """unicast_src_ip/mcast_src_ip, else the interface's primary IPv4 address (not one of our VIPs)."""
        if cfg.unicast_src_ip is not None:
            return cfg.unicast_src_ip
        if cfg.mcast_src_ip is not None:
            return cfg.mcast_src_ip
        link = self.links.get(cfg.interface or "")
        if link is None:
            return None
        vips = {v.address for v in cfg.vips} | {v.address for v in cfg.excluded_vips}
        for info in self.netlink.addresses():
            if info.ifindex == link.ifindex and not info.secondary and info.address not in vips:
                return info.address
        return None

    def open_channel(self, cfg: VrrpInstance, source: IPv4Address | None) -> VrrpChannel:
        link = self.links.get(cfg.interface or "")
        return VrrpChannel(cfg.interface, link.ifindex if link else 0, self.mcast_group, cfg.unicast_src_ip,
                           unicast=bool(cfg.unicast_peers))

    def add_vips(self, cfg: VrrpInstance) -> None:
        for vip in (*cfg.vips, *cfg.excluded_vips):
            ifindex = self._vip_ifindex(cfg, vip.dev)
            if ifindex is None:
                log.warning("(%s) no interface for VIP %s", cfg.name, vip)
                continue
            try:
                self.netlink.add_address(ifindex, vip.address, vip.prefixlen, vip.label, vip.broadcast, vip.scope)
            except OSError as exc:
                log.warning("(%s) cannot add VIP %s: %s", cfg.name, vip, exc)

    def remove_vips(self, cfg: VrrpInstance, stale: bool = False) -> None:
        for vip in (*cfg.vips, *cfg.excluded_vips):
            ifindex = self._vip_ifindex(cfg, vip.dev)
            if ifindex is None:
                continue
            try:
                removed = self.netlink.del_address(ifindex, vip.address, vip.prefixlen)
            except OSError as exc:
                log.warning("(%s) cannot remove VIP %s: %s", cfg.name, vip, exc)
                continue
            if removed and stale:
                log.info("(%s) removed stale VIP %s left by a previous run", cfg.name, vip)

    def send_garps(self, cfg: VrrpInstance, count: int) -> None:
        for vip in (*cfg.vips, *cfg.excluded_vips):
            name = vip.dev or cfg.interface
            link = self.links.get(name or "")
            if link is None or len(link.mac) != 6:
                continue
            try:
                self.garp.send(link.name, link.mac, vip.address, count)
            except OSError as exc:
                log.info("(%s) gratuitous ARP on %s failed: %s", cfg.name, link.name, exc)

    def close(self) -> None:
        self.garp.close()
        self.netlink.close()


def script_tracker(script: VrrpScript, on_change: Callable[[VrrpScript, ScriptState], None]) -> ScriptTracker:
    """The runner of one vrrp_script: ``fastlb-ha check-lb ...`` runs inside this process, without forking."""
    builtin = builtin_check if _is_builtin(script.command.argv) else None
    return ScriptTracker(script, on_change, builtin)


class Speaker:
    def __init__(self, config: KeepalivedConfig) -> None:
        self.config = config
        self.host: Host | None = None
        self._stop = asyncio.Event()
        self._monitor = None

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        host = self.host = Host(self.config)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        for script in self.config.scripts:
            host.trackers[script.name] = script_tracker(script, self._script_changed)
        for cfg in self.config.instances:
            host.routers.append(VrrpRouter(cfg, host))
        self._monitor = monitor_socket()
        loop.add_reader(self._monitor.fileno(), self._on_netlink)
        for router in host.routers:
            router.start()
        for tracker in host.trackers.values():
            tracker.start()
        await self._stop.wait()
        log.info("Stopping")
        for tracker in host.trackers.values():
            await tracker.stop()
        for router in host.routers:
            await router.shutdown()
        await host.notifier.drain(max(1.0, min(self.config.global_defs.smtp_connect_timeout, 10.0)))
        loop.remove_reader(self._monitor.fileno())
        self._monitor.close()
        host.close()
        log.info("Stopped")
        return 0

    def _script_changed(self, script: VrrpScript, state: ScriptState) -> None:
        assert self.host is not None
        for router in self.host.routers:
            if any(t.name == script.name for t in router.cfg.track_scripts):
                router.tracking_changed()

    def _on_netlink(self) -> None:
        assert self.host is not None and self._monitor is not None
        changed = False
        while True:
            try:
                data = self._monitor.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            for kind, _flags, payload in parse_messages(data):
                if kind in (RTM_NEWLINK, RTM_DELLINK):
                    link = parse_link(payload)
                    if kind == RTM_DELLINK:
                        self.host.links.pop(link.name, None)
                    else:
                        old = self.host.links.get(link.name)
                        if old is not None and old.up != link.up:
                            log.info("Kernel is reporting: interface %s %s", link.name, "UP" if link.up else "DOWN")
                        self.host.links[link.name] = link
                    changed = True
                elif kind in (RTM_NEWADDR, RTM_DELADDR):
                    changed = True
        if changed:
            for router in self.host.routers:
                router.tracking_changed()
