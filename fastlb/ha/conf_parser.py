"""keepalived.conf to :class:`KeepalivedConfig`, with keepalived 2.2.7's block rules and messages.

The block engine follows keepalived's ``process_stream``: a keyword with a sub-block expects ``{`` on
its line or the next one, a ``}`` closes the innermost block, an unknown keyword is reported and
skipped, and end of file closes whatever is still open (then "There are N missing '}'s or extra
'{'s" is reported). Keyword handlers live in :mod:`.conf_keywords`; this module holds the engine and
the final checks (keepalived's ``vrrp_complete_instance`` for what fastlb-ha implements).
"""
from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .conf_lexer import BOB, EOB, ConfigReader, ConfLine
from .conf_model import ConfigMessage, KeepalivedConfig, Severity


class FatalConfigError(Exception):
    """keepalived exits at once (a line missing a parameter)."""


Handler = Callable[[tuple[str, ...]], None]


@dataclass
class Keyword:
    handler: Handler | None
    sub: dict[str, Keyword] | None = None
    close: Callable[[], None] | None = None
    value_block: bool = False  # the handler reads a value block itself (virtual_ipaddress ...)


@dataclass
class ParseContext:
    """State shared by the keyword handlers while reading."""

    reader: ConfigReader
    lines: Iterator[ConfLine]
    messages: list[ConfigMessage] = field(default_factory=list)
    pushed: list[ConfLine] = field(default_factory=list)
    current: ConfLine | None = None
    skip_block: int = 0  # 1: skip the block of the keyword being handled
    mute: bool = False  # the first pass reports only what happens inside global_defs

    def report(self, severity: Severity, text: str, positioned: bool = True) -> None:
        if self.mute:
            return
        if positioned and self.current is not None:
            self.messages.append(ConfigMessage(severity, text, self.current.file, self.current.lineno))
        else:
            self.messages.append(ConfigMessage(severity, text))

    def next_line(self) -> ConfLine | None:
        if self.pushed:
            line = self.pushed.pop()
        else:
            line = next(self.lines, None)
        if line is not None:
            self.current = line
        return line

    def arg(self, words: tuple[str, ...], index: int) -> str:
        """The word at ``index``; keepalived exits when a keyword misses its parameter."""
        if index < len(words):
            return words[index]
        self.report(Severity.MISSING_PARAMETER,
                    f"*** Configuration line starting `{words[0]}` is missing a parameter after keyword "
                    f"`{words[index - 1]}` at word position {index + 1}")
        raise FatalConfigError(words[0])

    def value_block(self, words: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        """keepalived's alloc_value_block: yields the rows of ``{ ... }`` after ``words`` as they are read
        (so that a message about a row carries the row's line)."""
        if len(words) > 1:
            self.report(Severity.GENERAL_ERROR, f"Block {words[0]} has extra parameters {words[1]} ...")
        need_bob = True
        while True:
            line = self.next_line()
            if line is None:
                return
            row = line.words
            if need_bob:
                need_bob = False
                if row[0] == BOB:
                    if len(row) == 1:
                        continue
                    row = row[1:]
                else:
                    self.report(Severity.NOTICE, f"'{{' missing from beginning of block {words[0]}")
            if row[-1] == EOB:
                if len(row) > 1:
                    yield row[:-1]
                return
            yield row

    def skip(self) -> None:
        """Skip the block of the keyword being handled (keepalived's skip_block)."""
        self.skip_block = 1


def process_stream(ctx: ParseContext, table: dict[str, Keyword], need_bob: bool, level: int,
                   default: Keyword | None = None) -> None:
    """Read lines for the keywords of ``table`` until the block's ``}`` (or end of file). ``default``
    handles words not in the table (the first pass uses it to skip everything but global_defs)."""
    while True:
        line = ctx.next_line()
        if line is None:
            return
        word = line.words[0]
        if need_bob:
            need_bob = False
            if word == BOB and level > 0:
                continue
            ctx.report(Severity.MISSING_BOB, f"Missing '{BOB}' at beginning of configuration block")
        elif word == BOB:
            ctx.report(Severity.UNEXPECTED_BOB, f"Unexpected '{BOB}' - ignoring")
            continue
        if word == EOB and level > 0:
            return
        keyword = table.get(word, default)
        if keyword is None:
            ctx.report(Severity.UNKNOWN_KEYWORD, f"Unknown keyword '{word}'")
            continue
        words = line.words
        if keyword.handler is not None:
            keyword.handler(words)
        if ctx.skip_block:
            ctx.skip_block = 0
            _skip_block(ctx)
            continue
        if keyword.sub is not None:
            process_stream(ctx, keyword.sub, True, level + 1)
            if keyword.close is not None:
                keyword.close()


def _skip_block(ctx: ParseContext) -> None:
    line = ctx.next_line()
    if line is None:
        return
    if line.words[0] != BOB:
        ctx.pushed.append(line)
        return
    depth = 1
    while depth:
        line = ctx.next_line()
        if line is None:
            return
        if line.words[0] == BOB:
            depth += 1
        elif line.words[0] == EOB:
            depth -= 1


def default_config_id() -> str:
    return socket.gethostname().split(".")[0]


def parse_config(path: str, config_id: str | None = None, check_system: bool = True) -> KeepalivedConfig:
    """Read ``path`` as keepalived 2.2.7 does. ``check_system`` looks at the machine (interfaces, users,
    script paths) as keepalived does; tests of the language alone can turn it off."""
    from .conf_keywords import ConfigBuilder

    messages: list[ConfigMessage] = []

    def lexical(severity: Severity, text: str, file: str | None, line: int | None) -> None:
        messages.append(ConfigMessage(severity, text, file, line))

    if not os.path.exists(path):
        messages.append(ConfigMessage(Severity.FILE_NOT_FOUND, f"Unable to find configuration file {path}"))
        return ConfigBuilder.empty(messages)
    ident = config_id if config_id is not None else default_config_id()
    # Pass 1: global_defs only (keepalived reads them first, so they apply to the whole file); the
    # lexical problems are reported by pass 2.
    first = ConfigReader(lambda *args: None, ident)
    ctx = ParseContext(first, first.read(path), messages, mute=True)
    builder = ConfigBuilder(ctx, check_system=check_system)
    skip_all = Keyword(lambda words: ctx.skip())
    try:
        process_stream(ctx, builder.global_keywords(), False, 0, default=skip_all)
    except FatalConfigError:
        return builder.finish(fatal=True)
    reader = ConfigReader(lexical, ident)
    ctx.mute = False
    ctx.reader = reader
    ctx.lines = reader.read(path)
    ctx.pushed.clear()
    ctx.current = None
    try:
        process_stream(ctx, builder.root_keywords(), False, 0)
    except FatalConfigError:
        return builder.finish(fatal=True)
    if reader.block_depth > 0:
        ctx.report(Severity.MISSING_EOB, f"There are {reader.block_depth} missing '{EOB}'s or extra '{BOB}'s",
                   positioned=False)
    return builder.finish(fatal=False)
