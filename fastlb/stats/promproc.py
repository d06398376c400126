"""The ``haproxy_process_*`` families of the Prometheus exporter (prometheus.py), in HAProxy 2.6's
order, for the worker process that answers the scrape.

Values come from the plan, shared memory (connections of every worker, counters of every
frontend) and this process (descriptor limits, dropped log lines, rates sampled by the statistics).
Features fastlb does not have are reported as HAProxy reports them when they are unused: no TLS
(SSL counters 0), no compression (0, zlib memory NaN), no peers, resolvers, log forwarding or busy
polling (0), no rate limits (limits 0 = none). Families fastlb has no data for are left out:
memory pools, tasks and run queue. Used and free pipes are the answering worker's pipe pool, as
HAProxy's are the answering worker process's; idle time (averaged) and spliced bytes (summed) are
every worker's, from shared memory.
"""
from __future__ import annotations

import os
import resource
import time
from typing import Any, Callable

from ..version import __version__
from .collect import RateTracker

#: process-level rate keys in RateTracker (slot -1: totals over the frontends)
PROCESS_SLOT = -1


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def sample_process_rates(rates: RateTracker, plan: Any, shm: Any, now: float | None = None) -> None:
    """Totals over the frontends of the counters the process rates are made of."""
    now = time.monotonic() if now is None else now
    conn = sess = out = 0
    for fe in plan.frontends:
        c = shm.sum_counters(fe.counter_slot)
        conn += c["cum_conn"]
        sess += c["cum_sess"]
        out += c["bytes_out"]
    rates.observe(PROCESS_SLOT, "cum_conn", conn, now)
    rates.observe(PROCESS_SLOT, "cum_sess", sess, now)
    rates.observe(PROCESS_SLOT, "bytes_out", out, now)


def process_families(plan: Any, shm: Any, rates: RateTracker,
                     worker_info: Callable[[], dict] | None = None) -> list[tuple[str, str, str, str]]:
    """(name, type, help, value text) of every process family, HAProxy's order. The pipe families
    need `worker_info` (the answering worker's Worker.info) and are left out without it."""
    from ..logs.syslog import dropped_total

    now = time.time()
    start = int(shm.start_time or now)
    fe_counts = [shm.sum_counters(fe.counter_slot) for fe in plan.frontends]
    cur = shm.total_connections()
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    r, m = rates.rate, rates.max_rate
    p = PROCESS_SLOT
    info = worker_info() if worker_info is not None else None
    fams: list[tuple[str, str, str, Any]] = [
        ("nbthread", "gauge", "Worker processes (global nbthread)", plan.nbworkers),
        ("nbproc", "gauge", "Master processes (always 1)", 1),
        ("relative_process_id", "gauge", "Relative process number (always 1)", 1),
        ("uptime_seconds", "gauge", "Seconds since the process started", max(0, int(now) - start)),
        ("max_fds", "gauge", "Limit of open file descriptors of a worker", nofile),
        ("max_sockets", "gauge", "Limit of sockets of a worker", nofile),
        ("max_connections", "gauge", "Global connection limit now (maxconn, 'set maxconn global')",
         int(shm.global_maxconn or plan.maxconn)),
        ("hard_max_connections", "gauge", "Global connection limit of the configuration", plan.maxconn),
        ("current_connections", "gauge", "Connections open now, all workers", cur),
        ("connections_total", "counter", "Connections accepted since start",
         sum(c["cum_conn"] for c in fe_counts)),
        ("requests_total", "counter", "HTTP requests since start", sum(c["cum_req"] for c in fe_counts)),
        ("max_ssl_connections", "gauge", "TLS connection limit (fastlb terminates no TLS)", 0),
        ("current_ssl_connections", "gauge", "TLS connections open now", 0),
        ("ssl_connections_total", "counter", "TLS connections since start", 0),
        ("max_pipes", "gauge", "Limit of splice pipes, all workers", plan.maxpipes * plan.nbworkers),
        # (HAProxy types these two current values as counters; kept for its dashboards)
        ("pipes_used_total", "counter", "Pipes in use now in the worker that answered",
         None if info is None else info.get("pipes_used", 0)),
        ("pipes_free_total", "counter", "Pipes allocated and idle now in the worker that answered",
         None if info is None else info.get("pipes_free", 0)),
        ("current_connection_rate", "gauge", "Connections accepted over the last second", r(p, "cum_conn")),
        ("limit_connection_rate", "gauge", "Limit of the connection rate (0: none)", 0),
        ("max_connection_rate", "gauge", "Highest connection rate seen", m(p, "cum_conn")),
        ("current_session_rate", "gauge", "Sessions created over the last second", r(p, "cum_sess")),
        ("limit_session_rate", "gauge", "Limit of the session rate (0: none)", 0),
        ("max_session_rate", "gauge", "Highest session rate seen", m(p, "cum_sess")),
        ("current_ssl_rate", "gauge", "TLS sessions over the last second", 0),
        ("limit_ssl_rate", "gauge", "Limit of the TLS session rate (0: none)", 0),
        ("max_ssl_rate", "gauge", "Highest TLS session rate seen", 0),
        ("current_frontend_ssl_key_rate", "gauge", "Frontend TLS key computations over the last second", 0),
        ("max_frontend_ssl_key_rate", "gauge", "Highest frontend TLS key computation rate seen", 0),
        ("frontend_ssl_reuse", "gauge", "Percent of frontend TLS sessions resumed", 0),
        ("current_backend_ssl_key_rate", "gauge", "Backend TLS key computations over the last second", 0),
        ("max_backend_ssl_key_rate", "gauge", "Highest backend TLS key computation rate seen", 0),
        ("ssl_cache_lookups_total", "counter", "TLS session cache lookups", 0),
        ("ssl_cache_misses_total", "counter", "TLS session cache misses", 0),
        ("http_comp_bytes_in_total", "counter", "Bytes given to the HTTP compressor (none in fastlb)", 0),
        ("http_comp_bytes_out_total", "counter", "Bytes out of the HTTP compressor", 0),
        ("limit_http_comp", "gauge", "Limit of the compression rate (0: none)", 0),
        ("current_zlib_memory", "gauge", "Memory used by zlib (no zlib in fastlb)", "NaN"),
        ("max_zlib_memory", "gauge", "Limit of the memory used by zlib", "NaN"),
        ("idle_time_percent", "gauge", "Percent of the last sample the workers spent waiting for events",
         shm.idle_pct()),
        ("stopping", "gauge", "1 while the process stops softly", 0),
        ("jobs", "gauge", "Connections and listeners of the process", cur + len(plan.listeners)),
        ("unstoppable_jobs", "gauge", "Jobs a soft stop must wait for", 0),
        ("listeners", "gauge", "Listening sockets", len(plan.listeners)),
        ("active_peers", "gauge", "Active peer connections (no peers in fastlb)", 0),
        ("connected_peers", "gauge", "Established peer connections", 0),
        ("dropped_logs_total", "counter", "Log lines this worker could not send", dropped_total()),
        ("busy_polling_enabled", "gauge", "1 when busy polling is on (never in fastlb)", 0),
        ("failed_resolutions", "counter", "Failed DNS resolutions (no resolvers in fastlb)", 0),
        ("bytes_out_total", "counter", "Bytes sent to clients", sum(c["bytes_out"] for c in fe_counts)),
        ("spliced_bytes_out_total", "counter", "Bytes sent from splice pipes by every worker",
         shm.spliced_out()),
        ("bytes_out_rate", "gauge", "Bytes sent to clients over the last second", r(p, "bytes_out")),
        ("recv_logs_total", "counter", "Log lines received by log forwarding (none in fastlb)", 0),
        ("start_time_seconds", "gauge", "Start time of the process (unix seconds)", start),
        ("pid", "gauge", "Process id of the worker that answered (fastlb)", os.getpid()),
    ]
    out = [(f"haproxy_process_{n}", t, h, str(v)) for n, t, h, v in fams if v is not None]
    out.insert(-2, ("haproxy_process_build_info", "gauge", "Build information",
                    f'{{version="{_esc(__version__)}"}} 1'))
    return out
