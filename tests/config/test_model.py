"""What a loaded configuration holds: the seed file, defaults resolution, servers, ACLs, rules."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import textwrap

import pytest

from fastlb.config import load_config, load_config_text
from fastlb.config.model import Config

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = os.path.join(HERE, "..", "data", "seed", "haproxy.cfg")
EXAMPLES = os.path.join(HERE, "data", "seed_examples.cfg")


def load(text: str, environ: dict | None = None) -> Config:
    result = load_config_text(textwrap.dedent(text), environ=environ or {}, filename="t.cfg")
    assert result.ok, result.report()
    assert result.config is not None
    return result.config


def test_seed_file():
    with open(SEED, "rb") as f:
        before = hashlib.sha256(f.read()).hexdigest()
    result = load_config([SEED], environ={})
    assert result.ok, result.report()
    cfg = result.config
    g = cfg.global_
    assert (g.chroot, g.pidfile, g.maxconn, g.user, g.group, g.daemon) == (
        "/var/lib/haproxy",
        "/var/run/haproxy.pid",
        4000,
        "haproxy",
        "haproxy",
        True,
    )
    assert [(t.address.host, t.address.port, t.facility) for t in g.logs] == [("127.0.0.1", 514, "local2")]
    assert [(s.address.family, s.address.path, s.level) for s in g.stats_sockets] == [
        ("unix", "/var/lib/haproxy/stats", "operator")  # HAProxy 2.6: a stats socket without "level" is operator
    ]
    assert [p.name for p in cfg.proxies] == ["main", "static", "app"]
    assert [p.name for p in cfg.frontends] == ["main"]
    assert [p.name for p in cfg.backends] == ["static", "app"]
    main = cfg.proxy("main")
    assert [(b.address.host, b.address.port_low, b.legacy) for b in main.binds] == [("", 5000, True)]
    assert main.mode == "http" and main.httplog and main.dontlognull and main.redispatch
    assert main.http_connection_mode == "server-close"
    assert main.forwardfor is not None and main.forwardfor.except_net == "127.0.0.0/8"
    assert main.forwardfor.header == "X-Forwarded-For" and not main.forwardfor.if_none
    assert main.retries == 3 and main.maxconn == 3000
    t = main.timeouts
    assert (t.http_request, t.queue, t.connect, t.client, t.server, t.http_keep_alive, t.check) == (
        10_000,
        60_000,
        10_000,
        60_000,
        60_000,
        10_000,
        10_000,
    )
    assert [(a.name, a.fetch, a.matcher, a.ignore_case, a.values) for a in main.acls] == [
        ("url_static", "path_beg", "beg", True, ("/static", "/images", "/javascript", "/stylesheets")),
        ("url_static", "path_end", "end", True, (".jpg", ".gif", ".png", ".css", ".js")),
    ]
    (ub,) = main.use_backends
    assert ub.backend == "static" and ub.line == 85
    assert ub.condition.terms == ((dataclasses.replace(ub.condition.terms[0][0], acl="url_static"),),)
    assert main.default_backend == "app"
    assert main.logs == g.logs  # "log global"
    app = cfg.proxy("app")
    assert app.balance.algorithm == "roundrobin"
    assert [(s.name, s.address.port, s.check, s.inter, s.rise, s.fall, s.weight) for s in app.servers] == [
        (f"app{i}", 5000 + i, True, 2000, 2, 3, 1) for i in range(1, 5)
    ]
    with open(SEED, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == before


def test_seed_commented_examples():
    result = load_config([EXAMPLES], environ={})
    assert result.ok, result.report()
    cfg = result.config
    main = cfg.proxy("main")
    assert main.http_connection_mode == "close"
    assert main.forwardfor is not None and main.forwardfor.except_net is None  # frontend's own option wins
    acls = {a.name: a for a in main.acls}
    assert (acls["www_policy"].fetch, acls["www_policy"].fetch_args, acls["www_policy"].matcher) == (
        "hdr_reg",
        ("host",),
        "reg",
    )
    assert acls["bbs_policy"].matcher == "dom" and acls["url_policy"].fetch == "url_sub"
    assert acls["host_static"].values == ("img.", "video.", "download.", "ftp.")
    rule = next(u for u in main.use_backends if u.backend == "static")
    assert [[t.acl for t in conj] for conj in rule.condition.terms] == [
        ["host_static"],
        ["host_www", "url_static"],
    ]
    static = cfg.proxy("static")
    assert static.abortonclose and static.redispatch
    assert static.cookie is not None and static.cookie.name == "SERVERID" and static.cookie.mode is None
    assert static.httpchk is not None and (static.httpchk.method, static.httpchk.uri) == ("GET", "/index.php")
    (web1,) = static.servers
    assert (web1.cookie, web1.weight, web1.check, web1.inter, web1.rise, web1.fall) == (
        "server1",
        6,
        True,
        2000,
        2,
        3,
    )
    assert cfg.proxy("www").balance.header == "host"
    assert cfg.global_.pidfile == "/var/run/haproxy.pid"  # the first one is kept, as in HAProxy


def test_defaults_last_one_and_named_from():
    cfg = load("""
        defaults base
            mode http
            timeout client 5s
            retries 7
        defaults
            mode tcp
            timeout client 6s
        frontend f1
            bind :1
        frontend f2 from base
            bind :2
        defaults other from base
            timeout client 9s
        backend b1
            server s 127.0.0.1:1
    """)
    f1, f2, b1 = cfg.proxies
    assert (f1.mode, f1.timeouts.client, f1.retries, f1.defaults_name) == ("tcp", 6000, 3, "")
    assert (f2.mode, f2.timeouts.client, f2.retries, f2.defaults_name) == ("http", 5000, 7, "base")
    assert (b1.mode, b1.timeouts.client, b1.retries, b1.defaults_name) == ("http", 9000, 7, "other")


def test_missing_named_defaults():
    result = load_config_text("frontend f from nowhere\n    bind :1\n", environ={}, filename="t.cfg")
    assert [(d.line, d.message) for d in result.errors] == [
        (1, "frontend 'f': unable to find defaults section 'nowhere'.")
    ]


def test_proxy_overrides_and_no_option():
    cfg = load("""
        defaults
            mode http
            option redispatch
            option http-server-close
            option forwardfor
        backend b
            no option redispatch
            option http-keep-alive
            server s 127.0.0.1:1
    """)
    (b,) = cfg.proxies
    assert not b.redispatch and "redispatch" not in b.options
    assert b.http_connection_mode == "keep-alive" and "http-server-close" not in b.options
    assert b.forwardfor is not None


def test_several_global_sections_merge():
    cfg = load("""
        global
            maxconn 100
            log 127.0.0.1:514 local0
        global
            nbthread 2
            log /dev/log local1 notice
            stats timeout 2m
            hard-stop-after 30s
            tune.bufsize 32k
            tune.http.maxhdr 200
            stats socket ipv4@127.0.0.1:9999 level operator expose-fd listeners mode 600
            stats socket fd@3
    """)
    g = cfg.global_
    assert (g.maxconn, g.nbthread, g.stats_timeout_ms, g.hard_stop_after_ms) == (100, 2, 120_000, 30_000)
    assert [t.facility for t in g.logs] == ["local0", "local1"] and g.logs[1].level == "notice"
    assert g.logs[1].address.family == "unix"
    assert (g.tune.bufsize, g.tune.maxrewrite, g.tune.http_maxhdr) == (32768, 1024, 200)
    s1, s2 = g.stats_sockets
    assert (
        s1.address.family,
        s1.address.host,
        s1.address.port,
        s1.level,
        s1.expose_fd_listeners,
        s1.mode,
    ) == ("ipv4", "127.0.0.1", 9999, "operator", True, 0o600)
    assert (s2.address.family, s2.address.fd) == ("fd", 3)


def test_unknown_user_is_a_warning_with_a_flag():
    result = load_config_text("global\n    user no-such-user-x\n    group no-such-group-x\n", environ={})
    assert result.ok
    g = result.config.global_
    assert (g.user, g.user_exists, g.uid, g.group, g.group_exists) == (
        "no-such-user-x",
        False,
        None,
        "no-such-group-x",
        False,
    )
    assert len(result.warnings) == 2


def test_default_server_and_server_options():
    s2_line = (
        "server s2 10.0.0.2 slowstart 30s disabled send-proxy agent-check agent-port 9000 "
        "agent-inter 2s addr 10.0.0.9 port 8080 id 42"
    )
    cfg = load(f"""
        backend b
            default-server inter 3s fall 5 maxconn 10 check
            server s1 10.0.0.1:80 fastinter 500 downinter 1m rise 4 weight 256 backup cookie c1 maxqueue 9
            {s2_line}
            server s3 [::1]:8080 no-check
            server s4 host.example:+1000
            server s5 /run/app.sock
    """)
    s1, s2, s3, s4, s5 = cfg.proxies[0].servers
    assert (
        s1.check,
        s1.inter,
        s1.fastinter,
        s1.downinter,
        s1.rise,
        s1.fall,
        s1.weight,
        s1.backup,
        s1.cookie,
        s1.maxconn,
        s1.maxqueue,
    ) == (True, 3000, 500, 60_000, 4, 5, 256, True, "c1", 10, 9)
    assert s2.address.port is None
    assert (
        s2.slowstart,
        s2.disabled,
        s2.send_proxy,
        s2.agent_check,
        s2.agent_port,
        s2.agent_inter,
        s2.check_addr,
        s2.check_port,
        s2.id,
    ) == (30_000, True, True, True, 9000, 2000, "10.0.0.9", 8080, 42)
    assert (s3.address.family, s3.address.host, s3.address.port, s3.check) == ("ipv6", "::1", 8080, False)
    assert (s4.address.host, s4.address.port_offset) == ("host.example", 1000)
    assert (s5.address.family, s5.address.path) == ("unix", "/run/app.sock")


def test_binds():
    cfg = load("""
        frontend f
            bind :80,127.0.0.1:81 name web v4v6 defer-accept accept-proxy backlog 10 maxconn 50
            bind [::1]:8000-8002 v6only
            bind /tmp/f.sock mode 600
            bind ipv4@127.0.0.1:82 transparent interface lo
    """)
    b = cfg.proxies[0].binds
    assert [(x.address.host, x.address.port_low) for x in b[:2]] == [("", 80), ("127.0.0.1", 81)]
    assert (b[0].name, b[0].v4v6, b[0].defer_accept, b[0].accept_proxy, b[0].backlog, b[0].maxconn) == (
        "web",
        True,
        True,
        True,
        10,
        50,
    )
    assert (b[2].address.port_low, b[2].address.port_high, b[2].v6only) == (8000, 8002, True)
    assert (b[3].address.path, b[3].mode) == ("/tmp/f.sock", 0o600)
    assert (b[4].address.family, b[4].transparent, b[4].interface) == ("ipv4", True, "lo")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("balance source", {"algorithm": "source"}),
        (
            "balance uri whole len 10 depth 2 path-only",
            {"algorithm": "uri", "uri_whole": True, "uri_len": 10, "uri_depth": 2, "uri_path_only": True},
        ),
        (
            "balance url_param userid check_post 64",
            {"algorithm": "url_param", "url_param": "userid", "check_post": 64},
        ),
        (
            "balance hdr(host) use_domain_only",
            {"algorithm": "hdr", "header": "host", "use_domain_only": True},
        ),
        ("balance rdp-cookie", {"algorithm": "rdp-cookie", "rdp_cookie": "mstshash"}),
        ("balance random(3)", {"algorithm": "random", "random_draws": 3}),
        ("balance first", {"algorithm": "first"}),
        ("balance hash req.cook(x)", {"algorithm": "hash", "hash_expr": "req.cook(x)"}),
        ("balance static-rr", {"algorithm": "static-rr"}),
        ("balance leastconn", {"algorithm": "leastconn"}),
    ],
)
def test_balance(line, expected):
    cfg = load(f"backend b\n    {line}\n    server s 127.0.0.1:1\n")
    bal = cfg.proxies[0].balance
    for key, value in expected.items():
        assert getattr(bal, key) == value


def test_hash_type_and_cookie():
    cfg = load("""
        backend b
            hash-type consistent djb2 avalanche
            cookie SERVERID insert indirect nocache httponly secure domain .x.com maxidle 30m maxlife 8h
            server s 127.0.0.1:1 cookie s1
    """)
    p = cfg.proxies[0]
    assert (p.hash_type.method, p.hash_type.function, p.hash_type.avalanche) == ("consistent", "djb2", True)
    c = p.cookie
    assert (
        c.name,
        c.mode,
        c.indirect,
        c.nocache,
        c.httponly,
        c.secure,
        c.domains,
        c.maxidle_s,
        c.maxlife_s,
    ) == ("SERVERID", "insert", True, True, True, True, (".x.com",), 1800, 28800)


def test_conditions_ast():
    cfg = load("""
        frontend f
            bind :1
            acl a path /a
            acl b hdr_cnt(host) gt 1
            http-request deny if { path_beg /x } || !a or b METH_POST
            http-request allow unless a
    """)
    p = cfg.proxies[0]
    b = next(x for x in p.acls if x.name == "b")
    assert (b.fetch, b.fetch_args, b.operator, b.values, b.matcher) == (
        "hdr_cnt",
        ("host",),
        "gt",
        ("1",),
        "int",
    )
    deny, allow = p.http_request_rules
    terms = deny.condition.terms
    assert len(terms) == 3
    assert terms[0][0].anonymous is not None and terms[0][0].anonymous.fetch == "path_beg"
    assert (terms[1][0].acl, terms[1][0].negate) == ("a", True)
    assert [(t.acl, t.predefined) for t in terms[2]] == [("b", False), ("METH_POST", True)]
    assert not deny.condition.negate_unless and allow.condition.negate_unless


def test_rules_stats_errorfile(tmp_path):
    page = tmp_path / "503.http"
    page.write_bytes(b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/html\r\n\r\nsorry\n")
    cfg = load(f"""
        listen stats
            bind :8404
            mode http
            stats enable
            stats uri /stats
            stats realm HAProxy\\ Statistics
            stats auth admin:secret
            stats refresh 10s
            stats admin if TRUE
            stats hide-version
            errorfile 503 {page}
            http-request set-header X-Forwarded-Proto http
            http-request redirect location /new code 301 if {{ path /old }}
            http-response del-header Server
            tcp-request content accept
            server s 127.0.0.1:1
    """)
    p = cfg.proxies[0]
    st = p.stats
    assert (st.enabled, st.uri, st.realm, st.auths, st.refresh_ms, st.hide_version) == (
        True,
        "/stats",
        "HAProxy Statistics",
        (("admin", "secret"),),
        10_000,
        True,
    )
    assert st.admin is not None and st.admin.terms[0][0].acl == "TRUE"
    assert p.errorfiles[503].startswith(b"HTTP/1.0 503")
    assert [(r.action, r.args) for r in p.http_request_rules] == [
        ("set-header", ("X-Forwarded-Proto", "http")),
        ("redirect", ("location", "/new", "code", "301")),
    ]
    assert p.http_response_rules[0].action == "del-header"
    assert p.tcp_request_rules[0].action == "content accept"
    assert p.has_frontend and p.has_backend


def test_userlist():
    cfg = load("""
        userlist admins
            group ops users alice
            group dev
            user alice password $6$abc
            user bob insecure-password pw groups dev,ops
    """)
    (ul,) = cfg.userlists
    assert [(u.name, u.insecure) for u in ul.users] == [("alice", False), ("bob", True)]
    assert ul.groups["ops"] == ("alice", "bob") and ul.groups["dev"] == ("bob",)


def test_environment_and_conditional_blocks():
    cfg = load("""
        global
            setenv PORT 8123
        .if defined(WITH_STATS)
        frontend stats
            bind "127.0.0.1:${STATS_PORT-9000}"
        .elif version_atleast(2.6) && !feature(OPENSSL)
        frontend plain
            bind ":${PORT}"
        .else
        frontend never
            bind :1
        .endif
    """)
    (p,) = cfg.proxies
    assert p.name == "plain" and p.binds[0].address.port_low == 8123
    cfg = load(
        """
        .if defined(WITH_STATS)
        frontend stats
            bind "127.0.0.1:${STATS_PORT-9000}"
        .endif
    """,
        environ={"WITH_STATS": ""},
    )
    assert cfg.proxies[0].binds[0].address.port_low == 9000


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (".if 1\n", 1, "non-terminated '.if' block."),
        (".else\n", 1, "lone '.else' with no matching '.if'."),
        (".endif\n", 1, "lone '.endif' with no matching '.if'."),
        (".if 1\n.else\n.else\n.endif\n", 3, "'.else' after '.else' is not permitted."),
        (".if 1\n.else\n.elif 1\n.endif\n", 3, "'.elif' after '.else' is not permitted."),
        ('.alert "a1"\n', 1, "'a1'."),
        (".bogus\n", 1, "unknown directive '.bogus'."),
        (
            "global\n    " + " ".join(f"w{i}" for i in range(70)) + "\n",
            2,
            "too many words, truncating after word 64: <w63>.",
        ),
    ],
)
def test_directive_errors(text, line, message):
    result = load_config_text(text, environ={}, filename="t.cfg")
    assert (line, message) in [(d.line, d.message) for d in result.errors]


def test_unparsable_if_condition():
    result = load_config_text(".if bogus(\n.endif\n", environ={}, filename="t.cfg")
    (err,) = result.errors
    assert err.message.startswith("unparsable conditional expression 'bogus(' in '.if' at position 1:")


def test_inactive_blocks_are_not_parsed():
    cfg = load("""
        .if 0
        frontend f
            this would be an error
            .if bogus(
            .endif
        .endif
    """)
    assert cfg.proxies == ()


def test_model_is_immutable():
    cfg = load("backend b\n    server s 127.0.0.1:1\n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.proxies[0].name = "x"  # type: ignore[misc]
    assert isinstance(cfg.proxies[0].servers, tuple)
    with pytest.raises(TypeError):
        cfg.proxies[0].errorfiles[503] = b""  # type: ignore[index]
