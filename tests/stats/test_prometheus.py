"""The Prometheus exporter (``http-request use-service prometheus-exporter``) over real sockets:
values that match the traffic sent, the latency histograms and maxima, the process and
aggregated backend families, and the same family names and types as HAProxy 2.6's exporter."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
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
    timeout connect 4s
frontend fe
    bind 127.0.0.1:{p0}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    use_backend slow if {{ path_beg /slow }}
    default_backend be
backend be
    server s1 127.0.0.1:{b1} maxconn 50
    server s2 127.0.0.1:{b2} check inter 200
    server s3 127.0.0.1:{dead} check inter 200
backend slow
    server s4 127.0.0.1:{slow}
"""


class SlowConnectServer:
    """A listener whose first connect takes about one second: its accept queue (listen backlog 0)
    is filled by a connection of its own, so the kernel drops the proxy's SYN; the filler is
    accepted 0.3 s after `arm()` and the proxy's SYN, retransmitted after the initial 1 s RTO, gets
    in. Then it answers one HTTP request."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.filler = socket.create_connection(("127.0.0.1", self.port))
        self.served = 0
        self.armed = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def arm(self) -> None:
        self.armed.set()

    def _run(self) -> None:
        if not self.armed.wait(30):
            return
        time.sleep(0.3)
        try:
            self.sock.accept()[0].close()  # the filler: the queue has room again
            c, _ = self.sock.accept()
        except OSError:
            return
        with c:
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            self.served += 1
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")

    def close(self) -> None:
        self.filler.close()
        self.sock.close()


def _words(text: str) -> list[str]:
    return text.split()


#: HAProxy families about what fastlb does not have (memory pools, tasks, a memory limit): left
#: out rather than invented (fastlb/stats/promproc.py).
NOT_EXPORTED = frozenset(_words("""
    haproxy_process_current_run_queue haproxy_process_current_tasks
    haproxy_process_max_memory_bytes
    haproxy_process_pool_allocated_bytes haproxy_process_pool_failures_total haproxy_process_pool_used_bytes
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


def scrape(stack, delays: tuple[float, float], requests: int, cmd=None,
           slow: bool = False) -> tuple[dict, dict, dict]:
    """Start the proxy, send `requests` requests to backend be (and one to backend slow), scrape.
    The values dict also holds the backends (b1, b2, slow4) to count what each received."""
    b1, b2 = ThreadBackend(delays[0]), ThreadBackend(delays[1])
    s4 = SlowConnectServer() if slow else None
    try:
        _, v = stack.start(CONFIG, backends=0, ports=1, cmd=cmd, b1=b1.port, b2=b2.port, dead=free_port(),
                           slow=s4.port if s4 else free_port())
        time.sleep(0.8)  # a few health checks: s3 is DOWN
        for _ in range(requests):
            assert http(v["p0"], target="/x")[0] == 200
        if s4 is not None:
            s4.arm()
            t0 = time.monotonic()
            assert http(v["p0"], target="/slow")[0] == 200 and s4.served == 1
            assert time.monotonic() - t0 >= 0.9  # the SYN was dropped once, indeed
        status, headers, body = http(v["p0"], target="/metrics")
        assert status == 200 and headers["content-type"].startswith("text/plain")
        types, values = parse(body.decode())
        v.update(seen1=len(b1.seen), seen2=len(b2.seen))
        return types, values, v
    finally:
        b1.close()
        b2.close()
        if s4 is not None:
            s4.close()


def buckets(m: dict, family: str, labels: str) -> dict[str, float]:
    """le -> cumulative count of one histogram series."""
    head = f"{family}_bucket{{{labels},le=\""
    return {k[len(head):-2]: v for k, v in m.items() if k.startswith(head)}


def test_use_service_values_histograms_maxima_and_aggregates(stack):
    n = 6
    # s1 answers after 25 ms, s2 after 120 ms: their response times fall in different buckets
    types, m, v = scrape(stack, (0.025, 0.12), n, slow=True)
    seen = {"s1": v["seen1"], "s2": v["seen2"]}
    assert sum(seen.values()) == n and seen["s1"] and seen["s2"]
    assert m['haproxy_frontend_http_requests_total{proxy="fe"}'] >= n + 1
    assert m['haproxy_backend_http_responses_total{proxy="be",code="2xx"}'] == n
    assert m['haproxy_backend_http_responses_total{proxy="slow",code="2xx"}'] == 1
    for s, count in seen.items():
        assert m[f'haproxy_server_http_responses_total{{proxy="be",server="{s}",code="2xx"}}'] == count
        assert m[f'haproxy_server_sessions_total{{proxy="be",server="{s}"}}'] == count
    for h in ("connect_time_seconds", "response_time_seconds"):
        assert types[f"haproxy_backend_{h}"] == types[f"haproxy_server_{h}"] == "histogram"
    # response time (Tr), per server: one observation per response, in the bucket of its delay
    for s, low, high in (("s1", "0.02", "0.1"), ("s2", "0.1", "0.5")):
        lab = f'proxy="be",server="{s}"'
        b = buckets(m, "haproxy_server_response_time_seconds", lab)
        assert list(b.values()) == sorted(b.values()) and b["+Inf"] == seen[s]
        assert m[f"haproxy_server_response_time_seconds_count{{{lab}}}"] == seen[s]
        assert b[low] == 0 and b[high] == seen[s], (s, b)  # sleep() guarantees the lower bound
    b = buckets(m, "haproxy_backend_response_time_seconds", 'proxy="be"')
    s1_fast = m['haproxy_server_response_time_seconds_bucket{proxy="be",server="s1",le="0.05"}']
    assert b["0.02"] == 0 and b["0.05"] == s1_fast
    assert b["+Inf"] == n and b["0.1"] == seen["s1"] and b["0.5"] == n
    total = 0.025 * seen["s1"] + 0.12 * seen["s2"]
    assert total <= m['haproxy_backend_response_time_seconds_sum{proxy="be"}'] < total + 0.5 * n
    # connect time (Tc): one observation per new server connection; on loopback well under 100 ms,
    # and about one second for s4, whose first SYN was dropped
    for s in seen:
        b = buckets(m, "haproxy_server_connect_time_seconds", f'proxy="be",server="{s}"')
        assert b["0.1"] == b["+Inf"] == seen[s], (s, b)
    for lab in ('proxy="slow",server="s4"', 'proxy="slow"'):
        kind = "server" if "server" in lab else "backend"
        b = buckets(m, f"haproxy_{kind}_connect_time_seconds", lab)
        assert b["0.5"] == 0 and b["2"] == b["+Inf"] == 1, (lab, b)
        assert 0.9 <= m[f"haproxy_{kind}_connect_time_seconds_sum{{{lab}}}"] < 2
    assert buckets(m, "haproxy_backend_connect_time_seconds", 'proxy="be"')["+Inf"] == n
    # maxima are measured, not 0
    assert 0.12 <= m['haproxy_backend_max_response_time_seconds{proxy="be"}'] < 5
    assert 0.025 <= m['haproxy_server_max_response_time_seconds{proxy="be",server="s1"}'] < 0.12
    assert m['haproxy_backend_max_total_time_seconds{proxy="be"}'] >= 0.12
    assert 0.9 <= m['haproxy_backend_max_connect_time_seconds{proxy="slow"}'] < 2
    assert m['haproxy_backend_max_connect_time_seconds{proxy="be"}'] < 0.1
    # per-state aggregates of the backend's servers
    assert m['haproxy_backend_agg_server_status{proxy="be",state="UP"}'] == 2
    assert m['haproxy_backend_agg_server_status{proxy="be",state="DOWN"}'] == 1
    assert m['haproxy_backend_agg_check_status{proxy="be",state="L4OK"}'] == 1
    assert m['haproxy_backend_agg_check_status{proxy="be",state="L4CON"}'] == 1
    assert m['haproxy_server_limit_sessions{proxy="be",server="s1"}'] == 50
    assert str(m['haproxy_server_limit_sessions{proxy="be",server="s2"}']) == "nan"  # no maxconn: NaN
    # process families: every worker's connections, the requests
    assert m["haproxy_process_current_connections"] >= 1
    assert m["haproxy_process_requests_total"] >= n + 2
    assert m["haproxy_process_nbthread"] == 2 and m["haproxy_process_max_fds"] > 0


@pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (apt-get install haproxy)")
def test_family_names_and_types_like_haproxy(stack):
    ours, _, _ = scrape(stack, (0, 0), 2)
    theirs, _, _ = scrape(stack, (0, 0), 2, cmd=[HAPROXY])
    assert set(theirs) - NOT_EXPORTED == set(ours) - FASTLB_ONLY
    assert {k: v for k, v in ours.items() if k in theirs} == {k: theirs[k] for k in ours if k in theirs}
    version = subprocess.run([HAPROXY, "-v"], capture_output=True, text=True, check=False).stdout
    assert version.startswith("HAProxy version 2.6"), version  # the names compared are 2.6's


PIPES_CONFIG = """
global
    nbthread 1
    maxpipes 8
defaults
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend metrics
    mode http
    bind 127.0.0.1:{p0}
    http-request use-service prometheus-exporter
listen bulk
    mode tcp
    # haproxy 2.6 splices this transfer with these options (with splice-auto it did not splice);
    # fastlb ignores them and splices once a read fills a buffer
    option splice-request
    option splice-response
    bind 127.0.0.1:{p1}
    server s1 127.0.0.1:{bulk}
"""


def bulk_server(size: int) -> tuple[socket.socket, threading.Thread]:
    """Accepts one connection, sends `size` bytes, closes."""
    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        srv.settimeout(10)
        conn, _ = srv.accept()
        with conn:
            conn.sendall(b"x" * size)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv, t


@pytest.mark.parametrize("which", [None, "haproxy"] if HAPROXY else [None])
def test_pipe_families_count_the_answering_workers_pipes(stack, which):
    size = 8 << 20
    srv, t = bulk_server(size)
    try:
        _, v = stack.start(PIPES_CONFIG, backends=0, ports=2, cmd=[HAPROXY] if which else None,
                           bulk=srv.getsockname()[1])
        got = 0
        with socket.create_connection(("127.0.0.1", v["p1"]), timeout=10) as c:
            while chunk := c.recv(1 << 20):
                got += len(chunk)
        assert got == size
        t.join(10)
        deadline = time.monotonic() + 5
        while True:  # the session ends (and gives its pipe back) just after the last byte
            types, values = parse(http(v["p0"], target="/metrics")[2].decode())
            if values.get("haproxy_process_pipes_free_total", 0) >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert types["haproxy_process_pipes_used_total"] == "counter"
        assert types["haproxy_process_pipes_free_total"] == "counter"
        assert values["haproxy_process_pipes_used_total"] == 0
        # the pipe went back to the (worker's) pool
        assert 1 <= values["haproxy_process_pipes_free_total"] <= 8
        assert types["haproxy_process_spliced_bytes_out_total"] == "counter"
        assert size - 16384 <= values["haproxy_process_spliced_bytes_out_total"] <= size
    finally:
        srv.close()
