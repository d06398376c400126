"""Diagnostics (errors, warnings, notices) and their HAProxy-shaped rendering."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

from .model import Config

Level = Literal["ALERT", "WARNING", "NOTICE"]


@dataclass(frozen=True)
class Diagnostic:
    """One message about the configuration. ``file``/``line`` are empty/0 for messages that are
    about the whole configuration (e.g. a missing backend found after parsing)."""

    level: Level
    file: str
    line: int
    message: str
    #: HAProxy prints most messages as "parsing [file:line] : msg", server and bind ones as
    #: "[file:line] : msg" ("bracket") and preprocessor ones as "parsing [file:line]: msg"
    #: ("directive"), and what it checks once every section is read as "Parsing [file:line]: msg"
    #: ("late", which does not count the file as one with parse errors); this keeps the shape it
    #: uses.
    style: Literal["parsing", "bracket", "directive", "late"] = "parsing"

    def render(self, pid: int | None = None) -> str:
        pid = os.getpid() if pid is None else pid
        tag = f"[{self.level}]"
        if not self.file:
            where = ""
        elif self.style == "bracket":
            where = f"[{self.file}:{self.line}] : "
        elif self.style == "directive":
            where = f"parsing [{self.file}:{self.line}]: "
        elif self.style == "late":
            where = f"Parsing [{self.file}:{self.line}]: "
        else:
            where = f"parsing [{self.file}:{self.line}] : "
        return f"{tag:<10} ({pid}) : config : {where}{self.message}"


@dataclass
class LoadResult:
    """What ``load_config`` returns: the configuration if it is usable, and every diagnostic."""

    config: Config | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(d.level == "ALERT" for d in self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level == "ALERT"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level == "WARNING"]

    def report(self, quiet: bool = False, pid: int | None = None) -> str:
        """HAProxy-shaped lines for stderr. ``quiet`` keeps only the alerts. When there are
        errors, the closing lines name each file that had some, then the fatal line."""
        pid = os.getpid() if pid is None else pid
        lines = [d.render(pid) for d in self.diagnostics if not quiet or d.level == "ALERT"]
        if not self.ok:
            bad_files = list(dict.fromkeys(d.file for d in self.errors if d.file and d.style != "late"))
            for f in bad_files:
                lines.append(
                    Diagnostic("ALERT", "", 0, f"Error(s) found in configuration file : {f}").render(pid)
                )
            lines.append(Diagnostic("ALERT", "", 0, "Fatal errors found in configuration.").render(pid))
        return "\n".join(lines)
