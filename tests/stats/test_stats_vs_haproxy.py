"""Differential: the CSV and JSON exports of fastlb and of HAProxy 2.6 on the same configuration
and the same traffic have the same header, the same rows, the same non-empty columns and the
same counts."""
from __future__ import annotations

import json
import os
import re
import shutil

import pytest
from statlib import http
from test_stats_exports import CONFIG, csv_rows, send

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
pytestmark = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (apt-get install haproxy)")

COMPARED = ("stot", "req_tot", "hrsp_2xx", "hrsp_4xx", "status", "type", "iid", "sid", "mode", "act", "bck",
            "weight", "uweight", "lbtot", "pid", "scur", "qcur", "econ", "ereq")

STATIC = ("status", "type", "iid", "sid", "mode", "act", "bck", "weight", "uweight", "pid", "scur", "qcur", "econ")


def exports(stack, cmd=None) -> tuple[str, dict, list]:
    _, v = stack.start(CONFIG, extra="", cmd=cmd, wait=1)
    send(v["p0"], 4)
    assert [http(v["p0"], target="/status/404")[0] for _ in range(2)] == [404, 404]
    text = http(v["p1"], target="/stats;csv")[2].decode()
    data = json.loads(http(v["p1"], target="/stats;json")[2])
    return text, csv_rows(text)[1], data


def test_csv_and_json_like_haproxy(stack):
    ours_text, ours, ours_json = exports(stack)
    theirs_text, theirs, theirs_json = exports(stack, [HAPROXY])
    assert ours_text.splitlines()[0] == theirs_text.splitlines()[0]
    assert list(ours) == list(theirs)
    for key in ours:
        a, b = ours[key], theirs[key]
        assert [k for k, v in a.items() if v != ""] == [k for k, v in b.items() if v != ""], key
        if key[0] == "stats":
            # the start-up probe (a connection closed without a request) hit this proxy, and
            # HAProxy counts it as a failed request: an engine difference, not a stats one
            continue
        fields = STATIC if key[1] not in ("FRONTEND", "BACKEND") else COMPARED
        assert {k: a[k] for k in fields} == {k: b[k] for k in fields}, key
    # which server took which request depends on the balancer's starting point: compare totals
    for f in ("stot", "lbtot", "req_tot", "hrsp_2xx", "hrsp_4xx"):
        assert sum(int(r[f]) for k, r in ours.items() if k[0] == "be" and k[1].startswith("s")) == \
            sum(int(r[f]) for k, r in theirs.items() if k[0] == "be" and k[1].startswith("s")), f
    for ra, rb in zip(ours_json, theirs_json):
        assert _shape(ra) == _shape(rb)


def _shape(row: list[dict]) -> list[tuple]:
    return [(f["objType"], f["field"]["pos"], f["field"]["name"], tuple(f["tags"].items()), f["value"]["type"])
            for f in row]


FRONTEND_ONLY = """
global
    log 127.0.0.1:{syslog} local0
defaults
    mode http
    log global
    option httplog
    option dontlognull
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend fe
    bind 127.0.0.1:{p0}
    stats enable
    stats uri /s
    default_backend be
frontend bare
    bind 127.0.0.1:{p1}
    stats enable
backend be
    server s1 127.0.0.1:{b0}
"""


def frontend_only(stack, syslog, cmd=None) -> tuple[list, list[str]]:
    _, v = stack.start(FRONTEND_ONLY, backends=1, cmd=cmd, wait=1, syslog=syslog.port)
    syslog.messages.clear()
    answers = []
    for port, target in ((v["p0"], "/s;csv"), (v["p0"], "/other"), (v["p1"], "/haproxy?stats;csv"),
                         (v["p1"], "/x")):
        status, headers, body = http(port, target=target)
        answers.append((status, headers.get("content-type"),
                        body.decode().split("\n", 1)[0] if status == 200 and target.endswith("csv") else ""))
    lines = [m.decode() for m in syslog.collect(4)]
    # "fe fe/<STATS> 0/0/0/0/0 200 ... LR--": frontend, backend/server, status, termination state
    fields = []
    for line in lines:
        m = re.search(r"\] (\S+) (\S+) \S+ (\d+) \d+ - - (\S{4})", line)
        assert m, line
        fields.append(m.groups())
    return answers, sorted(fields)


def test_stats_on_a_frontend_only_proxy_like_haproxy(stack, syslog):
    ours = frontend_only(stack, syslog)
    theirs = frontend_only(stack, syslog, [HAPROXY])
    assert ours == theirs
    assert ours[0][0][0] == 200 and ours[0][0][2].startswith("# pxname,svname")
    assert ("fe", "fe/<STATS>", "200", "LR--") in ours[1]
