"""Cutting a configuration line into words, as HAProxy 2.6's line parser does.

Rules (configuration manual sections 2.2 and 2.3, checked against ``haproxy -c``):

- blanks (space, tab) separate words; ``#`` outside quotes starts a comment, even in a word;
- ``'...'`` quotes strongly (nothing is interpreted inside), ``"..."`` weakly (blanks, ``#`` and
  ``'`` are literal; backslash escapes and ``$`` variables are interpreted);
- outside single quotes a backslash escapes a blank, ``#``, ``\\``, ``'``, ``"`` and ``$``;
  ``\\n``, ``\\r``, ``\\t`` and ``\\xNN`` give control bytes; any other backslash is kept as is;
- ``$NAME``, ``${NAME}``, ``${NAME-default}`` and ``${NAME[*]}`` are expanded inside double quotes
  only (outside they stay literal, as HAProxy does). An unset variable expands to nothing; the
  default replaces unset variables only, not empty ones. ``[*]`` splits the value into several
  words. Pseudo-variables ``.FILE``, ``.LINE`` and ``.SECTION`` come from the caller;
- a quoted empty string is an (empty) word.

Errors carry the 1-based column of the offending character, as HAProxy reports it.
"""

from __future__ import annotations

from collections.abc import Mapping

_BLANKS = " \t"
_SIMPLE_ESCAPES = {
    " ": " ",
    "\t": "\t",
    "#": "#",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "$": "$",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_HEX = "0123456789abcdefABCDEF"


class TokenizeError(Exception):
    """A line that cannot be cut into words. ``position`` is 1-based, like HAProxy's."""

    def __init__(self, reason: str, line: str, position: int) -> None:
        self.reason = reason
        self.line = line
        self.position = position
        super().__init__(self.message())

    def message(self) -> str:
        caret = " " * (self.position - 1) + "^"
        return f"{self.reason} at position {self.position}:\n  {self.line}\n  {caret}"


def _is_name_start(ch: str) -> bool:
    return ch.isascii() and (ch.isalpha() or ch == "_" or ch == ".")


def _is_name_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_" or ch == ".")


def tokenize(
    line: str, environ: Mapping[str, str] | None = None, pseudo: Mapping[str, str] | None = None
) -> list[str]:
    """Return the words of one configuration line (without its end-of-line).

    ``environ`` holds the variables for ``$`` expansion; ``pseudo`` the pseudo-variables
    (``.FILE``, ``.LINE``, ``.SECTION``). Raises ``TokenizeError``.
    """
    env = environ if environ is not None else {}
    pseudo = pseudo or {}
    words: list[str] = []
    cur: list[str] = []
    in_word = False
    quote = ""  # "", "'" or '"'
    quote_pos = 0
    i = 0
    n = len(line)
    while i < n:
        ch = line[i]
        if quote == "'":
            if ch == "'":
                quote = ""
            else:
                cur.append(ch)
            i += 1
            continue
        if ch == "\\":
            nxt = line[i + 1] if i + 1 < n else ""
            if nxt == "x":
                digits = line[i + 2 : i + 4]
                if len(digits) != 2 or any(c not in _HEX for c in digits):
                    raise TokenizeError("truncated or invalid hexadecimal sequence", line, i + 1)
                cur.append(chr(int(digits, 16)))
                in_word = True
                i += 4
                continue
            if nxt and nxt in _SIMPLE_ESCAPES:
                cur.append(_SIMPLE_ESCAPES[nxt])
                in_word = True
                i += 2
                continue
            cur.append("\\")  # unknown escape or trailing backslash: kept literally
            in_word = True
            i += 1
            continue
        if quote == '"':
            if ch == '"':
                quote = ""
                i += 1
            elif ch == "$":
                i = _expand(line, i, env, pseudo, cur, words)
            else:
                cur.append(ch)
                i += 1
            continue
        # outside quotes
        if ch in _BLANKS:
            if in_word:
                words.append("".join(cur))
                cur = []
                in_word = False
            i += 1
            continue
        if ch == "#":
            break
        if ch in "'\"":
            quote = ch
            quote_pos = i + 1
            in_word = True
            i += 1
            continue
        cur.append(ch)
        in_word = True
        i += 1
    if quote:
        raise TokenizeError("unmatched quote", line, quote_pos)
    if in_word:
        words.append("".join(cur))
    return words


def _expand(
    line: str, i: int, env: Mapping[str, str], pseudo: Mapping[str, str], cur: list[str], words: list[str]
) -> int:
    """Expand the variable at ``line[i] == '$'`` (inside double quotes) into ``cur`` (and
    ``words`` for ``[*]``). Returns the index after the reference."""
    n = len(line)
    j = i + 1
    braced = j < n and line[j] == "{"
    if braced:
        j += 1
    if j >= n or not _is_name_start(line[j]):
        raise TokenizeError("forbidden first char in environment variable name", line, j + 1)
    start = j
    pseudo_name = line[j] == "."  # only pseudo-variables (.FILE, .LINE...) may contain dots
    while j < n and _is_name_char(line[j]) and (pseudo_name or line[j] != "."):
        j += 1
    name = line[start:j]
    default: str | None = None
    split = False
    if braced:
        if line.startswith("[*]", j):
            split = True
            j += 3
        if j < n and line[j] == "-":
            end = line.find("}", j)
            if end < 0:
                raise TokenizeError("unmatched brace in environment variable name", line, i + 2)
            default = line[j + 1 : end]
            j = end
        if j >= n or line[j] != "}":
            raise TokenizeError("unmatched brace in environment variable name", line, i + 2)
        j += 1
    if name.startswith("."):
        value = pseudo.get(name)
    else:
        value = env.get(name)
    if value is None:
        value = default if default is not None else ""
    if split:
        parts = value.split()
        if parts:
            cur.append(parts[0])
            for part in parts[1:]:
                words.append("".join(cur))
                cur.clear()
                cur.append(part)
    else:
        cur.append(value)
    return j
