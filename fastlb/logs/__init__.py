"""Logging: HAProxy's ``log`` targets (syslog over UDP/UNIX sockets, stdout/stderr), its
message formats (rfc3164, rfc5424, short, raw...), and its traffic log lines (``option httplog
[clf]``, ``option tcplog``, ``log-format``) compiled once per frontend.

Interfaces:
  make_log_callback(plan, worker_index) -> callable(fields: dict) | None   (worker, engine hook)
  emit_log(plan, level, message) -> None                                (control plane messages)
  formats.compile_format(fmt) -> callable(fields: dict) -> str
"""
from __future__ import annotations

from .logger import emit_log, make_log_callback

__all__ = ["emit_log", "make_log_callback"]
