"""The parsed keepalived configuration (immutable) and the diagnostics produced while reading it."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from ipaddress import IPv4Address


class Severity(enum.IntEnum):
    """keepalived's ``config_err_t``, in its order: ``-t`` exits with the code of the highest one."""

    DETAIL = -2  # logged when running (keepalived's log_message while reading), never printed by -t
    NOTICE = -1  # logged, does not make ``-t`` fail (keepalived's log_message)
    OK = 0
    FILE_NOT_FOUND = 1
    BAD_IF = 2
    FATAL = 3
    MULTIPLE_FILES = 4
    UNKNOWN_KEYWORD = 5
    UNEXPECTED_BOB = 6
    MISSING_BOB = 7
    UNEXPECTED_EOB = 8
    MISSING_EOB = 9
    UNMATCHED_QUOTE = 10
    MISSING_PARAMETER = 11
    INVALID_NUMBER = 12
    GENERAL_ERROR = 13
    WARNING = 14
    DEPRECATED = 15
    SECURITY_ERROR = 16


#: keepalived 2.2.7's exit codes for ``-t``.
EXIT_OK = 0
EXIT_FATAL = 2  # a line missing a parameter stops keepalived at once
EXIT_CONFIG = 4
EXIT_CONFIG_TEST = 5
EXIT_CONFIG_TEST_SECURITY = 6


@dataclass(frozen=True)
class ConfigMessage:
    severity: Severity
    text: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        if self.file is not None and self.line is not None:
            return f"({self.file}: Line {self.line}) {self.text}"
        return self.text


@dataclass(frozen=True)
class ScriptCommand:
    """A program keepalived runs: a track script or a notify script. ``argv`` is already split."""

    text: str
    argv: tuple[str, ...]
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class VrrpScript:
    name: str
    command: ScriptCommand
    interval: float = 1.0
    timeout: float = 0.0  # 0: the interval
    weight: int = 0
    weight_reverse: bool = False
    rise: int = 1
    fall: int = 1
    init_fail: bool = False

    @property
    def effective_timeout(self) -> float:
        return self.timeout or self.interval


@dataclass(frozen=True)
class TrackedScript:
    name: str
    weight: int
    reverse: bool = False


@dataclass(frozen=True)
class TrackedInterface:
    name: str
    weight: int = 0
    reverse: bool = False


@dataclass(frozen=True)
class VirtualAddress:
    address: IPv4Address
    prefixlen: int = 32
    dev: str | None = None
    label: str | None = None
    broadcast: IPv4Address | None = None
    scope: int = 0  # RT_SCOPE_UNIVERSE

    def __str__(self) -> str:
        text = f"{self.address}/{self.prefixlen}"
        if self.dev:
            text += f" dev {self.dev}"
        if self.label:
            text += f" label {self.label}"
        return text


@dataclass(frozen=True)
class VrrpInstance:
    name: str
    interface: str | None
    vrid: int
    priority: int
    initial_state: str  # "MASTER" or "BACKUP"
    advert_int: float = 1.0
    version: int = 2
    nopreempt: bool = False
    preempt_delay: float = 0.0
    auth_type: str | None = None  # None or "PASS" ("AH" is refused)
    auth_pass: bytes = b""
    vips: tuple[VirtualAddress, ...] = ()
    excluded_vips: tuple[VirtualAddress, ...] = ()
    track_scripts: tuple[TrackedScript, ...] = ()
    track_interfaces: tuple[TrackedInterface, ...] = ()
    dont_track_primary: bool = False
    notify_master: ScriptCommand | None = None
    notify_backup: ScriptCommand | None = None
    notify_fault: ScriptCommand | None = None
    notify_stop: ScriptCommand | None = None
    notify: ScriptCommand | None = None
    smtp_alert: bool = False
    unicast_src_ip: IPv4Address | None = None
    unicast_peers: tuple[IPv4Address, ...] = ()
    mcast_src_ip: IPv4Address | None = None
    garp_master_delay: float = 5.0
    garp_master_repeat: int = 5
    skip_check_adv_addr: bool = False

    @property
    def is_owner(self) -> bool:
        return self.priority == 255


@dataclass(frozen=True)
class GlobalDefs:
    router_id: str
    notification_email: tuple[str, ...] = ()
    notification_email_from: str = ""
    smtp_server: tuple[str, int] | None = None
    smtp_helo_name: str = ""
    smtp_connect_timeout: float = 30.0
    script_uid: int = 0
    script_gid: int = 0
    enable_script_security: bool = False
    vrrp_version: int = 2
    vrrp_garp_master_delay: float = 5.0
    vrrp_garp_master_repeat: int = 5
    vrrp_mcast_group4: IPv4Address = field(default_factory=lambda: IPv4Address("224.0.0.18"))


@dataclass(frozen=True)
class KeepalivedConfig:
    global_defs: GlobalDefs
    scripts: tuple[VrrpScript, ...] = ()
    instances: tuple[VrrpInstance, ...] = ()
    messages: tuple[ConfigMessage, ...] = field(default=(), compare=False)
    fatal: bool = False  # keepalived would have exited while reading (EXIT_FATAL)
    runnable: bool = True  # False: keepalived refuses to start (a configured interface does not exist)

    def script(self, name: str) -> VrrpScript | None:
        for script in self.scripts:
            if script.name == name:
                return script
        return None

    @property
    def worst(self) -> Severity:
        return max((m.severity for m in self.messages), default=Severity.OK)

    @property
    def exit_code(self) -> int:
        """What ``keepalived -t`` returns for this configuration."""
        if self.fatal:
            return EXIT_FATAL
        return exit_code_for(self.worst)


def exit_code_for(worst: Severity) -> int:
    if worst <= Severity.OK:
        return EXIT_OK
    if worst == Severity.SECURITY_ERROR:
        return EXIT_CONFIG_TEST_SECURITY
    if worst in (Severity.FILE_NOT_FOUND, Severity.BAD_IF, Severity.FATAL):
        return EXIT_CONFIG
    return EXIT_CONFIG_TEST
