"""Time/size units and preprocessor conditions (``.if`` and ``fastlb -cc``)."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastlb.buildinfo import features
from fastlb.config.conditions import ConditionError, evaluate_condition, version_key
from fastlb.config.units import TIMER_MAX_MS, UnitError, parse_size, parse_time

MS_PER_UNIT = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "": 1}


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("10", 10),
        ("10s", 10_000),
        ("1m", 60_000),
        ("1h", 3_600_000),
        ("1d", 86_400_000),
        ("1500us", 2),
        ("1us", 1),
        ("0", 0),
        ("24d", 24 * 86_400_000),
        ("10ms", 10),
    ],
)
def test_times(text, ms):
    assert parse_time(text, "timeout client").ms == ms


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1", "unexpected character '-'"),
        ("1.5s", "unexpected character '.'"),
        ("10S", "unexpected character 'S'"),
        ("s", "unexpected character 's'"),
        (
            "25d",
            (
                "timer overflow in argument '25d' to 'timeout client' (maximum value is 2147483647 ms "
                "or ~24.8 days)"
            ),
        ),
    ],
)
def test_bad_times(text, message):
    with pytest.raises(UnitError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        parse_time(text, "timeout client")


def test_trailing_garbage_after_unit_is_a_warning_like_haproxy():
    parsed = parse_time("10sx", "timeout client")
    assert parsed.ms == 10_000
    assert parsed.warning and "unexpected character 'x' after the timer value '10sx'" in parsed.warning


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(sorted(MS_PER_UNIT)))
def test_time_units_multiply(n, unit):
    expected = n * MS_PER_UNIT[unit]
    if expected > TIMER_MAX_MS:
        with pytest.raises(UnitError):
            parse_time(f"{n}{unit}", "x")
    else:
        assert parse_time(f"{n}{unit}", "x").ms == expected


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["", "k", "K", "m", "M", "g", "G"]))
def test_size_units(n, unit):
    assert parse_size(f"{n}{unit}") == n * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit.lower()]


@pytest.mark.parametrize("text", ["", "x", "16x", "16kb", "-1"])
def test_bad_sizes(text):
    with pytest.raises(UnitError):
        parse_size(text)


# --- conditions ------------------------------------------------------------------------------

ENV = {"FOO": "1", "EMPTY": ""}


@pytest.mark.parametrize(
    ("cond", "value"),
    [
        ("defined(FOO)", True),
        ("defined(EMPTY)", True),
        ("defined(NOPE)", False),
        ("defined()", False),
        ("!defined(FOO) || 1", True),
        ("version_atleast(2.6)", True),
        ("version_atleast(2.7)", False),
        ("version_atleast(2.4-dev19)", True),
        ("version_before(2.6.13)", True),
        ("version_before(2.6)", False),
        ("version_atleast(x)", True),
        ("feature(OPENSSL)", False),
        ("feature(EPOLL)", features()["EPOLL"]),
        ("streq(a,a)", True),
        ("strneq(a,a)", False),
        ('streq("a b","a b")', True),
        ("streq('a,b',\"a,b\")", True),
        ("", False),
        ("0", False),
        ("12", True),
        ("defined(FOO) && (0 || 1)", True),
        ("1 || 0 && 0", True),
        ("(1 || 0) && 0", False),
        ("!!1", True),
        ("! 0", True),
    ],
)
def test_conditions(cond, value):
    assert evaluate_condition(cond, ENV) is value


@pytest.mark.parametrize(
    ("cond", "message"),
    [
        ("bogus(x)", "unparsable conditional expression 'bogus(x)'"),
        ("FOO", "unparsable conditional expression 'FOO'"),
        ("(1", "expected ')' after conditional expression '(1'"),
        (
            "streq(a)",
            "missing arguments (got 1/2), type 'string' expected in argument 2 of predicate 'streq'",
        ),
        ("1 x", "unexpected character 'x' at the end of conditional expression '1 x'"),
        ("defined(FOO", "missing closing ')'"),
    ],
)
def test_condition_errors(cond, message):
    with pytest.raises(ConditionError) as info:
        evaluate_condition(cond, ENV)
    assert message in str(info.value)


def test_version_ordering():
    assert version_key("2.4-dev19") < version_key("2.4-rc1") < version_key("2.4") < version_key("2.4.1")
    assert version_key("2.6") == version_key("2.6.0")


@pytest.mark.parametrize(
    ("cond", "code"),
    [
        ("defined(FOO)", 0),
        ("defined(NOPE)", 1),
        ("version_atleast(2.6)", 0),
        ("feature(OPENSSL)", 1),
        ("bogus(x)", 2),
        ("", 1),
    ],
)
def test_cc_exit_codes(fastlb, cond, code):
    p = subprocess.run(
        [*fastlb, "-cc", cond], capture_output=True, text=True, env={"FOO": "1", "PATH": ""}, check=False
    )
    assert p.returncode == code, p.stderr
    if code == 2:
        assert "Failed to evaluate condition: unparsable conditional expression" in p.stderr
