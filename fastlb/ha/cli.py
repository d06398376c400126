"""``fastlb-ha`` (and ``fastlb ha``): keepalived's command line for the VRRP speaker.

    fastlb-ha -f /etc/keepalived/keepalived.conf -n -l -D     run in the foreground, log to the console
    fastlb-ha -t -f keepalived.conf                           check a file (keepalived's exit codes)
    fastlb-ha check-lb --socket /var/lib/haproxy/stats        health of the local fastlb/HAProxy

Flags are keepalived 2.2.7's; those that concern subsystems fastlb-ha does not have (the LVS checker,
BFD, SNMP, DBus) are accepted and ignored, ``-C`` alone is refused. Exit codes of ``-t``: 0 valid,
5 configuration errors, 6 scripts would run as root without ``enable_script_security``, 2 a line misses
its parameter (keepalived stops reading there), 4 file not found.
"""
from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
import time

from .conf_model import EXIT_CONFIG, KeepalivedConfig, Severity

DEFAULT_CONF = "/etc/keepalived/keepalived.conf"
DEFAULT_PIDFILE = "/run/fastlb-ha.pid"
VERSION = "fastlb-ha (fastlb {v}) - keepalived 2.2.7 configuration language, VRRPv2/v3 over IPv4"

_FACILITIES = {f"local{i}": getattr(logging.handlers.SysLogHandler, f"LOG_LOCAL{i}") for i in range(8)}
_FACILITIES.update({"user": logging.handlers.SysLogHandler.LOG_USER,
                    "daemon": logging.handlers.SysLogHandler.LOG_DAEMON})


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fastlb-ha", description="VRRP speaker driven by keepalived.conf",
                                add_help=False)
    p.add_argument("-f", "--use-file", default=DEFAULT_CONF, metavar="FILE")
    p.add_argument("-t", "--config-test", nargs="?", const="-", default=None, metavar="LOG_FILE")
    p.add_argument("-n", "--dont-fork", action="store_true")
    p.add_argument("-l", "--log-console", action="store_true")
    p.add_argument("-D", "--log-detail", action="store_true")
    p.add_argument("-S", "--log-facility", default="daemon")
    p.add_argument("-G", "--no-syslog", action="store_true")
    p.add_argument("-p", "--pid", default=DEFAULT_PIDFILE, metavar="FILE")
    p.add_argument("-r", "--vrrp_pid", default=None, metavar="FILE")
    p.add_argument("-i", "--config-id", default=None)
    p.add_argument("-d", "--dump-conf", action="store_true")
    p.add_argument("-P", "--vrrp", action="store_true")
    p.add_argument("-C", "--check", action="store_true")
    for flag, name in (("-B", "--no_bfd"), ("-X", "--release-vips"), ("-V", "--dont-release-vrrp"),
                       ("-I", "--dont-release-ipvs"), ("-R", "--dont-respawn"), ("-m", "--core-dump"),
                       ("-x", "--snmp"), ("-a", "--address-monitoring"), ("-e", "--all-config")):
        p.add_argument(flag, name, action="store_true")
    p.add_argument("--all", action="store_true")
    for flag, name in (("-c", "--checkers_pid"), ("-b", "--bfd_pid"), ("-A", "--snmp-agent-socket"),
                       ("-u", "--umask"), ("-M", "--core-dump-pattern")):
        p.add_argument(flag, name, default=None)
    p.add_argument("-s", "--namespace", default=None)
    p.add_argument("-v", "--version", action="store_true")
    p.add_argument("-h", "--help", action="store_true")
    return p


def _print_messages(config: KeepalivedConfig, stream, detail: bool) -> None:
    for message in config.messages:
        if message.severity == Severity.DETAIL and not detail:
            continue
        print(message, file=stream)


def config_test(path: str, log_file: str, config_id: str | None) -> int:
    from .conf_parser import parse_config

    config = parse_config(path, config_id)
    if log_file == "-":
        _print_messages(config, sys.stderr, detail=False)
    else:
        with open(log_file, "a", encoding="utf-8") as f:
            _print_messages(config, f, detail=False)
    return config.exit_code


def setup_logging(args: argparse.Namespace) -> None:
    logger = logging.getLogger("fastlb.ha")
    logger.setLevel(logging.DEBUG if args.log_detail else logging.INFO)
    logger.propagate = False
    if args.log_console:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s: %(message)s", "%a %b %d %H:%M:%S %Y"))
        handler.formatter.converter = time.localtime  # type: ignore[union-attr]
        logger.addHandler(handler)
    if not args.no_syslog and os.path.exists("/dev/log"):
        facility = _FACILITIES.get(args.log_facility, logging.handlers.SysLogHandler.LOG_DAEMON)
        if args.log_facility.isdigit():
            facility = _FACILITIES[f"local{int(args.log_facility) % 8}"]
        syslog = logging.handlers.SysLogHandler("/dev/log", facility=facility)
        syslog.setFormatter(logging.Formatter("Keepalived_vrrp[%(process)d]: %(message)s"))
        logger.addHandler(syslog)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


def _daemonize() -> None:
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    os.chdir("/")
    fd = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(fd, target)


def _write_pid(path: str | None) -> None:
    if path:
        with open(path, "w", encoding="ascii") as f:
            f.write(f"{os.getpid()}\n")


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "check-lb":
        from .lbcheck import main as check_main

        return check_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.help:
        parser.print_help()
        print(__doc__)
        return 0
    if args.version:
        from ..version import __version__

        print(VERSION.format(v=__version__))
        return 0
    if args.config_test is not None:
        return config_test(args.use_file, args.config_test, args.config_id)
    if args.check and not args.vrrp:
        print("fastlb-ha: the LVS health-checker subsystem (-C) is not implemented", file=sys.stderr)
        return EXIT_CONFIG
    if args.namespace:
        print("fastlb-ha: --namespace is not supported; run it under 'ip netns exec'", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(args)
    log = logging.getLogger("fastlb.ha")
    from .conf_parser import parse_config

    log.info("Starting fastlb-ha (keepalived 2.2.7 configuration language)")
    log.debug("Opening file '%s'.", args.use_file)
    config = parse_config(args.use_file, args.config_id)
    for message in config.messages:
        log.info("%s", message)
    if not config.runnable or config.fatal:
        log.error("configuration cannot run - stopping")
        return EXIT_CONFIG
    if not config.instances:
        log.warning("no vrrp_instance to run")
    if args.dump_conf:
        for instance in config.instances:
            log.info("%s", instance)
    if not args.dont_fork:
        _daemonize()
    _write_pid(args.pid)
    _write_pid(args.vrrp_pid)
    try:
        return _run(config)
    finally:
        for path in (args.pid, args.vrrp_pid):
            if path:
                try:
                    os.unlink(path)
                except OSError:
                    pass


def _run(config: KeepalivedConfig) -> int:
    import asyncio

    from .daemon import Speaker

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency of fastlb
        return asyncio.run(Speaker(config).run())
    return uvloop.run(Speaker(config).run()) if hasattr(uvloop, "run") else asyncio.run(Speaker(config).run())


if __name__ == "__main__":
    raise SystemExit(main())
