"""Agent checks: what an agent's one-line reply asks for.

The agent answers a line of words separated by spaces, tabs or commas (case-insensitive)::

    75%                   weight = 75% of the configured weight
    maxconn:30            server maxconn
    ready | drain | maint administrative state
    up | down | fail | stopped   operational state
    #text                 a description: everything after '#' (must start a word)

Words the agent does not know are ignored, so ``down#x`` (no space before '#') changes nothing, as
in HAProxy. Several words may be combined (``up 75% maxconn:30``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class AgentReply:
    health: str | None = None      # up | down | fail | stopped
    admin: str | None = None       # ready | drain | maint
    weight_pct: int | None = None
    maxconn: int | None = None
    desc: str = ""

    def info(self) -> str:
        """HAProxy's check description for the health word: ``via agent : down (reason)``."""
        if self.health is None:
            return ""
        return f"via agent : {self.health}" + (f" ({self.desc})" if self.desc else "")


def parse_agent_reply(raw: bytes) -> AgentReply:
    line = raw.split(b"\n", 1)[0].split(b"\r", 1)[0].decode("latin-1")
    health = admin = None
    weight = maxconn = None
    desc = ""
    for m in re.finditer(r"[^ \t,]+", line):
        word = m.group(0)
        if word.startswith("#"):
            desc = line[m.start() + 1:].strip()
            break
        w = word.lower()
        if w in ("up", "down", "fail", "stopped"):
            health = w
        elif w in ("ready", "drain", "maint"):
            admin = w
        elif w.endswith("%") and w[:-1].isdigit():
            weight = int(w[:-1])
        elif w.startswith("maxconn:") and w[8:].isdigit():
            maxconn = int(w[8:])
    return AgentReply(health=health, admin=admin, weight_pct=weight, maxconn=maxconn, desc=desc)
