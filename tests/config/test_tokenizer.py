"""The line tokenizer: HAProxy's quoting, escaping, comments and environment expansion.

The example table was checked against HAProxy 2.6 (``.notice`` prints the word it got);
``test_examples_match_haproxy`` re-checks it against the installed haproxy when there is one.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fastlb.config.tokenizer import TokenizeError, tokenize

ENV = {"FOO": "bar", "EMPTY": "", "MULTI": "m1 m2"}

# (line, expected words) — the words after ".notice" as HAProxy 2.6 prints them.
EXAMPLES = [
    ("${FOO}", ["${FOO}"]),  # no expansion outside double quotes
    ('"${FOO}x"', ["barx"]),
    ("'${FOO}'", ["${FOO}"]),
    ('"${NOPE-d e f}|"', ["d e f|"]),
    ('"${EMPTY-def}|"', ["|"]),  # the default replaces unset variables only
    ("a\\ b\\#c\\\\d\\'e\\\"f", ["a b#c\\d'e\"f"]),
    ('"a\\x41b\\tc"', ["aAb\tc"]),
    ("'a\\x41b'", ["a\\x41b"]),
    ('"$FOO-x"', ["bar-x"]),
    ("a\"b c\"'d e'f", ["ab cd ef"]),
    ("x\\qy", ["x\\qy"]),  # unknown escapes are kept
    ('"${NOPE}"', [""]),
    ("a#b", ["a"]),
    ("ab # c", ["ab"]),
    ('"$FOO.x"', ["bar.x"]),
    ('"\\$x"', ["$x"]),
    ('"a\\ b"', ["a b"]),
    ('"a\'b"', ["a'b"]),
    ("'a\"b'", ['a"b']),
    ('"a\\\\"', ["a\\"]),
    ("a\\", ["a\\"]),
]


@pytest.mark.parametrize(("line", "words"), EXAMPLES)
def test_examples(line, words):
    assert tokenize(".notice " + line, ENV)[1:] == words


def test_multi_value_variable_splits_into_words():
    assert tokenize('x "${MULTI[*]}" z', ENV) == ["x", "m1", "m2", "z"]


def test_empty_quotes_make_an_empty_word():
    assert tokenize('a "" b', {}) == ["a", "", "b"]


def test_pseudo_variables():
    assert tokenize('"${.LINE}" "${.FILE}"', {}, {".LINE": "7", ".FILE": "x.cfg"}) == ["7", "x.cfg"]


@pytest.mark.parametrize(
    ("line", "reason", "position"),
    [
        ('.notice "abc', "unmatched quote", 9),
        (".notice 'abc", "unmatched quote", 9),
        ('.notice "\\xZZ"', "truncated or invalid hexadecimal sequence", 10),
        (".notice a\\x4", "truncated or invalid hexadecimal sequence", 10),
        ('.notice "${FOO"', "unmatched brace in environment variable name", 11),
        ('.notice "${9X}"', "forbidden first char in environment variable name", 12),
        ('.notice "$"', "forbidden first char in environment variable name", 11),
    ],
)
def test_errors_and_positions(line, reason, position):
    with pytest.raises(TokenizeError) as info:
        tokenize(line, ENV)
    assert info.value.reason == reason
    assert info.value.position == position
    assert "^" in info.value.message()


def test_examples_match_haproxy(tmp_path):
    haproxy = "/usr/sbin/haproxy"
    if not os.path.exists(haproxy):
        pytest.skip("haproxy is not installed (apt-get install haproxy); .ci/run installs it")
    single = [(line, words) for line, words in EXAMPLES if len(words) == 1]
    cfg = tmp_path / "t.cfg"
    cfg.write_text("".join(f".notice {line}\n" for line, _ in single))
    env = {"PATH": os.environ.get("PATH", ""), **ENV}
    out = subprocess.run(
        [haproxy, "-c", "-f", str(cfg)], capture_output=True, text=True, env=env, check=False
    ).stderr
    got = {int(m.group(1)): m.group(2) for m in re.finditer(r"t\.cfg:(\d+)\]: '(.*?)'\.\n", out, re.DOTALL)}
    for lineno, (_line, words) in enumerate(single, start=1):
        assert got[lineno] == words[0], (lineno, _line)


# --- properties ------------------------------------------------------------------------------

# Words of printable characters plus tab; no NUL or newline (a line never contains them).
word_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\n\r")
words_st = st.lists(st.text(word_chars, min_size=0, max_size=12), min_size=1, max_size=6)


def quote_escape(word: str) -> str:
    """Write ``word`` so the tokenizer reads it back: backslash-escape the special characters."""
    out = []
    for ch in word:
        if ch in " \t#\\'\"$":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out) if word else '""'


def quote_single(word: str) -> str:
    """Strong quoting; a single quote inside is closed, escaped and reopened."""
    return "'" + word.replace("'", "'\\''") + "'"


def quote_double(word: str) -> str:
    return '"' + "".join("\\" + c if c in '\\"$' else c for c in word) + '"'


@given(words_st, st.sampled_from([quote_escape, quote_single, quote_double]))
def test_quoting_round_trip(words, quote):
    line = " ".join(quote(w) for w in words)
    assert tokenize(line, {}) == words


@given(words_st, st.text(" \t", min_size=1, max_size=4), st.text(" \t", max_size=3))
def test_blank_runs_do_not_matter(words, sep, lead):
    line = lead + sep.join(quote_escape(w) for w in words) + lead
    assert tokenize(line, {}) == words


@given(words_st, st.text(word_chars, max_size=30))
def test_comment_ends_the_line(words, junk):
    line = " ".join(quote_single(w) for w in words)
    assert tokenize(line + " #" + junk, {}) == words


@given(st.text(word_chars, max_size=40))
def test_never_crashes(line):
    try:
        words = tokenize(line, ENV)
    except TokenizeError as exc:
        assert 1 <= exc.position <= len(line) + 2
    else:
        assert all(isinstance(w, str) for w in words)


@given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True), st.text(word_chars, max_size=20))
def test_variable_expansion_inside_double_quotes(name, value):
    assert tokenize(f'"${{{name}}}"', {name: value}) == [value]
    assert tokenize(f'"${name}"', {name: value}) == [value]
    assert tokenize(f"'${{{name}}}'", {name: value}) == [f"${{{name}}}"]


@given(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters='\x00\n\r}"\\$'), max_size=20),
)
@settings(max_examples=50)
def test_default_value_only_for_unset(name, default):
    assert tokenize(f'"${{{name}-{default}}}"', {}) == [default]
    assume(default != "set")
    assert tokenize(f'"${{{name}-{default}}}"', {name: "set"}) == ["set"]
