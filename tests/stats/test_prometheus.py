"""The Prometheus exporter (``http-request use-service prometheus-exporter``) over real sockets:
values that match the traffic sent, the latency histograms and maxima, the process and
aggregated backend families, and the same family names and types as HAProxy 2.6's exporter."""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
from statlib import ThreadBackend, free_port, http

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)

CONFIG = """
global
    nbthread 2
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend fe
    bind 127.0.0.1:{p0}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    default_backend be
backend be
    server s1 127.0.0.1:{b1} maxconn 50
    server s2 127.0.0.1:{b2} check inter 200
    server s3 127.0.0.1:{dead} check inter 200
"""

def _words(text: str) -> list[str]:
    return text.split()


#: HAProxy families about what fastlb does not have (memory pools, tasks, idle time, splicing
#: counters): left out rather than invented (fastlb/stats/promproc.py).
NOT_EXPORTED = frozenset(_words("""
    haproxy_process_current_run_queue haproxy_process_current_tasks haproxy_process_idle_time_percent
    haproxy_process_max_memory_bytes haproxy_process_pipes_free_total haproxy_process_pipes_used_total
    haproxy_process_pool_allocated_bytes haproxy_process_pool_failures_total haproxy_process_pool_used_bytes
    haproxy_process_spliced_bytes_out_total
"""))
#: What fastlb adds: latency histograms, the pid of the worker that answered.
FASTLB_ONLY = frozenset(_words("""
    haproxy_backend_connect_time_seconds haproxy_backend_response_time_seconds
    haproxy_server_connect_time_seconds haproxy_server_response_time_seconds haproxy_process_pid
"""))


def parse(text: str) -> tuple[dict[str, str], dict[str, float]]:
    """(family -> type, 'name{labels}' -> value)."""
    types, values = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, mtype = line.split(" ")
            types[name] = mtype
        elif line and not line.startswith("#"):
            key, _, val = line.rpartition(" ")
            values[key] = float(val)
    return types, values


def scrape(stack, backend_delay: float, requests: int, cmd=None) -> tuple[dict, dict, dict]:
    b1, b2 = ThreadBackend(backend_delay), ThreadBackend(backend_delay)
    try:
        _, v = stack.start(CONFIG, backends=0, ports=1, cmd=cmd, b1=b1.port, b2=b2.port, dead=free_port())
        time.sleep(0.8)  # a few health checks: s3 is DOWN
        for _ in range(requests):
            assert http(v["p0"], target="/x")[0] == 200
        status, headers, body = http(v["p0"], target="/metrics")
        assert status == 200 and headers["content-type"].startswith("text/plain")
        types, values = parse(body.decode())
        return types, values, v
    finally:
        b1.close()
        b2.close()


def test_use_service_values_histograms_maxima_and_aggregates(stack):
    n = 6
    types, m, _ = scrape(stack, 0.06, n)
    assert m['haproxy_frontend_http_requests_total{proxy="fe"}'] >= n
    assert m['haproxy_backend_http_responses_total{proxy="be",code="2xx"}'] == n
    srv = ('s1', 's2')
    assert sum(m[f'haproxy_server_http_responses_total{{proxy="be",server="{s}",code="2xx"}}'] for s in srv) == n
    # the connect-time histogram: one observation per server connection, cumulative buckets
    for h in ("connect_time_seconds", "response_time_seconds"):
        assert types[f"haproxy_backend_{h}"] == "histogram"
        count = m[f'haproxy_backend_{h}_count{{proxy="be"}}']
        assert count == n and m[f'haproxy_backend_{h}_bucket{{proxy="be",le="+Inf"}}'] == count
        buckets = [v for k, v in m.items() if k.startswith(f'haproxy_backend_{h}_bucket{{proxy="be",')]
        assert buckets == sorted(buckets)
    assert m['haproxy_backend_response_time_seconds_bucket{proxy="be",le="0.05"}'] == 0  # 60 ms each
    assert m['haproxy_backend_response_time_seconds_bucket{proxy="be",le="0.1"}'] == n
    assert m['haproxy_backend_response_time_seconds_sum{proxy="be"}'] >= 0.06 * n
    # maxima are measured, not 0
    assert 0.06 <= m['haproxy_backend_max_response_time_seconds{proxy="be"}'] < 5
    assert m['haproxy_backend_max_total_time_seconds{proxy="be"}'] >= 0.06
    assert m['haproxy_backend_max_connect_time_seconds{proxy="be"}'] >= 0
    # per-state aggregates of the backend's servers
    assert m['haproxy_backend_agg_server_status{proxy="be",state="UP"}'] == 2
    assert m['haproxy_backend_agg_server_status{proxy="be",state="DOWN"}'] == 1
    assert m['haproxy_backend_agg_check_status{proxy="be",state="L4OK"}'] == 1
    assert m['haproxy_backend_agg_check_status{proxy="be",state="L4CON"}'] == 1
    assert m['haproxy_server_limit_sessions{proxy="be",server="s1"}'] == 50
    assert str(m['haproxy_server_limit_sessions{proxy="be",server="s2"}']) == "nan"  # no maxconn: NaN
    # process families: every worker's connections, the requests
    assert m["haproxy_process_current_connections"] >= 1
    assert m["haproxy_process_requests_total"] >= n + 1
    assert m["haproxy_process_nbthread"] == 2 and m["haproxy_process_max_fds"] > 0


@pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (apt-get install haproxy)")
def test_family_names_and_types_like_haproxy(stack):
    ours, _, _ = scrape(stack, 0, 2)
    theirs, _, _ = scrape(stack, 0, 2, cmd=[HAPROXY])
    assert set(theirs) - NOT_EXPORTED == set(ours) - FASTLB_ONLY
    assert {k: v for k, v in ours.items() if k in theirs} == {k: theirs[k] for k in ours if k in theirs}
    version = subprocess.run([HAPROXY, "-v"], capture_output=True, text=True, check=False).stdout
    assert version.startswith("HAProxy version 2.6"), version  # the names compared are 2.6's
