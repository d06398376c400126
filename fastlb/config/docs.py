"""Generate ``docs/CONFIG.md`` from the keyword table: ``python -m fastlb.config.docs > docs/CONFIG.md``.

The test suite checks that the committed file matches the table, so the documentation cannot
drift from what the parser accepts.
"""

from __future__ import annotations

import sys

from . import loader  # noqa: F401  (registers every keyword)
from .acl import FETCHES, PREDEFINED_ACLS, UNSUPPORTED_FETCHES
from .keywords import Keyword, all_keywords
from .kw_bind import BIND_OPTIONS, SERVER_OPTIONS
from .loader import UNIMPLEMENTED_SECTIONS

_COLUMNS = ("defaults", "frontend", "listen", "backend")


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _status(k: Keyword) -> str:
    if "status" in k.extra:
        return k.extra["status"]
    return "modelled" if k.supported else "accepted, ignored (warning)"


def _proxy_rows() -> list[str]:
    rows = [
        "| keyword | defaults | frontend | listen | backend | arguments | what | fastlb |",
        "|---|:-:|:-:|:-:|:-:|---|---|---|",
    ]
    for k in sorted((k for k in all_keywords() if k.sections & set(_COLUMNS)), key=lambda k: k.name):
        marks = []
        for col in _COLUMNS:
            mark = "X" if col in k.sections else "-"
            if col == "defaults" and mark == "X" and k.named_defaults_only:
                mark = "X (named)"
            marks.append(mark)
        name = f"[no] {k.name}" if k.negatable else k.name
        rows.append(f"| `{name}` | {' | '.join(marks)} | {_md(k.syntax)} | {_md(k.help)} | {_status(k)} |")
    return rows


def _simple_rows(section: str) -> list[str]:
    rows = ["| keyword | arguments | what | fastlb |", "|---|---|---|---|"]
    for k in sorted((k for k in all_keywords() if section in k.sections), key=lambda k: k.name):
        rows.append(f"| `{k.name}` | {_md(k.syntax)} | {_md(k.help)} | {_status(k)} |")
    return rows


def _option_list(table: dict[str, tuple[str | None, str]]) -> tuple[str, str]:
    supported = sorted(n for n, (field, kind) in table.items() if not kind.startswith("ignore"))
    ignored = sorted(n for n, (field, kind) in table.items() if kind.startswith("ignore"))
    return ", ".join(f"`{n}`" for n in supported), ", ".join(f"`{n}`" for n in ignored)


def render() -> str:
    out: list[str] = [
        "# fastlb configuration language",
        "",
        "fastlb reads HAProxy 2.6's configuration language. This page is generated from the keyword",
        "table in `fastlb/config/` (`python -m fastlb.config.docs > docs/CONFIG.md`); the tests check",
        "that it is up to date. For what each keyword does, HAProxy's configuration manual is the",
        "reference: fastlb follows it, and this page says which keywords fastlb implements.",
        "",
        "The last column says what the configuration layer does with a keyword: *modelled* means it is",
        "parsed and validated into the typed model (`fastlb/config/model.py`) that the rest of fastlb",
        (
            "runs from. Keywords marked *accepted, ignored (warning)* are real HAProxy keywords "
            "that fastlb does not"
        ),
        "implement yet: a configuration using them loads, with a `[WARNING] ... is not supported by",
        'fastlb yet, ignored` line. Any other unknown keyword is an error with a "did you mean" hint.',
        "",
        "## Syntax",
        "",
        "- Words are separated by blanks; `#` starts a comment; `'...'` quotes strongly, `\"...\"` weakly;",
        (
            "  backslash escapes blanks, `#`, `\\\\`, quotes and `$`, and `\\n`, `\\r`, `\\t`, "
            "`\\xNN` give bytes."
        ),
        "- `$VAR`, `${VAR}`, `${VAR-default}` and `${VAR[*]}` are expanded inside double quotes only;",
        "  `${.FILE}`, `${.LINE}` and `${.SECTION}` are pseudo-variables. `setenv`, `presetenv`,",
        "  `unsetenv` and `resetenv` in `global` change the variables seen by the lines after them.",
        "- `.if`/`.elif`/`.else`/`.endif` with `defined(VAR)`, `feature(NAME)`, `streq(a,b)`,",
        "  `strneq(a,b)`, `version_atleast(V)`, `version_before(V)`, `!`, `&&`, `||` and parentheses;",
        "  versions compare against the HAProxy dialect (2.6), features against fastlb's build",
        "  (`fastlb -vv`). `.notice`, `.warning`, `.alert` and `.diag` emit messages.",
        "- Times take `us`, `ms` (default), `s`, `m`, `h`, `d`; sizes take `k`, `m`, `g`.",
        "- `fastlb -f <file|dir>` (repeatable; a directory loads its `*.cfg` in lexical order), `-c` to",
        "  check (every error of every file is reported in one run), `-cc <condition>` to evaluate a",
        "  condition (exit 0 true, 1 false, 2 error).",
        "",
        "## Sections",
        "",
        "`global` (several merge), `defaults` (anonymous or named; a proxy takes the last one before it",
        "or the one named by `from`), `frontend`, `backend`, `listen`, `userlist`. "
        + ", ".join(f"`{s}`" for s in UNIMPLEMENTED_SECTIONS)
        + " sections are accepted with a warning and ignored.",
        "",
        "HAProxy 1.x's `frontend <name> <address>` (and `listen`) form is accepted with a warning and",
        "treated as a `bind` line. A proxy keyword used in a proxy that lacks the capability (e.g.",
        "`balance` in a frontend) is ignored with a warning, as HAProxy does; `server` and",
        "`default-server` there are errors.",
        "",
        "## global",
        "",
        *_simple_rows("global"),
        "",
        "## Proxies: defaults, frontend, listen, backend",
        "",
        '"X (named)": only in a named `defaults` section. "[no]": can be negated with `no` or reset',
        "with `default`.",
        "",
        *_proxy_rows(),
        "",
        "## userlist",
        "",
        *_simple_rows("userlist"),
        "",
    ]
    srv_ok, srv_ignored = _option_list(SERVER_OPTIONS)
    bind_ok, bind_ignored = _option_list(BIND_OPTIONS)
    out += [
        "## server and default-server options",
        "",
        f"Implemented: {srv_ok}.",
        "",
        f"Accepted and ignored with a warning (TLS and others): {srv_ignored}.",
        "",
        "## bind and stats socket options",
        "",
        f"Implemented: {bind_ok}.",
        "",
        f"Accepted and ignored with a warning: {bind_ignored}.",
        "",
        "## ACLs",
        "",
        "`acl <name> <fetch>[(<args>)][,<converter>...] [-i] [-n] [-f <file>] [-m <method>] [-M] [-u <id>]",
        "[--] [<operator>] <value>...`. Conditions are `if`/`unless` followed by ACL names (`!` negates),",
        "anonymous ACLs `{ <fetch> ... }`, AND by juxtaposition and OR by `||` or `or`; an ACL must be",
        "declared before it is used.",
        "",
        "Predefined ACLs: " + ", ".join(f"`{n}`" for n in sorted(PREDEFINED_ACLS)) + ".",
        "",
        "Sample fetches known to fastlb: " + ", ".join(f"`{n}`" for n in sorted(FETCHES)) + ".",
        "",
        "HAProxy fetches rejected as not supported yet: "
        + ", ".join(f"`{n}`" for n in sorted(UNSUPPORTED_FETCHES))
        + ".",
        "",
    ]
    return "\n".join(out)


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
