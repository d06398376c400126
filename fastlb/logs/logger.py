"""Traffic logs of the workers, and the log function of the control plane.

``make_log_callback(plan, worker_index)`` builds, once per worker, one FrontendLogger per frontend
that logs (it has ``log`` targets and ``option httplog``/``tcplog`` or a ``log-format``), with its
format compiled (formats.py) and its targets opened (syslog.py). The callback the engine calls per
finished transaction looks the frontend up and returns at once for frontends that do not log.
When no frontend logs, there is no callback at all and the engine builds no log fields.

``emit_log(plan, level, message)`` sends a control-plane message (server state changes, health
checks, start/stop notices) to the global ``log`` targets, as HAProxy does.
"""
from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from .formats import (
    CLF_FORMAT,
    HTTPLOG_FORMAT,
    JSON_HTTP_FORMAT,
    JSON_TCP_FORMAT,
    TCPLOG_FORMAT,
    compile_format,
    split_addr,
    uses,
)
from .syslog import LEVEL, Target, make_targets

DEFAULT_TAG = "haproxy"  # what log parsers and syslog filters expect (``log-tag`` changes it)
LOG_INFO = LEVEL["info"]
LOG_ERR = LEVEL["err"]


def format_of(proxy: Any) -> str | None:
    """The log format of a frontend: its log-format, else httplog/clf/tcplog, else None."""
    if proxy.log_format:
        return proxy.log_format
    json_line = getattr(proxy, "log_json", False)
    if proxy.httplog and proxy.mode == "http":
        return JSON_HTTP_FORMAT if json_line else (CLF_FORMAT if proxy.httplog_clf else HTTPLOG_FORMAT)
    if proxy.tcplog or proxy.httplog:  # HAProxy falls back to tcplog for httplog in TCP mode
        return JSON_TCP_FORMAT if json_line else TCPLOG_FORMAT
    return None


def _frontend_address(fe: Any) -> tuple[str | None, int | None]:
    """(ip, port) of a frontend with a single TCP listener (%fi/%fp), else (None, None)."""
    listeners = [lp for lp in fe.listeners if lp.path is None and lp.fd is None]
    if len(listeners) == 1:
        return listeners[0].host, listeners[0].port
    return None, None


def unique_id_function(fe: Any, pid: int | None = None) -> Callable[[dict], str] | None:
    """``unique-id-format`` of a frontend as ``fn(fields) -> id`` (None without one). The engine
    calls it per request when ``unique-id-header`` is set; otherwise the logger calls it for %ID."""
    fmt = fe.conf.unique_id_format
    if not fmt:
        return None
    compiled = compile_format(fmt, hostname=socket.gethostname(), pid=os.getpid() if pid is None else pid)
    ip, port = _frontend_address(fe)

    def unique_id(f: dict) -> str:
        if ip is not None:
            f.setdefault("_fe_ip", ip)
            f.setdefault("_fe_port", port)
        return compiled(f)

    return unique_id


#: Termination causes HAProxy does not count as errors: none, and local answers ("L").
_NOT_ERRORS = frozenset(("-", "L", ""))


class FrontendLogger:
    """Formats and sends the traffic log line of one frontend."""

    def __init__(self, fe: Any, plan: Any, targets: list[Target], fmt: str, hostname: str | None,
                 tag: str, pid: int):
        conf = fe.conf
        self.name = fe.name
        self.targets = targets
        self.format = compile_format(fmt, hostname=socket.gethostname(), pid=pid)
        wants_id = uses(fmt, "ID") or "%[unique-id" in fmt or "}[unique-id" in fmt
        self.unique_id = unique_id_function(fe, pid) if wants_id else None
        self.dontlognull = conf.dontlognull
        self.dontlog_normal = conf.dontlog_normal
        self.separate_errors = conf.log_separate_errors
        self.hostname = hostname
        self.tag = tag
        self.pid = pid
        self.counter = 0
        self.fe_ip, self.fe_port = _frontend_address(fe)
        self.servers = {(sp.backend, sp.name): (sp.host, sp.port) for sp in plan.servers}

    @staticmethod
    def is_error(f: dict) -> bool:
        """HAProxy's classification (``option log-separate-errors``, ``dontlog-normal``): a
        termination cause beyond a local answer, a redispatch, retries on a session that ended
        normally, or an HTTP status of 500 and above."""
        cause = f["termination"][:1]
        if cause not in _NOT_ERRORS or f.get("redispatched"):
            return True
        if cause == "-" and f.get("retries", 0) > 0:
            return True
        return f.get("mode") == "http" and (f.get("status") or 0) >= 500

    def __call__(self, f: dict) -> None:
        if self.dontlognull and not f["bytes_in"]:
            return
        error = self.is_error(f)
        if self.dontlog_normal and not error:
            return
        f["_lc"] = self.counter
        self.counter += 1
        if self.fe_ip is not None:
            f["_fe_ip"] = self.fe_ip
            f["_fe_port"] = self.fe_port
        if self.unique_id is not None and f.get("unique_id") is None:
            f["unique_id"] = self.unique_id(f)
        srv = self.servers.get((f["backend"], f["server"]))
        if srv is not None:
            f["_srv_ip"], f["_srv_port"] = srv[0], srv[1] if srv[1] is not None else "-"
        line = self.format(f)
        level = LOG_ERR if error and self.separate_errors else LOG_INFO
        for t in self.targets:
            t.emit(level, line, tag=self.tag, pid=self.pid, hostname=self.hostname)


def _hostname(plan: Any) -> str | None:
    g = plan.config.global_
    if g.log_send_hostname is None:
        return None
    return g.log_send_hostname or socket.gethostname()


def make_loggers(plan: Any, pid: int | None = None) -> dict[str, FrontendLogger]:
    pid = os.getpid() if pid is None else pid
    hostname = _hostname(plan)
    loggers: dict[str, FrontendLogger] = {}
    for fe in plan.frontends:
        conf = fe.conf
        fmt = format_of(conf)
        if fmt is None or not conf.logs:
            continue
        targets = make_targets(conf.logs)
        if not targets:
            continue
        tag = conf.log_tag or plan.config.global_.log_tag or DEFAULT_TAG
        loggers[fe.name] = FrontendLogger(fe, plan, targets, fmt, hostname, tag, pid)
    return loggers


def make_log_callback(plan: Any, worker_index: int = 0) -> Callable[[dict], None] | None:
    """The engine's log callback for this worker, or None when no frontend logs."""
    loggers = make_loggers(plan)
    if not loggers:
        return None
    get = loggers.get

    def log_cb(fields: dict) -> None:
        lg = get(fields["frontend"])
        if lg is not None:
            lg(fields)

    return log_cb


_global_targets: dict[int, list[Target]] = {}


def emit_log(plan: Any, level: str | int, message: str) -> None:
    """Send a control-plane message to the global ``log`` targets (server state changes, health
    check results...). `level` is a syslog level name or number."""
    lvl = LEVEL.get(level, LOG_INFO) if isinstance(level, str) else int(level)
    key = id(plan.config)
    targets = _global_targets.get(key)
    if targets is None:
        _global_targets.clear()  # a new configuration (reload): drop the old targets
        targets = _global_targets[key] = make_targets(plan.config.global_.logs)
    tag = plan.config.global_.log_tag or DEFAULT_TAG
    hostname = _hostname(plan)
    for t in targets:
        t.emit(lvl, message, tag=tag, pid=os.getpid(), hostname=hostname)


def frontend_log_options(plan: Any) -> dict[str, dict[str, Any]]:
    """Per frontend, what the engine must collect for the logs (``Worker.set_frontend_log_options``):
    server connection sources when the format prints %bi/%bp, and the unique id to send in the
    ``unique-id-header``."""
    out: dict[str, dict[str, Any]] = {}
    for fe in plan.frontends:
        conf = fe.conf
        fmt = format_of(conf)
        opts: dict[str, Any] = {}
        if fmt and conf.logs and uses(fmt, "bi", "bp"):
            opts["want_bsrc"] = True
        if conf.unique_id_header and conf.unique_id_format:
            opts["uid_cb"] = unique_id_function(fe)
            opts["uid_header"] = conf.unique_id_header
        if opts:
            out[fe.name] = opts
    return out


__all__ = ["emit_log", "format_of", "frontend_log_options", "make_log_callback", "make_loggers", "split_addr",
           "unique_id_function"]
