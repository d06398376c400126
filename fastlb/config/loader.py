"""Reading configuration files: preprocessor directives, sections, and keyword dispatch.

Every error is recorded and parsing goes on with the next line, so one run reports all the
errors of all the files (HAProxy stops at some of them; fastlb does not).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from . import kw_bind, kw_global, kw_proxy, kw_rules, kw_stick, kw_userlist  # noqa: F401  (register keywords)
from .conditions import ConditionError, evaluate_condition
from .context import Ctx, KeywordError, LoaderState, ProxyBuilder
from .diagnostics import Diagnostic, LoadResult
from .freeze import freeze
from .keywords import PROXY_SECTIONS, lookup, suggest
from .tokenizer import TokenizeError, tokenize

PROXY_KINDS = ("frontend", "backend", "listen")
#: Sections HAProxy has and fastlb accepts (with a warning) without implementing them yet.
UNIMPLEMENTED_SECTIONS = (
    "resolvers",
    "peers",
    "mailers",
    "http-errors",
    "ring",
    "program",
    "cache",
    "fcgi-app",
    "traces",
)
#: HAProxy cuts lines after 64 words (MAX_LINE_ARGS) and fails; so do we.
MAX_LINE_ARGS = 64
#: Keywords of the unimplemented sections that are checked (HAProxy 2.6 refuses any other): an
#: unknown one is an error at its line, as in haproxy -c, though the section is then ignored.
SKIPPED_SECTION_KEYWORDS = {
    "peers": frozenset({"bind", "default-bind", "default-server", "disabled", "enabled", "log", "peer",
                        "server", "table"}),
    "mailers": frozenset({"mailer", "timeout"}),
}
SECTION_KEYWORDS = frozenset({"global", "defaults", "userlist", *PROXY_KINDS, *UNIMPLEMENTED_SECTIONS})
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


@dataclass
class _Frame:
    """One level of .if nesting."""

    line: int
    parent_active: bool
    active: bool
    taken: bool  # a branch of this level was already taken
    seen_else: bool = False


def expand_paths(paths: list[str], state: LoaderState) -> list[str]:
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            entries = sorted(glob.glob(os.path.join(glob.escape(path), "*.cfg")))
            files.extend(e for e in entries if os.path.isfile(e))
        elif os.path.exists(path):
            files.append(path)
        else:
            state.diagnostics.append(
                Diagnostic(
                    "ALERT",
                    "",
                    0,
                    f"Cannot open configuration file/directory {path} : No such file or directory",
                )
            )
    return files


class _FileParser:
    def __init__(self, state: LoaderState, file: str) -> None:
        self.state = state
        self.file = file
        self.section = ""  # "" before the first section
        self.section_name = ""
        self.proxy: ProxyBuilder | None = None
        self.userlist: dict | None = None
        self.skipping_section = False  # inside an unimplemented section

    def diag(self, level: str, line: int, message: str, style: str = "parsing") -> None:
        self.state.diagnostics.append(Diagnostic(level, self.file, line, message, style))  # type: ignore[arg-type]

    # --- preprocessor ------------------------------------------------------------------------
    def lines(self, text: str) -> Iterator[tuple[int, list[str]]]:
        """Yield (line number, words) of active lines, handling .if/.elif/.else/.endif and the
        message directives."""
        frames: list[_Frame] = []
        for lineno, raw in enumerate(text.splitlines(), start=1):
            active = not frames or frames[-1].active
            pseudo = {".FILE": self.file, ".LINE": str(lineno), ".SECTION": self.section_name or self.section}
            try:
                words = tokenize(raw, self.state.environ, pseudo)
            except TokenizeError as exc:
                if active:
                    self.diag("ALERT", lineno, exc.message(), "directive")
                continue
            if not words:
                continue
            if len(words) > MAX_LINE_ARGS:
                if active:
                    self.diag(
                        "ALERT",
                        lineno,
                        f"too many words, truncating after word {MAX_LINE_ARGS}: "
                        f"<{words[MAX_LINE_ARGS - 1]}>.",
                        "directive",
                    )
                continue
            head = words[0]
            if head.startswith(".") and head in (".if", ".elif", ".else", ".endif"):
                self._conditional(frames, head, words, raw, lineno)
                continue
            if not active:
                continue
            if head in (".notice", ".warning", ".alert", ".diag"):
                if len(words) > 2:
                    self.diag(
                        "ALERT",
                        lineno,
                        f"Unexpected argument '{words[2]}' for '{head}'. Use quotes if "
                        "the message should contain spaces.",
                        "directive",
                    )
                elif head != ".diag":
                    level = {".notice": "NOTICE", ".warning": "WARNING", ".alert": "ALERT"}[head]
                    self.diag(level, lineno, f"'{words[1] if len(words) > 1 else ''}'.", "directive")
                continue
            if head.startswith(".") and len(head) > 1 and not head[1].isdigit():
                self.diag("ALERT", lineno, f"unknown directive '{head}'.", "directive")
                continue
            yield lineno, words
        for frame in frames:
            self.diag("ALERT", frame.line, "non-terminated '.if' block.", "directive")

    def _conditional(self, frames: list[_Frame], head: str, words: list[str], raw: str, lineno: int) -> None:
        def evaluate() -> bool:
            expr = " ".join(words[1:])
            try:
                return evaluate_condition(expr, self.state.environ)
            except ConditionError as exc:
                self.diag(
                    "ALERT",
                    lineno,
                    f"{exc} in '{head}' at position {exc.position}:\n  {raw.strip()}\n"
                    f"  {' ' * (len(head) + exc.position)}^",
                    "directive",
                )
                return False

        if head == ".if":
            parent_active = not frames or frames[-1].active
            value = evaluate() if parent_active else False
            frames.append(_Frame(lineno, parent_active, parent_active and value, value))
            return
        if not frames:
            self.diag("ALERT", lineno, f"lone '{head}' with no matching '.if'.", "directive")
            return
        top = frames[-1]
        if head == ".endif":
            frames.pop()
            return
        if top.seen_else:
            self.diag("ALERT", lineno, f"'{head}' after '.else' is not permitted.", "directive")
            return
        if head == ".else":
            top.seen_else = True
            top.active = top.parent_active and not top.taken
            top.taken = True
            return
        # .elif
        if top.taken or not top.parent_active:
            top.active = False
            return
        value = evaluate()
        top.active = value
        top.taken = value

    # --- sections ----------------------------------------------------------------------------
    def parse(self, text: str) -> None:
        for lineno, words in self.lines(text):
            head = words[0]
            if head in SECTION_KEYWORDS:
                self.open_section(lineno, words)
                continue
            if self.skipping_section:
                self.skipped_line(lineno, words)
                continue
            self.keyword_line(lineno, words)

    def skipped_line(self, lineno: int, words: list[str]) -> None:
        known = SKIPPED_SECTION_KEYWORDS.get(self.section)
        if known is None:
            return
        if words[0] not in known:
            self.diag("ALERT", lineno, f"unknown keyword '{words[0]}' in '{self.section}' section")
        elif words[0] == "mailer" and len(words) < 3:
            self.diag("ALERT", lineno, "'mailer' expects <name> and <addr>[:<port>] as arguments.")

    def open_section(self, lineno: int, words: list[str]) -> None:
        kind = words[0]
        self.proxy = None
        self.userlist = None
        self.skipping_section = False
        self.section = kind
        self.section_name = words[1] if len(words) > 1 else ""
        if kind == "global":
            if len(words) > 1:
                self.diag("ALERT", lineno, f"'global' cannot handle unexpected argument '{words[1]}'.")
            return
        if kind in UNIMPLEMENTED_SECTIONS:
            self.skipping_section = True
            self.state.unimplemented_sections.append((kind, words[1] if len(words) > 1 else ""))
            self.diag(
                "WARNING",
                lineno,
                f"'{kind}' sections are not supported by fastlb yet: section "
                f"'{' '.join(words[:2])}' ignored.",
            )
            return
        if kind == "userlist":
            if len(words) < 2:
                self.diag("ALERT", lineno, "'userlist' expects <name> as arguments.", "directive")
                return
            if any(u["name"] == words[1] for u in self.state.userlists):
                self.diag("WARNING", lineno, f"ignoring duplicated userlist '{words[1]}'.")
            self.userlist = {"name": words[1], "users": [], "groups": {}, "file": self.file, "line": lineno}
            self.state.userlists.append(self.userlist)
            return
        self.open_proxy(lineno, kind, words)

    def open_proxy(self, lineno: int, kind: str, words: list[str]) -> None:
        name = ""
        args = words[1:]
        if args and args[0] != "from":
            name = args.pop(0)
        elif kind != "defaults":
            self.diag("ALERT", lineno, f"'{kind}' expects an <id> argument")
            name = f"<unnamed {kind} at {self.file}:{lineno}>"
        bad = [c for c in name if c not in _NAME_CHARS] if not name.startswith("<unnamed") else []
        if bad:
            self.diag("ALERT", lineno, f"character '{bad[0]}' is not permitted in '{kind}' name '{name}'.")
        parent: ProxyBuilder | None = None
        from_name: str | None = None
        legacy_addr: str | None = None
        i = 0
        while i < len(args):
            if args[i] == "from" and i + 1 < len(args):
                from_name = args[i + 1]
                i += 2
            elif args[i] == "from":
                self.diag("ALERT", lineno, f"'from' expects a defaults section name in '{kind} {name}'.")
                i += 1
            elif kind in ("frontend", "listen") and legacy_addr is None and i == 0:
                legacy_addr = args[i]
                i += 1
            else:
                self.diag("ALERT", lineno, f"'{kind} {name}' cannot handle unexpected argument '{args[i]}'.")
                i += 1
        if from_name is not None:
            parent = self.state.defaults.get(from_name)
            if parent is None:
                self.diag("ALERT", lineno, f"{kind} '{name}': unable to find defaults section '{from_name}'.")
        elif kind != "defaults":
            parent = self.state.last_defaults  # a defaults section starts afresh unless "from"
        px = ProxyBuilder(kind, name, self.file, lineno, parent)
        self.proxy = px
        if kind == "defaults":
            if name:
                self.state.defaults[name] = px
            self.state.last_defaults = px
            return
        self.check_duplicate(px)
        self.state.proxies.append(px)
        if legacy_addr is not None:
            self.diag(
                "WARNING",
                lineno,
                f"address '{legacy_addr}' on the '{kind}' line is the HAProxy 1.x form "
                "(HAProxy 2.6 asks for the 'bind' keyword); fastlb treats it as "
                f"'bind {legacy_addr}'.",
            )
            ctx = Ctx(self.state, self.file, lineno, kind, px, keyword="bind")
            try:
                px.lst("binds").extend(kw_bind.make_binds(ctx, legacy_addr, [], legacy=True))
            except KeywordError as exc:
                ctx.error(str(exc), exc.style)

    def check_duplicate(self, px: ProxyBuilder) -> None:
        for other in self.state.proxies:
            if other.name != px.name:
                continue
            overlap = (px.has_frontend and other.has_frontend) or (px.has_backend and other.has_backend)
            if overlap:
                self.diag(
                    "ALERT",
                    px.line,
                    f"{px.kind} '{px.name}' has the same name as {other.kind} "
                    f"'{other.name}' declared at {other.file}:{other.line}.",
                )
                return

    # --- keyword lines -----------------------------------------------------------------------
    def keyword_line(self, lineno: int, words: list[str]) -> None:
        section = self.section
        if not section:
            self.diag("ALERT", lineno, f"unknown keyword '{words[0]}' out of section.", "directive")
            return
        if section == "userlist" and self.userlist is None:
            return  # the userlist line itself was wrong; already reported
        ctx = Ctx(self.state, self.file, lineno, section, self.proxy, self.userlist)
        prefix = None
        kwords = words
        if words[0] in ("no", "default") and len(words) > 1 and section in PROXY_SECTIONS:
            prefix = words[0]
            kwords = words[1:]
        kw, span = lookup(kwords, section)
        display_section = "users" if section == "userlist" else section
        if kw is None or not (kw.sections & _family(section)):
            self.unknown(ctx, kwords, span, display_section)
            return
        ctx.keyword = kw.name
        if prefix and not kw.negatable:
            what = f"option '{kwords[1]}'" if kw.group == "option" else f"'{kw.name}'"
            ctx.error(f"negation/default is not supported for {what}.", "directive")
            return
        if section in PROXY_SECTIONS and not self.capability_ok(ctx, kw, kwords):
            return
        if kw.handler is None:
            note = f" ({kw.note})" if kw.note else ""
            ctx.warn(f"'{kw.name}' is not supported by fastlb yet, ignored{note}.")
            if section == "global":
                self.state.global_.setdefault("unsupported", []).append(kw.name)
            elif self.proxy is not None:
                self.proxy.lst("ignored").append(kw.name)
            return
        try:
            kw.handler(ctx, words)
        except KeywordError as exc:
            ctx.error(str(exc), exc.style)

    def unknown(self, ctx: Ctx, words: list[str], span: int, display_section: str) -> None:
        first = words[0]
        section = ctx.section
        if span == 2 and len(words) > 1 or (span == 2 and first in ("option", "timeout", "stats")):
            sub = words[1] if len(words) > 1 else ""
            if first == "timeout" and section in PROXY_SECTIONS:
                ctx.error(f"{kw_proxy.TIMEOUT_SUPPORTS} (got '{sub}')")
                return
            if first == "option" and section in PROXY_SECTIONS:
                hint = suggest(sub, section, "option") if sub else None
                ctx.error(f"unknown option '{sub}'." + (f" Did you mean '{hint}' maybe ?" if hint else ""))
                return
            if first == "stats" and section in PROXY_SECTIONS:
                ctx.error(
                    f"unknown stats parameter '{sub}', expects 'admin', 'uri', 'realm', 'auth', 'scope', "
                    "'enable', 'hide-version', 'show-node', 'show-desc' or 'show-legends'.",
                    "directive",
                )
                return
            family = _family(section)
            from .keywords import all_keywords

            subs = sorted(
                k.name.split(" ", 1)[1] for k in all_keywords() if k.group == first and k.sections & family
            )
            if subs:
                hint = suggest(sub, section, first) if sub else None
                listed = ", ".join(f"'{s}'" for s in subs)
                msg = f"'{first}' expects {listed} (got '{sub}')."
                ctx.error(msg + (f" Did you mean '{hint}' maybe ?" if hint else ""))
                return
        hint = suggest(first, section)
        msg = f"unknown keyword '{first}' in '{display_section}' section"
        if hint:
            msg += f"; did you mean '{hint}' maybe ?"
        ctx.error(msg, "directive" if section == "userlist" else "parsing")

    def capability_ok(self, ctx: Ctx, kw, words: list[str]) -> bool:
        px = self.proxy
        assert px is not None
        section = ctx.section
        if section in kw.sections:
            if section == "defaults" and kw.named_defaults_only and not px.name:
                ctx.error(f"'{kw.name}' not allowed in anonymous 'defaults' section.")
                return False
            return True
        style = "bracket" if kw.capability_error else "parsing"
        if section == "defaults":
            ctx.error(f"'{kw.name}' not allowed in 'defaults' section.", style)
            return False
        cap = "backend" if section == "frontend" else "frontend"
        display = words[1] if kw.group == "option" else kw.name
        if kw.capability_error:
            ctx.error(
                f"'{kw.name}' not allowed because {section} '{px.name}' has no {cap} capability.", style
            )
        else:
            if kw.group == "timeout" and len(words) > 2:  # HAProxy parses the value before ignoring it
                try:
                    ctx.time(words[2], kw.name)
                except KeywordError as exc:
                    ctx.error(str(exc), exc.style)
                    return False
            ctx.warn(f"'{display}' ignored because {section} '{px.name}' has no {cap} capability.")
        return False


def _family(section: str) -> set[str]:
    return set(PROXY_SECTIONS) if section in PROXY_SECTIONS else {section}


def _load(sources: list[tuple[str, str]], state: LoaderState) -> LoadResult:
    for name, text in sources:
        state.files.append(name)
        _FileParser(state, name).parse(text)
    config = freeze(state)
    result = LoadResult(config=None, diagnostics=state.diagnostics, files=list(state.files))
    if result.ok:
        result.config = config
    return result


def load_config(paths: list[str], environ: Mapping[str, str] | None = None) -> LoadResult:
    """Load configuration files and directories (``*.cfg`` in lexical order), HAProxy-style.

    ``environ`` is the environment for ``${VAR}`` expansion and ``defined()`` (default: the
    process environment). ``setenv`` lines change a private copy of it, never ``os.environ``.
    """
    state = LoaderState(environ=dict(os.environ if environ is None else environ))
    files = expand_paths(paths, state)
    if not files and not state.diagnostics:
        state.diagnostics.append(
            Diagnostic("ALERT", "", 0, "No configuration file found in " + ", ".join(paths))
        )
    sources: list[tuple[str, str]] = []
    for path in files:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            state.diagnostics.append(
                Diagnostic(
                    "ALERT", "", 0, f"Cannot open configuration file/directory {path} : {exc.strerror}"
                )
            )
            continue
        sources.append((path, data.decode("utf-8", errors="surrogateescape")))
    state.environ.setdefault("HAPROXY_CFGFILES", ";".join(files))
    return _load(sources, state)


def load_config_text(
    text: str, environ: Mapping[str, str] | None = None, filename: str = "<string>"
) -> LoadResult:
    """Same as ``load_config`` on one configuration given as a string."""
    state = LoaderState(environ=dict(os.environ if environ is None else environ))
    return _load([(filename, text)], state)
