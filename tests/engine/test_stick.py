"""Stick tables through the proxy: `stick on src` across 127.0.0.x clients and workers, expiry,
a server going down, cookies, store-response, tables shared between backends, the runtime API's
`show table` / `clear table`, and the same routing as HAProxy 2.6 on the same configuration."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import time

import pytest
from enginelib import RawClient, free_port, wait_port

HAPROXY = "/usr/sbin/haproxy"


class SrcClient(RawClient):
    """RawClient whose connection comes from a chosen 127.0.0.x address."""

    def __init__(self, port: int, src: str, timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(src, 0))
        self.buf = b""


def srv_of(port: int, src: str = "127.0.0.1", path: str = "/echo", headers: dict | None = None) -> int:
    """The backend port that answered one request on a new connection from `src`."""
    c = SrcClient(port, src)
    try:
        r = c.request(path=path, headers={"Connection": "close", **(headers or {})})
    finally:
        c.close()
    assert r.status == 200, r.raw_head
    return int(re.match(rb"srv=(\d+)", r.body).group(1))


def cli(sock, cmd: str) -> str:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(str(sock))
    s.sendall(cmd.encode() + b"\n")
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    s.close()
    return out.decode()


def table_entries(sock, name: str) -> dict[str, tuple[int, str, int]]:
    """key -> (server_id, server_key, exp ms) from `show table <name>`."""
    out = {}
    for line in cli(sock, f"show table {name}").splitlines()[1:]:
        m = re.match(r"0x[0-9a-f]+: key=(\S+) use=0 exp=(\d+) server_id=(\d+)(?: server_key=(\S+))?", line)
        if m:
            out[m.group(1)] = (int(m.group(3)), m.group(4), int(m.group(2)))
    return out


def cfg(port: int, sock, servers: list[int], backend: str, nbthread: int = 1, mode: str = "http",
        extra: str = "") -> str:
    srv = "\n".join(f"    server s{i + 1} 127.0.0.1:{p}" for i, p in enumerate(servers))
    return f"""
global
    nbthread {nbthread}
    stats socket {sock} level admin
defaults
    mode {mode}
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    balance roundrobin
{backend}
{srv}
{extra}
"""


SOURCES = [f"127.0.0.{i}" for i in range(2, 8)]


def test_stick_on_src_keeps_each_client_on_its_server_across_workers(backends, run_cfg, tmp_path):
    b = backends("http", "http", "http")
    port, sock = free_port(), tmp_path / "s.sock"
    run_cfg(cfg(port, sock, b.ports, "    stick-table type ip size 200k expire 30s\n    stick on src", nbthread=2),
            port)
    first = {src: srv_of(port, src) for src in SOURCES}
    # ten new connections per client: SO_REUSEPORT spreads them over both workers, and they all
    # find the entry of the shared table
    for _ in range(10):
        for src in SOURCES:
            assert srv_of(port, src) == first[src]
    assert len(set(first.values())) >= 2          # the balancer still spread the clients
    entries = table_entries(sock, "be")
    assert set(entries) == set(SOURCES)
    for src in SOURCES:
        sid, skey, exp = entries[src]
        assert b.ports[sid - 1] == first[src] and skey == f"s{sid}"
        assert 25000 < exp <= 30000
    # keys in address order, as HAProxy's tree lists them; header as HAProxy's
    out = cli(sock, "show table be")
    assert out.startswith("# table: be, type: ip, size:204800, used:6\n")
    assert re.findall(r" key=(\S+)", out) == SOURCES


def test_without_stick_rules_the_same_clients_are_spread(backends, run_cfg, tmp_path):
    """The baseline of the test above: the same traffic without stick rules changes servers."""
    b = backends("http", "http", "http")
    port, sock = free_port(), tmp_path / "s.sock"
    run_cfg(cfg(port, sock, b.ports, ""), port)
    assert len({srv_of(port, "127.0.0.2") for _ in range(6)}) == 3


def test_entries_expire_and_the_client_is_balanced_again(backends, run_cfg, tmp_path):
    b = backends("http", "http", "http")
    port, sock = free_port(), tmp_path / "s.sock"
    run_cfg(cfg(port, sock, b.ports, "    stick-table type ip size 10 expire 1200ms\n    stick on src"), port)
    a = srv_of(port, "127.0.0.2")           # round robin: 1st server
    assert a == b.ports[0]
    assert srv_of(port, "127.0.0.3") == b.ports[1]
    # each match refreshes the entry: within the delay the client stays
    for _ in range(3):
        time.sleep(0.5)
        assert srv_of(port, "127.0.0.2") == a
    assert set(table_entries(sock, "be")) == {"127.0.0.2"}   # .3 expired meanwhile
    time.sleep(1.5)
    assert table_entries(sock, "be") == {}
    assert cli(sock, "show table be").startswith("# table: be, type: ip, size:10, used:0\n")
    # gone: the balancer picks again (the 3rd server now), and a new entry is made
    assert srv_of(port, "127.0.0.2") == b.ports[2]
    assert table_entries(sock, "be")["127.0.0.2"][0] == 3


def test_a_server_in_maintenance_breaks_stickiness_drain_and_weight_0_do_not(backends, run_cfg, tmp_path):
    b = backends("http", "http")
    port, sock = free_port(), tmp_path / "s.sock"
    run_cfg(cfg(port, sock, b.ports, "    stick-table type ip size 10 expire 30s\n    stick on src"), port)
    assert srv_of(port, "127.0.0.2") == b.ports[0]
    assert srv_of(port, "127.0.0.3") == b.ports[1]
    for state in ("drain", "weight 0"):
        cmd = "set server be/s1 state drain" if state == "drain" else "set server be/s1 weight 0"
        assert cli(sock, cmd).strip() == ""
        time.sleep(0.2)
        assert srv_of(port, "127.0.0.2") == b.ports[0], state      # persistent traffic still served
        cli(sock, "set server be/s1 state ready")
        cli(sock, "set server be/s1 weight 1")
        time.sleep(0.2)
    cli(sock, "set server be/s1 state maint")
    time.sleep(0.2)
    assert srv_of(port, "127.0.0.2") == b.ports[1]              # re-balanced
    assert table_entries(sock, "be")["127.0.0.2"][:2] == (2, "s2")  # and the entry moved
    cli(sock, "set server be/s1 state ready")
    time.sleep(0.2)
    assert srv_of(port, "127.0.0.2") == b.ports[1]              # it stays on its new server


def test_down_server_with_redispatch_goes_elsewhere_and_entry_follows(backends, run_cfg, tmp_path):
    """A server that refuses connections (not marked down): the entry pins the client to it, the
    last retry redispatches (option redispatch), and the entry records the server that served."""
    b = backends("http", "refuse")
    port, sock = free_port(), tmp_path / "s.sock"
    run_cfg(cfg(port, sock, [b.ports[1], b.ports[0]],
                "    stick-table type ip size 10 expire 30s\n    stick on src\n    option redispatch\n"
                "    retries 1"), port)
    assert srv_of(port, "127.0.0.2") == b.ports[0]       # rr: s1 refuses, redispatched to s2
    assert table_entries(sock, "be")["127.0.0.2"][0] == 2


def test_stick_on_cookie_and_store_response(backends, run_cfg, tmp_path):
    b = backends("http", "http", "http")
    port, sock = free_port(), tmp_path / "s.sock"
    run_cfg(cfg(port, sock, b.ports,
                "    stick-table type string len 8 size 100 expire 30s\n"
                "    stick on req.cook(sid) if { path_beg /echo }\n"
                "    stick store-response res.cook(jsid)\n"
                "    stick match req.cook(jsid)"), port)
    got = {}
    for sid in ("alpha", "beta", "gamma"):
        got[sid] = srv_of(port, headers={"Cookie": f"x=1; sid={sid}"})
    assert sorted(got.values()) == sorted(b.ports)
    for _ in range(3):
        for sid, p in got.items():
            assert srv_of(port, "127.0.0.9", headers={"Cookie": f"sid={sid}"}) == p   # any client address
    # the key is cut to the table's len, as HAProxy stores it
    long_srv = srv_of(port, headers={"Cookie": "sid=abcdefghXYZ"})
    assert srv_of(port, headers={"Cookie": "sid=abcdefgh-other"}) == long_srv
    assert "abcdefgh" in table_entries(sock, "be")
    # the condition: /other requests neither match nor store
    before = set(table_entries(sock, "be"))
    srv_of(port, path="/other", headers={"Cookie": "sid=zeta"})
    assert set(table_entries(sock, "be")) == before
    # store-response: the server's Set-Cookie value is learnt, later requests carrying it match
    p = srv_of(port, path="/setcookie?name=jsid&value=J123")
    assert table_entries(sock, "be")["J123"][0] == b.ports.index(p) + 1
    for _ in range(4):
        assert srv_of(port, path="/other", headers={"Cookie": "jsid=J123"}) == p


def test_stick_on_a_header_and_keep_alive_requests_to_other_backends(backends, run_cfg, tmp_path):
    """`stick on req.hdr(x-user)`; on one keep-alive connection, a request routed to a backend
    without stick rules stores nothing in the table."""
    b = backends("http", "http", "http")
    port, sock = free_port(), tmp_path / "s.sock"
    run_cfg(cfg(port, sock, b.ports[:2], "    stick-table type string size 10 expire 30s\n    stick on req.hdr(x-user)",
                extra=f"backend plain\n    server p1 127.0.0.1:{b.ports[2]}\n").replace(
        "    default_backend be", "    use_backend plain if { path_beg /plain }\n    default_backend be"), port)
    got = {u: srv_of(port, headers={"X-User": u}) for u in ("ann", "bob")}
    assert sorted(got.values()) == sorted(b.ports[:2])
    c = RawClient(port)
    for _ in range(3):
        for u, p in got.items():
            r = c.request(path="/echo", headers={"X-User": f"zed, {u}"})      # last value counts
            assert int(re.match(rb"srv=(\d+)", r.body).group(1)) == p
            r = c.request(path="/plain", headers={"X-User": "carl"})
            assert int(re.match(rb"srv=(\d+)", r.body).group(1)) == b.ports[2]
    c.close()
    assert set(table_entries(sock, "be")) == {"ann", "bob"}


def test_table_shared_with_another_backend_finds_servers_by_name_then_id(backends, run_cfg, tmp_path):
    """HAProxy 2.6 (checked on this machine): `stick match src table pop` in another backend goes
    to the server of the same name, or else of the same id."""
    b = backends("http", "http", "http")
    port, port2, sock = free_port(), free_port(), tmp_path / "s.sock"
    run_cfg(f"""
global
    nbthread 1
    stats socket {sock} level admin
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    default_backend pop
frontend fe2
    bind 127.0.0.1:{port2}
    default_backend smtp
backend pop
    stick-table type ip size 1k expire 30s
    stick store-request src
    server s1 127.0.0.1:{b.ports[0]}
    server s2 127.0.0.1:{b.ports[1]}
backend smtp
    stick match src table pop
    server x1 127.0.0.1:{b.ports[2]} id 2
    server s2 127.0.0.1:{b.ports[0]} id 7
    server s3 127.0.0.1:{b.ports[1]} id 1
""", port)
    wait_port(port2)
    assert srv_of(port, "127.0.0.2") == b.ports[0]     # pop/s1 (id 1)
    assert srv_of(port, "127.0.0.3") == b.ports[1]     # pop/s2 (id 2)
    for _ in range(3):
        assert srv_of(port2, "127.0.0.2") == b.ports[1]    # no "s1" in smtp: id 1 = s3
        assert srv_of(port2, "127.0.0.3") == b.ports[0]    # "s2" by name (id 7), not x1 (id 2)


def test_stick_on_src_in_tcp_mode(backends, run_cfg, tmp_path):
    b = backends("echo", "echo")
    port, sock = free_port(), tmp_path / "s.sock"
    run_cfg(cfg(port, sock, b.ports, "    stick-table type ip size 10 expire 30s\n    stick on src", mode="tcp"),
            port)

    def tcp_srv(src):
        with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(src, 0)) as s:
            data = b""
            while b":" not in data:
                d = s.recv(100)
                if not d:
                    break
                data += d
        return int(data.split(b":")[0])

    first = {src: tcp_srv(src) for src in ("127.0.0.2", "127.0.0.3")}
    assert sorted(first.values()) == sorted(b.ports)
    for _ in range(4):
        for src, p in first.items():
            assert tcp_srv(src) == p


def test_show_and_clear_table_commands(backends, run_cfg, tmp_path):
    b = backends("http", "http")
    port, sock = free_port(), tmp_path / "s.sock"
    run_cfg(cfg(port, sock, b.ports,
                "    stick-table type ip size 10 expire 30s store conn_cur,http_req_rate(10s)\n    stick on src",
                extra="backend other\n    stick-table type string len 4 size 5\n"), port)
    for src in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        srv_of(port, src)
    # every table, last declared first
    assert cli(sock, "show table") == (
        "# table: other, type: string, size:5, used:0\n# table: be, type: ip, size:10, used:3\n\n")
    line = cli(sock, "show table be key 127.0.0.3").splitlines()[1]
    assert re.fullmatch(r"0x[0-9a-f]+: key=127\.0\.0\.3 use=0 exp=\d+ server_id=2 conn_cur=0 "
                        r"http_req_rate\(10000\)=0 server_key=s2", line)
    assert cli(sock, "show table be data.server_id eq 1").count(" key=") == 2
    assert cli(sock, "show table nosuch") == "No such table\n\n"
    assert cli(sock, "show table be key") == "Key value expected\n\n"
    assert cli(sock, "show table be data.server_id") == (
        'Filter entry #1: Require and operator among "eq", "ne", "le", "ge", "lt", "gt"\n\n')
    assert cli(sock, "show table be data.foo eq 1") == "Filter entry #1: Unknown data type\n\n"
    assert cli(sock, "clear table") == (
        'Required arguments: <table> "data.<store_data_type>" <operator> <value> or <table> key <key>\n\n')
    assert cli(sock, "clear table be key 127.0.0.2") == "\n"
    assert set(table_entries(sock, "be")) == {"127.0.0.3", "127.0.0.4"}
    assert cli(sock, "clear table be data.server_id eq 2") == "\n"
    assert set(table_entries(sock, "be")) == {"127.0.0.4"}
    cli(sock, "clear table be")
    assert table_entries(sock, "be") == {}
    # cleared entries are gone for the workers too: the client is balanced again
    assert srv_of(port, "127.0.0.2") in b.ports


@pytest.mark.skipif(not os.path.exists(HAPROXY), reason="haproxy 2.6 is not installed (CI installs it)")
def test_same_stickiness_as_haproxy(backends, run_cfg, tmp_path):
    """One client sequence against HAProxy and fastlb on the same configuration (a cookie table,
    a source table fed under a condition, a server put in maintenance and back): the same server
    for every request, the same table contents."""
    b = backends("http", "http", "http")
    results = {}
    tables = {}
    steps = ["a1", "a2", "a3", "a1", "a4", "a5", "maint", "a2", "a3", "a1", "longcookie1", "ready",
             "longcookie2", "a5", "a2", "a6"]
    for name in ("haproxy", "fastlb"):
        port, sock = free_port(), tmp_path / f"{name}.sock"
        text = cfg(port, sock, b.ports,
                   "    stick-table type string len 6 size 100 expire 30s\n"
                   "    stick on req.cook(sid)\n    stick on src table ips if { path_beg /ip }",
                   extra="backend ips\n    stick-table type ip size 100 expire 30s\n")
        proc = None
        if name == "haproxy":
            path = tmp_path / "h.cfg"
            path.write_text(text.replace("    nbthread 1\n", ""))
            proc = subprocess.Popen([HAPROXY, "-f", str(path), "-db"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            wait_port(port)
        else:
            run_cfg(text, port)
        try:
            seq = []
            for i, sid in enumerate(steps):
                if sid in ("maint", "ready"):
                    cli(sock, f"set server be/s2 state {sid}")
                    time.sleep(0.2)
                    continue
                seq.append(srv_of(port, f"127.0.0.{2 + i % 3}", path="/ip" if i % 2 else "/x",
                                  headers={"Cookie": f"sid={sid}"}))
            results[name] = seq
            tables[name] = ({k: v[:2] for k, v in table_entries(sock, "be").items()},
                            {k: v[:2] for k, v in table_entries(sock, "ips").items()})
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait()
    assert results["fastlb"] == results["haproxy"], (results, tables)
    assert tables["fastlb"] == tables["haproxy"]
