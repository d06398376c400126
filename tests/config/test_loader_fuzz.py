"""The loader never crashes: any text gives a LoadResult with diagnostics, never an exception."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastlb.config import load_config_text
from fastlb.config.keywords import all_keywords

SECTION_LINES = [
    "global",
    "defaults",
    "defaults named",
    "frontend fe",
    "backend be",
    "listen li :80",
    "userlist ul",
    "resolvers dns",
    "frontend fe from named",
    "backend",
]
KEYWORD_NAMES = sorted({k.name for k in all_keywords()})
ARGS = [
    "",
    "1",
    "10s",
    "x",
    "-i",
    "if",
    "unless",
    "TRUE",
    "!",
    "{",
    "}",
    "||",
    "127.0.0.1:80",
    ":80",
    "*",
    "/tmp/s",
    "fd@3",
    "ipv4@1.2.3.4:5",
    "path_beg",
    "hdr(host)",
    "a",
    "be",
    "check",
    "inter",
    "weight",
    "999999999999",
    "'q w'",
    '"${X-1}"',
    "except",
    "header",
    "len",
    "level",
    "admin",
    "global",
    "local0",
    "from",
    "no",
    "option",
    "insert",
    "domain",
    "clf",
    "status",
    "200",
    "deny_status",
    "%[src]",
]

line_st = st.one_of(
    st.sampled_from(SECTION_LINES),
    st.builds(
        lambda k, a: " ".join([k, *a]),
        st.sampled_from(KEYWORD_NAMES),
        st.lists(st.sampled_from(ARGS), max_size=6),
    ),
    st.builds(lambda a: " ".join(a), st.lists(st.sampled_from(ARGS), min_size=1, max_size=5)),
    st.sampled_from([".if 1", ".if 0", ".elif defined(X)", ".else", ".endif", '.notice "x"']),
)


@given(st.lists(line_st, max_size=25))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_loader_never_raises(lines):
    result = load_config_text("\n".join(lines) + "\n", environ={}, filename="fuzz.cfg")
    assert result.ok == (result.config is not None)
    for d in result.diagnostics:
        assert d.level in ("ALERT", "WARNING", "NOTICE")
        assert d.message
    result.report()
