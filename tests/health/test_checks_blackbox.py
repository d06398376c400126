"""Health checks over real sockets: servers go DOWN, stop taking traffic on every worker, come
back after ``rise`` successes; transitions are logged to syslog and stderr as HAProxy logs them."""
from __future__ import annotations

import re

from health_lab import config, free_port, spread, wait_for

DOWN_L4 = (r'Server app/a2 is DOWN, reason: Layer4 connection problem, info: "Connection refused", '
           r"check duration: \d+ms\. 1 active and 0 backup servers left\. 0 sessions active, 0 requeued, "
           r"0 remaining in queue\.")


def test_closed_port_goes_down_takes_no_traffic_and_comes_back(lab, tmp_path):
    a1 = lab.http("a1")
    port2 = free_port()  # nothing listens there yet
    fe = free_port()
    sock = str(tmp_path / "s.sock")
    p = lab.fastlb(config(lab.syslog.port, sock, f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend app
backend app
    server a1 127.0.0.1:{a1.port} check inter 200 rise 2 fall 2
    server a2 127.0.0.1:{port2} check inter 200 rise 2 fall 2
"""), sock, fe)
    # servers start UP at `rise`: the first failed check takes a2 down
    line = lab.syslog.wait(r"Server app/a2 is DOWN")
    assert re.search(DOWN_L4, line), line
    assert line.startswith("<129>"), line  # local0.alert
    p.wait_output(r"\[WARNING\]  \(\d+\) : " + DOWN_L4)
    # both workers route everything to a1 now: no connection error, no retry on a dead port
    assert spread(fe, 30) == {"a1": 30}
    assert "app 2 a2 127.0.0.1 0 0 1 1" in p.cli("show servers state app")

    a2 = lab.http("a2", port=port2)
    up = lab.syslog.wait(r"Server app/a2 is UP")
    assert re.search(
        r"Server app/a2 is UP, reason: Layer4 check passed, check duration: \d+ms\. 2 active and "
        r"0 backup servers online\. 0 sessions requeued, 0 total in queue\.",
        up,
    ), up
    assert up.startswith("<133>"), up  # local0.notice
    seen = spread(fe, 30)
    assert seen.get("a2", 0) >= 10 and seen.get("a1", 0) >= 10, seen
    assert a2.traffic() >= 10


def test_httpchk_500_goes_down_no_request_reaches_it_then_recovers(lab, tmp_path):
    a1 = lab.http("a1")
    a2 = lab.http("a2")
    fe = free_port()
    sock = str(tmp_path / "s.sock")
    p = lab.fastlb(
        config(
            lab.syslog.port,
            sock,
            f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend app
backend app
    option httpchk GET /health
    server a1 127.0.0.1:{a1.port} check inter 200 rise 2 fall 2
    server a2 127.0.0.1:{a2.port} check inter 200 rise 2 fall 2
""",
        ),
        sock,
        fe,
    )
    wait_for(lambda: a2.hits.get("/health", 0) >= 2, what="checks on a2")
    a2.status = 500
    line = lab.syslog.wait(r"Server app/a2 is DOWN")
    assert re.search(
        r'Server app/a2 is DOWN, reason: Layer7 wrong status, code: 500, info: "Internal Server '
        r'Error", check duration: \d+ms\. 1 active and 0 backup servers left\.',
        line,
    ), line
    # a2 still answers (500) on its port: had any worker routed a request there, it would show in
    # its counters. With two workers and new connections, both workers serve these requests.
    before = a2.traffic()
    assert spread(fe, 40) == {"a1": 40}
    assert a2.traffic() == before
    stat = p.cli("show stat")
    row = next(r for r in stat.splitlines() if r.startswith("app,a2,"))
    cols = stat.splitlines()[0][2:].split(",")
    fields = dict(zip(cols, row.split(",")))
    assert fields["status"] == "DOWN" and fields["check_status"] == "L7STS" and fields["check_code"] == "500"
    assert fields["last_chk"] == "Internal Server Error"

    # back to 200: DOWN 1/2 after one success, UP after `rise` (2) successes
    a2.status = 200
    lab.syslog.wait(
        r"Server app/a2 is UP, reason: Layer7 check passed, code: 200, check duration: \d+ms\. "
        r"2 active and 0 backup servers online\."
    )
    seen = spread(fe, 20)
    assert seen.get("a2", 0) >= 5, seen


def test_log_health_checks_lines_and_statuses(lab, tmp_path):
    a1 = lab.http("a1", status=500)
    fe = free_port()
    sock = str(tmp_path / "s.sock")
    p = lab.fastlb(
        config(
            lab.syslog.port,
            sock,
            f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend app
backend app
    option httpchk
    option log-health-checks
    server a1 127.0.0.1:{a1.port} check inter 200 rise 2 fall 3
    server b1 127.0.0.1:{a1.port} check inter 200 rise 2 fall 3 backup disabled
""",
            nbthread=1,
        ),
        sock,
        fe,
    )
    lab.syslog.wait(
        r"Health check for server app/a1 failed, reason: Layer7 wrong status, code: 500, info: "
        r'"Internal Server Error", check duration: \d+ms, status: 0/2 DOWN\.'
    )
    # with log-health-checks the transition line carries no reason (HAProxy prints it once)
    down = lab.syslog.wait(r"Server app/a1 is DOWN")
    assert down.endswith(
        "Server app/a1 is DOWN. 0 active and 0 backup servers left. 0 sessions active, "
        "0 requeued, 0 remaining in queue.\n"
    ), down
    lab.syslog.wait(r"backend app has no server available!")
    assert any(
        line.startswith("<128>") and "backend app has no server available!" in line
        for line in lab.syslog.lines
    )
    p.wait_output(r"\[ALERT\]    \(\d+\) : backend 'app' has no server available!")
    a1.status = 200
    lab.syslog.wait(
        r"Health check for server app/a1 succeeded, reason: Layer7 check passed, code: 200, "
        r"check duration: \d+ms, status: 1/2 DOWN\."
    )
    lab.syslog.wait(
        r"Health check for server app/a1 succeeded, reason: Layer7 check passed, code: 200, "
        r"check duration: \d+ms, status: 3/3 UP\."
    )
    lab.syslog.wait(r"Server app/a1 is UP\. 1 active and 0 backup servers online\.")
    # the disabled backup server was never checked
    assert "Health check for backup server app/b1" not in "".join(lab.syslog.lines)
    assert "app 2 b1 127.0.0.1 0 5 1 1" in p.cli("show servers state")
