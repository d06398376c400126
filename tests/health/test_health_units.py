"""White-box tests of the health machinery: HAProxy's health accounting and its log lines, check
intervals, agent replies, HTTP expectations, syslog formats. Sequences and texts are those
HAProxy 2.6 produced for the same events (see test_checks_blackbox.py for the live versions)."""
from __future__ import annotations

import io
import time

import pytest
from fastlb.engine._shm import SRV_ST_RUNNING, SRV_ST_STARTING, SRV_ST_STOPPED

from fastlb.config.model import (
    Address,
    CheckRule,
    Config,
    GlobalSection,
    HttpCheck,
    Proxy,
    Server,
)
from fastlb.health import HealthRuntime
from fastlb.health.agent import parse_agent_reply
from fastlb.health.httpchk import build_http_check, evaluate, status_matches
from fastlb.health.status import CheckStatus
from fastlb.runtime.plan import build_plan


def runtime(servers: tuple[Server, ...], **proxy_kw) -> HealthRuntime:
    be = Proxy(name="app", kind="backend", mode="http", servers=servers, **proxy_kw)
    plan = build_plan(Config(global_=GlobalSection(nbthread=1, maxconn=100), proxies=(be,)))
    from fastlb.runtime.shm import init_shared_state

    return HealthRuntime(plan, init_shared_state(plan), stream=io.StringIO())


def srv(name: str, port: int = 1, **kw) -> Server:
    return Server(name=name, address=Address("ipv4", "127.0.0.1", port, port), check=True, **kw)


def lines(rt: HealthRuntime) -> list[str]:
    return [text for _kind, text in rt.reporter.lines]


def test_health_sequence_and_log_lines_match_haproxy():
    rt = runtime((srv("app1", rise=2, fall=3), srv("app2", 2)), log_health_checks=True)
    s = rt.table.backend("app").server("app1")
    ctl = rt.control
    assert s.check.health == 2  # servers start at rise: UP, one failure away from DOWN
    ctl.check_result(s, s.check, CheckStatus.L4CON, None, "Connection refused", 0)
    assert s.check.health == 0
    assert rt.shm.get_server(s.slot)["oper"] == SRV_ST_STOPPED
    ctl.check_result(s, s.check, CheckStatus.L7OK, 200, "", 1)
    ctl.check_result(s, s.check, CheckStatus.L7OK, 200, "", 3)
    ctl.check_result(s, s.check, CheckStatus.L7OK, 200, "", 3)  # no change: not logged
    ctl.check_result(s, s.check, CheckStatus.L4CON, None, "Connection refused", 0)
    ctl.check_result(s, s.check, CheckStatus.L4CON, None, "Connection refused", 0)
    assert lines(rt) == [
        (
            'Health check for server app/app1 failed, reason: Layer4 connection problem, info: "Connection '
            'refused", '
            "check duration: 0ms, status: 0/2 DOWN."
        ),
        (
            "Server app/app1 is DOWN. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, "
            "0 remaining in queue."
        ),
        (
            "Health check for server app/app1 succeeded, reason: Layer7 check passed, code: 200, check "
            "duration: 1ms, "
            "status: 1/2 DOWN."
        ),
        (
            "Health check for server app/app1 succeeded, reason: Layer7 check passed, code: 200, check "
            "duration: 3ms, "
            "status: 3/3 UP."
        ),
        "Server app/app1 is UP. 2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.",
        (
            'Health check for server app/app1 failed, reason: Layer4 connection problem, info: "Connection '
            'refused", '
            "check duration: 0ms, status: 2/3 UP."
        ),
        (
            'Health check for server app/app1 failed, reason: Layer4 connection problem, info: "Connection '
            'refused", '
            "check duration: 0ms, status: 1/3 UP."
        ),
    ]
    st = rt.shm.get_server(s.slot)
    assert st["oper"] == SRV_ST_RUNNING and st["chk_fail"] == 3 and st["chk_down"] == 1
    assert st["check_status"] == CheckStatus.L4CON


def test_transition_lines_without_log_health_checks_and_backend_alert():
    rt = runtime((srv("a", backup=False), srv("b", backup=True)))
    a, b = rt.table.backend("app").servers
    rt.control.check_result(a, a.check, CheckStatus.L7STS, 500, "Internal Server Error", 5)
    rt.control.check_result(b, b.check, CheckStatus.L4TOUT, None, "", 1001)
    assert lines(rt) == [
        (
            'Server app/a is DOWN, reason: Layer7 wrong status, code: 500, info: "Internal Server Error", '
            'check '
            "duration: 5ms. 0 active and 1 backup servers left. Running on backup. 0 sessions active, 0 "
            "requeued, "
            "0 remaining in queue."
        ),
        (
            "Backup Server app/b is DOWN, reason: Layer4 timeout, check duration: 1001ms. 0 active and 0 "
            "backup "
            "servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        ),
        "backend 'app' has no server available!",
    ]


def test_admin_transitions_match_haproxy_wording():
    rt = runtime((srv("y"), srv("z")))
    y, _z = rt.table.backend("app").servers
    c = rt.control
    c.set_drain(y)
    c.set_drain(y)
    c.set_maint(y)
    c.clear_maint(y)
    c.clear_drain(y)
    c.force_check_state(y, y.check, "down")
    c.force_check_state(y, y.check, "up")
    assert lines(rt) == [
        ("Server app/y enters drain state. 1 active and 0 backup servers online. 0 sessions requeued, "
         "0 total in queue."),
        (
            "Server app/y is going DOWN for maintenance. 1 active and 0 backup servers left. 0 sessions "
            "active, "
            "0 requeued, 0 remaining in queue."
        ),
        "Server app/y is UP/DRAIN (leaving forced maintenance).",
        "Server app/y remains in forced drain mode.",
        "Server app/y is UP (leaving forced drain).",
        (
            "Server app/y is DOWN, changed from CLI. 1 active and 0 backup servers left. 0 sessions active, "
            "0 requeued, 0 remaining in queue."
        ),
        (
            "Server app/y is UP, changed from CLI. 2 active and 0 backup servers online. 0 sessions "
            "requeued, "
            "0 total in queue."
        ),
    ]


def test_intervals_inter_fastinter_downinter():
    rt = runtime((srv("s", inter=1000, fastinter=200, downinter=5000, rise=2, fall=3),))
    chk = rt.table.servers()[0].check
    chk.health = 4
    assert chk.interval(server_stopped=False) == 1000
    chk.health = 2
    assert chk.interval(server_stopped=False) == 200  # transitional
    chk.health = 0
    assert chk.interval(server_stopped=True) == 5000
    chk.force_fastinter = True
    chk.health = 4
    assert chk.interval(server_stopped=False) == 200


def test_slowstart_eweight_ramp():
    rt = runtime((srv("s", weight=20, slowstart=10000),))
    s = rt.table.servers()[0]
    rt.control.check_result(s, s.check, CheckStatus.L4CON, None, "x", 0)
    rt.control.check_result(s, s.check, CheckStatus.L4OK, None, "", 0)
    rt.control.check_result(s, s.check, CheckStatus.L4OK, None, "", 0)
    st = rt.shm.get_server(s.slot)
    assert st["oper"] == SRV_ST_STARTING and st["eweight"] == 1 and st["uweight"] == 20
    assert rt.control.eweight_for(s, 20, SRV_ST_STARTING, s.last_change + 1.2) == 3  # ceil(20 * 12%)
    assert rt.control.eweight_for(s, 20, SRV_ST_STARTING, s.last_change + 5.6) == 12  # ceil(20 * 56%)
    assert rt.control.refresh_slowstart(s, time.time() + 11) is False
    st = rt.shm.get_server(s.slot)
    assert st["oper"] == SRV_ST_RUNNING and st["eweight"] == 20


@pytest.mark.parametrize(
    "reply, health, admin, pct, maxconn, info",
    [
        ("up\n", "up", None, None, None, "via agent : up"),
        ("down #maint window\n", "down", None, None, None, "via agent : down (maint window)"),
        ("down#x\n", None, None, None, None, ""),
        ("75%, maxconn:30 drain\r\n", None, "drain", 75, 30, ""),
        ("STOPPED\tready 100%", "stopped", "ready", 100, None, "via agent : stopped"),
        ("", None, None, None, None, ""),
    ],
)
def test_agent_reply_parsing(reply, health, admin, pct, maxconn, info):
    r = parse_agent_reply(reply.encode())
    assert (r.health, r.admin, r.weight_pct, r.maxconn, r.info()) == (health, admin, pct, maxconn, info)


def test_http_expectations():
    plain = build_http_check(Proxy(name="b", kind="backend", httpchk=HttpCheck()))
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    assert evaluate(plain, ok) == (CheckStatus.L7OK, 200, "")
    assert evaluate(plain, b"HTTP/1.0 302 Found\r\n\r\n") == (CheckStatus.L7OK, 302, "")
    assert evaluate(plain, b"HTTP/1.0 500 Internal Server Error\r\n\r\n") == (
        CheckStatus.L7STS,
        500,
        "Internal Server Error",
    )
    assert evaluate(plain, b"garbage\r\n\r\n") == (CheckStatus.L7RSP, None, "")

    def with_rules(*rules: str, **kw) -> object:
        return build_http_check(
            Proxy(
                name="b",
                kind="backend",
                httpchk=HttpCheck(),
                **kw,
                http_check_rules=tuple(CheckRule("expect", tuple(r.split())) for r in rules),
            )
        )

    assert evaluate(with_rules("string nothere"), ok) == (
        CheckStatus.L7RSP,
        None,
        "HTTP content check did not match",
    )
    assert evaluate(with_rules("! string hello"), ok) == (
        CheckStatus.L7RSP,
        None,
        "HTTP check matched unwanted content",
    )
    assert evaluate(with_rules("rstring ^hel+o"), ok) == (CheckStatus.L7OK, 200, "")
    five = b"HTTP/1.1 500 Internal Server Error\r\n\r\n"
    assert evaluate(with_rules("status 200-299,500"), five) == (CheckStatus.L7OK, 500, "")
    assert evaluate(with_rules("! status 500"), five) == (CheckStatus.L7STS, 500, "Internal Server Error")
    assert evaluate(with_rules("rstatus ^2"), five)[0] == CheckStatus.L7STS
    assert evaluate(with_rules(http_check_disable_on_404=True), b"HTTP/1.0 404 Not Found\r\n\r\n") == (
        CheckStatus.L7OKC,
        404,
        "",
    )
    assert status_matches("200,301-302", 301) and not status_matches("200,301-302", 303)
