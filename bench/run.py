"""fastlb side by side with HAProxy 2.6 and nginx: one command, everything on loopback.

    python bench/run.py [--quick] [--runs 3] [--seconds 5] [--only kal50,tcp,...] [--no-write]

Scenarios (each on every proxy in the same run, proxies alternated, medians of the runs):
  kal50 / kal1000  HTTP keep-alive, small requests, wrk -c50 / -c1000
  close            HTTP, a new connection per request
  tcp              mode tcp, small request/response (HTTP keep-alive through a TCP proxy)
  bulk1 / bulk16   mode tcp bulk download through 1 / 16 connections (HAProxy with splice-request and
                   splice-response: splice-auto did not engage on loopback and measured its recv/send path)
  idle10k          10,000 idle client connections, 2 fastlb workers / 2 HAProxy processes
  idle50k          50,000 idle connections, 6 workers / 6 HAProxy processes (fd limit 20,000)
  direct           wrk straight to one backend (the ceiling), keep-alive
The proxy runs alone on CPU 1, wrk and the nginx backends on CPU 0. Writes bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import CLK_TCK, LoadResult, Stack, cpu_ticks, need, rss_bytes, run_wrk  # noqa: E402

PROXIES = ("fastlb", "haproxy", "nginx")
SCENARIOS = ("direct", "kal50", "kal1000", "close", "tcp", "bulk1", "bulk16", "idle10k", "idle50k")


def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def wrk_scenario(stack: Stack, svc, scen: str, seconds: float) -> LoadResult:
    url = f"http://127.0.0.1:{svc.port}/"
    conns = {"kal50": 50, "kal1000": 1000, "close": 50, "tcp": 50}[scen]
    return run_wrk(url, conns, seconds, stack.load_cpu, svc.pids(), close=scen == "close")


def bulk_scenario(stack: Stack, svc, conns: int, seconds: float) -> LoadResult:
    pids = svc.pids()
    t0 = cpu_ticks(pids)
    out = subprocess.run(["taskset", "-c", str(stack.load_cpu), sys.executable, os.path.join(HERE, "loadgen.py"),
                          "bulk", str(svc.port), str(conns), str(seconds)],
                         capture_output=True, text=True, timeout=seconds + 120)
    t1 = cpu_ticks(pids)
    d = json.loads(out.stdout.strip().splitlines()[-1])
    r = LoadResult(cpu_s=(t1 - t0) / CLK_TCK, bytes=d["bytes"], seconds=d["seconds"])
    r.extra["gbit_s"] = d["bytes"] * 8 / d["seconds"] / 1e9
    r.extra["cpu_s_per_gib"] = r.cpu_s / (d["bytes"] / 2**30) if d["bytes"] else float("nan")
    return r


def idle_scenario(stack: Stack, svc, total: int) -> LoadResult:
    """Hold `total` idle connections (spread over client processes and 127.0.0.x sources) and
    measure the proxy's RSS per connection as a slope: RSS with all of them minus RSS with half of
    them, over the second half. One-off allocations (lazy imports, first buffers, pools) made by
    the first connections do not count, for any proxy."""
    per_proc = 12500
    procs = []
    n_src = [0]

    def open_wave(count: int) -> int:
        left, ready, started = count, 0, []
        while left > 0:
            k = min(per_proc, left)
            src = f"127.0.{1 + n_src[0] // 200}.{10 + n_src[0] % 200}"
            n_src[0] += 1
            p = subprocess.Popen(["taskset", "-c", str(stack.load_cpu), sys.executable, os.path.join(HERE, "loadgen.py"),
                                  "idle", str(svc.port), str(k), src], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True)
            started.append(p)
            left -= k
        for p in started:
            line = p.stdout.readline()
            ready += int(line.split()[1]) if line.startswith("ready") else 0
        procs.extend(started)
        time.sleep(2.0)  # let the proxy accept and settle
        return ready

    half = open_wave(total // 2)
    rss_half = rss_bytes(svc.pids())
    rest = open_wave(total - total // 2)
    rss_all = rss_bytes(svc.pids())
    for p in procs:
        p.stdin.close()
    for p in procs:
        p.wait(60)
    held = half + rest
    r = LoadResult(requests=held)
    r.extra["held"] = held
    r.extra["rss_per_conn"] = (rss_all - rss_half) / rest if rest else float("nan")
    r.extra["rss_mib"] = rss_all / 2**20
    return r


def start_proxies(stack: Stack, scen: str, mode: str, workers: int) -> dict:
    started = {}
    for kind in PROXIES:
        if scen.startswith("idle") and kind == "nginx":
            continue
        if kind == "haproxy" and workers > 1:
            started[kind] = [stack.start_proxy("haproxy", mode)]
            port = started[kind][0].port
            for _ in range(workers - 1):
                started[kind].append(stack.start_proxy_on("haproxy", mode, port))
        else:
            bulk = scen.startswith("bulk")   # splice pipes need descriptors too: lower maxconn
            started[kind] = [stack.start_proxy(kind, mode, maxconn=4000 if bulk else 9000,
                                               workers=workers, splice=bulk)]
    return started


def stop_proxies(stack: Stack, started: dict) -> None:
    for svcs in started.values():
        for s in svcs:
            s.stop()
            stack.services.remove(s)


def run_all(args) -> dict:
    stack = Stack(load_cpu=0, proxy_cpu=1)
    results: dict = {}
    try:
        only = args.only.split(",") if args.only else SCENARIOS
        for scen in only:
            print(f"== {scen}", flush=True)
            if scen == "direct":
                runs = [run_wrk(f"http://127.0.0.1:{stack.backend_ports[0]}/", 50, args.seconds, stack.load_cpu,
                                []) for _ in range(args.runs)]
                results[scen] = {"direct": runs}
                for r in runs:
                    print(f"   direct  : {describe(scen, r)}", flush=True)
                continue
            mode = "tcp" if scen in ("tcp", "bulk1", "bulk16") else "http"
            # HAProxy holds at most ~9,990 connections per process under a 20,000 descriptor
            # limit (it reserves two per connection): idle tests use as many processes as needed,
            # the same number for fastlb (workers) and HAProxy (processes sharing the port)
            workers = {"idle10k": 2, "idle50k": 6}.get(scen, 1)
            # idle runs start fresh processes each time: a proxy keeps the memory its pools grew
            # to (HAProxy never gives it back), so a second run in the same process measures ~0
            fresh = scen.startswith("idle")
            started = start_proxies(stack, scen, mode, workers)
            results[scen] = {k: [] for k in started}
            for run in range(args.runs):
                if fresh and run:
                    stop_proxies(stack, started)
                    started = start_proxies(stack, scen, mode, workers)
                for kind, svcs in started.items():
                    svc = svcs[0] if len(svcs) == 1 else _Group(svcs)
                    if scen.startswith("idle"):
                        r = idle_scenario(stack, svc, 10000 if scen == "idle10k" else 50000)
                    elif scen.startswith("bulk"):
                        r = bulk_scenario(stack, svc, 1 if scen == "bulk1" else 16, args.seconds)
                    else:
                        r = wrk_scenario(stack, svc, scen, args.seconds)
                    results[scen][kind].append(r)
                    print(f"   {kind:8} run {run + 1}: {describe(scen, r)}", flush=True)
            stop_proxies(stack, started)
    finally:
        stack.stop()
    return results


class _Group:
    """Several processes serving one port (HAProxy instances sharing a port with SO_REUSEPORT)."""

    def __init__(self, svcs):
        self.svcs = svcs
        self.port = svcs[0].port

    def pids(self):
        return [p for s in self.svcs for p in s.pids()]


def describe(scen: str, r: LoadResult) -> str:
    if scen.startswith("idle"):
        return f"held {r.extra['held']}  RSS/conn {r.extra['rss_per_conn']:.0f} B"
    if scen.startswith("bulk"):
        return f"{r.extra['gbit_s']:.2f} Gbit/s  {r.extra['cpu_s_per_gib']:.3f} CPU-s/GiB"
    return (f"{r.rps:9.0f} req/s  p50 {r.p50_ms:.2f} ms  p99 {r.p99_ms:.2f} ms  "
            f"CPU {r.cpu_us_per_req:.2f} us/req  errors {r.errors}")


# ---------------------------------------------------------------------------------------------
# report

def summarize(results: dict) -> list[str]:
    rows = ["| scenario | proxy | req/s | p50 ms | p99 ms | CPU µs/req (min–max) | vs HAProxy |",
            "|---|---|---:|---:|---:|---:|---|"]
    for scen, per in results.items():
        if scen.startswith("idle") or scen.startswith("bulk"):
            continue
        hap = per.get("haproxy")
        for kind, runs in per.items():
            cpu = [r.cpu_us_per_req for r in runs]
            rps = med([r.rps for r in runs])
            ratio = ""
            if hap and kind != "haproxy":
                hcpu = med([r.cpu_us_per_req for r in hap])
                hrps = med([r.rps for r in hap])
                ratio = f"CPU ×{med(cpu) / hcpu:.2f}, req/s ×{rps / hrps:.2f}"
            cpu_txt = f"{med(cpu):.2f} ({min(cpu):.2f}–{max(cpu):.2f})" if kind != "direct" else "—"
            rows.append(f"| {scen} | {kind} | {rps:.0f} | {med([r.p50_ms for r in runs]):.2f} | "
                        f"{med([r.p99_ms for r in runs]):.2f} | {cpu_txt} | {ratio} |")
    bulk = [s for s in results if s.startswith("bulk")]
    if bulk:
        rows += ["", "| scenario | proxy | Gbit/s (min–max) | CPU-s per GiB | vs HAProxy |", "|---|---|---:|---:|---|"]
        for scen in bulk:
            per = results[scen]
            for kind, runs in per.items():
                g = [r.extra["gbit_s"] for r in runs]
                c = [r.extra["cpu_s_per_gib"] for r in runs]
                ratio = ""
                if kind != "haproxy" and "haproxy" in per:
                    hg = med([r.extra["gbit_s"] for r in per["haproxy"]])
                    hc = med([r.extra["cpu_s_per_gib"] for r in per["haproxy"]])
                    ratio = f"throughput ×{med(g) / hg:.2f}, CPU/GiB ×{med(c) / hc:.2f}"
                rows.append(f"| {scen} | {kind} | {med(g):.2f} ({min(g):.2f}–{max(g):.2f}) | {med(c):.3f} | {ratio} |")
    idle = [s for s in results if s.startswith("idle")]
    if idle:
        rows += ["", "| scenario | proxy | connections held | RSS per connection | vs HAProxy |", "|---|---|---:|---:|---|"]
        for scen in idle:
            per = results[scen]
            for kind, runs in per.items():
                b = med([r.extra["rss_per_conn"] for r in runs])
                held = min(r.extra["held"] for r in runs)
                ratio = ""
                if kind != "haproxy" and "haproxy" in per:
                    ratio = f"×{b / med([r.extra['rss_per_conn'] for r in per['haproxy']]):.2f}"
                rows.append(f"| {scen} | {kind} | {held} | {b:.0f} B | {ratio} |")
    return rows


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}"


def versions() -> str:
    def first(cmd):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True)
            return (p.stdout or p.stderr).splitlines()[0]
        except (OSError, IndexError):
            return "?"
    import fastlb

    return "; ".join([f"fastlb {fastlb.__version__}", first([need("haproxy"), "-v"]), first([need("nginx"), "-v"]),
                      first([need("wrk"), "-v"]), f"Python {platform.python_version()}"])


def write_results(rows: list[str], args) -> None:
    path = os.path.join(HERE, "RESULTS.md")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=HERE).stdout.strip()
    except OSError:
        commit = "?"
    section = [
        "## Proxies side by side (`python bench/run.py`)",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit}, {machine()}.",
        f"Versions: {versions()}.",
        f"Proxy alone on CPU 1, wrk/loadgen and 4 nginx backends (3-byte responses) on CPU 0; "
        f"{args.runs} runs of {args.seconds:g} s per proxy and scenario, proxies alternated; medians, "
        "(min–max) over the runs. CPU µs/req = utime+stime of all the proxy's processes / requests.",
        "",
        *rows,
        "",
    ]
    old = open(path).read() if os.path.exists(path) else "# Benchmark results\n\n"
    start = old.find("## Proxies side by side")
    if start >= 0:
        end = old.find("\n## ", start + 10)
        old = old[:start] + (old[end + 1:] if end >= 0 else "")
    head, sep, rest = old.partition("\n## ")
    text = head.rstrip() + "\n\n" + "\n".join(section) + ("\n## " + rest if sep else "")
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--quick", action="store_true", help="1 run of 2 s, for a smoke test")
    ap.add_argument("--only", default="", help="comma-separated scenarios: " + ",".join(SCENARIOS))
    ap.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.seconds = 1, 2.0
    results = run_all(args)
    rows = summarize(results)
    print("\n".join(rows))
    if not args.no_write:
        write_results(rows, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
