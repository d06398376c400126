"""Number reading with keepalived's messages ("invalid number 'x'", "number 'n' outside range [a, b]")."""
from __future__ import annotations

import math
from typing import Protocol

from .conf_model import Severity


class Reporter(Protocol):
    def report(self, severity: Severity, text: str, positioned: bool = True) -> None: ...


def _c_long(text: str) -> int | None:
    """strtol-like over the whole word (leading blanks allowed, as quoted numbers may have them)."""
    body = text.strip(" \t")
    if not body:
        return None
    try:
        return int(body, 10)
    except ValueError:
        return None


def read_unsigned(ctx: Reporter, text: str, low: int, high: int) -> int | None:
    body = text.strip(" \t")
    if body.startswith("-"):
        ctx.report(Severity.INVALID_NUMBER, f"negative number '{text}'")
        return None
    value = _c_long(body)
    if value is None:
        ctx.report(Severity.INVALID_NUMBER, f"invalid number '{text}'")
        return None
    if not low <= value <= high:
        ctx.report(Severity.INVALID_NUMBER, f"number '{text}' outside range [{low}, {high}]")
        return None
    return value


def read_int(ctx: Reporter, text: str, low: int, high: int) -> int | None:
    value = _c_long(text)
    if value is None:
        ctx.report(Severity.INVALID_NUMBER, f"invalid number '{text}'")
        return None
    if not low <= value <= high:
        ctx.report(Severity.INVALID_NUMBER, f"number '{text}' outside range [{low}, {high}]")
        return None
    return value


def read_decimal(ctx: Reporter, text: str, low: float, high: float, report: bool = True) -> float | None:
    """An unsigned decimal (seconds). Returns None when invalid (after reporting)."""
    body = text.strip(" \t")
    if body.startswith("-"):
        ctx.report(Severity.INVALID_NUMBER, f"negative number '{text}'")
        return None
    try:
        value = float(body)
    except ValueError:
        ctx.report(Severity.INVALID_NUMBER, f"invalid number '{text}'")
        return None
    if math.isnan(value) or math.isinf(value):
        ctx.report(Severity.INVALID_NUMBER, f"invalid number '{text}'")
        return None
    if not low <= value <= high:
        if report:
            ctx.report(Severity.INVALID_NUMBER, f"number '{text}' outside range [{low:g}, {high:g}]")
        return None
    return value
