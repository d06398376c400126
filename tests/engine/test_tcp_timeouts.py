"""mode tcp timeouts per side (client, server, client-fin, server-fin, tunnel), over real sockets.

Each scenario runs through fastlb and through HAProxy 2.6 (fixture tcp_proxy, tcpprobe.py) with the same configuration and the
same expected timeline: an expired read timeout ends one direction (its FIN is forwarded), the
session ends when both directions have, and -fin timeouts take over once one side finished.
"""
from __future__ import annotations


def around(value: float | None, expected: float, slack: float = 0.35) -> bool:
    return value is not None and expected - 0.1 <= value <= expected + slack


def test_idle_session_each_direction_ends_at_its_own_timeout(tcp_proxy):
    ev = tcp_proxy("client 500ms, server 1500ms").run()
    # the client said nothing for 0.5 s: its direction ends (the server sees EOF); the server's
    # direction lasts until 1.5 s (not 0.5 s as one min() timer would, nor 2 s)
    assert around(ev.get("srv_eof"), 0.5), ev
    assert around(ev.get("cli_eof"), 1.5), ev
    assert around(ev.get("closed"), 1.5), ev


def test_idle_session_server_timeout_first(tcp_proxy):
    ev = tcp_proxy("client 1500ms, server 500ms").run(greet=True)
    assert around(ev.get("cli_eof"), 0.5), ev
    assert around(ev.get("srv_eof"), 1.5), ev


def test_client_fin_once_the_server_finished(tcp_proxy):
    ev = tcp_proxy("client 3s, server 3s, client-fin 500ms").run(greet=True, server_fin_at=0.3)
    assert around(ev.get("cli_eof"), 0.3), ev
    assert around(ev.get("srv_eof"), 0.8), ev      # client-fin counted from the forwarded FIN
    assert around(ev.get("closed"), 0.8), ev


def test_server_fin_once_the_client_finished(tcp_proxy):
    ev = tcp_proxy("client 3s, server 3s, server-fin 500ms").run(client_fin_at=0.3)
    assert around(ev.get("srv_eof"), 0.3), ev
    assert around(ev.get("cli_eof"), 0.8), ev
    assert around(ev.get("closed"), 0.8), ev


def test_tunnel_replaces_client_and_server_and_fin_overrides_tunnel(tcp_proxy):
    ev = tcp_proxy("client 300ms, server 300ms, tunnel 1500ms").run()
    assert around(ev.get("closed"), 1.5), ev
    ev = tcp_proxy("client 300ms, server 300ms, tunnel 1500ms, server-fin 500ms").run(client_fin_at=0.3)
    assert around(ev.get("srv_eof"), 0.3), ev
    assert around(ev.get("cli_eof"), 0.8), ev


def test_a_client_that_does_not_read_meets_the_client_timeout_not_the_server_one(tcp_proxy):
    # the server pushes, the client reads nothing: buffers fill, then only the client side has a
    # timer (writing to it); the server side expects nothing while fastlb cannot take more
    ev = tcp_proxy("client 2s, server 400ms").run(push=True, noread=True)
    assert ev.get("closed") is not None and 1.9 <= ev["closed"] <= 4.0, ev
    assert "srv_reset" in ev or "srv_eof" in ev, ev
