"""Load generators the benchmark starts as separate processes (pinned to the load CPU).

  loadgen.py bulk PORT CONNS SECONDS     download /big (256 MiB, keep-alive) on CONNS connections
                                         for SECONDS; prints {"bytes": n, "seconds": s}
  loadgen.py idle PORT CONNS SRC_IP      open CONNS connections from SRC_IP, print "ready N", hold
                                         them until stdin closes
Both stop by themselves (duration, or stdin closed); nothing is sent on idle connections.
"""
from __future__ import annotations

import json
import selectors
import socket
import sys
import threading
import time

REQUEST = b"GET /big HTTP/1.1\r\nHost: bench\r\n\r\n"


def bulk(port: int, conns: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    total = [0] * conns

    def one(i: int) -> None:
        s = socket.create_connection(("127.0.0.1", port))
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        while time.monotonic() < deadline:
            s.sendall(REQUEST)
            head = b""
            while b"\r\n\r\n" not in head:
                d = s.recv(4096)
                if not d:
                    return
                head += d
            hdr, rest = head.split(b"\r\n\r\n", 1)
            if not hdr.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"bulk: unexpected response {hdr[:100]!r}")
            length = int(hdr.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            left = length - len(rest)
            total[i] += len(rest)
            while left > 0:
                n = s.recv_into(view, min(left, len(buf)))
                if not n:
                    return
                left -= n
                total[i] += n
        s.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"bytes": sum(total), "seconds": time.monotonic() - t0}))


def idle(port: int, conns: int, src: str) -> None:
    sel = selectors.DefaultSelector()
    socks = []
    pending = 0
    for _ in range(conns):
        s = socket.socket()
        s.setblocking(False)
        s.bind((src, 0))
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        sel.register(s, selectors.EVENT_WRITE)
        socks.append(s)
        pending += 1
        # bound the number of handshakes in flight (the listen backlog)
        while pending > 512:
            for key, _ in sel.select(5):
                sel.unregister(key.fileobj)
                pending -= 1
    deadline = time.monotonic() + 60
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(5):
            sel.unregister(key.fileobj)
            pending -= 1
    ok = sum(1 for s in socks if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0)
    print(f"ready {ok}", flush=True)
    sys.stdin.read()  # hold until the parent closes our stdin
    for s in socks:
        s.close()


if __name__ == "__main__":
    kind = sys.argv[1]
    if kind == "bulk":
        bulk(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    elif kind == "idle":
        idle(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        raise SystemExit(__doc__)
