"""When checks run and how fast a verdict reaches the workers, measured on real sockets: the gaps
between checks follow ``inter`` (fully up), ``fastinter`` (in transition) and ``downinter``
(fully down); a server going DOWN takes no request on any of the two workers after one interval."""
from __future__ import annotations

import threading
import time

from health_lab import config, free_port, http_get, wait_for

INTER, FAST, DOWN = 1.5, 0.1, 0.6


def test_check_gaps_follow_inter_fastinter_downinter(lab, tmp_path):
    b = lab.http("b")
    fe = free_port()
    sock = str(tmp_path / "s.sock")
    lab.fastlb(config(lab.syslog.port, sock, f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend app
backend app
    option httpchk GET /health
    default-server inter {int(INTER * 1000)} fastinter {int(FAST * 1000)} downinter {int(DOWN * 1000)}
    server a 127.0.0.1:{b.port} check rise 2 fall 3
""", nbthread=1), sock, fe)

    def checks() -> list[tuple[float, str, int]]:
        with b.lock:
            return [t for t in b.times if t[1] == "/health"]

    wait_for(lambda: len(checks()) >= 2, timeout=6, what="two checks while up")
    b.status = 500  # from the next check on: 3 failures take it DOWN, the next ones keep it there
    wait_for(lambda: sum(1 for c in checks() if c[2] == 500) >= 6, timeout=10, what="failed checks")
    b.status = 200  # rise 2 to UP (then full health at once), and inter again

    def recovered() -> bool:
        seq = checks()
        last_fail = max(i for i, c in enumerate(seq) if c[2] == 500)
        return len(seq) - last_fail > 3

    wait_for(recovered, timeout=10, what="three checks after recovery")
    # HAProxy's health counter (0 .. rise+fall-1, UP from rise; a server starts UP at rise): a
    # success adds one and jumps to full health once UP; a failure takes one while above rise,
    # else drops to 0 (DOWN). The gap after a check follows the health it left.
    rise, full = 2, 4
    health = rise
    gaps: dict[str, list[float]] = {"inter": [], "fastinter": [], "downinter": []}
    seq = checks()
    for (t0, _, st), (t1, _, _) in zip(seq, seq[1:]):
        if st == 200:
            health = full if health + 1 >= rise else health + 1
        else:
            health = health - 1 if health > rise else 0
        kind = "inter" if health == full else ("downinter" if health == 0 else "fastinter")
        gaps[kind].append(round(t1 - t0, 3))
    assert len(gaps["inter"]) >= 2 and len(gaps["fastinter"]) >= 3 and len(gaps["downinter"]) >= 3, gaps
    assert all(FAST * 0.9 <= g < FAST + 0.25 for g in gaps["fastinter"]), gaps
    assert all(DOWN * 0.9 <= g < DOWN + 0.4 for g in gaps["downinter"]), gaps
    assert all(INTER * 0.95 <= g < INTER + 0.6 for g in gaps["inter"]), gaps


CHECK_INTER = 0.3


def test_down_server_leaves_every_worker_within_one_interval(lab, tmp_path):
    a1, a2 = lab.http("a1"), lab.http("a2")
    fe = free_port()
    sock = str(tmp_path / "s.sock")
    ms = int(CHECK_INTER * 1000)
    lab.fastlb(config(lab.syslog.port, sock, f"""
frontend fe
    bind 127.0.0.1:{fe}
    log-format "req %pid %s %HP"
    default_backend app
backend app
    option httpchk GET /health
    server a1 127.0.0.1:{a1.port} check inter {ms} rise 1 fall 1
    server a2 127.0.0.1:{a2.port} check inter {ms} rise 1 fall 1
""", nbthread=2), sock, fe)

    sent: dict[int, float] = {}  # request number -> when it was sent
    answered: dict[int, str] = {}  # request number -> server that answered
    stop = threading.Event()

    def client() -> None:
        deadline = time.monotonic() + 20
        i = 0
        while not stop.is_set() and time.monotonic() < deadline and i < 5000:
            sent[i] = time.monotonic()
            _, body = http_get(fe, f"/r{i}")
            answered[i] = body.split()[0].removeprefix("srv=")
            i += 1
            time.sleep(0.003)

    def served() -> dict[int, tuple[int, str]]:
        """request number -> (worker pid, server), from the traffic log lines."""
        out = {}
        for line in list(lab.syslog.lines):
            words = line.split(": req ", 1)[-1].split()
            if ": req " in line and len(words) == 3 and words[2].startswith("/r"):
                out[int(words[2][2:])] = (int(words[0]), words[1])
        return out

    th = threading.Thread(target=client, daemon=True)
    th.start()
    try:
        # both workers send requests to a2 first
        wait_for(lambda: len({pid for pid, s in served().values() if s == "a2"}) == 2, timeout=10,
                 what="both workers using a2")
        t0 = time.monotonic()
        a2.status = 500  # its checks fail from now on (and so would its answers)
        t_down, _ = lab.syslog.wait_stamped(r"Server app/a2 is DOWN")
        wait_for(lambda: sum(1 for t in list(sent.values()) if t > t_down + 0.5) >= 40, timeout=10,
                 what="requests after the DOWN")
    finally:
        stop.set()
        th.join(10)
    # the verdict within one interval (the next check, plus its own short duration)
    assert t_down - t0 < CHECK_INTER + 0.25, t_down - t0
    # no request reached a2 later than that: every worker stopped using it
    with a2.lock:
        last_a2 = max(t for t, path, _ in a2.times if path.startswith("/r"))
    assert last_a2 < t0 + CHECK_INTER + 0.25, last_a2 - t0
    after = [i for i, t in sent.items() if t > t_down and i in answered]
    assert after and all(answered[i] == "a1" for i in after)
    log = wait_for(lambda: (lambda s: s if all(i in s for i in after) else None)(served()), timeout=5,
                   what="the log lines of the requests")
    assert {log[i][1] for i in after} == {"a1"}
    assert len({log[i][0] for i in after}) == 2  # served by both workers
