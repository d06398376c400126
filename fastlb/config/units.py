"""Time and size values with HAProxy's units (configuration manual section 2.5).

Times: ``us``, ``ms`` (default for most keywords), ``s``, ``m``, ``h``, ``d``. Values are kept in
whole milliseconds; microseconds round up (``1us`` is 1 ms), as a timeout shorter than asked for
would fire early. HAProxy caps timers at 2^31-1 ms (~24.8 days) and so do we.
Sizes: an integer with an optional ``k``, ``m`` or ``g`` suffix (powers of 1024, either case).
"""

from __future__ import annotations

from dataclasses import dataclass

TIMER_MAX_MS = 2**31 - 1
_TIME_UNITS_US = {
    "us": 1,
    "ms": 1000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
}
_DEFAULT_UNIT_US = {"us": 1, "ms": 1000, "s": 1_000_000}
_SIZE_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3}


class UnitError(ValueError):
    """A malformed time or size. The message is HAProxy's wording without the keyword part."""


@dataclass(frozen=True)
class ParsedTime:
    ms: int
    #: set when trailing garbage followed a valid unit: HAProxy 2.6 only warns about it.
    warning: str | None = None


def parse_time(text: str, keyword: str, default_unit: str = "ms") -> ParsedTime:
    """Parse ``text`` (e.g. ``10s``) into milliseconds. ``keyword`` names the directive for the
    overflow message. Raises ``UnitError`` with HAProxy's message."""
    i = 0
    n = len(text)
    while i < n and text[i].isdigit() and text[i].isascii():
        i += 1
    if i == 0:
        if not text:
            raise UnitError("missing value")
        raise UnitError(f"unexpected character '{text[0]}'")
    value = int(text[:i])
    rest = text[i:]
    if rest.startswith("us"):
        unit, ulen = "us", 2
    elif rest.startswith("ms"):
        unit, ulen = "ms", 2
    elif rest[:1] in ("s", "m", "h", "d"):
        unit, ulen = rest[0], 1
    elif rest:
        raise UnitError(f"unexpected character '{rest[0]}'")
    else:
        unit, ulen = "", 0
    mult_us = _TIME_UNITS_US[unit] if unit else _DEFAULT_UNIT_US[default_unit]
    total_us = value * mult_us
    ms = -(-total_us // 1000)  # round up to whole milliseconds
    if ms > TIMER_MAX_MS:
        raise UnitError(
            f"timer overflow in argument '{text}' to '{keyword}' "
            f"(maximum value is {TIMER_MAX_MS} ms or ~24.8 days)"
        )
    warning = None
    extra = rest[ulen:]
    if extra:
        warning = (
            f"unexpected character '{extra[0]}' after the timer value '{text}', only "
            "(us=microseconds,ms=milliseconds,s=seconds,m=minutes,h=hours,d=days) are supported. "
            "This will be reported as an error in next versions."
        )
    return ParsedTime(ms, warning)


def parse_size(text: str) -> int:
    """Parse ``16k``-style sizes into bytes. Raises ``UnitError``."""
    i = 0
    n = len(text)
    while i < n and text[i].isdigit() and text[i].isascii():
        i += 1
    if i == 0:
        if not text:
            raise UnitError("missing value")
        raise UnitError(f"unexpected character '{text[0]}'")
    value = int(text[:i])
    rest = text[i:]
    if not rest:
        return value
    mult = _SIZE_UNITS.get(rest[0].lower())
    if mult is None:
        raise UnitError(f"unexpected character '{rest[0]}'")
    if len(rest) > 1:
        raise UnitError(f"unexpected character '{rest[1]}'")
    return value * mult


def parse_int(text: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """A plain decimal integer (optionally signed); raises ``UnitError``."""
    body = text[1:] if text[:1] in "+-" and len(text) > 1 else text
    if not body or not body.isascii() or not body.isdigit():
        raise UnitError(f"'{text}' is not an integer")
    value = int(text)
    if minimum is not None and value < minimum:
        raise UnitError(f"{value} is below {minimum}")
    if maximum is not None and value > maximum:
        raise UnitError(f"{value} is above {maximum}")
    return value


def atol_compat(text: str) -> tuple[int, bool]:
    """C ``atol()`` as HAProxy uses it for some integers (``weight 7z`` is 7 there): returns the
    leading integer and whether the whole text was a clean integer, so callers can warn."""
    i = 0
    if text[:1] in "+-":
        i = 1
    j = i
    while j < len(text) and text[j].isascii() and text[j].isdigit():
        j += 1
    value = int(text[:j]) if j > i else 0
    return value, j == len(text) and j > i
