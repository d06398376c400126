"""keepalived's configuration reader: physical lines to words, the way keepalived 2.2.7 reads them.

What it reproduces, because configurations rely on it:
- ``!`` and ``#`` start a comment anywhere outside double quotes (``\\#`` and ``\\!`` escape them), so
  ``192.0.2.10/24 dev eth0  # VIP }`` loses its ``}``: the mission's example depends on that;
- ``{`` and ``}`` outside quotes are words of their own even when glued to text (``global_defs{``),
  and each one is handed to the parser as a line of its own;
- a word in double quotes keeps its spaces and loses its quotes;
- ``include <glob>`` on a line of its own reads the matching files, relative to the directory of the
  file that includes them; a glob that matches nothing is only noted;
- ``$NAME=value`` definitions and ``$NAME``/``${NAME}`` substitution (single-line definitions only),
  ``@id`` / ``@^id`` line prefixes against the config id (``-i``, default the host name).
Limits: multi-line definitions, ``~SEQ`` and definition parameters are reported and ignored.
"""
from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .conf_model import Severity

BOB = "{"
EOB = "}"
_WHITE = " \t\f\n\r\v"
_DEF_RE = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_USE_RE = re.compile(r"\$(\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")

Reporter = Callable[[Severity, str], None]


@dataclass(frozen=True)
class ConfLine:
    """One logical line: its words and where it came from."""

    words: tuple[str, ...]
    file: str
    lineno: int


def decomment(text: str) -> tuple[str, bool]:
    """Strip a comment and surrounding blanks; return (text, unterminated_quote)."""
    text = text.lstrip(" \t")
    out: list[str] = []
    quote = False
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            quote = not quote
        elif c == "\\" and i + 1 < n:
            if not quote and text[i + 1] in "#!":
                out.append(text[i + 1])
                i += 2
                continue
            out.append(text[i:i + 2])
            i += 2
            continue
        elif not quote and c in "!#":
            break
        out.append(c)
        i += 1
    return "".join(out).rstrip(" \t"), quote


def split_words(text: str) -> tuple[list[str], bool]:
    """keepalived's alloc_strvec: blanks separate words, a double-quoted word keeps its blanks.
    Returns (words, unmatched_quote)."""
    words: list[str] = []
    i = 0
    n = len(text)
    while True:
        while i < n and text[i] in _WHITE:
            i += 1
        if i >= n:
            return words, False
        if text[i] == '"':
            end = text.find('"', i + 1)
            if end < 0:
                return words, True
            words.append(text[i + 1:end])
            i = end + 1
            continue
        start = i
        while i < n and text[i] not in _WHITE and text[i] != '"':
            i += 1
        words.append(text[start:i])


def split_braces(text: str) -> list[str]:
    """Cut a line so that each ``{`` and ``}`` outside quotes ends up alone on its line."""
    parts: list[str] = []
    while text:
        if text[0] in "{}":
            parts.append(text[0])
            text = text[1:].lstrip(" \t")
            continue
        pos = -1
        i = 0
        while i < len(text):
            c = text[i]
            if c == '"':
                close = text.find('"', i + 1)
                if close < 0:
                    break
                i = close + 1
                continue
            if c in "{}":
                pos = i
                break
            i += 1
        if pos < 0:
            parts.append(text.rstrip(" \t"))
            break
        parts.append(text[:pos].rstrip(" \t"))
        text = text[pos:]
    return [p for p in parts if p]


class ConfigReader:
    """Yields the logical lines of a configuration file and its includes, reporting lexical problems
    through ``report`` (which sees the position of the line being read)."""

    def __init__(self, report: Callable[[Severity, str, str | None, int | None], None],
                 config_id: str | None = None) -> None:
        self._report = report
        self._config_id = config_id
        self._defs: dict[str, str] = {}
        self.block_depth = 0
        self.file: str | None = None
        self.lineno: int | None = None

    def report(self, severity: Severity, text: str) -> None:
        self._report(severity, text, self.file, self.lineno)

    def read(self, path: str) -> Iterator[ConfLine]:
        yield from self._read_file(path, os.path.dirname(path) or ".", display=path)
        self.file = None
        self.lineno = None

    def _read_file(self, real: str, base_dir: str, display: str) -> Iterator[ConfLine]:
        try:
            with open(real, encoding="utf-8", errors="surrogateescape") as stream:
                lines = stream.read().split("\n")
        except OSError as exc:
            self.report(Severity.FILE_NOT_FOUND,
                        f"Configuration file '{display}' open problem ({exc.strerror}) - skipping")
            return
        saved = (self.file, self.lineno)
        for number, raw in enumerate(lines, start=1):
            self.file, self.lineno = display, number
            raw = raw.rstrip("\r")
            if not raw.strip(" \t"):
                continue
            text, open_quote = decomment(raw)
            if open_quote:
                self.report(Severity.GENERAL_ERROR, f"Unterminated quote '{text}'")
            text = self._config_id_filter(text)
            if not text:
                continue
            if text.startswith("$") and self._definition(text):
                continue
            if self._defs and "$" in text:
                text = self._substitute(text)
            if text.startswith("~"):
                self.report(Severity.NOTICE, f"'{text.split()[0]}' is not supported by fastlb-ha - ignoring")
                continue
            words, _ = split_words(text)
            if len(words) == 2 and words[0] == "include":
                yield from self._include(words[1], base_dir, display)
                self.file, self.lineno = display, number
                continue
            for part in split_braces(text):
                if part == BOB:
                    self.block_depth += 1
                elif part == EOB:
                    if self.block_depth < 1:
                        self.report(Severity.UNEXPECTED_EOB, "Extra '}' found")
                        self.block_depth = 0
                    else:
                        self.block_depth -= 1
                words, unmatched = split_words(part)
                if unmatched:
                    self.report(Severity.UNMATCHED_QUOTE, f"Unmatched quote: '{part}'")
                if words:
                    yield ConfLine(tuple(words), display, number)
        self.file, self.lineno = saved

    def _include(self, pattern: str, base_dir: str, display: str) -> Iterator[ConfLine]:
        if os.path.isabs(pattern):
            matches = sorted(glob.glob(pattern))
            shown = matches
            real = matches
        else:
            shown = sorted(glob.glob(pattern, root_dir=base_dir))
            real = [os.path.join(base_dir, m) for m in shown]
        files = [(r, s) for r, s in zip(real, shown) if os.path.isfile(r)]
        if not files:
            self.report(Severity.NOTICE, f"Config files missing '{pattern}'.")
            return
        for real_path, shown_path in files:
            yield from self._read_file(real_path, os.path.dirname(real_path) or ".", display=shown_path)

    def _config_id_filter(self, text: str) -> str:
        if not text.startswith("@"):
            return text
        reverse = text.startswith("@^")
        rest = text[2:] if reverse else text[1:]
        ident, _, body = rest.partition(" ")
        if not body:
            ident, _, body = rest.partition("\t")
        if not body.strip():
            return ""
        matches = self._config_id is not None and ident == self._config_id
        return body.strip(" \t") if matches != reverse else ""

    def _definition(self, text: str) -> bool:
        match = _DEF_RE.match(text)
        if not match:
            return False
        name, value = match.group(1), match.group(2)
        if value.endswith("\\"):
            self.report(Severity.NOTICE, f"multi-line definition ${name} is not supported by fastlb-ha - ignoring")
            return True
        self._defs[name] = value
        return True

    def _substitute(self, text: str) -> str:
        def repl(match: re.Match[str]) -> str:
            name = match.group(2) or match.group(3)
            return self._defs.get(name, match.group(0))

        return _USE_RE.sub(repl, text)
