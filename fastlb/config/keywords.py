"""The keyword table: one entry per keyword drives parsing, section checks, messages and docs.

A ``Keyword`` names the sections it is allowed in (``global``, ``userlist`` or the proxy kinds
``defaults``/``frontend``/``listen``/``backend``, as in the manual's keyword matrix), its
argument grammar and a one-line help, and the handler that parses it. Keywords that HAProxy 2.6
has but fastlb does not implement yet have ``handler=None``: they are accepted with a warning
("... is not supported by fastlb yet, ignored") instead of being rejected as unknown.

Multi-word keywords (``option httplog``, ``timeout client``, ``stats uri``...) are registered
under their full name; their first word is a *group*.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .context import Ctx

Handler = Callable[["Ctx", list[str]], None]

PROXY_SECTIONS = ("defaults", "frontend", "listen", "backend")
_LETTERS = {"d": "defaults", "f": "frontend", "l": "listen", "b": "backend", "g": "global", "u": "userlist"}


@dataclass(frozen=True)
class Keyword:
    name: str
    sections: frozenset[str]
    handler: Handler | None
    syntax: str = ""
    help: str = ""
    #: allowed in a ``defaults`` section only when it is named (HAProxy's "(!)" mark)
    named_defaults_only: bool = False
    #: a capability mismatch (e.g. ``server`` in a frontend) is an error, not an "ignored" warning
    capability_error: bool = False
    #: ``no option x`` / ``default option x`` is allowed
    negatable: bool = False
    #: for unsupported keywords: the reason printed in the warning (defaults to "not supported")
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def supported(self) -> bool:
        return self.handler is not None

    @property
    def group(self) -> str | None:
        return self.name.split(" ", 1)[0] if " " in self.name else None


#: name -> the keywords of that name (one per section family: ``user`` is both a global and a
#: userlist keyword)
KEYWORDS: dict[str, list[Keyword]] = {}
#: first words that always take a second word naming the keyword (``option``, ``timeout``...)
GROUPS: set[str] = set()


def _sections(spec: str) -> frozenset[str]:
    return frozenset(_LETTERS[c] for c in spec)


def keyword(
    name: str, sections: str, syntax: str = "", help: str = "", **kw: Any
) -> Callable[[Handler], Handler]:
    """Decorator registering ``handler`` for ``name``. ``sections`` is a string of letters:
    g=global, u=userlist, d=defaults, f=frontend, l=listen, b=backend."""

    def register(handler: Handler) -> Handler:
        add(name, sections, handler, syntax, help, **kw)
        return handler

    return register


def add(
    name: str, sections: str, handler: Handler | None, syntax: str = "", help: str = "", **kw: Any
) -> Keyword:
    k = Keyword(name=name, sections=_sections(sections), handler=handler, syntax=syntax, help=help, **kw)
    same = KEYWORDS.setdefault(name, [])
    if any(other.sections & k.sections for other in same):
        raise ValueError(f"keyword '{name}' registered twice")
    same.append(k)
    if k.group:
        GROUPS.add(k.group)
    return k


def unsupported(names: Iterable[str], sections: str, note: str = "", negatable: bool = False) -> None:
    """Register real HAProxy keywords fastlb accepts and ignores with a warning."""
    for name in names:
        add(name, sections, None, note=note, negatable=negatable)


def all_keywords() -> list[Keyword]:
    return [k for same in KEYWORDS.values() for k in same]


def _get(name: str, family: set[str]) -> Keyword | None:
    same = KEYWORDS.get(name, ())
    for k in same:
        if k.sections & family:
            return k
    return same[0] if same else None


def lookup(words: list[str], section: str) -> tuple[Keyword | None, int]:
    """Find the keyword a line of ``section`` starts with. Returns it and how many words its
    name spans (1 or 2); ``(None, n)`` when the line starts with an unknown keyword. A keyword
    of another section is returned too (the caller reports it as misplaced)."""
    if not words:
        return None, 0
    family = section_family(section)
    first = words[0]
    if first in GROUPS and len(words) > 1:
        k = _get(f"{first} {words[1]}", family)
        if k is not None:
            return k, 2
    k = _get(first, family)
    if k is not None:
        return k, 1
    return None, 2 if first in GROUPS else 1


def section_family(section: str) -> set[str]:
    return set(PROXY_SECTIONS) if section in PROXY_SECTIONS else {section}


def suggest(word: str, section: str, group: str | None = None) -> str | None:
    """A close keyword name allowed in ``section`` (within ``group`` for grouped keywords)."""
    family = section_family(section)
    candidates: set[str] = set()
    for k in all_keywords():
        if not (k.sections & family):
            continue
        if group is not None:
            if k.group == group:
                candidates.add(k.name.split(" ", 1)[1])
        else:
            candidates.add(k.group or k.name)
    best = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.75)
    return best[0] if best else None


def keywords_for(section: str) -> list[Keyword]:
    family = section_family(section)
    return sorted((k for k in all_keywords() if k.sections & family), key=lambda k: k.name)
