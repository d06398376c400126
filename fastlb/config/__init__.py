"""HAProxy 2.6 configuration language: tokenizer, keyword table, parser and typed model.

from fastlb.config import load_config
result = load_config(["/etc/haproxy/haproxy.cfg"])
if not result.ok:
    print(result.report(), file=sys.stderr)
"""

from __future__ import annotations

from .diagnostics import Diagnostic, LoadResult
from .loader import load_config, load_config_text
from .model import (
    AclDef,
    Address,
    Balance,
    Bind,
    Condition,
    ConditionTerm,
    Config,
    CookieSettings,
    ForwardFor,
    GlobalSection,
    HashType,
    HttpCheck,
    HttpRule,
    LogTarget,
    Proxy,
    Server,
    StatsSettings,
    StatsSocket,
    Timeouts,
    Tune,
    UseBackend,
    Userlist,
)

__all__ = [
    "AclDef",
    "Address",
    "Balance",
    "Bind",
    "Condition",
    "ConditionTerm",
    "Config",
    "CookieSettings",
    "Diagnostic",
    "ForwardFor",
    "GlobalSection",
    "HashType",
    "HttpCheck",
    "HttpRule",
    "LoadResult",
    "LogTarget",
    "Proxy",
    "Server",
    "StatsSettings",
    "StatsSocket",
    "Timeouts",
    "Tune",
    "UseBackend",
    "Userlist",
    "load_config",
    "load_config_text",
]
