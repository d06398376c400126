"""The statistics served by workers (HTML page, ``;csv``, ``;json``, Prometheus) follow the
runtime API and the health checker: servers added with ``add server`` appear in every worker and
can be acted on with the admin form, deleted ones disappear, and the check and agent detail is
the one ``show stat`` prints."""
from __future__ import annotations

import csv
import http.client
import io
import json
import re

from health_lab import config, free_port, spread, wait_for

FIELDS_ALIKE = ("status", "check_status", "check_code", "check_health", "check_rise", "check_fall", "last_chk",
                "agent_status", "agent_code", "agent_health", "last_agt", "hanafail", "chkfail", "chkdown",
                "weight", "act", "bck", "tracked", "sid", "iid")


def get(port: int, target: str) -> tuple[int, str]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", target, headers={"Connection": "close"})
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def post_form(port: int, body: str) -> str:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("POST", "/stats", body=body, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                         "Connection": "close"})
        r = c.getresponse()
        assert r.status == 303
        return r.getheader("location")
    finally:
        c.close()


def csv_rows(text: str) -> dict[tuple[str, str], dict[str, str]]:
    lines = text.splitlines()
    header = lines[0][2:].split(",")
    return {(r[0], r[1]): dict(zip(header, r)) for r in csv.reader(io.StringIO("\n".join(lines[1:]))) if r}


def pages_of_every_worker(port: int, target: str = "/stats", workers: int = 2) -> dict[str, str]:
    """The HTML page as served by each worker (its heading names the worker's pid)."""
    seen: dict[str, str] = {}
    for _ in range(200):
        status, body = get(port, target)
        assert status == 200
        pid = re.search(r"<h2>Statistics Report for pid (\d+)</h2>", body).group(1)
        seen[pid] = body
        if len(seen) == workers:
            return seen
    raise AssertionError(f"the page came from {len(seen)} worker(s) only")


def exports(port: int) -> tuple[dict, list, str]:
    status, text = get(port, "/stats;csv")
    assert status == 200
    status, js = get(port, "/stats;json")
    assert status == 200
    status, metrics = get(port, "/stats;metrics")
    assert status == 200
    return csv_rows(text), json.loads(js), metrics


def json_names(data: list) -> set[tuple[str, str]]:
    out = set()
    for row in data:
        fields = {f["field"]["name"]: f["value"]["value"] for f in row}
        out.add((fields["pxname"], fields["svname"]))
    return out


def test_added_and_deleted_servers_on_the_page_exports_and_admin_form(lab, tmp_path):
    a1, dyn = lab.http("a1"), lab.http("dyn")
    fe, page = free_port(), free_port()
    sock = str(tmp_path / "s.sock")
    p = lab.fastlb(config(lab.syslog.port, sock, f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend app
backend app
    balance roundrobin
    server a1 127.0.0.1:{a1.port}
listen stats
    bind 127.0.0.1:{page}
    stats enable
    stats uri /stats
    stats admin if LOCALHOST
"""), sock, page)
    assert p.cli(f"add server app/dyn 127.0.0.1:{dyn.port} weight 5") == "New server registered.\n"
    for pid, body in pages_of_every_worker(page).items():
        assert 'id="app/dyn"' in body and 'data-status="MAINT"' in body, pid
        assert '<input type="checkbox" name="s" value="dyn">' in body  # the admin form lists it
    rows, data, metrics = exports(page)
    assert rows[("app", "dyn")]["status"] == "MAINT" and rows[("app", "dyn")]["sid"] == "2"
    assert ("app", "dyn") in json_names(data)
    assert 'haproxy_server_status{proxy="app",server="dyn",state="MAINT"} 1' in metrics
    assert 'haproxy_server_connect_time_seconds_count{proxy="app",server="dyn"} 0' in metrics
    # the page's admin form acts on it: READY, then it takes traffic
    p.cli("disable server app/a1")
    assert post_form(page, "s=dyn&action=ready&b=%23" + rows[("app", "dyn")]["iid"]) == "/stats;st=DONE"
    lab.syslog.wait(r"Server app/dyn is UP/READY \(leaving forced maintenance\)\.")
    assert spread(fe, 6) == {"dyn": 6}
    rows, _, metrics = exports(page)
    assert rows[("app", "dyn")]["status"] == "no check" and int(rows[("app", "dyn")]["stot"]) >= 6
    assert re.search(r'haproxy_server_connect_time_seconds_count\{proxy="app",server="dyn"\} ([1-9]\d*)', metrics)
    assert rows[("app", "dyn")]["weight"] == "5" and rows[("app", "BACKEND")]["act"] == "1"
    # deleted: gone from every output of every worker
    p.cli("enable server app/a1")
    p.cli("disable server app/dyn")
    assert p.cli("del server app/dyn") == "Server deleted."
    for pid, body in pages_of_every_worker(page).items():
        assert 'id="app/dyn"' not in body and 'id="app/a1"' in body, pid
    rows, data, metrics = exports(page)
    assert ("app", "dyn") not in rows and ("app", "a1") in rows
    assert ("app", "dyn") not in json_names(data)
    assert 'server="dyn"' not in metrics
    assert post_form(page, "s=dyn&action=ready&b=app") == "/stats;st=ERRP"


def test_check_and_agent_detail_on_the_page_is_show_stat_s(lab, tmp_path):
    """Transitional states ("UP 2/3", "DOWN 1/2", "DOWN (agent)"), last_chk, agent columns and
    hanafail: the page's CSV, served by workers, says what the master's ``show stat`` says."""
    going_down, coming_up, agent_srv = lab.http("g"), lab.http("c", status=500), lab.http("a")
    agent = lab.agent("down\n")
    fe, page = free_port(), free_port()
    sock = str(tmp_path / "s.sock")
    p = lab.fastlb(config(lab.syslog.port, sock, f"""
frontend fe
    bind 127.0.0.1:{fe}
    default_backend app
backend app
    option httpchk GET /health
    server g 127.0.0.1:{going_down.port} check inter 150 fastinter 60s rise 2 fall 3 observe layer4
    server c 127.0.0.1:{coming_up.port} check inter 150 downinter 150 fastinter 60s rise 2 fall 1
    server a 127.0.0.1:{agent_srv.port} agent-check agent-port {agent.port} agent-inter 150
listen stats
    bind 127.0.0.1:{page}
    stats enable
    stats uri /stats
"""), sock, page)

    def show_stat() -> dict:
        return csv_rows(p.cli("show stat"))

    wait_for(lambda: show_stat()[("app", "g")]["status"] == "UP", what="g fully up")
    wait_for(lambda: show_stat()[("app", "c")]["status"] == "DOWN", what="c down")
    wait_for(lambda: show_stat()[("app", "a")]["status"] == "DOWN (agent)", what="a down by its agent")
    going_down.status = 500
    coming_up.status = 200
    wait_for(lambda: show_stat()[("app", "g")]["status"] == "UP 2/3", what="g going down")
    wait_for(lambda: show_stat()[("app", "c")]["status"] == "DOWN 1/2", what="c coming up")
    master = show_stat()
    assert master[("app", "g")]["last_chk"] and master[("app", "c")]["hanafail"] == ""
    assert master[("app", "g")]["hanafail"] == "0" and master[("app", "a")]["agent_status"]
    assert master[("app", "a")]["last_agt"]
    for _ in range(6):  # several connections: both workers answer some
        status, text = get(page, "/stats;csv")
        assert status == 200
        rows = csv_rows(text)
        for name in ("g", "c", "a"):
            for f in FIELDS_ALIKE:
                assert rows[("app", name)][f] == master[("app", name)][f], (name, f)
        for f in ("status", "act", "bck", "weight", "chkdown"):
            assert rows[("app", "BACKEND")][f] == master[("app", "BACKEND")][f], f
