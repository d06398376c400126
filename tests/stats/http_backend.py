"""A small HTTP/1.1 backend for the stats and logs tests: one port per argument, keep-alive,
answers every request with ``srv=<port> path=<path>`` (text/plain, Content-Length) and status 200,
or the status given by a ``/status/<code>`` path."""
from __future__ import annotations

import asyncio
import sys


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            _method, target, version = lines[0].split(" ", 2)
            length = 0
            close = version == "HTTP/1.0"
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection":
                    close = value.strip().lower() == "close" or (close and value.strip().lower() != "keep-alive")
            if length:
                await reader.readexactly(length)
            status = 200
            if target.startswith("/status/"):
                status = int(target.split("/")[2])
            body = f"srv={port} path={target}\n".encode()
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                         f"{'Connection: close' if close else 'Connection: keep-alive'}\r\n\r\n".encode() + body)
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main(ports: list[int]) -> None:
    servers = [await asyncio.start_server(lambda r, w, p=p: handle(r, w, p), "127.0.0.1", p) for p in ports]
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main([int(a) for a in sys.argv[1:]]))
