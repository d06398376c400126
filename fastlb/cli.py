"""The ``fastlb`` command line: HAProxy's flags, plus the ``demo`` and ``ha`` subcommands.

HAProxy's command line is not getopt-shaped (``-vv``, ``-db``, ``-cc <cond>``, ``-sf <pid>...``
taking every remaining argument), so it is parsed by hand here, in the same order of precedence
as ``haproxy``: flags may come in any order; ``-sf``/``-st`` consume the pids that follow them.
"""
from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass, field

from .version import HAPROXY_DIALECT, RELEASE_DATE, __version__

USAGE = """\
Usage : fastlb [-f <cfgfile|cfgdir>]* [ -vdVD ] [ -n <maxconn> ] [ -N <maxpconn> ]
        [ -p <pidfile> ] [ -m <max megs> ] [ -C <dir> ] [-- <cfgfile>*]
        -v displays version ; -vv shows known build options.
        -d enters debug mode ; -db only disables background mode.
        -V enters verbose mode (disables quiet mode)
        -D goes daemon ; -C changes to <dir> before loading files.
        -W master-worker mode.
        -q quiet mode : don't display messages
        -c check mode : only check config files and exit
        -cc check condition : evaluate a condition and exit
        -n sets the maximum total # of connections (uses ulimit -n)
        -m limits the usable amount of memory (in MB)
        -N sets the default, per-proxy maximum # of connections
        -L set local peer name (default to hostname), exported as HAPROXY_LOCALPEER
        -p writes pids of all children to this file
        -x <unix_socket> get listening sockets from a unix socket
        -S <bind>[,<bind options>...] new master CLI
        -sf/-st [pid ]* finishes/terminates old pids.
Subcommands:
        fastlb demo [--port N]   run the mission's example configuration with built-in backends
        fastlb ha -f keepalived.conf   VRRP speaker (see fastlb ha -h)
"""


class UsageError(Exception):
    """A command line that cannot be run; the message is printed with the usage text."""


@dataclass
class Options:
    """What the command line asked for."""

    config_files: list[str] = field(default_factory=list)
    version: int = 0  # 1 for -v, 2 for -vv
    check_only: bool = False
    check_condition: str | None = None
    debug: bool = False  # -d: foreground + verbose debug output
    foreground: bool = False  # -db
    daemon: bool = False  # -D
    master_worker: bool = False  # -W / -Ws
    systemd_notify: bool = False  # -Ws
    quiet: bool = False
    verbose: bool = False
    maxconn: int | None = None  # -n
    maxpconn: int | None = None  # -N
    memory_mb: int | None = None  # -m
    pidfile: str | None = None
    chdir: str | None = None  # -C
    local_peer: str | None = None  # -L
    socket_transfer: str | None = None  # -x
    master_socket: list[str] = field(default_factory=list)  # -S
    finish_pids: list[int] = field(default_factory=list)  # -sf
    terminate_pids: list[int] = field(default_factory=list)  # -st
    debug_flags: list[str] = field(default_factory=list)  # -dX options accepted for compatibility


def _int_arg(flag: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"'{flag}' expects an integer argument, got '{value}'") from None


def parse_args(argv: list[str]) -> Options:
    """Parse HAProxy-style arguments (without the program name)."""
    opts = Options()
    i = 0
    n = len(argv)

    def value(flag: str) -> str:
        nonlocal i
        if i + 1 >= n:
            raise UsageError(f"'{flag}' expects an argument")
        i += 1
        return argv[i]

    while i < n:
        arg = argv[i]
        if arg == "--":
            opts.config_files.extend(argv[i + 1:])
            break
        if not arg.startswith("-") or arg == "-":
            raise UsageError(f"unexpected argument '{arg}'")
        if arg in ("-sf", "-st"):
            pids = opts.finish_pids if arg == "-sf" else opts.terminate_pids
            j = i + 1
            while j < n and not argv[j].startswith("-"):
                pids.append(_int_arg(arg, argv[j]))
                j += 1
            i = j
            continue
        if arg == "-v":
            opts.version = max(opts.version, 1)
        elif arg == "-vv":
            opts.version = 2
        elif arg == "-c":
            opts.check_only = True
        elif arg == "-cc":
            opts.check_condition = value(arg)
        elif arg == "-f":
            opts.config_files.append(value(arg))
        elif arg == "-d":
            opts.debug = True
            opts.foreground = True
        elif arg == "-db":
            opts.foreground = True
        elif arg.startswith("-d") and len(arg) > 2:
            # -dM, -dr, -dV, -de, -dp, -dS, -dG, -dW, -dD: HAProxy debugging switches. They tune
            # HAProxy internals that fastlb does not have; accepted so scripts keep working.
            opts.debug_flags.append(arg)
        elif arg == "-D":
            opts.daemon = True
        elif arg == "-W":
            opts.master_worker = True
        elif arg == "-Ws":
            opts.master_worker = True
            opts.systemd_notify = True
        elif arg == "-q":
            opts.quiet = True
        elif arg == "-V":
            opts.verbose = True
        elif arg == "-n":
            opts.maxconn = _int_arg(arg, value(arg))
        elif arg == "-N":
            opts.maxpconn = _int_arg(arg, value(arg))
        elif arg == "-m":
            opts.memory_mb = _int_arg(arg, value(arg))
        elif arg == "-p":
            opts.pidfile = value(arg)
        elif arg == "-C":
            opts.chdir = value(arg)
        elif arg == "-L":
            opts.local_peer = value(arg)
        elif arg == "-x":
            opts.socket_transfer = value(arg)
        elif arg == "-S":
            opts.master_socket.append(value(arg))
        elif arg in ("-h", "--help", "-?"):
            raise UsageError("")
        else:
            raise UsageError(f"unknown option '{arg}'")
        i += 1
    return opts


def version_text(verbose: bool) -> str:
    lines = [
        f"fastlb version {__version__} {RELEASE_DATE} - HAProxy {HAPROXY_DIALECT} configuration dialect",
    ]
    if verbose:
        from .buildinfo import build_facts

        lines.append("")
        lines.extend(build_facts())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "demo":
        from .demo import main as demo_main

        return demo_main(argv[1:])
    if argv and argv[0] == "ha":
        try:
            from .ha.cli import main as ha_main
        except ImportError:
            print("fastlb ha: the VRRP speaker is not part of this build", file=sys.stderr)
            return 1
        return ha_main(argv[1:])
    try:
        opts = parse_args(argv)
    except UsageError as exc:
        if str(exc):
            print(f"fastlb: {exc}", file=sys.stderr)
        print(USAGE, file=sys.stderr, end="")
        return 1

    # HAProxy sets HAPROXY_LOCALPEER before reading the configuration: the -L name, else the
    # host name (what a `peers` section's local peer is matched against); an inherited value
    # is replaced, so `.if defined(...)`, `${HAPROXY_LOCALPEER}` and -cc always see this one
    os.environ["HAPROXY_LOCALPEER"] = socket.gethostname() if opts.local_peer is None else opts.local_peer
    if opts.version:
        print(version_text(opts.version >= 2))
        return 0
    if opts.chdir:
        try:
            os.chdir(opts.chdir)
        except OSError as exc:
            print(f"[ALERT]    ({os.getpid()}) : Could not change to directory {opts.chdir} : {exc.strerror}",
                  file=sys.stderr)
            return 1
    if opts.check_condition is not None:
        return _check_condition(opts)
    if not opts.config_files:
        print("fastlb: no configuration file given (-f <file|dir>)", file=sys.stderr)
        print(USAGE, file=sys.stderr, end="")
        return 1

    from .config import load_config

    result = load_config(opts.config_files)
    quiet = opts.quiet and not opts.verbose  # -V wins over -q, whatever their order (as HAProxy)
    report = result.report(quiet=quiet)
    if report:
        print(report, file=sys.stderr)
    if not result.ok:
        if opts.check_only:
            return 1
        from .runtime.reload import after_failed_load  # a re-executed master keeps its workers

        return after_failed_load(opts)
    if opts.check_only:
        if not quiet:
            print("Configuration file is valid")
        return 0

    from .runtime.process import run

    return run(result.config, opts)


def _check_condition(opts: Options) -> int:
    from .config.conditions import ConditionError, evaluate_condition
    from .config.tokenizer import TokenizeError, tokenize

    try:
        # split and expanded as a `.if` line is (quotes, ${VAR} inside double quotes), as HAProxy does
        expr = " ".join(tokenize(opts.check_condition, os.environ))
        return 0 if evaluate_condition(expr) else 1
    except (ConditionError, TokenizeError) as exc:
        print(f"[ALERT]    ({os.getpid()}) : config : Failed to evaluate condition: {exc}", file=sys.stderr)
        return 2
