"""``vrrp_instance`` keywords and keepalived's completion checks for an instance."""
from __future__ import annotations

import math
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import TYPE_CHECKING

from .conf_model import Severity, TrackedInterface, TrackedScript, VirtualAddress, VrrpInstance
from .conf_parser import Keyword
from .numbers import read_decimal, read_int, read_unsigned
from .system import interface_exists, is_loopback

if TYPE_CHECKING:
    from .conf_keywords import ConfigBuilder, _Instance

_SCOPES = {"global": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
_VIP_FLAGS = frozenset({"home", "-nodad", "nodad", "noprefixroute", "autojoin"})


def instance_keywords(b: ConfigBuilder) -> dict[str, Keyword]:
    ctx = b.ctx

    def inst() -> _Instance:
        assert b._inst is not None
        return b._inst

    def state(words: tuple[str, ...]) -> None:
        word = ctx.arg(words, 1)
        i = inst()
        if word == "MASTER":
            i.state = "MASTER"
        elif word == "BACKUP":
            if i.state == "MASTER":
                ctx.report(Severity.GENERAL_ERROR, f"({i.name}) state previously set as MASTER - ignoring BACKUP")
            else:
                i.state = "BACKUP"
        else:
            ctx.report(Severity.GENERAL_ERROR, f"({i.name}) unknown state '{word}', defaulting to BACKUP")
            i.state = "BACKUP"

    def interface(words: tuple[str, ...]) -> None:
        name = ctx.arg(words, 1)
        i = inst()
        if b.check_system:
            if not interface_exists(name):
                ctx.report(Severity.NOTICE, f"WARNING - interface {name} for vrrp_instance {i.name} doesn't exist")
                b.missing_interface = True
            elif is_loopback(name):
                ctx.report(Severity.GENERAL_ERROR,
                           f"({i.name}) cannot use a loopback interface ({name}) for vrrp - ignoring")
                return
        i.interface = name

    def vrid(words: tuple[str, ...]) -> None:
        value = read_unsigned(ctx, ctx.arg(words, 1), 1, 255)
        if value is None:
            ctx.report(Severity.GENERAL_ERROR,
                       f"({inst().name}): VRID '{words[1]}' not valid - must be between 1 & 255")
            return
        inst().vrid = value

    def priority(words: tuple[str, ...]) -> None:
        value = read_unsigned(ctx, ctx.arg(words, 1), 1, 255)
        if value is None:
            ctx.report(Severity.GENERAL_ERROR,
                       f"({inst().name}) Priority not valid! must be between 1 & 255. Using default 100")
            value = 100
        inst().priority = value

    def advert_int(words: tuple[str, ...]) -> None:
        value = read_decimal(ctx, ctx.arg(words, 1), 0, 4294, report=True)
        if not value:
            ctx.report(Severity.GENERAL_ERROR,
                       f"({inst().name}) Advert interval ({words[1]}) not valid! Must be > 0 - ignoring")
            return
        inst().advert_int = value

    def version(words: tuple[str, ...]) -> None:
        value = read_unsigned(ctx, ctx.arg(words, 1), 2, 3)
        if value is None:
            ctx.report(Severity.GENERAL_ERROR, f"({inst().name}): Version must be either 2 or 3")
            return
        inst().version = value

    def nopreempt(words: tuple[str, ...]) -> None:
        inst().nopreempt = True

    def preempt(words: tuple[str, ...]) -> None:
        inst().nopreempt = False

    def preempt_delay(words: tuple[str, ...]) -> None:
        value = read_decimal(ctx, ctx.arg(words, 1), 0, 1000)
        if value is None:
            ctx.report(Severity.GENERAL_ERROR, f"({inst().name}) Preempt_delay not valid! must be between 0-1000")
            return
        inst().preempt_delay = value

    def auth_type(words: tuple[str, ...]) -> None:
        word = ctx.arg(words, 1)
        if word == "PASS":
            inst().auth_type = "PASS"
        elif word == "AH":
            ctx.report(Severity.GENERAL_ERROR,
                       f"({inst().name}) IPsec AH authentication is not implemented by fastlb-ha - ignoring")
        else:
            ctx.report(Severity.GENERAL_ERROR, f"({inst().name}) unknown authentication type '{word}'")

    def auth_pass(words: tuple[str, ...]) -> None:
        data = ctx.arg(words, 1).encode()
        if len(data) > 8:
            ctx.report(Severity.GENERAL_ERROR, "Truncating auth_pass to 8 characters")
            data = data[:8]
        inst().auth_pass = data

    def vips(target: str):
        def handler(words: tuple[str, ...]) -> None:
            rows = ctx.value_block(words)
            i = inst()
            for row in rows:
                vip = _parse_vip(b, i, row)
                if vip is not None:
                    getattr(i, target).append(vip)
        return handler

    def track_script(words: tuple[str, ...]) -> None:
        i = inst()
        for row in ctx.value_block(words):
            name = row[0]
            script = b.scripts.get(name)
            if script is None:
                ctx.report(Severity.GENERAL_ERROR, f"({i.name}) track script {name} not found, ignoring...")
                continue
            weight, reverse = script.weight, script.reverse
            if len(row) > 1:
                parsed = _weight_option(b, i.name, f"track script {name}", row)
                if parsed is None:
                    continue
                weight, reverse = parsed
            i.track_scripts.append(TrackedScript(name, weight, reverse))

    def track_interface(words: tuple[str, ...]) -> None:
        i = inst()
        for row in ctx.value_block(words):
            name = row[0]
            if b.check_system and not interface_exists(name):
                ctx.report(Severity.GENERAL_ERROR, f"({i.name}) tracked interface {name} doesn't exist")
                b.missing_interface = True
                continue
            weight, reverse = 0, False
            if len(row) > 1:
                parsed = _weight_option(b, i.name, f"track_interface {name}", row)
                if parsed is None:
                    continue
                weight, reverse = parsed
            i.track_interfaces.append(TrackedInterface(name, weight, reverse))

    def notify(kind: str):
        def handler(words: tuple[str, ...]) -> None:
            i = inst()
            if kind in i.notify:
                ctx.report(Severity.GENERAL_ERROR,
                           f"({i.name}) {words[0]} script already specified - ignoring {ctx.arg(words, 1)}")
                return
            command = b._command(words, with_user=True)
            if command is not None:
                i.notify[kind] = command
        return handler

    def smtp_alert(words: tuple[str, ...]) -> None:
        value = True
        if len(words) > 1:
            from .conf_keywords import _true_false

            parsed = _true_false(words[1])
            if parsed is None:
                ctx.report(Severity.GENERAL_ERROR, f"({inst().name}) invalid smtp_alert parameter {words[1]}")
                return
            value = parsed
        inst().smtp_alert = value

    def address(attr: str, what: str):
        def handler(words: tuple[str, ...]) -> None:
            text = ctx.arg(words, 1)
            try:
                value = ip_address(text)
            except ValueError:
                value = None
            if not isinstance(value, IPv4Address):
                ctx.report(Severity.GENERAL_ERROR, f"Configuration error: VRRP instance[{inst().name}] malformed "
                           f"{what} address[{text}]. Skipping...")
                return
            setattr(inst(), attr, value)
        return handler

    def unicast_peer(words: tuple[str, ...]) -> None:
        i = inst()
        for row in ctx.value_block(words):
            try:
                value = ip_address(row[0])
            except ValueError:
                value = None
            if not isinstance(value, IPv4Address):
                ctx.report(Severity.GENERAL_ERROR, f"Configuration error: VRRP instance[{i.name}] malformed "
                           f"unicast peer address[{row[0]}]. Skipping...")
                continue
            i.unicast_peers.append(value)

    def garp_delay(words: tuple[str, ...]) -> None:
        value = read_unsigned(ctx, ctx.arg(words, 1), 0, 86400)
        if value is not None:
            inst().garp_delay = float(value)

    def garp_repeat(words: tuple[str, ...]) -> None:
        value = read_unsigned(ctx, ctx.arg(words, 1), 1, 255)
        if value is not None:
            inst().garp_repeat = value

    def dont_track(words: tuple[str, ...]) -> None:
        inst().dont_track_primary = True

    def skip_check(words: tuple[str, ...]) -> None:
        inst().skip_check_adv_addr = True

    return {
        "state": Keyword(state),
        "interface": Keyword(interface),
        "virtual_router_id": Keyword(vrid),
        "priority": Keyword(priority),
        "advert_int": Keyword(advert_int),
        "version": Keyword(version),
        "nopreempt": Keyword(nopreempt),
        "preempt": Keyword(preempt),
        "preempt_delay": Keyword(preempt_delay),
        "authentication": Keyword(None, {"auth_type": Keyword(auth_type), "auth_pass": Keyword(auth_pass)}),
        "virtual_ipaddress": Keyword(vips("vips")),
        "virtual_ipaddress_excluded": Keyword(vips("evips")),
        "track_script": Keyword(track_script),
        "track_interface": Keyword(track_interface),
        "notify_master": Keyword(notify("master")),
        "notify_backup": Keyword(notify("backup")),
        "notify_fault": Keyword(notify("fault")),
        "notify_stop": Keyword(notify("stop")),
        "notify": Keyword(notify("notify")),
        "smtp_alert": Keyword(smtp_alert),
        "unicast_src_ip": Keyword(address("unicast_src_ip", "src")),
        "mcast_src_ip": Keyword(address("mcast_src_ip", "src")),
        "unicast_peer": Keyword(unicast_peer),
        "garp_master_delay": Keyword(garp_delay),
        "garp_master_repeat": Keyword(garp_repeat),
        "dont_track_primary": Keyword(dont_track),
        "skip_check_adv_addr": Keyword(skip_check),
    }


def _weight_option(b: ConfigBuilder, iname: str, what: str, row: tuple[str, ...]) -> tuple[int, bool] | None:
    if row[1] != "weight" or len(row) < 3:
        b.ctx.report(Severity.GENERAL_ERROR, f"({iname}) {what} unknown option {row[1]} - ignoring")
        return None
    value = read_int(b.ctx, row[2], -253, 253)
    if value is None:
        b.ctx.report(Severity.GENERAL_ERROR, f"({iname}) {what} weight {row[2]} must be in [-253, 253]")
        return None
    reverse = len(row) > 3 and row[3] == "reverse"
    return value, reverse


def _parse_vip(b: ConfigBuilder, inst: _Instance, row: tuple[str, ...]) -> VirtualAddress | None:
    ctx = b.ctx
    text = row[0]
    addr_text, _, prefix_text = text.partition("/")
    try:
        address = ip_address(addr_text)
    except ValueError:
        ctx.report(Severity.GENERAL_ERROR, f"VRRP parsed invalid IP {text}. skipping IP...")
        return None
    if isinstance(address, IPv6Address):
        ctx.report(Severity.GENERAL_ERROR,
                   f"({inst.name}): address family must match VRRP instance [{text}] - ignoring"
                   if not inst.bad_family and (inst.vips or inst.evips) else
                   f"({inst.name}): IPv6 address {text} - fastlb-ha speaks VRRP over IPv4 only - ignoring")
        return None
    prefix = 32
    if prefix_text:
        value = read_unsigned(ctx, prefix_text, 0, 32)
        if value is None:
            ctx.report(Severity.GENERAL_ERROR, f"Invalid address prefix len {prefix_text} for address {text} - using 32")
        else:
            prefix = value
    dev = label = None
    brd = None
    scope = 0
    i = 1
    while i < len(row):
        word = row[i]
        nxt = row[i + 1] if i + 1 < len(row) else None
        if word in ("dev", "label", "brd", "broadcast", "scope", "peer") and nxt is None:
            ctx.report(Severity.GENERAL_ERROR, f"Missing parameter for '{word}' in ip address - ignoring")
            break
        if word == "dev":
            if b.check_system and not interface_exists(nxt):
                ctx.report(Severity.NOTICE, f"WARNING - interface {nxt} for ip address {text} doesn't exist")
                b.missing_interface = True
            dev = nxt
            i += 2
        elif word == "label":
            label = nxt
            i += 2
        elif word in ("brd", "broadcast"):
            try:
                brd = IPv4Address(nxt)
            except ValueError:
                ctx.report(Severity.GENERAL_ERROR, f"Invalid broadcast address {nxt} for ip address - ignoring")
            i += 2
        elif word == "scope":
            if nxt in _SCOPES:
                scope = _SCOPES[nxt]
            elif nxt.isdigit() and int(nxt) < 256:
                scope = int(nxt)
            else:
                ctx.report(Severity.GENERAL_ERROR, f"Invalid scope '{nxt}' specified for {text} - setting to global")
            i += 2
        elif word == "peer":
            ctx.report(Severity.NOTICE, f"'peer' for ip address {text} is not implemented by fastlb-ha - ignoring")
            i += 2
        elif word in _VIP_FLAGS:
            i += 1
        else:
            ctx.report(Severity.GENERAL_ERROR, f"Unknown configuration entry '{word}' for ip address - ignoring")
            i += 1
    return VirtualAddress(address=IPv4Address(int(address)), prefixlen=prefix, dev=dev, label=label,
                          broadcast=brd, scope=scope)


def complete_instances(b: ConfigBuilder, script_names: set[str]) -> list[VrrpInstance]:
    """keepalived's vrrp_complete_instance, for the features fastlb-ha implements."""
    g = b.g
    out: list[VrrpInstance] = []
    for i in b.instances:
        def err(text: str, name: str = i.name) -> None:
            b.ctx.report(Severity.GENERAL_ERROR, f"({name}) {text}", positioned=False)

        version = i.version or g.vrrp_version
        if not i.vips:
            if version == 3:
                err("No VIP specified; at least one is required")
                continue
            err("No VIP specified; at least one is sensible")
        priority = i.priority or (255 if i.state == "MASTER" else 100)
        state = i.state or ("MASTER" if priority == 255 else "BACKUP")
        auth_type, auth_pass = i.auth_type, i.auth_pass
        if version == 3 and auth_type:
            err("VRRP version 3 does not support authentication. Ignoring.")
            auth_type = None
        elif auth_type and not auth_pass:
            err("Authentication specified but no password given. Ignoring")
            auth_type = None
        if i.vrid == 0:
            err("the virtual router id must be set")
            continue
        if i.interface is None and not i.unicast_peers:
            err("Unknown interface!")
            continue
        if i.interface is None and i.unicast_src_ip is None:
            err(": Unicast instances must have unicast_src_ip or interface")
            continue
        nopreempt = i.nopreempt
        preempt_delay = i.preempt_delay
        if priority == 255 and nopreempt:
            err("nopreempt is incompatible with priority 255. resetting nopreempt")
            nopreempt = False
        if state == "MASTER":
            if nopreempt:
                err("Warning - nopreempt will not work with initial state MASTER - clearing")
                nopreempt = False
            if preempt_delay:
                err("Warning - preempt delay will not work with initial state MASTER - clearing")
                preempt_delay = 0.0
        if preempt_delay and nopreempt:
            err("preempt_delay is incompatible with nopreempt mode - resetting")
            preempt_delay = 0.0
        advert = i.advert_int or 1.0
        if version == 2:
            if advert >= 256:
                err(f"VRRPv2 advertisement interval {advert:.2f}s is out of range. Must be less than 256s. "
                    "Setting to 255s")
                advert = 255.0
            elif advert != math.floor(advert):
                err(f"VRRPv2 advertisement interval {advert:f}s must be an integer. rounding")
                advert = float(max(1, math.floor(advert + 0.5)))
        else:
            if advert >= 40.96:
                err(f"VRRPv3 advertisement interval {advert:.2f}s is out of range. Must be less than 40.96s. "
                    "Setting to 40.95s")
                advert = 40.95
            elif abs(advert * 100 - round(advert * 100)) > 1e-6:
                err(f"VRRPv3 advertisement interval {advert:f}s must be in units of 10ms - rounding")
                advert = max(0.01, round(advert * 100) / 100)
        tracked_ifs = []
        for t in i.track_interfaces:
            if t.name == i.interface:
                err(f"Ignoring track_interface {t.name} since own interface")
                continue
            tracked_ifs.append(t)
        smtp = i.smtp_alert
        if smtp is None:
            smtp = g.smtp_alert_vrrp if g.smtp_alert_vrrp is not None else bool(g.smtp_alert)
        out.append(VrrpInstance(
            name=i.name, interface=i.interface, vrid=i.vrid, priority=priority, initial_state=state,
            advert_int=advert, version=version, nopreempt=nopreempt, preempt_delay=preempt_delay,
            auth_type=auth_type, auth_pass=auth_pass.ljust(8, b"\0") if auth_type else b"",
            vips=tuple(i.vips), excluded_vips=tuple(i.evips),
            track_scripts=tuple(t for t in i.track_scripts if t.name in script_names),
            track_interfaces=tuple(tracked_ifs), dont_track_primary=i.dont_track_primary,
            notify_master=i.notify.get("master"), notify_backup=i.notify.get("backup"),
            notify_fault=i.notify.get("fault"), notify_stop=i.notify.get("stop"), notify=i.notify.get("notify"),
            smtp_alert=smtp, unicast_src_ip=i.unicast_src_ip, unicast_peers=tuple(i.unicast_peers),
            mcast_src_ip=i.mcast_src_ip,
            garp_master_delay=g.garp_delay if i.garp_delay is None else i.garp_delay,
            garp_master_repeat=g.garp_repeat if i.garp_repeat is None else i.garp_repeat,
            skip_check_adv_addr=g.skip_check_adv_addr if i.skip_check_adv_addr is None else i.skip_check_adv_addr,
        ))
    return out

