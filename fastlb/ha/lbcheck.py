"""Health of the local load balancer through its stats socket, instead of ``killall -0 haproxy``.

``killall -0 haproxy`` only says that some process named haproxy exists: a process that is stopping,
stuck or whose frontends are disabled still passes. This check asks the balancer itself, on the
stats socket both HAProxy and fastlb answer: ``show info`` must answer with a Pid and not report
``Stopping: 1``, and ``show stat`` must list the frontends (all of them, or those named) as OPEN.

Use it as a keepalived script, on a keepalived node as well as on a fastlb-ha node (where it runs
inside fastlb-ha, without forking)::

    vrrp_script check_lb {
        script "/usr/local/bin/fastlb-ha check-lb --socket /var/lib/haproxy/stats"
        interval 2
        weight 21
    }
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys

DEFAULT_SOCKET = "/var/lib/haproxy/stats"


async def _command(address: str, command: str, timeout: float) -> str:
    if address.startswith(("/", "unix@")):
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(address.removeprefix("unix@")),
                                                timeout)
    else:
        host, _, port = address.removeprefix("ipv4@").rpartition(":")
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host or "127.0.0.1", int(port)), timeout)
    try:
        writer.write(command.encode() + b"\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    return data.decode(errors="replace")


async def check_lb(address: str = DEFAULT_SOCKET, frontends: tuple[str, ...] = (),
                   timeout: float = 2.0) -> tuple[bool, str]:
    """(healthy, reason)."""
    try:
        info_text = await _command(address, "show info", timeout)
    except (OSError, asyncio.TimeoutError, ValueError) as exc:
        return False, f"stats socket {address}: {exc or type(exc).__name__}"
    info = {}
    for line in info_text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = value.strip()
    if not info.get("Pid"):
        return False, f"stats socket {address}: 'show info' did not answer"
    if info.get("Stopping", "0") not in ("0", ""):
        return False, f"process {info['Pid']} is stopping"
    try:
        stat_text = await _command(address, "show stat -1 1 -1", timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        return False, f"stats socket {address}: {exc or type(exc).__name__}"
    rows = list(csv.reader(io.StringIO(stat_text.lstrip("# "))))
    if not rows:
        return False, "'show stat' gave no frontend"
    header = rows[0]
    try:
        px, sv, st = header.index("pxname"), header.index("svname"), header.index("status")
    except ValueError:
        return False, "'show stat' answer has no pxname/svname/status columns"
    status = {row[px]: row[st] for row in rows[1:] if len(row) > st and row[sv] == "FRONTEND"}
    wanted = frontends or tuple(status)
    if not wanted:
        return False, "no frontend"
    for name in wanted:
        if name not in status:
            return False, f"frontend {name} does not exist"
        if status[name] != "OPEN":
            return False, f"frontend {name} is {status[name]}"
    return True, f"process {info['Pid']} serving {', '.join(wanted)}"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fastlb-ha check-lb",
                                     description="exit 0 when the local fastlb/HAProxy is alive and serving")
    parser.add_argument("-s", "--socket", default=DEFAULT_SOCKET,
                        help=f"stats socket: a unix path or host:port (default {DEFAULT_SOCKET})")
    parser.add_argument("-f", "--frontend", action="append", default=[],
                        help="frontend that must be OPEN (default: every frontend)")
    parser.add_argument("-t", "--timeout", type=float, default=2.0, help="seconds (default 2)")
    parser.add_argument("-q", "--quiet", action="store_true")
    return parser.parse_args(argv)


async def builtin_check(argv: tuple[str, ...], timeout: float) -> bool:
    """The in-process form used by fastlb-ha for ``script "fastlb-ha check-lb ..."``."""
    rest = list(argv[2:] if argv[1] == "check-lb" else argv[3:])
    try:
        args = parse_args(rest)
    except SystemExit:
        return False
    ok, _ = await check_lb(args.socket, tuple(args.frontend), min(args.timeout, timeout))
    return ok


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    ok, reason = asyncio.run(check_lb(args.socket, tuple(args.frontend), args.timeout))
    if not args.quiet:
        print(("OK: " if ok else "FAILED: ") + reason, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
