"""The runtime API's command table, parsing and help, as HAProxy 2.6's CLI.

A command is a tuple of leading keywords (``show servers state``), HAProxy's help line for it,
and a handler. Handlers check the session level themselves (HAProxy answers "Permission denied"
from inside each command, after its arguments were looked at), and return the text to print.

Unknown commands get HAProxy's answer: the commands whose leading words match, or, when a word
is mistyped, the closest ones by HAProxy's word "fingerprints" (counts of letter transitions),
same distance and same cut-offs, so ``shwo stat`` suggests what HAProxy would suggest among the
commands fastlb implements. ``help`` lists only the commands fastlb implements, each with
HAProxy's own help line.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

ACCESS_LVL_USER = 1
ACCESS_LVL_OPER = 2
ACCESS_LVL_ADMIN = 3
LEVELS = {"user": ACCESS_LVL_USER, "operator": ACCESS_LVL_OPER, "admin": ACCESS_LVL_ADMIN}
LEVEL_NAMES = {v: k for k, v in LEVELS.items()}

PERMISSION_DENIED = "Permission denied\n"

#: HAProxy's CLI_PREFIX_KW_NB (keywords per command) and CLI_MAX_MATCHES (fuzzy suggestions).
PREFIX_KW_NB = 5
MAX_MATCHES = 5

ALWAYS_SHOWN = (
    "  help [<command>]                        : list matching or all commands\n"
    "  prompt                                  : toggle interactive mode with prompt\n"
    "  quit                                    : disconnect\n"
)


@dataclass
class Session:
    """Per-connection state a command may change."""

    level: int
    prompt: bool = False
    timeout_ms: int = 10000
    ident: int = 0
    peer: str = "unix:1"
    close: bool = False


Handler = Callable[[Any, Session, list[str]], "str | Awaitable[str]"]


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]
    usage: str
    handler: Handler = field(compare=False)


COMMANDS: list[Command] = []


def command(usage: str, words: str | None = None) -> Callable[[Handler], Handler]:
    """Register a handler under HAProxy's help line ``usage`` (its leading keywords are the
    command, unless ``words`` says otherwise)."""

    def deco(fn: Handler) -> Handler:
        kw = tuple((words or _leading_words(usage)).split())
        COMMANDS.append(Command(kw, usage, fn))
        return fn

    return deco


def _leading_words(usage: str) -> str:
    out = []
    for w in usage.split(":", 1)[0].split():
        if w[0] in "<[{(@" or "|" in w:
            break
        out.append(w)
    return " ".join(out)


def find_command(args: list[str]) -> Command | None:
    """HAProxy's cli_find_kw(): the first command whose every keyword matches."""
    for c in COMMANDS:
        if len(args) >= len(c.words) and all(a == w for a, w in zip(args, c.words)):
            return c
    return None


# -- parsing ------------------------------------------------------------------------------------

def split_words(line: str) -> list[str]:
    """Words separated by spaces/tabs; a backslash escapes the next character (HAProxy keeps
    ``\\\\`` as one backslash and drops other backslashes)."""
    words: list[str] = []
    cur: list[str] = []
    in_word = False
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            cur.append(line[i + 1])
            in_word = True
            i += 2
            continue
        if c in " \t":
            if in_word:
                words.append("".join(cur))
                cur = []
                in_word = False
        else:
            cur.append(c)
            in_word = True
        i += 1
    if in_word:
        words.append("".join(cur))
    return words


def next_command(buf: bytearray) -> tuple[str, int] | None:
    """The first complete command in ``buf`` (ended by LF or an unescaped ';') and how many
    bytes it used; None while incomplete. A trailing CR is dropped."""
    i = 0
    n = len(buf)
    while i < n:
        c = buf[i]
        if c == 0x5C:  # backslash: the next byte is literal
            i += 2
            continue
        if c == 0x0A or c == 0x3B:
            raw = bytes(buf[:i])
            if c == 0x0A and raw.endswith(b"\r"):
                raw = raw[:-1]
            return raw.decode("utf-8", "replace"), i + 1
        i += 1
    return None


# -- help and suggestions -------------------------------------------------------------------------

def _fingerprint(words: list[str] | tuple[str, ...]) -> list[int]:
    """Counts of character transitions (a-z, digit, other/start/end) over the words."""
    fp = [0] * 1024
    for word in words:
        prev = 28
        for ch in word:
            c = ch.lower()
            if "a" <= c <= "z":
                cur = ord(c) - 96
            elif "0" <= c <= "9":
                cur = 27
            else:
                cur = 28
            fp[cur] = 1
            fp[32 * prev + cur] += 1
            prev = cur
        fp[32 * prev + 28] += 1
    return fp


def _distance(a: list[int], b: list[int]) -> int:
    return sum(abs(x - y) for x, y in zip(a, b))


def usage_message(args: list[str], commands: list[Command] | None = None) -> str:
    """HAProxy's cli_gen_usage_msg(): ``help [words]`` or the answer to an unknown command."""
    cmds = COMMANDS if commands is None else commands
    ishelp = bool(args) and args[0] == "help"
    if ishelp:
        args = args[1:]
    length = 0
    for c in cmds:
        for idx, w in enumerate(c.words[:PREFIX_KW_NB]):
            if idx >= len(args) or not args[idx] or args[idx] != w:
                break
            length = max(length, idx + 1)
    if ishelp:
        out = "The following commands are valid at this level:\n"
    elif not length and not (args and args[0]):
        out = "Unknown command. Please enter one of the following commands only:\n"
    else:
        out = "Unknown command, but maybe one of the following ones is a better match:\n"

    def prefix_ok(c: Command) -> bool:
        return len(c.words) >= length and all(c.words[i] == args[i] for i in range(length))

    matches: list[tuple[int, Command]] = []
    if len(args) > length and args[length]:
        typed = _fingerprint([a for a in args[length:PREFIX_KW_NB] if a])
        typed_len = sum(len(a) for a in args[length:PREFIX_KW_NB])
        for c in cmds:
            if not prefix_ok(c):
                continue
            rest = c.words[length:PREFIX_KW_NB]
            totlen = typed_len + sum(len(w) for w in rest)
            dist = _distance(typed, _fingerprint(rest))
            worst = matches[-1][0] if len(matches) == MAX_MATCHES else 1 << 30
            if dist < 5 * totlen // 2 and dist < worst:
                if len(matches) == MAX_MATCHES:
                    matches.pop()
                pos = len(matches)
                while pos > 0 and matches[pos - 1][0] > dist:
                    pos -= 1
                matches.insert(pos, (dist, c))
    if matches:
        entries = [c for d, c in matches if d <= 5 * matches[0][0] // 2]
    else:
        entries = [c for c in cmds if prefix_ok(c)]
    for c in sorted(entries, key=lambda c: c.usage.encode()):
        out += f"  {c.usage}\n"
    return out + ALWAYS_SHOWN
