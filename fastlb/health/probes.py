"""One health-check run over a real socket: TCP connect, HTTP request/response, agent reply.

Timeouts follow what HAProxy 2.6 does (measured against it): the whole check is bounded by
``min(timeout connect, inter)`` (``inter`` alone without ``timeout connect``) counted from the
start; ``timeout check``, when set, only extends the read phase to ``connected + timeout check``.
Sockets are closed with SO_LINGER 0, as HAProxy closes check connections, so that frequent checks
leave no TIME_WAIT sockets behind.
"""
from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
from dataclasses import dataclass

from .agent import AgentReply, parse_agent_reply
from .httpchk import MAX_RESPONSE, HttpCheckPlan, evaluate, response_complete
from .status import CheckStatus
from .tcpchk import TcpCheckPlan, expect_found, mismatch, timeout_info

_LINGER0 = struct.pack("ii", 1, 0)


@dataclass(frozen=True)
class ProbeResult:
    status: CheckStatus
    code: int | None = None
    desc: str = ""
    duration_ms: int = 0
    reply: AgentReply | None = None


@dataclass(frozen=True)
class ProbeSpec:
    """Everything one run needs: where, how long, and what to say."""

    family: int
    host: str
    port: int
    conn_timeout_ms: int
    read_timeout_ms: int | None
    http: HttpCheckPlan | None = None
    tcp: TcpCheckPlan | None = None
    agent: bool = False
    agent_send: bytes | None = None


def _close(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER0)
    except OSError:
        pass
    sock.close()


def _strerror(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else (str(exc) or type(exc).__name__)


async def run_probe(spec: ProbeSpec) -> ProbeResult:
    loop = asyncio.get_running_loop()
    start = loop.time()

    def elapsed() -> int:
        return int((loop.time() - start) * 1000)

    try:
        sock = socket.socket(spec.family, socket.SOCK_STREAM)
    except OSError as exc:
        return ProbeResult(CheckStatus.SOCKERR, desc=_strerror(exc), duration_ms=elapsed())
    try:
        sock.setblocking(False)
        deadline = start + spec.conn_timeout_ms / 1000.0
        try:
            target = spec.host if spec.family == socket.AF_UNIX else (spec.host, spec.port)
            await asyncio.wait_for(loop.sock_connect(sock, target), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            return ProbeResult(CheckStatus.L4TOUT, duration_ms=elapsed())
        except OSError as exc:
            return ProbeResult(CheckStatus.L4CON, desc=_strerror(exc), duration_ms=elapsed())
        if spec.http is None and spec.tcp is None and not spec.agent:
            return ProbeResult(CheckStatus.L4OK, duration_ms=elapsed())
        if spec.read_timeout_ms:
            deadline = max(deadline, loop.time() + spec.read_timeout_ms / 1000.0)
        if spec.tcp is not None:
            status, info = await _tcp_steps(loop, sock, deadline, spec.tcp)
            return ProbeResult(status, code=0 if status == CheckStatus.L7OK else None, desc=info,
                               duration_ms=elapsed())
        try:
            if spec.http is not None:
                await asyncio.wait_for(
                    loop.sock_sendall(sock, spec.http.request), max(0.0, deadline - loop.time())
                )
            elif spec.agent_send:
                await asyncio.wait_for(
                    loop.sock_sendall(sock, spec.agent_send), max(0.0, deadline - loop.time())
                )
            data = await _read(loop, sock, deadline, spec)
        except asyncio.TimeoutError:
            return ProbeResult(CheckStatus.L7TOUT, duration_ms=elapsed())
        except OSError as exc:
            status = (
                CheckStatus.L7RSP if exc.errno in (errno.ECONNRESET, errno.EPIPE) else CheckStatus.SOCKERR
            )
            return ProbeResult(status, desc=_strerror(exc), duration_ms=elapsed())
        if spec.agent:
            reply = parse_agent_reply(data)
            if not data:
                return ProbeResult(CheckStatus.L7RSP, duration_ms=elapsed())
            status = CheckStatus.CHECKED
            if reply.health == "up":
                status = CheckStatus.L7OK
            elif reply.health is not None:
                status = CheckStatus.L7STS
            return ProbeResult(
                status,
                code=0 if reply.health else None,
                desc=reply.info(),
                duration_ms=elapsed(),
                reply=reply,
            )
        assert spec.http is not None
        status, code, info = evaluate(spec.http, data)
        return ProbeResult(status, code=code, desc=info, duration_ms=elapsed())
    finally:
        _close(sock)


async def _tcp_steps(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, deadline: float, plan: TcpCheckPlan
) -> tuple[CheckStatus, str]:
    """Run tcp-check steps on a connected socket: (status, info)."""
    data = b""
    for step in plan.steps:
        try:
            if step.kind == "send":
                await asyncio.wait_for(loop.sock_sendall(sock, step.data), max(0.0, deadline - loop.time()))
                continue
            found = expect_found(step, data)
            closed = False
            while not found and not closed and len(data) < MAX_RESPONSE:
                chunk = await asyncio.wait_for(
                    loop.sock_recv(sock, MAX_RESPONSE - len(data)), max(0.0, deadline - loop.time())
                )
                closed = not chunk
                data += chunk
                found = expect_found(step, data)
        except asyncio.TimeoutError:
            return CheckStatus.L7TOUT, timeout_info(step)
        except OSError as exc:
            return CheckStatus.L7RSP, _strerror(exc)
        if found == step.negate:
            return mismatch(step, found)
    return CheckStatus.L7OK, "(tcp-check)"


async def _read(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, deadline: float, spec: ProbeSpec
) -> bytes:
    """Read until the reply is complete, the peer closes, or the buffer is full."""
    data = b""
    head_only = spec.http is not None and spec.http.method == "HEAD"
    while len(data) < MAX_RESPONSE:
        chunk = await asyncio.wait_for(
            loop.sock_recv(sock, MAX_RESPONSE - len(data)), max(0.0, deadline - loop.time())
        )
        if not chunk:
            break
        data += chunk
        if spec.agent and b"\n" in data:
            break
        if spec.http is not None and response_complete(data, head_only):
            break
    return data
