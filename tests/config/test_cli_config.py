"""``fastlb -c -f ...`` end to end: files, directories, every error in one run, exit codes."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess

import pytest

from fastlb.config import load_config

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = os.path.join(HERE, "..", "data", "seed", "haproxy.cfg")

DEFAULTS = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n"


def run(fastlb, *args, cwd=None):
    return subprocess.run([*fastlb, *args], capture_output=True, text=True, cwd=cwd, check=False, timeout=60)


def test_check_seed_file(fastlb):
    with open(SEED, "rb") as f:
        before = hashlib.sha256(f.read()).hexdigest()
    p = run(fastlb, "-c", "-f", SEED)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "Configuration file is valid\n"
    assert "[ALERT]" not in p.stderr
    # the legacy "frontend main *:5000" form is accepted with a warning naming its line
    assert re.search(
        r"\[WARNING\]  \(\d+\) : config : parsing \[.*haproxy\.cfg:77\] : address '\*:5000'", p.stderr
    )
    with open(SEED, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == before


def test_check_reports_every_error_and_fails(fastlb, tmp_path):
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(
        DEFAULTS + "frontend fe\n    bind :8000\n    bogus\n    default_backend nope\n"
        "backend be\n    balance foo\n    server s1\n"
    )
    p = run(fastlb, "-c", "-f", str(cfg))
    assert p.returncode == 1
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert any(f"parsing [{cfg}:8] : unknown keyword 'bogus' in 'frontend' section" in x for x in lines)
    assert any(f"parsing [{cfg}:11] : balance only supports" in x for x in lines)
    assert any(f"[{cfg}:12] : 'server' expects <name> and <addr>[:<port>] as arguments." in x for x in lines)
    assert any(
        f"parsing [{cfg}:9] : Proxy 'fe': unable to find required default_backend: 'nope'." in x
        for x in lines
    )
    assert lines[-2].endswith(f"config : Error(s) found in configuration file : {cfg}")
    assert lines[-1].endswith("config : Fatal errors found in configuration.")
    assert all(re.match(r"\[(ALERT|WARNING)\] +\(\d+\) : config : ", x) for x in lines if x.startswith("["))


def test_directory_loads_cfg_files_in_lexical_order(fastlb, tmp_path):
    d = tmp_path / "conf.d"
    d.mkdir()
    (d / "20-backend.cfg").write_text("backend be\n    server s1 127.0.0.1:5001\n")
    (d / "10-front.cfg").write_text(DEFAULTS + "frontend fe\n    bind :8000\n    default_backend be\n")
    (d / "notes.txt").write_text("this is not configuration\n")
    result = load_config([str(d)], environ={})
    assert result.ok, result.report()
    assert [os.path.basename(f) for f in result.config.files] == ["10-front.cfg", "20-backend.cfg"]
    assert [p.name for p in result.config.proxies] == ["fe", "be"]
    p = run(fastlb, "-c", "-f", str(d))
    assert (p.returncode, p.stdout) == (0, "Configuration file is valid\n"), p.stderr


def test_repeated_f_and_errors_in_several_files(fastlb, tmp_path):
    a = tmp_path / "a.cfg"
    b = tmp_path / "b.cfg"
    a.write_text(DEFAULTS + "frontend fe\n    bind :8000\n    optoin httplog\n")
    b.write_text("backend be\n    timeout server 5x\n")
    p = run(fastlb, "-c", "-f", str(a), "-f", str(b))
    assert p.returncode == 1
    assert "did you mean 'option' maybe ?" in p.stderr
    assert f"parsing [{b}:2] : unexpected character 'x' in 'timeout server'" in p.stderr
    assert f"Error(s) found in configuration file : {a}" in p.stderr
    assert f"Error(s) found in configuration file : {b}" in p.stderr


def test_missing_file(fastlb, tmp_path):
    p = run(fastlb, "-c", "-f", str(tmp_path / "nope.cfg"))
    assert p.returncode == 1
    assert "Cannot open configuration file/directory" in p.stderr


def test_quiet_hides_warnings(fastlb):
    p = run(fastlb, "-c", "-q", "-f", SEED)
    assert p.returncode == 0
    assert p.stdout == "" and "[WARNING]" not in p.stderr


def test_cc_uses_dialect_and_build(fastlb):
    assert run(fastlb, "-cc", "version_atleast(2.6) && !version_atleast(2.7)").returncode == 0
    assert run(fastlb, "-cc", "feature(OPENSSL)").returncode == 1
    assert run(fastlb, "-cc", "version_before(").returncode == 2


def test_config_doc_is_generated_from_the_keyword_table():
    from fastlb.config.docs import render

    path = os.path.join(HERE, "..", "..", "docs", "CONFIG.md")
    with open(path, encoding="utf-8") as f:
        assert f.read() == render(), "regenerate: python -m fastlb.config.docs > docs/CONFIG.md"


def test_haproxy_also_accepts_the_uncommented_examples(tmp_path):
    """Differential: the example file is valid HAProxy 2.6 too (HAProxy only notes the duplicate
    pidfile, as fastlb does)."""
    haproxy = "/usr/sbin/haproxy"
    if not os.path.exists(haproxy):
        import pytest

        pytest.skip("haproxy is not installed (apt-get install haproxy); .ci/run installs it")
    examples = os.path.join(HERE, "data", "seed_examples.cfg")
    p = subprocess.run(
        [haproxy, "-c", "-f", examples], capture_output=True, text=True, check=False, timeout=60
    )
    assert p.returncode == 0, p.stderr
    assert "Configuration file is valid" in p.stdout


LOG_FORMATS = {
    "%zz": "no such format variable 'zz'",
    "%ci %ciX": "no such format variable 'ciX'",
    "%[nosuch]": "unknown fetch method 'nosuch'",
    "%{+Q": "truncated line after '+Q'",
    "%[src": "missing ']' after 'src'",
    "%[req.hdr(host)] %ci": "needs 'HTTP request headers' which is not available here",
    "%[src,nosuch(3)]": "unknown converter 'nosuch'",
}


def _alerts(text: str) -> list[str]:
    return [re.sub(r"^\[ALERT\] +\(\d+\) : ", "", x) for x in text.splitlines() if x.startswith("[ALERT]")]


def test_log_format_checked_at_load_like_haproxy(fastlb, tmp_path):
    """A bad log-format (in a frontend, or in defaults: one message per frontend inheriting it)
    fails ``fastlb -c`` with the file:line and message of ``haproxy -c``."""
    haproxy = "/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None
    good = tmp_path / "good.cfg"
    good.write_text(DEFAULTS + 'frontend fe\n    bind 127.0.0.1:8000\n    log-format "%ci %[src] '
                    '%{+Q}[capture.req.hdr(0),lower] %[src,ipmask(24)] %[status] %[unique-id]"\n'
                    "    capture request header Host len 20\n    default_backend be\n"
                    "backend be\n    server s1 127.0.0.1:9\n")
    p = run(fastlb, "-c", "-f", str(good))
    assert p.returncode == 0 and p.stdout == "Configuration file is valid\n", p.stderr
    for fmt, words in LOG_FORMATS.items():
        for in_defaults in (False, True):
            cfg = tmp_path / "lf.cfg"
            lf = f'    log-format "{fmt}"\n'
            cfg.write_text(
                DEFAULTS + (lf if in_defaults else "")
                + "frontend fe\n    bind 127.0.0.1:8000\n" + ("" if in_defaults else lf) + "    default_backend be\n"
                + "frontend fe2\n    bind 127.0.0.1:8000\n    default_backend be\nbackend be\n    server s1 127.0.0.1:9\n"
            )
            p = run(fastlb, "-c", "-f", str(cfg))
            assert p.returncode == 1 and p.stdout == "", (fmt, p.stderr)
            ours = _alerts(p.stderr)
            line = 6 if in_defaults else 8
            expect = f"config : Parsing [{cfg}:{line}]: failed to parse log-format : "
            assert len([x for x in ours if x.startswith(expect) and words in x]) == (2 if in_defaults else 1), ours
            assert ours[-1] == "config : Fatal errors found in configuration."
            if haproxy:
                h = subprocess.run([haproxy, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30,
                                   check=False)
                assert ours == _alerts(h.stdout + h.stderr), fmt


KEYWORD_VERDICTS = {
    # (configuration after DEFAULTS, the line fastlb must name when invalid, or None when valid)
    "forwardfor header if-none": ("frontend fe\n    bind :8000\n    option forwardfor header X-Client if-none\n"
                                  "    default_backend be\nbackend be\n    server s 127.0.0.1:9\n", None),
    "forwardfor header without name": ("frontend fe\n    bind :8000\n    option forwardfor if-none header\n"
                                       "    default_backend be\nbackend be\n    server s 127.0.0.1:9\n", 8),
    "timeouts tunnel tarpit fin": ("frontend fe\n    bind :8000\n    timeout client-fin 5s\n    default_backend be\n"
                                   "backend be\n    timeout tunnel 1h\n    timeout tarpit 2s\n"
                                   "    timeout server-fin 3s\n    server s 127.0.0.1:9\n", None),
    "bad unit in an ignored timeout": ("frontend fe\n    bind :8000\n    timeout tunnel 1x\n    default_backend be\n"
                                       "backend be\n    server s 127.0.0.1:9\n", 8),
    "bad unit server-fin": ("backend be\n    timeout server-fin 5q\n    server s 127.0.0.1:9\n", 7),
    "tarpit without value": ("backend be\n    timeout tarpit\n    server s 127.0.0.1:9\n", 7),
    "cookie rewrite and prefix": ("backend be\n    cookie SRV rewrite prefix\n    server s 127.0.0.1:9 cookie a\n", 7),
    "cookie insert and rewrite": ("backend be\n    cookie SRV insert rewrite\n    server s 127.0.0.1:9 cookie a\n", 7),
    "peers section": ("peers p\n    bind 127.0.0.1:10000\n    server a\n    log stdout format raw local0\n"
                      "    disabled\n    enabled\n    default-server inter 1s\n    table t type ip size 1k\n"
                      "backend be\n    server s 127.0.0.1:9\n", None),
    "peers with peer lines": ("peers p\n    peer a 127.0.0.1:1024\n    peer b 127.0.0.1:1025\nbackend be\n"
                              "    server s 127.0.0.1:9\n", None),
    "peers unknown keyword": ("peers p\n    enable\nbackend be\n    server s 127.0.0.1:9\n", 7),
    "peers shards (not in 2.6)": ("peers p\n    shards 2\nbackend be\n    server s 127.0.0.1:9\n", 7),
    "mailers section": ("mailers m\n    mailer a 127.0.0.1:25\n    timeout mail 5s\nbackend be\n"
                        "    server s 127.0.0.1:9\n", None),
    "mailers unknown keyword": ("mailers m\n    bogus x\nbackend be\n    server s 127.0.0.1:9\n", 7),
    "mailer without address": ("mailers m\n    mailer a\nbackend be\n    server s 127.0.0.1:9\n", 7),
    "cookie prefix indirect": ("backend be\n    cookie SRV prefix indirect\n    server s 127.0.0.1:9 cookie a\n", None),
}


def test_log_option_without_log_address_warns_as_haproxy(fastlb, tmp_path):
    """option tcplog/httplog in an http frontend without a log address: HAProxy's warning."""
    for opt in ("tcplog", "httplog"):
        cfg = tmp_path / "log.cfg"
        cfg.write_text(DEFAULTS + f"frontend fe\n    bind :8000\n    option {opt}\n    default_backend be\n"
                       "backend be\n    server s 127.0.0.1:9\n")
        p = run(fastlb, "-c", "-f", str(cfg))
        assert p.returncode == 0, p.stderr
        assert "log format ignored for frontend 'fe' since it has no log address." in p.stderr
        cfg.write_text(cfg.read_text().replace("    bind :8000\n", "    bind :8000\n    log stdout local0\n"))
        p = run(fastlb, "-c", "-f", str(cfg))
        assert p.returncode == 0 and "[WARNING]" not in p.stderr, p.stderr  # haproxy 2.6 is silent too


@pytest.mark.parametrize("name", sorted(KEYWORD_VERDICTS))
def test_keyword_verdicts_match_haproxy(name, fastlb, tmp_path):
    """fastlb -c and haproxy -c reach the same verdict on the same file; an error names file:line."""
    text, line = KEYWORD_VERDICTS[name]
    cfg = tmp_path / "kw.cfg"
    cfg.write_text(DEFAULTS + text)
    p = run(fastlb, "-c", "-f", str(cfg))
    if line is None:
        assert (p.returncode, p.stdout) == (0, "Configuration file is valid\n"), p.stderr
        kind = text.split(" ", 1)[0]
        if kind in ("peers", "mailers"):  # accepted, said to be ignored, at the section's line
            assert f"[{cfg}:6] : '{kind}' sections are not supported by fastlb yet" in p.stderr, p.stderr
    else:
        assert p.returncode == 1, p.stdout + p.stderr
        assert f"[{cfg}:{line}]" in p.stderr, p.stderr
    haproxy = "/usr/sbin/haproxy"
    if not os.path.exists(haproxy):
        pytest.skip("haproxy is not installed (apt-get install haproxy); .ci/run installs it")
    h = subprocess.run([haproxy, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30, check=False)
    # haproxy exits 2 for a valid file without listener (the backend-only cases)
    assert (h.returncode == 1) == (line is not None), h.stdout + h.stderr
    if line is not None:
        assert f"[{cfg}:{line}]" in h.stdout + h.stderr
