"""Preprocessor conditions: the expressions of ``.if``/``.elif`` and of ``fastlb -cc``.

Grammar (configuration manual section 2.4)::

    expr  := and ( "||" and )*
    and   := term ( "&&" term )*
    term  := "!" term | "(" expr ")" | integer | predicate "(" args ")"

An empty condition is false; ``0`` is false and any other integer true. Predicates:
``defined(NAME)``, ``feature(NAME)``, ``streq(a,b)``, ``strneq(a,b)``,
``version_atleast(V)``, ``version_before(V)``. Versions compare against the HAProxy dialect
fastlb implements (``fastlb.version.HAPROXY_DIALECT``), features against fastlb's own build
(``fastlb.buildinfo.features()``). Predicate arguments may be quoted (``"a,b"`` or ``'a)'``) to
hold commas or parentheses, as in HAProxy's argument parser.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

from ..version import HAPROXY_DIALECT


class ConditionError(Exception):
    """A condition that cannot be parsed. ``position`` is the 1-based offset in the text."""

    def __init__(self, message: str, position: int = 1) -> None:
        super().__init__(message)
        self.position = position


_PREDICATES: dict[str, int] = {
    "defined": 1,
    "feature": 1,
    "streq": 2,
    "strneq": 2,
    "version_atleast": 1,
    "version_before": 1,
}


def _features() -> Mapping[str, bool]:
    from ..buildinfo import features

    return features()


_VERSION_RE = re.compile(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?(?:-(dev|pre|rc)(\d*))?")
_STAGE_RANK = {"dev": 0, "pre": 1, "rc": 2, None: 3}


def version_key(text: str) -> tuple[int, ...]:
    """Order key for HAProxy version strings: missing components are zero, and ``-devN`` <
    ``-preN`` < ``-rcN`` < the release. Unparsable text sorts as version 0, like HAProxy."""
    m = _VERSION_RE.match(text.strip())
    if not m:
        return (0, 0, 0, 0, 3, 0)
    nums = [int(g) if g else 0 for g in m.groups()[:4]]
    stage = m.group(5)
    stage_num = int(m.group(6)) if m.group(6) else 0
    return (*nums, _STAGE_RANK[stage], stage_num)


class _Parser:
    def __init__(self, text: str, environ: Mapping[str, str], features: Mapping[str, bool]) -> None:
        self.text = text
        self.pos = 0
        self.environ = environ
        self.features = features

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def at_end(self) -> bool:
        self.skip()
        return self.pos >= len(self.text)

    def expr(self) -> bool:
        result = self.and_expr()
        while True:
            self.skip()
            if self.text.startswith("||", self.pos):
                self.pos += 2
                rhs = self.and_expr()
                result = result or rhs
            else:
                return result

    def and_expr(self) -> bool:
        result = self.term()
        while True:
            self.skip()
            if self.text.startswith("&&", self.pos):
                self.pos += 2
                rhs = self.term()
                result = result and rhs
            else:
                return result

    def term(self) -> bool:
        self.skip()
        start = self.pos
        if self.text.startswith("!", self.pos):
            self.pos += 1
            return not self.term()
        if self.text.startswith("(", self.pos):
            self.pos += 1
            value = self.expr()
            self.skip()
            if not self.text.startswith(")", self.pos):
                raise ConditionError(
                    f"expected ')' after conditional expression '{self.text[start:].strip()}'", start + 1
                )
            self.pos += 1
            return value
        m = re.compile(r"-?\d+").match(self.text, self.pos)
        if m and not self._word_continues(m.end()):
            self.pos = m.end()
            return int(m.group()) != 0
        m = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\(").match(self.text, self.pos)
        if m and m.group()[:-1] in _PREDICATES:
            name = m.group()[:-1]
            self.pos = m.end()
            args = self.arguments(name)
            return self.call(name, args)
        raise ConditionError(f"unparsable conditional expression '{self.text[start:].strip()}'", start + 1)

    def _word_continues(self, end: int) -> bool:
        return end < len(self.text) and (self.text[end].isalnum() or self.text[end] in "_(")

    def arguments(self, name: str) -> list[str]:
        """Comma-separated arguments up to the closing parenthesis, with optional quotes."""
        args: list[str] = []
        cur: list[str] = []
        quote = ""
        started = False
        while True:
            if self.pos >= len(self.text):
                raise ConditionError(f"missing closing ')' after arguments to predicate '{name}'", self.pos)
            ch = self.text[self.pos]
            self.pos += 1
            if quote:
                if ch == quote:
                    quote = ""
                elif ch == "\\" and quote == '"' and self.pos < len(self.text):
                    cur.append(self.text[self.pos])
                    self.pos += 1
                else:
                    cur.append(ch)
                continue
            if ch in "'\"":
                quote = ch
                started = True
            elif ch == ",":
                args.append("".join(cur).strip())
                cur = []
                started = True
            elif ch == ")":
                if started or "".join(cur).strip():
                    args.append("".join(cur).strip())
                return args
            else:
                cur.append(ch)
                if not ch.isspace():
                    started = True

    def call(self, name: str, args: list[str]) -> bool:
        want = _PREDICATES[name]
        if len(args) > want:
            raise ConditionError(f"too many arguments for predicate '{name}' (expects {want})")
        if len(args) < want:
            if name == "defined" and not args:
                return False  # HAProxy: defined() is simply false
            raise ConditionError(
                f"missing arguments (got {len(args)}/{want}), type 'string' expected in argument "
                f"{len(args) + 1} of predicate '{name}' used in conditional expression"
            )
        if name == "defined":
            return args[0] in self.environ
        if name == "feature":
            return bool(self.features.get(args[0], False))
        if name == "streq":
            return args[0] == args[1]
        if name == "strneq":
            return args[0] != args[1]
        if name == "version_atleast":
            return version_key(HAPROXY_DIALECT) >= version_key(args[0])
        return version_key(HAPROXY_DIALECT) < version_key(args[0])  # version_before


def evaluate_condition(
    text: str,
    environ: Mapping[str, str] | None = None,
    features: Mapping[str, bool] | Callable[[], Mapping[str, bool]] | None = None,
) -> bool:
    """Evaluate a ``.if``-style condition. ``environ`` defaults to the process environment and
    ``features`` to fastlb's build features. Raises ``ConditionError``."""
    env = os.environ if environ is None else environ
    if features is None:
        feats = _features()
    elif callable(features):
        feats = features()
    else:
        feats = features
    parser = _Parser(text, env, feats)
    if parser.at_end():
        return False
    value = parser.expr()
    if not parser.at_end():
        rest = text[parser.pos :]
        if rest.lstrip().startswith(("&&", "||")):
            raise ConditionError(f"unparsable conditional expression '{rest.strip()}'", parser.pos + 1)
        raise ConditionError(
            f"unexpected character '{text[parser.pos]}' at the end of conditional expression "
            f"'{text.strip()}'",
            parser.pos + 1,
        )
    return value
