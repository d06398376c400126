"""One VRRP instance: keepalived 2.2.7's state machine (INIT, BACKUP, MASTER, FAULT).

Timers (RFC 3768 6.1 / RFC 5798 6.1, keepalived's VRRP_TIMER_SKEW):
- Skew_Time = (256 - priority) / 256 s in v2, (256 - priority) * Master_Adver_Interval / 256 in v3,
  with the *effective* priority (base + tracking), in whole microseconds as keepalived counts them;
- Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time;
- a BACKUP that receives priority 0 (a master stopping) sets its down timer to Skew_Time;
- a BACKUP whose effective priority rises moves its running down timer earlier by the shrinking of
  Master_Down_Interval (keepalived's vrrp_set_effective_priority).

Election (keepalived's vrrp_state_backup / vrrp_state_master_rx): a BACKUP accepts (restarts its down
timer on) an advert with priority >= its own, any advert with ``nopreempt``, and lower ones while a
``preempt_delay`` runs; a lower advert otherwise is discarded so the down timer fires and it takes over.
A MASTER that hears a lower priority answers at once (forcing a new election); one that hears a higher
priority, or the same with a higher primary address, becomes BACKUP. Equal priorities: higher address wins.
"""
from __future__ import annotations

import asyncio
import logging
from ipaddress import IPv4Address
from typing import TYPE_CHECKING

from .conf_model import VrrpInstance
from .packet import AUTH_NONE, AUTH_PASS, Advert, PacketError, build_packet, parse_packet, peek_vrid
from .tracking import FAULT, WAIT, ScriptState, script_contribution

if TYPE_CHECKING:
    from .daemon import Host

log = logging.getLogger("fastlb.ha")

INIT, BACKUP, MASTER, FAULT_STATE = "INIT", "BACKUP", "MASTER", "FAULT"


class VrrpRouter:
    def __init__(self, cfg: VrrpInstance, host: Host, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.cfg = cfg
        self.host = host
        self.state = INIT
        self.master_adver_int = cfg.advert_int
        self.effective_priority = cfg.priority
        self.script_states: dict[str, ScriptState] = {t.name: host.script_state(t.name) for t in cfg.track_scripts}
        self.fault_reasons: set[str] = set()
        self.preempt_time: float | None = None
        self.vips_set = False
        self.source: IPv4Address | None = None
        self.channel = None
        self._down_handle: asyncio.TimerHandle | None = None
        self._advert_handle: asyncio.TimerHandle | None = None
        self._garp_handle: asyncio.TimerHandle | None = None
        self._down_deadline: float | None = None
        self._master_addr: IPv4Address | None = None
        self.owner_conflict = False  # another router also claims priority 255: we use 254 (as keepalived)
        self.loop = loop or asyncio.get_running_loop()

    # ---- helpers ----------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def multicast(self) -> bool:
        return not self.cfg.unicast_peers

    def skew(self) -> float:
        # keepalived's VRRP_TIMER_SKEW, in microseconds: v3 uses centiseconds * 625 / 16 (= 10^6 / 256).
        weight = 256 - self.effective_priority
        if self.cfg.version == 3:
            return (weight * round(self.master_adver_int * 100) * 625 // 16) / 1e6
        return (weight * 1_000_000 // 256) / 1e6

    def down_interval(self) -> float:
        return 3 * self.master_adver_int + self.skew()

    def _compute_priority(self) -> tuple[int, bool, bool]:
        """(effective priority, fault from scripts, waiting for a first result)."""
        total = self.cfg.priority
        fault = wait = False
        for track in self.cfg.track_scripts:
            contribution = script_contribution(track, self.script_states[track.name])
            if contribution is FAULT:
                fault = True
            elif contribution is WAIT:
                wait = True
            else:
                total += contribution  # type: ignore[operator]
        for track in self.cfg.track_interfaces:
            up = self.host.link_up(track.name)
            multiplier = -1 if track.reverse else 1
            if track.weight == 0:
                if up != (multiplier == 1):
                    fault = True
            elif up and track.weight > 0 or not up and track.weight < 0:
                total += track.weight * multiplier
        if self.cfg.priority == 255:
            return (254 if self.owner_conflict else 255), fault, wait
        return max(1, min(254, total)), fault, wait

    def _cancel(self, attr: str) -> None:
        handle = getattr(self, attr)
        if handle is not None:
            handle.cancel()
            setattr(self, attr, None)

    def _set_down_timer(self, delay: float) -> None:
        self._cancel("_down_handle")
        delay = max(0.0, delay)
        self._down_deadline = self.loop.time() + delay
        self._down_handle = self.loop.call_later(delay, self._down_timer_expired)

    def down_timer_remaining(self) -> float | None:
        """Seconds until this BACKUP takes over, None when no down timer runs."""
        if self._down_handle is None or self._down_deadline is None:
            return None
        return max(0.0, self._down_deadline - self.loop.time())

    def _advert(self, priority: int, dst: IPv4Address) -> Advert:
        return Advert(
            version=self.cfg.version, vrid=self.cfg.vrid, priority=priority,
            addresses=tuple(v.address for v in self.cfg.vips), adver_int=self.cfg.advert_int,
            auth_type=AUTH_PASS if self.cfg.auth_type == "PASS" else AUTH_NONE, auth_data=self.cfg.auth_pass,
            src=self.source or IPv4Address(0), dst=dst)

    def send_advert(self, priority: int) -> None:
        if self.channel is None or self.source is None:
            return
        targets = self.cfg.unicast_peers or (self.host.mcast_group,)
        for dst in targets:
            try:
                self.channel.send(build_packet(self._advert(priority, dst)), dst)
            except OSError as exc:
                if priority != 0:
                    log.info("(%s) send advert error %s", self.name, exc)

    def _notify(self, state: str) -> None:
        log.info("(%s) Entering %s STATE", self.name, state)
        self.host.notifier.state_change(self.cfg, state, self.effective_priority, str(self.source or "-"),
                                        self.cfg.interface or "-")

    # ---- life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self.script_states = {t.name: self.host.script_state(t.name) for t in self.cfg.track_scripts}
        self.source = self.host.source_address(self.cfg)
        if self.cfg.interface and not self.cfg.dont_track_primary and not self.host.link_up(self.cfg.interface):
            self.fault_reasons.add("interface")
        if self.source is None:
            self.fault_reasons.add("address")
        elif self.cfg.interface:
            log.debug("Assigned address %s for interface %s", self.source, self.cfg.interface)
        try:
            self.channel = self.host.open_channel(self.cfg, self.source)
            self.loop.add_reader(self.channel.rx.fileno(), self._on_readable)
        except OSError as exc:
            log.error("(%s) cannot open VRRP sockets: %s", self.name, exc)
            self.fault_reasons.add("socket")
        log.debug("(%s) removing VIPs.", self.name)
        self.host.remove_vips(self.cfg, stale=True)
        self.effective_priority, fault, wait = self._compute_priority()
        if self.fault_reasons or fault:
            self._enter_fault(initial=True)
        elif wait:
            log.debug("(%s) waiting for the first result of its track scripts", self.name)
        else:
            self._enter_initial()

    def _enter_initial(self, at_start: bool = True) -> None:
        # keepalived 2.2.7 starts every instance in BACKUP, ``state MASTER`` included (it then takes over
        # when its down timer fires, unless it hears a better master); only the address owner (priority
        # 255) becomes MASTER at once, as RFC 3768 6.4.1 asks.
        if self.cfg.priority == 255:
            self._goto_master()
        else:
            # keepalived says "(init)" only when the instance starts at once, not after waiting for scripts
            log.info("(%s) Entering BACKUP STATE%s", self.name, " (init)" if at_start else "")
            self.state = BACKUP
            self.host.notifier.state_change(self.cfg, BACKUP, self.effective_priority, str(self.source),
                                            self.cfg.interface or "-")
            self.master_adver_int = self.cfg.advert_int
            self._set_down_timer(self.down_interval())

    async def shutdown(self) -> None:
        """keepalived's stop: a MASTER sends priority 0 and removes its VIPs, then STOP is notified."""
        for attr in ("_down_handle", "_advert_handle", "_garp_handle"):
            self._cancel(attr)
        if self.state == MASTER:
            self.send_advert(0)
            log.info("(%s) sent 0 priority", self.name)
        if self.vips_set or self.state == MASTER:
            self.host.remove_vips(self.cfg)
            self.vips_set = False
        self.state = "STOP"
        self.host.notifier.state_change(self.cfg, "STOP", self.effective_priority, str(self.source or "-"),
                                        self.cfg.interface or "-")
        if self.channel is not None:
            self.loop.remove_reader(self.channel.rx.fileno())
            self.channel.close()
            self.channel = None

    # ---- transitions ------------------------------------------------------------------------------
    def _goto_master(self) -> None:
        self._cancel("_down_handle")
        self.state = MASTER
        self.master_adver_int = self.cfg.advert_int
        # The old master must drop the VIPs before our gratuitous ARPs: advert first (as keepalived).
        self.send_advert(self.effective_priority)
        log.info("(%s) Entering MASTER STATE", self.name)
        self.host.add_vips(self.cfg)
        self.vips_set = True
        self.host.send_garps(self.cfg, self.cfg.garp_master_repeat)
        if self.cfg.garp_master_delay > 0:
            self._garp_handle = self.loop.call_later(self.cfg.garp_master_delay, self._delayed_garps)
        self.host.notifier.state_change(self.cfg, MASTER, self.effective_priority, str(self.source),
                                        self.cfg.interface or "-")
        self._schedule_advert()

    def _delayed_garps(self) -> None:
        self._garp_handle = None
        if self.state == MASTER:
            self.host.send_garps(self.cfg, self.cfg.garp_master_repeat)

    def _schedule_advert(self) -> None:
        self._cancel("_advert_handle")
        self._advert_handle = self.loop.call_later(self.cfg.advert_int, self._advert_timer)

    def _advert_timer(self) -> None:
        self._advert_handle = None
        if self.state == MASTER:
            self.send_advert(self.effective_priority)
            self._schedule_advert()

    def _leave_master(self, new_state: str) -> None:
        self._cancel("_advert_handle")
        self._cancel("_garp_handle")
        if new_state == FAULT_STATE:
            self.send_advert(0)
        self.host.remove_vips(self.cfg)
        self.vips_set = False
        self.state = new_state
        self.preempt_time = None
        self._notify(new_state)

    def _down_timer_expired(self) -> None:
        self._down_handle = None
        if self.state == BACKUP:
            self._goto_master()

    def _enter_fault(self, initial: bool = False) -> None:
        self._cancel("_down_handle")
        if self.state == MASTER:
            self._leave_master(FAULT_STATE)
        elif self.state != FAULT_STATE:
            self.state = FAULT_STATE
            self._notify(FAULT_STATE)

    def _leave_fault(self) -> None:
        if self.cfg.priority == 255:
            self._goto_master()
            return
        self.state = BACKUP
        self.preempt_time = None
        self._notify(BACKUP)
        self.master_adver_int = self.cfg.advert_int
        self._set_down_timer(self.down_interval())

    def tracking_changed(self) -> None:
        """A script result, a link state or an address changed: recompute priority and fault state."""
        self.script_states = {t.name: self.host.script_state(t.name) for t in self.cfg.track_scripts}
        if self.cfg.interface and not self.cfg.dont_track_primary:
            if self.host.link_up(self.cfg.interface):
                self.fault_reasons.discard("interface")
            else:
                self.fault_reasons.add("interface")
        self.source = self.host.source_address(self.cfg) or self.source
        priority, fault, wait = self._compute_priority()
        if priority != self.effective_priority:
            log.info("(%s) Changing effective priority from %d to %d", self.name, self.effective_priority, priority)
            self._change_priority(priority)
        if self.state == "STOP":
            return
        if self.fault_reasons or fault:
            if self.state != FAULT_STATE:
                self._enter_fault()
        elif self.state == FAULT_STATE or (self.state == INIT and not wait):
            if self.state == INIT:
                self._enter_initial(at_start=False)
            else:
                self._leave_fault()

    def _change_priority(self, priority: int) -> None:
        old_interval = self.down_interval()
        raised = priority > self.effective_priority
        self.effective_priority = priority
        remaining = self.down_timer_remaining()
        if self.state == BACKUP and raised and remaining is not None:
            self._set_down_timer(remaining - (old_interval - self.down_interval()))

    # ---- receiving --------------------------------------------------------------------------------
    def _on_readable(self) -> None:
        while self.channel is not None:
            data = self.channel.receive()
            if data is None:
                return
            if peek_vrid(data) != self.cfg.vrid:
                continue
            self.receive(data)

    def receive(self, data: bytes) -> None:
        if self.state not in (BACKUP, MASTER):
            return
        cfg = self.cfg
        try:
            adv = parse_packet(data, cfg.version, cfg.advert_int,
                               AUTH_PASS if cfg.auth_type == "PASS" else AUTH_NONE, cfg.auth_pass, self.multicast)
        except PacketError as exc:
            log.info("(%s) %s", self.name, exc)
            return
        if self.source is not None and adv.src == self.source:
            return  # our own advertisement
        check_addrs = self.state == MASTER or not cfg.skip_check_adv_addr or adv.src != self._master_addr
        if check_addrs and not self._addresses_match(adv):
            return
        if cfg.unicast_peers and adv.src not in cfg.unicast_peers:
            log.info("(%s) unicast source address %s not a unicast peer", self.name, adv.src)
            return
        if self.state == BACKUP:
            self._backup_rx(adv)
        else:
            self._master_rx(adv)

    def _addresses_match(self, adv: Advert) -> bool:
        mine = [v.address for v in self.cfg.vips]
        if len(adv.addresses) != len(mine):
            log.info("(%s) received an unexpected ip number count %d, expected %d!", self.name,
                     len(adv.addresses), len(mine))
            return False
        for address in mine:
            if address not in adv.addresses:
                log.info("(%s) ip address associated with VRID %d not present in MASTER advert : %s",
                         self.name, self.cfg.vrid, address)
                return False
        return True

    def _backup_rx(self, adv: Advert) -> None:
        cfg = self.cfg
        now = self.loop.time()
        if adv.priority == 0:
            log.debug("(%s) Backup received priority 0 advertisement", self.name)
            self._set_down_timer(self.skew())
            return
        delaying = cfg.preempt_delay and (self.preempt_time is None or now < self.preempt_time)
        if cfg.nopreempt or adv.priority >= self.effective_priority or delaying:
            if cfg.version == 3 and self.master_adver_int != adv.adver_int:
                log.debug("(%s) advertisement interval updated from %dms to %dms by master", self.name,
                          round(self.master_adver_int * 1000), round(adv.adver_int * 1000))
                self.master_adver_int = adv.adver_int
            self._master_addr = adv.src
            self._set_down_timer(self.down_interval())
            if cfg.preempt_delay:
                if adv.priority >= self.effective_priority:
                    if self.preempt_time is not None:
                        log.debug("(%s) stop preempt delay", self.name)
                    self.preempt_time = None
                elif self.preempt_time is None:
                    log.debug("(%s) start preempt delay (%.6f)", self.name, cfg.preempt_delay)
                    self.preempt_time = now + cfg.preempt_delay
            return
        log.info("(%s) received lower priority (%d) advert from %s - discarding", self.name, adv.priority, adv.src)
        self._master_addr = adv.src

    def _master_rx(self, adv: Advert) -> None:
        mine = self.effective_priority
        higher_addr = self.source is not None and int(adv.src) > int(self.source)
        if adv.priority == 0:
            log.debug("(%s) Master received priority 0 message", self.name)
            self.send_advert(mine)
            return
        if adv.priority == mine == 255 and adv.src != self.source:
            log.info("(%s) CONFIGURATION ERROR: local instance and a remote instance are both configured as "
                     "address owner, please fix - reducing local priority", self.name)
            self.owner_conflict = True
            self.effective_priority = mine = 254
        if adv.priority < mine or (adv.priority == mine and not higher_addr):
            log.info("(%s) Received advert from %s with lower priority %d, ours %d, forcing new election",
                     self.name, adv.src, adv.priority, mine)
            self.send_advert(mine)
            return
        if adv.priority > mine:
            log.info("(%s) Master received advert from %s with higher priority %d, ours %d",
                     self.name, adv.src, adv.priority, mine)
        else:
            log.info("(%s) Master received advert from %s with same priority %d but higher IP address than ours",
                     self.name, adv.src, adv.priority)
        if self.cfg.version == 3:
            self.master_adver_int = adv.adver_int
        self._master_addr = adv.src
        self._leave_master(BACKUP)
        self._set_down_timer(self.down_interval())
