"""Parsing state: the mutable builders filled by keyword handlers, and the per-line context.

Builders are plain dictionaries keyed by the model's field names (lists for tuple fields,
dicts for nested settings) so that inheriting a ``defaults`` section is a deep copy, and
freezing is a conversion to the model's dataclasses (see ``freeze.py``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from .diagnostics import Diagnostic
from .units import UnitError, atol_compat, parse_int, parse_size, parse_time

#: Proxy fields a proxy does not take from its ``defaults`` section.
NOT_INHERITED = frozenset(
    {
        "binds",
        "servers",
        "use_backends",
        "use_servers",
        "captures",
        "description",
        "id",
        "redirects",
        "monitor_uri_line",
    }
)


class ProxyBuilder:
    """A ``defaults``, ``frontend``, ``backend`` or ``listen`` section being parsed."""

    def __init__(
        self, kind: str, name: str, file: str, line: int, parent: ProxyBuilder | None = None
    ) -> None:
        self.kind = kind
        self.name = name
        self.file = file
        self.line = line
        self.parent_name = parent.name if parent is not None else None
        self.f: dict[str, Any] = {}
        self.defsrv: dict[str, Any] = {}
        self.log_global = False
        self.acl_names: set[str] = set()
        self.server_lines: dict[str, int] = {}
        self.seen_use_backend = False
        if parent is not None:
            for key, value in parent.f.items():
                if key not in NOT_INHERITED:
                    self.f[key] = copy.deepcopy(value)
            self.defsrv = copy.deepcopy(parent.defsrv)
            self.log_global = parent.log_global
            self.acl_names = set(parent.acl_names)

    @property
    def is_defaults(self) -> bool:
        return self.kind == "defaults"

    @property
    def has_frontend(self) -> bool:
        return self.kind in ("frontend", "listen", "defaults")

    @property
    def has_backend(self) -> bool:
        return self.kind in ("backend", "listen", "defaults")

    def lst(self, key: str) -> list:
        return self.f.setdefault(key, [])

    def sub(self, key: str) -> dict[str, Any]:
        return self.f.setdefault(key, {})

    def options(self) -> set[str]:
        return self.f.setdefault("options", set())


@dataclass
class LoaderState:
    """Everything accumulated while reading all files."""

    environ: dict[str, str]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    global_: dict[str, Any] = field(default_factory=dict)
    proxies: list[ProxyBuilder] = field(default_factory=list)
    defaults: dict[str, ProxyBuilder] = field(default_factory=dict)  # named defaults
    last_defaults: ProxyBuilder | None = None
    userlists: list[dict[str, Any]] = field(default_factory=list)
    unimplemented_sections: list[tuple[str, str]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    check_mode: bool = True


class KeywordError(Exception):
    """Raised by a handler to report an ALERT and stop parsing this line."""

    def __init__(self, message: str, style: str = "parsing") -> None:
        super().__init__(message)
        self.style = style


@dataclass
class Ctx:
    """What a keyword handler sees: where it is, the section being built, and reporting."""

    state: LoaderState
    file: str
    line: int
    section: str  # global, userlist, defaults, frontend, backend, listen
    proxy: ProxyBuilder | None = None
    userlist: dict[str, Any] | None = None
    keyword: str = ""

    def error(self, message: str, style: str = "parsing") -> None:
        self.state.diagnostics.append(Diagnostic("ALERT", self.file, self.line, message, style))  # type: ignore[arg-type]

    def warn(self, message: str, style: str = "parsing") -> None:
        self.state.diagnostics.append(Diagnostic("WARNING", self.file, self.line, message, style))  # type: ignore[arg-type]

    def notice(self, message: str, style: str = "parsing") -> None:
        self.state.diagnostics.append(Diagnostic("NOTICE", self.file, self.line, message, style))  # type: ignore[arg-type]

    @property
    def px(self) -> ProxyBuilder:
        assert self.proxy is not None
        return self.proxy

    def where(self) -> str:
        return f"{self.file}:{self.line}"

    # --- argument helpers: raise KeywordError with HAProxy-like wording ---------------------

    def time(self, text: str, what: str | None = None) -> int:
        what = what or self.keyword
        try:
            parsed = parse_time(text, what)
        except UnitError as exc:
            if str(exc) == "missing value":
                raise KeywordError(f"'{what}' expects an integer value (in milliseconds)") from None
            if str(exc).startswith("timer overflow"):
                raise KeywordError(str(exc)) from None
            raise KeywordError(f"{exc} in '{what}'") from None
        if parsed.warning:
            self.warn(parsed.warning)
        return parsed.ms

    def size(self, text: str, what: str | None = None) -> int:
        what = what or self.keyword
        try:
            return parse_size(text)
        except UnitError as exc:
            if str(exc) == "missing value":
                raise KeywordError(f"'{what}' expects a size value") from None
            raise KeywordError(f"{exc} in '{what}'") from None

    def integer(
        self,
        text: str | None,
        what: str | None = None,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        what = what or self.keyword
        if text is None:
            raise KeywordError(f"'{what}' expects an integer argument.")
        try:
            return parse_int(text, minimum=minimum, maximum=maximum)
        except UnitError:
            if minimum is not None or maximum is not None:
                rng = f" between {minimum} and {maximum}" if maximum is not None else f" >= {minimum}"
                raise KeywordError(f"'{what}' expects an integer argument{rng} (got '{text}').") from None
            raise KeywordError(f"'{what}' expects an integer argument (got '{text}').") from None

    def lenient_int(self, text: str, what: str | None = None) -> int:
        """An integer HAProxy reads with atol(): trailing garbage is ignored there, so it is a
        warning here rather than an error (a config HAProxy accepts must load)."""
        what = what or self.keyword
        value, clean = atol_compat(text)
        if not clean:
            self.warn(f"'{what}' : '{text}' is not a clean integer; using {value} as HAProxy does.")
        return value

    def no_more(self, words: list[str], count: int) -> None:
        """HAProxy's "cannot handle unexpected argument" check."""
        if len(words) > count:
            raise KeywordError(f"'{self.keyword}' cannot handle unexpected argument '{words[count]}'.")
