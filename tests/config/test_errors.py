"""Each class of configuration error, with a broken configuration, its message and its line.

Where HAProxy 2.6 has a message for the same mistake the wording is HAProxy's; the
differential test at the end runs the real ``haproxy -c`` on the same files when installed.
"""

from __future__ import annotations

import os
import subprocess
import textwrap

import pytest

from fastlb.config import load_config, load_config_text

HEAD = """\
defaults
    mode http
    timeout client 10s
    timeout server 10s
    timeout connect 5s
"""


def alerts(text: str) -> list[tuple[int, str]]:
    result = load_config_text(HEAD + textwrap.dedent(text), environ={}, filename="t.cfg")
    assert not result.ok
    assert result.config is None
    return [(d.line, d.message) for d in result.diagnostics if d.level == "ALERT"]


def warnings(text: str) -> list[tuple[int, str]]:
    result = load_config_text(HEAD + textwrap.dedent(text), environ={}, filename="t.cfg")
    assert result.ok, result.report()
    return [(d.line, d.message) for d in result.diagnostics if d.level == "WARNING"]


# Each case: configuration after HEAD (line 6 is its first line), expected (line, message).
CASES = {
    "unknown keyword with suggestion": (
        "frontend fe\n    bind :8000\n    optoin httplog\n",
        (8, "unknown keyword 'optoin' in 'frontend' section; did you mean 'option' maybe ?"),
    ),
    "unknown keyword without suggestion": (
        "frontend fe\n    bind :8000\n    bogus\n",
        (8, "unknown keyword 'bogus' in 'frontend' section"),
    ),
    "unknown option": (
        "frontend fe\n    bind :8000\n    option bogusopt\n",
        (8, "unknown option 'bogusopt'."),
    ),
    "proxy keyword in global": (
        "global\n    balance roundrobin\n",
        (7, "unknown keyword 'balance' in 'global' section"),
    ),
    "global keyword in frontend": (
        "frontend fe\n    bind :8000\n    daemon\n",
        (8, "unknown keyword 'daemon' in 'frontend' section"),
    ),
    "server in frontend": (
        "frontend fe\n    bind :8000\n    server s1 127.0.0.1:80\n",
        (8, "'server' not allowed because frontend 'fe' has no backend capability."),
    ),
    "bind in defaults": ("defaults\n    bind :80\n", (7, "'bind' not allowed in 'defaults' section.")),
    "acl in anonymous defaults": (
        "defaults\n    acl a path /\n",
        (7, "'acl' not allowed in anonymous 'defaults' section."),
    ),
    "bad time": ("backend be\n    timeout server 1x\n", (7, "unexpected character 'x' in 'timeout server'")),
    "time overflow": (
        "backend be\n    timeout server 25d\n",
        (
            7,
            (
                "timer overflow in argument '25d' to 'timeout server' (maximum value is 2147483647 ms "
                "or ~24.8 days)"
            ),
        ),
    ),
    "unknown timeout": (
        "backend be\n    timeout cleint 5s\n",
        (
            7,
            (
                "'timeout' supports 'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', "
                "'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin' (got 'cleint')"
            ),
        ),
    ),
    "bad size": ("global\n    tune.bufsize 16q\n", (7, "unexpected character 'q' in 'tune.bufsize'")),
    "unknown balance algorithm": (
        "backend be\n    balance foo\n",
        (
            7,
            (
                "balance only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', "
                "'hdr(name)' and 'rdp-cookie(name)' options."
            ),
        ),
    ),
    "missing default_backend": (
        "frontend fe\n    bind :8000\n    default_backend missing\n",
        (8, "Proxy 'fe': unable to find required default_backend: 'missing'."),
    ),
    "missing use_backend": (
        "frontend fe\n    bind :8000\n    use_backend other if TRUE\nbackend be\n    server s 127.0.0.1:1\n",
        (8, "Proxy 'fe': unable to find required use_backend: 'other'."),
    ),
    "use_backend naming a frontend": (
        "frontend fe\n    bind :8000\n    default_backend fe\n",
        (8, "Proxy 'fe': unable to find required default_backend: 'fe'."),
    ),
    "acl used but never defined": (
        "frontend fe\n    bind :8000\n    use_backend be if foo\nbackend be\n    server s 127.0.0.1:1\n",
        (8, "error detected while parsing switching rule : no such ACL : 'foo'."),
    ),
    "acl used before its definition": (
        "frontend fe\n    bind :8000\n    http-request deny if late\n    acl late path /x\n",
        (8, "error detected while parsing an 'http-request deny' condition : no such ACL : 'late'."),
    ),
    "duplicate proxy": (
        "backend be\n    server s1 127.0.0.1:80\nbackend be\n    server s2 127.0.0.1:81\n",
        (8, "backend 'be' has the same name as backend 'be' declared at t.cfg:6."),
    ),
    "listen clashing with frontend": (
        "frontend px\n    bind :8000\nlisten px\n    bind :8001\n",
        (8, "listen 'px' has the same name as frontend 'px' declared at t.cfg:6."),
    ),
    "duplicate server": (
        "backend be\n    server s2 127.0.0.1:80\n    server s2 127.0.0.1:81\n",
        (
            8,
            (
                "backend 'be', another server named 's2' was already defined at line 7, please use "
                "distinct names."
            ),
        ),
    ),
    "server without address": (
        "backend be\n    server s1\n",
        (7, "'server' expects <name> and <addr>[:<port>] as arguments."),
    ),
    "server with an option instead of an address": (
        "backend be\n    server s1 check\n",
        (7, "'server' expects <name> and <addr>[:<port>] as arguments."),
    ),
    "unknown server option with suggestion": (
        "backend be\n    server s2 127.0.0.1:80 inetr 1s\n",
        (7, "'server be/s2' : unknown keyword 'inetr'; did you mean 'inter' maybe ?"),
    ),
    "bad server time": (
        "backend be\n    server s4 127.0.0.1:80 inter 1x\n",
        (7, "'server be/s4' : unexpected character 'x' in 'inter'"),
    ),
    "unknown fetch": (
        "frontend fe\n    bind :8000\n    acl a1 hdrx(host) -i x\n",
        (
            8,
            (
                "error detected while parsing ACL 'a1' : unknown fetch method 'hdrx' in ACL expression "
                "'hdrx(host)'."
            ),
        ),
    ),
    "unsupported fetch": (
        "frontend fe\n    bind :8000\n    acl a1 sc0_http_req_rate gt 10\n",
        (
            8,
            (
                "error detected while parsing ACL 'a1' : fetch method 'sc0_http_req_rate' in ACL expression "
                "'sc0_http_req_rate' is a HAProxy fetch that fastlb does not support yet"
            ),
        ),
    ),
    "bad acl flag": (
        "frontend fe\n    bind :8000\n    acl a1 path_beg -x /x\n",
        (
            8,
            (
                "error detected while parsing ACL 'a1' : '-x' is not a valid ACL option. Please use "
                "'--' before "
                "any pattern beginning with a '-'."
            ),
        ),
    ),
    "unknown match method": (
        "frontend fe\n    bind :8000\n    acl a2 path -m bogus /x\n",
        (
            8,
            (
                "error detected while parsing ACL 'a2' : unknown matching method 'bogus' when parsing "
                "ACL expression."
            ),
        ),
    ),
    "unclosed anonymous acl": (
        "frontend fe\n    bind :8000\n    http-request deny if { path /x\n",
        (
            8,
            (
                "error detected while parsing an 'http-request deny' condition : missing closing "
                "'}' in condition."
            ),
        ),
    ),
    "bad mode": ("backend be\n    mode bogus\n", (7, "unknown proxy mode 'bogus'.")),
    "mode health": (
        "backend be\n    mode health\n",
        (7, "'mode health' doesn't exist anymore. Please use 'http-request return status 200' instead."),
    ),
    "bad deny status": (
        "frontend fe\n    bind :8000\n    http-request deny deny_status 999\n",
        (8, "error detected in proxy while parsing 'http-request deny' rule : Unexpected status code '999'."),
    ),
    "tcplog argument": (
        "frontend fe\n    bind :8000\n    option tcplog x\n",
        (8, "'option tcplog' cannot handle unexpected argument 'x'."),
    ),
    "httplog argument": (
        "frontend fe\n    bind :8000\n    option httplog foo\n",
        (8, "keyword 'httplog' only supports option 'clf'."),
    ),
    "unknown service": (
        "frontend fe\n    bind :8000\n    http-request use-service lua.hello\n",
        (8, "error detected in proxy while parsing 'http-request use-service' rule : 'lua.hello' unknown "
            "service name."),
    ),
    "service without name": (
        "frontend fe\n    bind :8000\n    http-request use-service\n",
        (8, "error detected in proxy while parsing 'http-request use-service' rule : 'use-service' expects "
            "a service name."),
    ),
    "bad bind port": ("frontend fe\n    bind *:99999\n", (7, "'bind' : invalid port '99999'")),
    "bind without port": ("frontend fe\n    bind *\n", (7, "'bind' : missing port specification in '*'")),
    "bad bind option": (
        "frontend fe\n    bind :80 bogusopt\n",
        (7, "'bind :80' in section 'frontend': unknown keyword 'bogusopt'."),
    ),
    "forwardfor bad network": (
        "frontend fe\n    bind :80\n    option forwardfor except bogus\n",
        (8, "'option forwardfor except' expects <address>[/mask] as argument."),
    ),
    "incompatible cookie modes": (
        "backend be\n    cookie SRV rewrite insert\n",
        (7, "cookie 'rewrite', 'insert' and 'prefix' modes are incompatible."),
    ),
    "hash-type function": (
        "backend be\n    hash-type consistent bogus\n",
        (7, "'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions."),
    ),
    "errorfile missing": (
        "frontend fe\n    bind :80\n    errorfile 503 /nonexistent/503.http\n",
        (8, "errorfile : error opening file '/nonexistent/503.http'."),
    ),
    "errorfile status": (
        "frontend fe\n    bind :80\n    errorfile 999 /etc/hostname\n",
        (8, "errorfile : status code '999' not handled."),
    ),
    "mode mismatch": (
        (
            "frontend fe\n    bind :80\n    default_backend be\nbackend be\n    mode tcp\n    "
            "server s 127.0.0.1:1\n"
        ),
        (
            8,
            (
                "http frontend 'fe' (t.cfg:6) tries to use incompatible tcp backend 'be' (t.cfg:9) as "
                "its default "
                "backend (see 'mode')."
            ),
        ),
    ),
    "nbproc": (
        "global\n    nbproc 2\n",
        (
            7,
            (
                "nbproc is not supported any more since HAProxy 2.5. Threads will automatically be used on "
                "multi-processor machines if available."
            ),
        ),
    ),
    "log facility": ("global\n    log 127.0.0.1 local9\n", (7, "log : unknown log facility 'local9'")),
    "stats socket level": (
        "global\n    stats socket /tmp/x.sock level bogus\n",
        (7, "'stats socket' : ''level' only supports 'user', 'operator', and 'admin' (got 'bogus')'"),
    ),
    "missing acl pattern file": (
        "frontend fe\n    bind :8000\n    acl a path -f /nonexistent.lst\n",
        (8, "error detected while parsing ACL 'a' : failed to open pattern file </nonexistent.lst>."),
    ),
    "unknown stats parameter": (
        "frontend fe\n    bind :8000\n    stats bogus\n",
        (
            8,
            (
                "unknown stats parameter 'bogus', expects 'admin', 'uri', 'realm', 'auth', 'scope', "
                "'enable', "
                "'hide-version', 'show-node', 'show-desc' or 'show-legends'."
            ),
        ),
    ),
    "removed 1.x keyword": (
        "backend be\n    contimeout 5s\n",
        (7, "the 'contimeout' directive is not supported anymore since HAProxy 2.1. Use 'timeout connect'."),
    ),
    "negating a non-negatable option": (
        "frontend fe\n    bind :8000\n    no option httplog\n",
        (8, "negation/default is not supported for option 'httplog'."),
    ),
    "tracking a missing server": (
        "backend be\n    server s1 127.0.0.1:80 track nope\n",
        (7, "'server be/s1' : unable to find required server 'nope' for tracking."),
    ),
    "keyword out of section": (
        "",  # replaced below: a keyword before any section
        None,
    ),
}


@pytest.mark.parametrize("name", [n for n, (_, exp) in CASES.items() if exp is not None])
def test_error_class(name):
    text, expected = CASES[name]
    assert expected in alerts(text)


def test_keyword_out_of_section():
    result = load_config_text("maxconn 1\n", environ={}, filename="t.cfg")
    assert [(d.line, d.message) for d in result.errors] == [(1, "unknown keyword 'maxconn' out of section.")]


def test_all_errors_of_all_files_in_one_run(tmp_path):
    """One file per error class, loaded together: every error is reported, each at its line."""
    paths = []
    expected = []
    for i, (name, (text, exp)) in enumerate(CASES.items()):
        if exp is None:
            continue
        path = tmp_path / f"{i:02d}.cfg"
        path.write_text(HEAD + text.replace(" fe\n", f" fe{i}\n").replace("'fe'", f"'fe{i}'"))
        paths.append(str(path))
        expected.append((str(path), name))
    # Proxies of different files share one namespace: rename per file so that only the intended
    # duplicate errors exist.
    result = load_config([str(tmp_path)], environ={})
    assert not result.ok
    files_with_errors = {d.file for d in result.errors}
    assert files_with_errors == {p for p, _ in expected}
    report = result.report(pid=42)
    assert report.splitlines()[-1] == "[ALERT]    (42) : config : Fatal errors found in configuration."
    for path, _ in expected:
        assert f"[ALERT]    (42) : config : Error(s) found in configuration file : {path}" in report


def test_errors_keep_going_within_a_file():
    text = """\
    frontend fe
        bind :8000
        bogus1
        timeout client 1x
        option bogus2
        default_backend nowhere
    backend be
        balance foo
        server s1
    """
    got = alerts(text)
    assert [line for line, _ in got] == [8, 9, 10, 13, 14, 11]


def test_report_shape():
    result = load_config_text(HEAD + "frontend fe\n    bind :8000\n    bogus\n", environ={}, filename="x.cfg")
    lines = result.report(pid=7).splitlines()
    assert lines == [
        "[ALERT]    (7) : config : parsing [x.cfg:8] : unknown keyword 'bogus' in 'frontend' section",
        "[ALERT]    (7) : config : Error(s) found in configuration file : x.cfg",
        "[ALERT]    (7) : config : Fatal errors found in configuration.",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "frontend fe\n    bind :8000\n    balance roundrobin\n",
            (8, "'balance' ignored because frontend 'fe' has no backend capability."),
        ),
        (
            "backend be\n    option dontlognull\n",
            (7, "'dontlognull' ignored because backend 'be' has no frontend capability."),
        ),
        (
            "backend be\n    timeout client 5s\n",
            (7, "'timeout client' ignored because backend 'be' has no frontend capability."),
        ),
        (
            "backend be\n    server s 127.0.0.1:80 weight 7z\n",
            (7, ("'weight' : '7z' is not a clean integer; using 7 as HAProxy does.")),
        ),
        (
            "backend be\n    timeout server 10sx\n",
            (
                7,
                (
                    "unexpected character 'x' after the timer value '10sx', only "
                    "(us=microseconds,ms=milliseconds,"
                    "s=seconds,m=minutes,h=hours,d=days) are supported. "
                    "This will be reported as an error in next versions."
                ),
            ),
        ),
        (
            "frontend fe\n    bind :80\n    compression algo gzip\n",
            (8, "'compression' is not supported by fastlb yet, ignored."),
        ),
        (
            "resolvers dns\n    nameserver a 127.0.0.1:53\n",
            (6, "'resolvers' sections are not supported by fastlb yet: section 'resolvers dns' ignored."),
        ),
    ],
)
def test_warnings_haproxy_accepts(text, expected):
    assert expected in warnings(text)


STATS_ADMIN = "listen st\n    bind :8000\n    stats enable\n    acl {acl}\n    stats admin if {cond}\n"


@pytest.mark.parametrize(
    "acl, cond",
    [
        ("net src 10.0.0.0/8", "net HTTP_1.1"),
        ("ua hdr(user-agent) -m sub curl", "ua"),
        ("net src -f {tmp}/admins.lst", "net"),
        ("net src 10.0.0.0/8", "net { path_beg /admin }"),
    ],
)
def test_stats_admin_conditions_on_any_request_fetch_load(acl, cond, tmp_path):
    """The engine evaluates ``stats admin`` conditions as http-request ones: nothing is refused
    at load for the fetch or ACL it uses (tests/stats/test_stats_exports.py runs them)."""
    (tmp_path / "admins.lst").write_text("10.0.0.0/8\n")
    assert warnings(STATS_ADMIN.format(acl=acl.format(tmp=tmp_path), cond=cond)) == []


def test_supported_stats_admin_conditions_load():
    for acl, cond in (("net src 10.0.0.0/8 127.0.0.1", "net || LOCALHOST"), ("a http_auth(admins)", "a METH_POST"),
                      ("net src 10.0.0.0/8", "!net TRUE")):
        text = STATS_ADMIN.format(acl=acl, cond=cond) + "userlist admins\n    user u insecure-password p\n"
        assert warnings(text) == []


def test_json_log_option_is_fastlbs_own_and_silent():
    log = "    log stdout local0\n"  # (without a log address HAProxy warns that the log format is unused)
    assert warnings("frontend fe\n    bind :8000\n" + log + "    option httplog json\n") == []
    assert warnings("frontend fe\n    mode tcp\n    bind :8000\n" + log + "    option tcplog json\n") == []


def test_prometheus_service_is_supported_without_warning():
    assert warnings("frontend fe\n    bind :8000\n    http-request use-service prometheus-exporter\n") == []


# --- differential: the real HAProxy rejects the same files ------------------------------------


@pytest.mark.parametrize("name", [n for n, (_, exp) in CASES.items() if exp is not None])
def test_haproxy_agrees(name, tmp_path):
    haproxy = "/usr/sbin/haproxy"
    if not os.path.exists(haproxy):
        pytest.skip("haproxy is not installed (apt-get install haproxy); .ci/run installs it")
    if name in ("unsupported fetch",):
        pytest.skip("valid for HAProxy: fastlb does not support this fetch yet")
    text, (_line, message) = CASES[name]
    cfg = tmp_path / "t.cfg"
    cfg.write_text(HEAD + text)
    p = subprocess.run(
        [haproxy, "-c", "-f", "t.cfg"], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert p.returncode != 0, p.stderr
    if name in HAPROXY_SAME_WORDING:
        assert message in p.stderr, p.stderr


# The cases whose message is HAProxy's word for word (the others add detail or differ in form:
# HAProxy reports some of them without a line, or stops before reaching them).
HAPROXY_SAME_WORDING = {
    "tcplog argument",
    "httplog argument",
    "unknown keyword with suggestion",
    "unknown keyword without suggestion",
    "unknown option",
    "global keyword in frontend",
    "bind in defaults",
    "acl in anonymous defaults",
    "bad time",
    "time overflow",
    "unknown timeout",
    "unknown balance algorithm",
    "missing default_backend",
    "missing use_backend",
    "acl used but never defined",
    "duplicate server",
    "server without address",
    ("unknown server option with suggestion"),
    "unknown fetch",
    "bad acl flag",
    "unknown match method",
    "bad mode",
    "mode health",
    "bad bind port",
    "bind without port",
    "bad bind option",
    "forwardfor bad network",
    "incompatible cookie modes",
    "hash-type function",
    "errorfile missing",
    "errorfile status",
    "nbproc",
    "log facility",
    "stats socket level",
    "unclosed anonymous acl",
    "missing acl pattern file",
    "unknown stats parameter",
    "removed 1.x keyword",
    "negating a non-negatable option",
    "tracking a missing server",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "global\n    deamon\n",
            "unknown keyword 'deamon' in 'global' section; did you mean 'daemon' maybe ?",
        ),
        (
            "frontend fe\n    bind :80\n    use-backend be\n",
            "unknown keyword 'use-backend' in 'frontend' section; did you mean 'use_backend' maybe ?",
        ),
        (
            "frontend fe\n    bind :80\n    option forwardfr\n",
            "unknown option 'forwardfr'. Did you mean 'forwardfor' maybe ?",
        ),
        (
            "backend be\n    server t 127.0.0.1:1 weigth 2\n",
            "'server be/t' : unknown keyword 'weigth'; did you mean 'weight' maybe ?",
        ),
        (
            "global\n    stats sockt /x\n",
            (
                "'stats' expects 'bind-process', 'maxconn', 'socket', 'timeout' (got "
                "'sockt'). Did you mean 'socket' maybe ?"
            ),
        ),
    ],
)
def test_did_you_mean(text, expected):
    assert expected in [m for _, m in alerts(text)]
