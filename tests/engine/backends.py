"""Small real backend servers for the engine tests, all in one process (asyncio).

Each argument is KIND:PORT:
  echo:P      TCP: answers "<port>:" then echoes everything, propagating the client's half-close
  refuse:P    nothing listens (connections are refused)
  http:P      HTTP/1.1 server: answers "srv=<port> path=<path>" with keep-alive
"""
from __future__ import annotations

import asyncio
import sys


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
    writer.write(f"{port}:".encode())
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        await asyncio.sleep(0.05)
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(specs: list[str]) -> None:
    servers = []
    for spec in specs:
        kind, port_s = spec.split(":")
        port = int(port_s)
        if kind == "echo":
            servers.append(await asyncio.start_server(lambda r, w, p=port: echo(r, w, p), "127.0.0.1", port))
        elif kind == "refuse":
            continue
        else:
            raise SystemExit(f"unknown backend kind {kind}")
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
