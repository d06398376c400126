"""HAProxy 2.6 configuration language: tokenizer, keyword table, parser and typed model."""
from __future__ import annotations

from .diagnostics import Diagnostic, LoadResult
from .model import Config, GlobalSection, Proxy, Server

__all__ = ["Config", "Diagnostic", "GlobalSection", "LoadResult", "Proxy", "Server"]
