"""Check options over real sockets, each scenario run on fastlb and on HAProxy 2.6 (the oracle)
when it is installed: ``addr`` pointing elsewhere than the server, the one-argument
``option httpchk <uri>``, ``http-check expect ! rstring`` and the agent's ``maint`` reply."""
from __future__ import annotations

import csv
import os
import re
import time

import pytest
from health_lab import HAPROXY, Lab, config, free_port, spread, wait_for

PROXIES = ["fastlb", "haproxy"]


def start(lab: Lab, proxy: str, body: str, fe: int, nbthread: int = 1):
    sock = str(lab.tmp / f"{proxy}.sock")
    text = config(lab.syslog.port, sock, body, nbthread=nbthread)
    return (lab.fastlb if proxy == "fastlb" else lab.haproxy)(text, sock, fe)


def stat(p, backend: str, server: str) -> dict[str, str]:
    rows = list(csv.reader(p.cli("show stat").splitlines()))
    cols = [rows[0][0][2:], *rows[0][1:]]
    return dict(zip(cols, next(r for r in rows[1:] if r[:2] == [backend, server])))


def messages(lab: Lab, needle: str) -> list[str]:
    """Syslog messages about `needle`, check durations blanked (they vary)."""
    return [re.sub(r"check duration: \d+ms", "check duration: Nms", m) for m in lab.syslog.messages()
            if needle in m]


def both(tmp_path, scenario) -> tuple[dict, dict]:
    """(HAProxy's, fastlb's) observations of one scenario, each run in a lab of its own."""
    if not os.path.exists(HAPROXY):
        pytest.skip("haproxy is not installed (apt-get install haproxy); .ci/run installs it")
    out = []
    for proxy in ("haproxy", "fastlb"):
        d = tmp_path / proxy
        d.mkdir()
        lab = Lab(d)
        try:
            out.append(scenario(lab, proxy))
        finally:
            lab.close()
    return out[0], out[1]


# --- addr -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("proxy", PROXIES)
def test_check_addr_other_than_the_server_address(lab, proxy):
    """Checks go to `addr` (same port): a listener on 127.0.0.2 gets them, not the service on
    127.0.0.1; a server whose `addr` has nothing listening goes DOWN although its service answers,
    while traffic still goes to the server's own address."""
    svc = lab.http("svc")
    alt = lab.http("alt", port=svc.port, host="127.0.0.2")
    fe = free_port()
    p = start(lab, proxy, f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend app
backend app
    option httpchk GET /health
    server a 127.0.0.1:{svc.port} check inter 200 addr 127.0.0.2
    server b 127.0.0.1:{svc.port} check inter 200 addr 127.0.0.3
""", fe)
    line = lab.syslog.wait(r"Server app/b is DOWN")
    assert 'reason: Layer4 connection problem, info: "Connection refused"' in line, line
    wait_for(lambda: alt.hits.get("/health", 0) >= 3, what="checks on the addr listener")
    assert svc.hits.get("/health", 0) == 0
    assert stat(p, "app", "a")["status"] == "UP" and stat(p, "app", "b")["status"] == "DOWN"
    assert spread(fe, 10) == {"svc": 10}  # traffic: the server's address, not the check's
    assert alt.traffic() == 0


# --- option httpchk <uri>, http-check expect ! rstring -----------------------------------------


def _httpchk_scenario(lab: Lab, proxy: str) -> dict:
    c1, c2, c3 = lab.http("c1"), lab.http("c2"), lab.http("c3")
    fe = free_port()
    p = start(lab, proxy, f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend b1
backend b1
    option httpchk /alive
    server x 127.0.0.1:{c1.port} check inter 300
backend b2
    option httpchk GET /health
    http-check expect ! rstring ^srv=c[0-9]
    server x 127.0.0.1:{c2.port} check inter 300
backend b3
    option httpchk GET /health
    http-check expect ! rstring maint[a-z]+
    server x 127.0.0.1:{c3.port} check inter 300
""", fe)
    lab.syslog.wait(r"Server b2/x is DOWN")
    wait_for(lambda: c1.raw and len(c3.raw) >= 2, what="checks on c1 and c3")
    seen = {"c1 request": c1.raw[0], "b1": stat(p, "b1", "x")["status"], "b3": stat(p, "b3", "x")["status"]}
    c3.name = "maintenance"  # the body now matches the unwanted pattern
    lab.syslog.wait(r"Server b3/x is DOWN")
    seen["b2 down"] = messages(lab, "b2/x")
    seen["b3 down"] = messages(lab, "b3/x")
    return seen


def test_httpchk_uri_form_and_expect_not_rstring_as_haproxy(tmp_path):
    theirs, ours = both(tmp_path, _httpchk_scenario)
    assert ours == theirs
    assert theirs["c1 request"] == b"OPTIONS /alive HTTP/1.0\r\n\r\n"
    assert theirs["b1"] == "UP" and theirs["b3"] == "UP"
    for b in ("b2", "b3"):
        assert theirs[f"{b} down"] == [
            f'Server {b}/x is DOWN, reason: Layer7 invalid response, info: "HTTP check matched unwanted '
            'content", check duration: Nms. 0 active and 0 backup servers left. 0 sessions active, '
            "0 requeued, 0 remaining in queue."]


# --- agent: maint ---------------------------------------------------------------------------------


def _agent_maint_scenario(lab: Lab, proxy: str) -> dict:
    a1, a2 = lab.http("a1"), lab.http("a2")
    agent = lab.agent("up\n")
    fe = free_port()
    p = start(lab, proxy, f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend app
backend app
    server a1 127.0.0.1:{a1.port} check inter 200 agent-check agent-port {agent.port} agent-inter 150
    server a2 127.0.0.1:{a2.port} check inter 200
""", fe)
    wait_for(lambda: agent.received, what="an agent connection")
    seen: dict = {"before": spread(fe, 10)}
    agent.reply = "maint\n"
    wait_for(lambda: stat(p, "app", "a1")["status"] == "MAINT", what="MAINT from the agent")
    seen["maint"] = spread(fe, 10)
    agent.reply = "ready\n"
    wait_for(lambda: stat(p, "app", "a1")["status"] == "UP", what="back from maintenance")
    seen["ready"] = sorted(spread(fe, 10))
    seen["log"] = messages(lab, "app/a1")
    return seen


def test_agent_maint_reply_as_haproxy(tmp_path):
    theirs, ours = both(tmp_path, _agent_maint_scenario)
    assert ours == theirs
    assert theirs["maint"] == {"a2": 10} and theirs["ready"] == ["a1", "a2"]
    assert theirs["log"] == [
        "Server app/a1 is going DOWN for maintenance. 1 active and 0 backup servers left. 0 sessions "
        "active, 0 requeued, 0 remaining in queue.",
        "Server app/a1 is UP/READY (leaving forced maintenance).",
    ]


# --- observe layer4: on-error sudden-death and fastinter -----------------------------------------


def _on_error_scenario(mode: str):
    def scenario(lab: Lab, proxy: str) -> dict:
        a1, a2 = lab.http("a1"), lab.http("a2")
        fe = free_port()
        p = start(lab, proxy, f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend app
backend app
    retries 0
    option log-health-checks
    default-server error-limit 2 on-error {mode}
    server a1 127.0.0.1:{a1.port} check inter 20s fastinter 300 rise 2 fall 3 observe layer4
    server a2 127.0.0.1:{a2.port} check inter 20s
""", fe)
        wait_for(lambda: stat(p, "app", "a1")["check_status"] == "L4OK", what="the first check")
        a1.stop()  # the next regular check is 20 s away: only the traffic can tell
        errors = 0
        deadline = time.monotonic() + 10
        while errors < 2 and time.monotonic() < deadline:
            errors += sum(n for k, n in spread(fe, 1).items() if k.startswith("status:"))
        t_err = time.monotonic()
        t_down, _ = lab.syslog.wait_stamped(r"Server app/a1 is DOWN")
        first_fail = next(t for t, line in lab.syslog.stamped
                          if "Health check for server app/a1 failed" in line)
        return {
            "errors": errors,
            "log": messages(lab, "app/a1"),
            "hanafail": stat(p, "app", "a1")["hanafail"],
            # fastinter (300 ms) after the errors, not inter (20 s)
            "first failure soon": first_fail - t_err < 1.5,
            "down soon": t_down - t_err < (1.5 if mode == "sudden-death" else 3.0),
            "not before fastinter": (t_down if mode == "sudden-death" else first_fail) - t_err >= 0.25,
        }

    return scenario


FAILED = ("Health check for server app/a1 failed, reason: {reason}, check duration: Nms, status: {status}.")
L4CON = 'Layer4 connection problem, info: "Connection refused"'
HANA = 'Health analyze, info: "Detected 2 consecutive errors, last one was: L4 unsuccessful connection"'
DOWN = ("Server app/a1 is DOWN. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, "
        "0 remaining in queue.")


@pytest.mark.parametrize("mode", ["sudden-death", "fastinter"])
def test_on_error_sudden_death_and_fastinter_as_haproxy(tmp_path, mode):
    theirs, ours = both(tmp_path, _on_error_scenario(mode))
    assert ours == theirs
    assert theirs["errors"] == 2 and theirs["hanafail"] == "1"
    assert theirs["first failure soon"] and theirs["down soon"] and theirs["not before fastinter"]
    if mode == "sudden-death":  # one failed check short of DOWN at once, then the next check
        want = [FAILED.format(reason=HANA, status="1/3 UP").replace(", check duration: Nms", ""),
                FAILED.format(reason=L4CON, status="0/2 DOWN"), DOWN]
    else:  # only the next checks come sooner
        want = [FAILED.format(reason=L4CON, status="2/3 UP"), FAILED.format(reason=L4CON, status="1/3 UP"),
                FAILED.format(reason=L4CON, status="0/2 DOWN"), DOWN]
    first = ("Health check for server app/a1 succeeded, reason: Layer4 check passed, check duration: Nms, "
             "status: 3/3 UP.")
    assert theirs["log"] == [first, *want]
