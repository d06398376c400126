"""The keywords of keepalived.conf that fastlb-ha reads, with keepalived 2.2.7's messages.

keepalived reads ``global_defs`` in a first pass, before the rest of the file, so that for example
``enable_script_security`` applies to scripts defined above it: :class:`ConfigBuilder` does the same
with two passes over the file. Keywords keepalived knows but fastlb-ha does not implement (LVS, sync
groups, VMACs, ...) are skipped with a notice instead of being silently misread.
"""
from __future__ import annotations

import grp
import os
import pwd
import shlex
import shutil
from dataclasses import dataclass, field
from ipaddress import IPv4Address, ip_address

from .conf_model import (
    ConfigMessage,
    GlobalDefs,
    KeepalivedConfig,
    ScriptCommand,
    Severity,
    TrackedInterface,
    TrackedScript,
    VirtualAddress,
    VrrpInstance,
    VrrpScript,
)
from .conf_parser import Keyword, ParseContext
from .numbers import read_decimal, read_int, read_unsigned

#: keepalived keywords fastlb-ha accepts and ignores (they tune what fastlb-ha does not have).
IGNORED_GLOBALS = frozenset(["lvs_id", "lvs_sync_daemon", "lvs_flush", "lvs_flush_onstop", "lvs_timeouts", "enable_traps", "enable_dbus", "dynamic_interfaces", "vrrp_garp_interval", "vrrp_gna_interval", "vrrp_garp_master_refresh", "vrrp_garp_master_refresh_repeat", "vrrp_garp_lower_prio_delay", "vrrp_garp_lower_prio_repeat", "vrrp_lower_prio_no_advert", "vrrp_higher_prio_send_advert", "vrrp_priority", "checker_priority", "bfd_priority", "vrrp_no_swap", "checker_no_swap", "bfd_no_swap", "vrrp_rt_priority", "checker_rt_priority", "bfd_rt_priority", "vrrp_rlimit_rtime", "checker_rlimit_rtime", "bfd_rlimit_rtime", "max_auto_priority", "min_auto_priority_delay", "vrrp_iptables", "vrrp_ipsets", "nftables", "nftables_priority", "nftables_ifindex", "nftables_counters", "vrrp_check_unicast_src", "vrrp_startup_delay", "vrrp_netlink_cmd_rcv_bufs", "vrrp_netlink_cmd_rcv_bufs_force", "vrrp_netlink_monitor_rcv_bufs", "vrrp_netlink_monitor_rcv_bufs_force", "process_monitor_rcv_bufs", "process_monitor_rcv_bufs_force", "lvs_netlink_cmd_rcv_bufs", "lvs_netlink_monitor_rcv_bufs", "rs_init_notifies", "no_checker_emails", "vrrp_rx_bufs_policy", "vrrp_rx_bufs_multiplier", "umask", "snmp_socket", "enable_snmp_vrrp", "enable_snmp_checker", "enable_snmp_rfc", "enable_snmp_rfcv2", "enable_snmp_rfcv3", "notify_fifo", "notify_fifo_script", "vrrp_notify_fifo", "vrrp_notify_fifo_script", "lvs_notify_fifo", "lvs_notify_fifo_script", "vrrp_notify_priority_changes", "vrrp_min_garp", "instance", "network_namespace", "namespace_with_ipsets", "linkbeat_use_polling", "vrrp_strict", "vrrp_mcast_group6", "default_interface", "local_name"])
IGNORED_GLOBAL_BLOCKS = frozenset({"vrrp_garp_interval_block"})
IGNORED_ROOT_BLOCKS = frozenset(["vrrp_sync_group", "virtual_server", "virtual_server_group", "static_ipaddress", "static_routes", "static_rules", "bfd_instance", "vrrp_track_file", "track_file", "vrrp_track_process", "garp_group", "linkbeat_interfaces"])
IGNORED_INSTANCE = frozenset(["use_vmac", "vmac_xmit_base", "use_ipvlan", "native_ipv6", "strict_mode", "accept", "no_accept", "debug", "linkbeat_use_polling", "lvs_sync_daemon_interface", "garp_master_refresh", "garp_master_refresh_repeat", "garp_lower_prio_delay", "garp_lower_prio_repeat", "lower_prio_no_advert", "higher_prio_send_advert", "kernel_rx_buf_size", "notify_master_rx_lower_pri", "promote_secondaries", "track_src_ip", "old_unicast_checksum", "unicast_fault_no_peer", "unicast_ttl", "mcast_dst_ip", "notify_priority_changes", "down_timer_adverts"])
IGNORED_INSTANCE_BLOCKS = frozenset(["virtual_routes", "virtual_rules", "track_file", "track_process", "track_bfd"])

def _true_false(word: str) -> bool | None:
    if word in ("true", "on", "yes"):
        return True
    if word in ("false", "off", "no"):
        return False
    return None


@dataclass
class _Globals:
    router_id: str = ""
    emails: list[str] = field(default_factory=list)
    email_from: str = ""
    smtp_server: tuple[str, int] | None = None
    smtp_helo_name: str = ""
    smtp_connect_timeout: float = 30.0
    script_user: tuple[int, int] | None = None
    script_security: bool = False
    vrrp_version: int = 2
    garp_delay: float = 5.0
    garp_repeat: int = 5
    smtp_alert: bool | None = None
    smtp_alert_vrrp: bool | None = None
    mcast_group4: IPv4Address = field(default_factory=lambda: IPv4Address("224.0.0.18"))
    skip_check_adv_addr: bool = False


@dataclass
class _Script:
    name: str
    text: str = ""
    argv: tuple[str, ...] = ()
    interval: float = 1.0
    timeout: float = 0.0
    weight: int = 0
    reverse: bool = False
    rise: int = 1
    fall: int = 1
    init_fail: bool = False
    user: tuple[int, int] | None = None
    line: tuple[str, int] | None = None


@dataclass
class _Instance:
    name: str
    state: str | None = None
    interface: str | None = None
    vrid: int = 0
    priority: int = 0
    advert_int: float = 0.0
    version: int = 0
    nopreempt: bool = False
    preempt_delay: float = 0.0
    auth_type: str | None = None
    auth_pass: bytes = b""
    vips: list[VirtualAddress] = field(default_factory=list)
    evips: list[VirtualAddress] = field(default_factory=list)
    track_scripts: list[TrackedScript] = field(default_factory=list)
    track_interfaces: list[TrackedInterface] = field(default_factory=list)
    dont_track_primary: bool = False
    notify: dict[str, ScriptCommand] = field(default_factory=dict)
    smtp_alert: bool | None = None
    unicast_src_ip: IPv4Address | None = None
    unicast_peers: list[IPv4Address] = field(default_factory=list)
    mcast_src_ip: IPv4Address | None = None
    garp_delay: float | None = None
    garp_repeat: int | None = None
    skip_check_adv_addr: bool | None = None
    bad_family: bool = False


class ConfigBuilder:
    """Keyword handlers building the configuration, then keepalived's completion checks."""

    def __init__(self, ctx: ParseContext, check_system: bool = True) -> None:
        self.ctx = ctx
        self.check_system = check_system
        self.g = _Globals()
        self.scripts: dict[str, _Script] = {}
        self.instances: list[_Instance] = []
        self.missing_interface = False
        self._script_user_cache: tuple[int, int] | None | bool = False

    @staticmethod
    def empty(messages: list[ConfigMessage]) -> KeepalivedConfig:
        return KeepalivedConfig(GlobalDefs(router_id=""), messages=tuple(messages))

    # ---- tables -----------------------------------------------------------------------------------
    def global_keywords(self) -> dict[str, Keyword]:
        def enter(words: tuple[str, ...]) -> None:
            self.ctx.mute = False

        def leave() -> None:
            self.ctx.mute = True

        return {"global_defs": Keyword(enter, self._global_table(), close=leave)}

    def root_keywords(self) -> dict[str, Keyword]:
        table: dict[str, Keyword] = {
            "global_defs": Keyword(lambda w: self.ctx.skip()),
            "vrrp_script": Keyword(self._script_start, self._script_table(), close=self._script_end),
            "vrrp_instance": Keyword(self._instance_start, self._instance_table(), close=self._instance_end),
        }
        for name in IGNORED_ROOT_BLOCKS:
            table[name] = Keyword(self._ignored_block)
        return table

    def _ignored_block(self, words: tuple[str, ...]) -> None:
        self.ctx.report(Severity.NOTICE, f"'{words[0]}' is not implemented by fastlb-ha - ignoring the block")
        self.ctx.skip()

    # ---- global_defs ------------------------------------------------------------------------------
    def _global_table(self) -> dict[str, Keyword]:
        g = self.g
        ctx = self.ctx

        def set_attr(name: str):
            def handler(words: tuple[str, ...]) -> None:
                setattr(g, name, ctx.arg(words, 1))
            return handler

        def emails(words: tuple[str, ...]) -> None:
            for row in ctx.value_block(words):
                g.emails.extend(row)

        def smtp_server(words: tuple[str, ...]) -> None:
            host = ctx.arg(words, 1)
            port = 25
            if len(words) > 2:
                value = read_unsigned(ctx, words[2], 1, 65535)
                if value is None:
                    ctx.report(Severity.GENERAL_ERROR, f"Invalid smtp server {' '.join(words[1:])}")
                    return
                port = value
            g.smtp_server = (host, port)

        def smtp_timeout(words: tuple[str, ...]) -> None:
            value = read_unsigned(ctx, ctx.arg(words, 1), 0, 4294)
            if value is None:
                ctx.report(Severity.GENERAL_ERROR,
                           f"smtp_connect_timeout '{words[1]}' must be in [0, 4294] - ignoring")
                return
            g.smtp_connect_timeout = float(value) or 30.0

        def script_user(words: tuple[str, ...]) -> None:
            ids = self._lookup_user(ctx.arg(words, 1), words[2] if len(words) > 2 else None)
            if ids is None:
                ctx.report(Severity.GENERAL_ERROR, "Error setting global script uid/gid")
                return
            g.script_user = ids

        def security(words: tuple[str, ...]) -> None:
            g.script_security = True

        def version(words: tuple[str, ...]) -> None:
            value = read_unsigned(ctx, ctx.arg(words, 1), 2, 3)
            if value is None:
                ctx.report(Severity.GENERAL_ERROR, "VRRP Error: Version must be either 2 or 3")
                return
            g.vrrp_version = value

        def garp_delay(words: tuple[str, ...]) -> None:
            value = read_unsigned(ctx, ctx.arg(words, 1), 0, 86400)
            if value is not None:
                g.garp_delay = float(value)

        def garp_repeat(words: tuple[str, ...]) -> None:
            value = read_unsigned(ctx, ctx.arg(words, 1), 1, 255)
            if value is not None:
                g.garp_repeat = value

        def alert(name: str):
            def handler(words: tuple[str, ...]) -> None:
                value = _true_false(words[1]) if len(words) > 1 else True
                if value is None:
                    ctx.report(Severity.GENERAL_ERROR, f"Invalid value '{words[1]}' for global {words[0]} - ignoring")
                    return
                setattr(g, name, value)
            return handler

        def mcast4(words: tuple[str, ...]) -> None:
            try:
                address = ip_address(ctx.arg(words, 1))
            except ValueError:
                address = None
            if not isinstance(address, IPv4Address) or not address.is_multicast:
                ctx.report(Severity.GENERAL_ERROR, f"vrrp_mcast_group4 '{words[1]}' is invalid - ignoring")
                return
            g.mcast_group4 = address

        def skip_check(words: tuple[str, ...]) -> None:
            g.skip_check_adv_addr = True

        def ignored(words: tuple[str, ...]) -> None:
            ctx.report(Severity.NOTICE, f"global_defs '{words[0]}' is not implemented by fastlb-ha - ignoring")

        table = {
            "router_id": Keyword(set_attr("router_id")),
            "notification_email": Keyword(emails),
            "notification_email_from": Keyword(set_attr("email_from")),
            "smtp_server": Keyword(smtp_server),
            "smtp_helo_name": Keyword(set_attr("smtp_helo_name")),
            "smtp_connect_timeout": Keyword(smtp_timeout),
            "script_user": Keyword(script_user),
            "enable_script_security": Keyword(security),
            "vrrp_version": Keyword(version),
            "vrrp_garp_master_delay": Keyword(garp_delay),
            "vrrp_garp_master_repeat": Keyword(garp_repeat),
            "smtp_alert": Keyword(alert("smtp_alert")),
            "smtp_alert_vrrp": Keyword(alert("smtp_alert_vrrp")),
            "smtp_alert_checker": Keyword(lambda w: None),
            "vrrp_mcast_group4": Keyword(mcast4),
            "vrrp_skip_check_adv_addr": Keyword(skip_check),
        }
        for name in IGNORED_GLOBALS:
            table.setdefault(name, Keyword(ignored))
        return table

    # ---- users and scripts ------------------------------------------------------------------------
    def _lookup_user(self, user: str, group: str | None) -> tuple[int, int] | None:
        try:
            entry = pwd.getpwnam(user) if not user.isdigit() else pwd.getpwuid(int(user))
        except KeyError:
            self.ctx.report(Severity.DETAIL, f"Script user '{user}' does not exist", positioned=False)
            return None
        gid = entry.pw_gid
        if group is not None:
            try:
                gid = grp.getgrnam(group).gr_gid if not group.isdigit() else int(group)
            except KeyError:
                self.ctx.report(Severity.DETAIL, f"Script group '{group}' does not exist", positioned=False)
                return None
        return entry.pw_uid, gid

    def _default_script_user(self) -> tuple[int, int] | None:
        """keepalived's default: the global script_user, else user keepalived_script, else root (refused
        when script security is on)."""
        if self.g.script_user is not None:
            return self.g.script_user
        if self._script_user_cache is False:
            try:
                entry = pwd.getpwnam("keepalived_script")
                self._script_user_cache = (entry.pw_uid, entry.pw_gid)
            except KeyError:
                self._script_user_cache = None
        if self._script_user_cache is not None:
            return self._script_user_cache  # type: ignore[return-value]
        if self.g.script_security:
            self.ctx.report(Severity.GENERAL_ERROR, "Unable to set default user keepalived_script for script")
            return None
        return (0, 0)

    def _command(self, words: tuple[str, ...], with_user: bool = True) -> ScriptCommand | None:
        text = self.ctx.arg(words, 1)
        try:
            argv = tuple(shlex.split(text))
        except ValueError:
            self.ctx.report(Severity.GENERAL_ERROR, f"String '{text}': missing terminating quote")
            return None
        if not argv:
            return None
        if with_user and len(words) > 2:
            ids = self._lookup_user(words[2], words[3] if len(words) > 3 else None)
            if ids is None:
                self.ctx.report(Severity.DETAIL, f"Invalid user/group for notify script {argv[0]} - ignoring",
                                positioned=False)
                return None
        else:
            ids = self._default_script_user()
            if ids is None:
                return None
        return ScriptCommand(text=text, argv=argv, uid=ids[0], gid=ids[1])

    # ---- vrrp_script ------------------------------------------------------------------------------
    def _script_start(self, words: tuple[str, ...]) -> None:
        name = self.ctx.arg(words, 1)
        self._script = _Script(name=name)
        if name in self.scripts:
            self.ctx.report(Severity.GENERAL_ERROR, f"vrrp script {name} already defined - ignoring")
            self.ctx.skip()
            self._script = None  # type: ignore[assignment]

    def _script_table(self) -> dict[str, Keyword]:
        ctx = self.ctx

        def script(words: tuple[str, ...]) -> None:
            text = " ".join(words[1:]) if len(words) > 2 else ctx.arg(words, 1)
            self._script.text = text
            try:
                self._script.argv = tuple(shlex.split(text))
            except ValueError:
                ctx.report(Severity.GENERAL_ERROR, f"String '{text}': missing terminating quote")

        def interval(words: tuple[str, ...]) -> None:
            value = read_decimal(ctx, ctx.arg(words, 1), 0, 86400, report=False)
            if not value:
                ctx.report(Severity.GENERAL_ERROR,
                           f"({self._script.name}): vrrp script interval must be greater than 0, setting to 1")
                value = 1.0
            self._script.interval = value

        def timeout(words: tuple[str, ...]) -> None:
            value = read_decimal(ctx, ctx.arg(words, 1), 0, 86400, report=False)
            if not value:
                ctx.report(Severity.GENERAL_ERROR,
                           f"({self._script.name}): vrrp script timeout must be greater than 0, setting to 1")
                value = 1.0
            self._script.timeout = value

        def weight(words: tuple[str, ...]) -> None:
            value = read_int(ctx, ctx.arg(words, 1), -253, 253)
            if value is None:
                ctx.report(Severity.GENERAL_ERROR,
                           f"vrrp_script {self._script.name} weight {words[1]} must be in [-253, 253]")
                return
            self._script.weight = value
            if len(words) > 2:
                if words[2] == "reverse":
                    self._script.reverse = True
                else:
                    ctx.report(Severity.GENERAL_ERROR, f"vrrp_script {self._script.name} weight has unknown "
                               f"option {words[2]}")

        def rise_fall(which: str):
            def handler(words: tuple[str, ...]) -> None:
                value = read_int(ctx, ctx.arg(words, 1), 1, 2147483647)
                if value is None:
                    ctx.report(Severity.GENERAL_ERROR, f"({self._script.name}): vrrp script {which} value "
                               f"'{words[1]}' invalid, defaulting to 1")
                    value = 1
                setattr(self._script, which, value)
            return handler

        def init_fail(words: tuple[str, ...]) -> None:
            self._script.init_fail = True

        def user(words: tuple[str, ...]) -> None:
            ids = self._lookup_user(ctx.arg(words, 1), words[2] if len(words) > 2 else None)
            if ids is None:
                ctx.report(Severity.GENERAL_ERROR, f"Unable to set uid/gid for script {self._script.name}")
                return
            self._script.user = ids

        return {
            "script": Keyword(script),
            "interval": Keyword(interval),
            "timeout": Keyword(timeout),
            "weight": Keyword(weight),
            "rise": Keyword(rise_fall("rise")),
            "fall": Keyword(rise_fall("fall")),
            "init_fail": Keyword(init_fail),
            "user": Keyword(user),
        }

    def _script_end(self) -> None:
        script = self._script
        if script is None:
            return
        if not script.argv:
            self.ctx.report(Severity.GENERAL_ERROR, f"No script specified for vrrp_script {script.name} - removing")
            return
        if script.user is None:
            ids = self._default_script_user()
            if ids is None:
                self.ctx.report(Severity.GENERAL_ERROR,
                                f"Unable to set default user for vrrp script {script.name} - removing")
                return
            script.user = ids
        if self.ctx.current is not None:
            script.line = (self.ctx.current.file, self.ctx.current.lineno)
        self.scripts[script.name] = script

    # ---- vrrp_instance ----------------------------------------------------------------------------
    def _instance_start(self, words: tuple[str, ...]) -> None:
        self._inst: _Instance | None = None
        if len(words) != 2:
            self.ctx.report(Severity.GENERAL_ERROR, "vrrp_instance must have a name")
            self.ctx.skip()
            return
        if any(i.name == words[1] for i in self.instances):
            self.ctx.report(Severity.GENERAL_ERROR, f"vrrp instance {words[1]} already defined")
            self.ctx.skip()
            return
        self._inst = _Instance(name=words[1])
        self.instances.append(self._inst)

    def _instance_end(self) -> None:
        pass

    def _instance_table(self) -> dict[str, Keyword]:
        from .conf_instance import instance_keywords

        table = instance_keywords(self)
        for name in IGNORED_INSTANCE:
            table.setdefault(name, Keyword(self._ignored_instance_keyword))
        for name in IGNORED_INSTANCE_BLOCKS:
            table.setdefault(name, Keyword(self._ignored_instance_block))
        return table

    def _ignored_instance_keyword(self, words: tuple[str, ...]) -> None:
        name = self._inst.name if self._inst else "?"
        self.ctx.report(Severity.NOTICE, f"({name}) '{words[0]}' is not implemented by fastlb-ha - ignoring")

    def _ignored_instance_block(self, words: tuple[str, ...]) -> None:
        self._ignored_instance_keyword(words)
        self.ctx.skip()

    # ---- completion -------------------------------------------------------------------------------
    def finish(self, fatal: bool) -> KeepalivedConfig:
        from .conf_instance import complete_instances

        instances: list[VrrpInstance] = []
        scripts: list[VrrpScript] = []
        if not fatal and self.missing_interface:
            # keepalived stops here: it will not run a configuration naming a missing interface.
            self.ctx.report(Severity.GENERAL_ERROR, "Non-existent interface specified in configuration",
                            positioned=False)
        elif not fatal:
            scripts = self._complete_scripts()
            instances = complete_instances(self, {s.name for s in scripts})
            self._security_check(scripts, instances)
        g = self.g
        defs = GlobalDefs(
            router_id=g.router_id or _hostname(),
            notification_email=tuple(g.emails),
            notification_email_from=g.email_from or f"keepalived@{_hostname()}",
            smtp_server=g.smtp_server,
            smtp_helo_name=g.smtp_helo_name or _hostname(),
            smtp_connect_timeout=g.smtp_connect_timeout,
            script_uid=(g.script_user or (0, 0))[0],
            script_gid=(g.script_user or (0, 0))[1],
            enable_script_security=g.script_security,
            vrrp_version=g.vrrp_version,
            vrrp_garp_master_delay=g.garp_delay,
            vrrp_garp_master_repeat=g.garp_repeat,
            vrrp_mcast_group4=g.mcast_group4,
        )
        return KeepalivedConfig(defs, tuple(scripts), tuple(instances), tuple(self.ctx.messages), fatal=fatal,
                                runnable=not fatal and not self.missing_interface)

    def _complete_scripts(self) -> list[VrrpScript]:
        used = {t.name for inst in self.instances for t in inst.track_scripts}
        result = []
        for script in self.scripts.values():
            if script.name not in used:
                continue  # keepalived drops scripts no instance tracks
            argv = script.argv
            if self.check_system and not _is_builtin(argv):
                resolved = self._resolve(argv[0])
                if resolved is None:
                    self.ctx.report(Severity.GENERAL_ERROR,
                                    f"Disabling track script {script.name} since not found/accessible",
                                    positioned=False)
                    for inst in self.instances:
                        inst.track_scripts = [t for t in inst.track_scripts if t.name != script.name]
                    continue
                argv = (resolved, *argv[1:])
            user = script.user or (0, 0)
            result.append(VrrpScript(
                name=script.name,
                command=ScriptCommand(script.text, argv, user[0], user[1]),
                interval=script.interval, timeout=script.timeout, weight=script.weight,
                weight_reverse=script.reverse, rise=script.rise, fall=script.fall, init_fail=script.init_fail,
            ))
        return result

    def _resolve(self, program: str) -> str | None:
        if "/" in program:
            return program if os.access(program, os.X_OK) else None
        found = shutil.which(program)
        if found:
            self.ctx.report(Severity.DETAIL, f"WARNING - script `{program}` resolved by path search to "
                            f"`{found}`. Please specify full path.", positioned=False)
        return found

    def _security_check(self, scripts: list[VrrpScript], instances: list[VrrpInstance]) -> None:
        commands = [s.command for s in scripts]
        for inst in instances:
            commands += [c for c in (inst.notify_master, inst.notify_backup, inst.notify_fault,
                                     inst.notify_stop, inst.notify) if c is not None]
        commands = [c for c in commands if not _is_builtin(c.argv)]
        if commands and not self.g.script_security and any(c.uid == 0 for c in commands):
            self.ctx.report(Severity.SECURITY_ERROR,
                            "SECURITY VIOLATION - scripts are being executed but script_security not enabled.",
                            positioned=False)


def _is_builtin(argv: tuple[str, ...]) -> bool:
    """``fastlb-ha check-lb ...`` is run inside fastlb-ha (see :mod:`.lbcheck`)."""
    return len(argv) >= 2 and os.path.basename(argv[0]) in ("fastlb-ha", "fastlb") and (
        argv[1] == "check-lb" or argv[1:3] == ("ha", "check-lb"))


def _hostname() -> str:
    import socket

    return socket.gethostname()

