"""http-request / http-response / tcp-request rules and cookie persistence over real sockets:
the behaviours test_rules.py does not pin down."""
from __future__ import annotations

from enginelib import RawClient, free_port, http_cfg
from test_http_mode import fields, hdr_values


def test_rules_may_add_more_headers_than_tune_http_maxhdr(backends, run_cfg):
    """tune.http.maxhdr limits what is parsed from a client; headers added by rules go beyond it
    (HAProxy forwards them all). A head edited past that used to break the worker."""
    b = backends("http")
    port = free_port()
    rules = "\n".join(f"    http-request add-header X-Add {i}" for i in range(150))
    run_cfg(http_cfg(port, b.ports, frontend_extra=rules), port)
    c = RawClient(port)
    for _ in range(2):  # the connection and the worker stay usable
        r = c.request(path="/echo", headers={"X-Mine": "1"})
        assert r.status == 200
        f = fields(r.body)
        assert hdr_values(f, "x-add") == [str(i) for i in range(150)]
        assert hdr_values(f, "x-mine") == ["1"]
