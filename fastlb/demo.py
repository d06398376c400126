"""``fastlb demo``: the mission's example configuration with built-in backends, on 127.0.0.1.

It runs the article's ``haproxy.cfg`` (shipped in fastlb/data) as written, except for what needs
an installed system (chroot, user/group, daemon, the pidfile and stats socket paths) and adds a
statistics page. Five small HTTP servers stand in for the article's backends: ``static`` on
4331 and ``app1``..``app4`` on 5001..5004, each answering with its name.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
import tempfile
from importlib import resources

DEMO_BACKENDS = {"static": 4331, "app1": 5001, "app2": 5002, "app3": 5003, "app4": 5004}
_DROP = re.compile(r"^\s*(chroot|user|group|daemon|pidfile)\b")


def demo_config(workdir: str, port: int, stats_port: int) -> str:
    text = resources.files("fastlb").joinpath("data/haproxy.cfg").read_text(encoding="utf-8")
    out = []
    for line in text.splitlines():
        if _DROP.match(line):
            out.append("    # (demo) " + line.strip())
            continue
        line = line.replace("stats socket /var/lib/haproxy/stats", f"stats socket {workdir}/stats.sock")
        if port != 5000:
            line = re.sub(r"^(frontend\s+main\s+\*):5000", rf"\1:{port}", line)
        out.append(line)
    out += [
        "",
        "# (demo) statistics page",
        "listen stats",
        f"    bind 127.0.0.1:{stats_port}",
        "    mode http",
        "    stats enable",
        "    stats uri /stats",
        "    stats refresh 5s",
        "",
    ]
    return "\n".join(out)


async def _serve_backends() -> None:
    async def handle(name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                length = 0
                for h in head.split(b"\r\n")[1:]:
                    k, _, v = h.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v.strip() or 0)
                if length:
                    await reader.readexactly(length)
                body = f"{name}: {line}\n".encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                             b"X-Demo-Server: %s\r\n\r\n%s" % (len(body), name.encode(), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    servers = [await asyncio.start_server(lambda r, w, n=name: handle(n, r, w), "127.0.0.1", port)
               for name, port in DEMO_BACKENDS.items()]
    await asyncio.gather(*(s.serve_forever() for s in servers))


def _run_backends() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        asyncio.run(_serve_backends())
    except OSError as exc:
        print(f"fastlb demo: cannot start the demo backends: {exc}", file=sys.stderr)
        os._exit(1)
    os._exit(0)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="fastlb demo", description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=5000, help="frontend port (the article's is 5000)")
    ap.add_argument("--stats-port", type=int, default=8404, help="statistics page port")
    ap.add_argument("--print-config", action="store_true", help="print the demo configuration and exit")
    args = ap.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="fastlb-demo-")
    cfg_text = demo_config(workdir, args.port, args.stats_port)
    if args.print_config:
        print(cfg_text)
        return 0
    cfg_path = os.path.join(workdir, "haproxy.cfg")
    with open(cfg_path, "w") as f:
        f.write(cfg_text)

    pid = os.fork()
    if pid == 0:
        _run_backends()
    print(f"fastlb demo: the article's haproxy.cfg with demo backends {', '.join(f'{n}:{p}' for n, p in DEMO_BACKENDS.items())}")
    print(f"  frontend     http://127.0.0.1:{args.port}/          (app1..app4, round robin)")
    print(f"               http://127.0.0.1:{args.port}/static/x.css (backend 'static', by ACL url_static)")
    print(f"  stats page   http://127.0.0.1:{args.stats_port}/stats")
    print(f"  stats socket {workdir}/stats.sock")
    print(f"  config       {cfg_path}")
    print("  Ctrl-C stops everything.", flush=True)
    from .cli import main as cli_main

    try:
        return cli_main(["-f", cfg_path, "-db"])
    finally:
        try:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
