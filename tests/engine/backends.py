"""Small real backend servers for the engine tests, all in one process (asyncio).

Each argument is KIND:PORT:
  echo:P      TCP: answers "<port>:" then echoes everything, propagating the client's half-close
  refuse:P    nothing listens (connections are refused)
  push:P      TCP: sends bytes as fast as the peer takes them, until the connection fails
  fin:P       TCP: sends "hello" then half-closes (shutdown write), reads until EOF, then closes
  silent:P    TCP: reads and discards everything, never writes, closes only after the peer
  hold:P      TCP: reads and discards everything, never writes, never closes (not even after EOF)
  greet:P     TCP: sends "hi", then like hold
  http:P      HTTP/1.1 server, keep-alive; what it does depends on the path:
      /echo...            200, body "srv=<port> method=.. path=.. body_len=.. body_sha=.. peer=.."
                          (peer: the port the request came from) then one "h:<name>: <value>"
                          line per request header
      /seen               200, the targets of every request this server received (one a line)
      /slow?ms=N          the same after N ms
      /chunked?n=N&size=S a chunked response of N chunks of S bytes
      /big?size=N         a Content-Length response of N bytes (pattern)
      /close              a close-delimited response (no length) then close
      /bad                an invalid status line
      /nothing            close without answering
      /status?code=N      empty response with that status
      /cacheable          200 with Cache-Control: max-age=60
      /setcookie?name=N&value=V  the /echo answer with "Set-Cookie: N=V; path=/"
      /hdrs?A=x&B=y       the /echo answer with response headers "A: x", "B: y" (in that order)
      /ws                 101 Switching Protocols then echo every byte
      /trickle?headers=N&us=U  200 whose head (N X-Trickle-i headers, Connection: keep-alive)
                          is written one byte at a time, U µs apart; body "trickled\n"
      Expect: 100-continue is answered with "100 Continue" before the body is read.
"""
from __future__ import annotations

import asyncio
import hashlib
import sys
from urllib.parse import parse_qs, parse_qsl, urlsplit


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


async def push(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    block = b"p" * 65536
    try:
        while True:
            writer.write(block)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def fin(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"hello")
    try:
        await writer.drain()
        writer.write_eof()
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass
    finally:
        writer.close()


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass
    finally:
        writer.close()


async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, greeting: bytes = b"") -> None:
    try:
        if greeting:
            writer.write(greeting)
            await writer.drain()
        while await reader.read(65536):
            pass
        await asyncio.sleep(3600)
    except ConnectionError:
        pass
    finally:
        writer.close()


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower().endswith("chunked"):
        parts = []
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    n = int(headers.get("content-length", "0") or 0)
    return await reader.readexactly(n) if n else b""


def response(status: int, body: bytes, extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


SEEN: dict[int, list[str]] = {}


async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
    peer = writer.get_extra_info("peername")[1]
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _version = lines[0].split(" ", 2)
            hlist = [tuple(x.split(":", 1)) for x in lines[1:] if x]
            headers = {k.strip().lower(): v.strip() for k, v in hlist}
            url = urlsplit(target)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            path = url.path
            if path == "/seen":
                writer.write(response(200, "".join(t + "\n" for t in SEEN.get(port, [])).encode()))
                await writer.drain()
                continue
            SEEN.setdefault(port, []).append(target)
            if headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                await writer.drain()
            if path == "/ws":
                writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
                await writer.drain()
                while True:
                    d = await reader.read(65536)
                    if not d:
                        break
                    writer.write(d)
                    await writer.drain()
                break
            body = await read_body(reader, headers)
            if path == "/nothing":
                break
            if path == "/bad":
                writer.write(b"garbage\r\n\r\n")
                break
            if path == "/slow":
                await asyncio.sleep(int(q.get("ms", "1000")) / 1000)
            if path == "/close":
                writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"c" * int(q.get("size", "1000")))
                await writer.drain()
                break
            if path == "/chunked":
                n, size = int(q.get("n", "3")), int(q.get("size", "10"))
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                for i in range(n):
                    chunk = bytes([97 + i % 26]) * size
                    writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
                await writer.drain()
                continue
            if path == "/big":
                size = int(q.get("size", "1000"))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
                block = bytes(range(256)) * 256
                left = size
                while left:
                    n = min(left, len(block))
                    writer.write(block[:n])
                    left -= n
                    await writer.drain()
                continue
            if path == "/trickle":
                n, gap = int(q.get("headers", "20")), int(q.get("us", "300")) / 1e6
                head = ("HTTP/1.1 200 OK\r\n" + "".join(f"X-Trickle-{i}: {'v' * i}\r\n" for i in range(n))
                        + "Connection: keep-alive\r\nContent-Length: 9\r\n\r\n").encode()
                for i in range(len(head)):
                    writer.write(head[i:i + 1])
                    await writer.drain()
                    await asyncio.sleep(gap)
                writer.write(b"trickled\n")
                await writer.drain()
                continue
            if path == "/cacheable":
                writer.write(response(200, b"cache me\n", "Cache-Control: max-age=60\r\n"))
                await writer.drain()
                continue
            if path == "/status":
                code = int(q.get("code", "200"))
                if code in (204, 304):
                    writer.write(f"HTTP/1.1 {code} X\r\n\r\n".encode())
                else:
                    writer.write(response(code, b"" if method == "HEAD" else b"status\n"))
                await writer.drain()
                continue
            extra = ""
            if path == "/setcookie":
                extra = f"Set-Cookie: {q.get('name', 'c')}={q.get('value', '')}; path=/\r\n"
            if path == "/hdrs":
                extra = "".join(f"{k}: {v}\r\n" for k, v in parse_qsl(url.query))
            text = (f"srv={port} method={method} path={target} body_len={len(body)} "
                    f"body_sha={hashlib.sha256(body).hexdigest()} peer={peer}\n")
            text += "".join(f"h:{k.strip()}: {v.strip()}\n" for k, v in hlist)
            data = text.encode()
            if method == "HEAD":
                writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(data)}\r\n\r\n".encode())
            else:
                writer.write(response(200, data, extra))
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.LimitOverrunError):
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
        elif kind == "http":
            servers.append(await asyncio.start_server(lambda r, w, p=port: http(r, w, p), "127.0.0.1", port,
                                                      limit=1 << 20))
        elif kind in ("push", "fin", "silent", "hold", "greet"):
            handler = {"push": push, "fin": fin, "silent": silent, "hold": hold,
                       "greet": lambda r, w: hold(r, w, b"hi")}[kind]
            servers.append(await asyncio.start_server(handler, "127.0.0.1", port))
        elif kind == "refuse":
            continue
        else:
            raise SystemExit(f"unknown backend kind {kind}")
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
