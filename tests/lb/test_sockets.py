"""The balancer driven by real connections on loopback: client addresses taken from accepted
sockets (127.0.0.x clients) and connection counts following long-lived connections through a
small forwarder, as the engine will use it."""

from __future__ import annotations

import asyncio
import socket

import pytest
import replay
from fastlb._lb import Balancer

from fastlb.lb import ServerSpec

TIMEOUT = 5.0


def loopback_aliases_work() -> bool:
    s = socket.socket()
    try:
        s.bind(("127.0.0.9", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


@pytest.mark.skipif(not loopback_aliases_work(), reason="cannot bind 127.0.0.x source addresses here")
@pytest.mark.parametrize(
    "case_name",
    [
        "src_eq4_default",
        "src_w123_default",
        "src_eq4_consistent",
        "src_w123_map_based_crc32_avalanche",
        "src_eq4_consistent_wt6",
    ],
)
def test_source_hash_of_real_127_0_0_x_clients(case_name):
    """Clients bound to 127.0.0.1..8 connect to a server that balances on the accepted socket's
    peer address; each lands where HAProxy sent the same address (recorded vectors)."""
    case = next(c for c in replay.load("hash_lookup.json")["vectors"] if c["name"] == case_name)
    expected = {s["key"]["src"]: s["expect"] for s in case["steps"] if s["key"]["src"].startswith("127.0.0.")}
    assert len(expected) == 8
    b = replay.build(case)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host = writer.get_extra_info("peername")[0]
        r = b.py_pick(src=socket.inet_aton(host))  # the 4 address bytes, as the engine passes them
        writer.write(f"{host} {b.names[r]}\n".encode())
        await writer.drain()
        writer.close()

    async def main() -> dict:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        got = {}
        try:
            for src in expected:
                r, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(src, 0))
                host, name = (await asyncio.wait_for(r.readline(), TIMEOUT)).decode().split()
                w.close()
                assert host == src
                got[src] = name
        finally:
            server.close()
        return got

    assert asyncio.run(asyncio.wait_for(main(), 30)) == expected


class Forwarder:
    """A TCP forwarder balancing connections with a Balancer: pick on accept, take while the
    connection lives, release when it closes (what the engine does around a server connection)."""

    def __init__(self, b: Balancer, ports: list[int]):
        self.b = b
        self.ports = ports

    async def handle(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        idx = self.b.py_pick()
        self.b.py_take(idx)
        try:
            sr, sw = await asyncio.open_connection("127.0.0.1", self.ports[idx])

            async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                while data := await r.read(4096):
                    w.write(data)
                    await w.drain()
                w.close()

            await asyncio.gather(pipe(cr, sw), pipe(sr, cw), return_exceptions=True)
        finally:
            self.b.py_release(idx)


class HoldingBackends:
    """Servers that greet with their index and keep each connection open until released."""

    def __init__(self, n: int):
        self.n = n
        self.open: list[list[asyncio.Event]] = [[] for _ in range(n)]
        self.servers: list[asyncio.base_events.Server] = []

    async def start(self) -> list[int]:
        for i in range(self.n):

            async def serve(r, w, i=i):
                ev = asyncio.Event()
                self.open[i].append(ev)
                w.write(b"%d\n" % i)
                await w.drain()
                await asyncio.wait_for(ev.wait(), 30)
                w.close()
                self.open[i].remove(ev)

            self.servers.append(await asyncio.start_server(serve, "127.0.0.1", 0))
        return [s.sockets[0].getsockname()[1] for s in self.servers]

    def finish(self, i: int) -> None:
        for ev in list(self.open[i]):
            ev.set()

    def close(self) -> None:
        for i in range(self.n):
            self.finish(i)
        for s in self.servers:
            s.close()


async def _connect(port: int) -> tuple[int, asyncio.StreamWriter]:
    """A client connection through the forwarder: the index of the server it reached, and the
    writer that keeps it open."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    return int(await asyncio.wait_for(r.readline(), TIMEOUT)), w


async def _wait_released(b: Balancer, srv: int) -> None:
    for _ in range(200):
        if b.served(srv) == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"connections to server {srv} still counted")


@pytest.mark.parametrize("weights,first_wave", [((1, 1, 1), 6), ((2, 1), 9)])
def test_leastconn_under_long_connections(weights, first_wave):
    async def main() -> None:
        backends = HoldingBackends(len(weights))
        ports = await backends.start()
        b = Balancer("leastconn", [ServerSpec(f"s{i + 1}", weight=w) for i, w in enumerate(weights)])
        fwd = await asyncio.start_server(Forwarder(b, ports).handle, "127.0.0.1", 0)
        port = fwd.sockets[0].getsockname()[1]
        conns: list = []
        try:
            conns += [await _connect(port) for _ in range(first_wave)]
            per = [sum(1 for i, _ in conns if i == s) for s in range(len(weights))]
            # connections spread in proportion to the weights
            assert per == [first_wave * w // sum(weights) for w in weights]
            assert [b.served(s) for s in range(len(weights))] == per
            # server 0's long connections end: the next ones go to it until it catches up
            backends.finish(0)
            await _wait_released(b, 0)
            refill = [await _connect(port) for _ in range(per[0])]
            conns += refill
            assert [i for i, _ in refill] == [0] * per[0]
            assert [b.served(s) for s in range(len(weights))] == per
        finally:
            for _, w in conns:
                w.close()
            backends.close()
            fwd.close()

    asyncio.run(asyncio.wait_for(main(), 60))
