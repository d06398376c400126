"""From builders to the immutable model, and the checks that need the whole configuration
(references between proxies, modes, servers)."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Any

from .context import LoaderState, ProxyBuilder
from .diagnostics import Diagnostic
from .model import (
    Balance,
    Config,
    CookieSettings,
    ForwardFor,
    GlobalSection,
    HashType,
    HttpCheck,
    OriginalTo,
    Proxy,
    StatsSettings,
    Timeouts,
    Tune,
    User,
    Userlist,
)

_PROXY_FIELDS = {f.name for f in dataclasses.fields(Proxy)}
_TUPLE_FIELDS = {
    "binds",
    "acls",
    "use_backends",
    "use_servers",
    "servers",
    "http_request_rules",
    "http_response_rules",
    "http_after_response_rules",
    "tcp_request_rules",
    "tcp_response_rules",
    "redirects",
    "persist_rules",
    "http_check_rules",
    "tcp_check_rules",
    "captures",
    "stick_rules",
    "ignored",
    "logs",
}


def _build(cls: type, values: dict[str, Any] | None) -> Any:
    if values is None:
        return None
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in values:
            v = values[f.name]
            kwargs[f.name] = tuple(v) if isinstance(v, list) else v
    return cls(**kwargs)


def freeze_global(g: dict[str, Any]) -> GlobalSection:
    values = dict(g)
    tune = values.pop("tune", {})
    values["tune"] = _build(Tune, tune)
    return _build(GlobalSection, values)


def freeze_proxy(px: ProxyBuilder, global_logs: tuple) -> Proxy:
    f = px.f
    values: dict[str, Any] = {}
    for key, value in f.items():
        if key in _PROXY_FIELDS:
            values[key] = value
    values["timeouts"] = _build(Timeouts, f.get("timeouts", {}))
    values["balance"] = _build(Balance, f.get("balance", {}))
    values["hash_type"] = _build(HashType, f.get("hash_type", {}))
    values["cookie"] = _build(CookieSettings, f.get("cookie"))
    values["forwardfor"] = _build(ForwardFor, f.get("forwardfor"))
    values["originalto"] = _build(OriginalTo, f.get("originalto"))
    values["httpchk"] = _build(HttpCheck, f.get("httpchk"))
    values["stats"] = _build(StatsSettings, f.get("stats"))
    values["errorfiles"] = MappingProxyType(dict(f.get("errorfiles", {})))
    values["errorlocs"] = MappingProxyType(dict(f.get("errorlocs", {})))
    values["options"] = frozenset(f.get("options", set()))
    logs = list(f.get("logs", []))
    if px.log_global:
        logs = list(global_logs) + logs
    values["logs"] = logs
    for key in _TUPLE_FIELDS:
        if key in values:
            values[key] = tuple(values[key])
    values.pop("default_backend_where", None)
    return Proxy(
        name=px.name,
        kind=px.kind,
        file=px.file,
        line=px.line,  # type: ignore[arg-type]
        defaults_name=px.parent_name,
        **{k: v for k, v in values.items() if k not in ("name", "kind", "file", "line", "defaults_name")},
    )


def _check_references(state: LoaderState, proxies: list[Proxy], builders: list[ProxyBuilder]) -> None:
    diags = state.diagnostics
    by_name: dict[str, list[Proxy]] = {}
    for p in proxies:
        by_name.setdefault(p.name, []).append(p)

    def backend(name: str) -> Proxy | None:
        for p in by_name.get(name, []):
            if p.has_backend:
                return p
        return None

    for p, b in zip(proxies, builders):
        if not p.has_frontend:
            continue
        if not p.binds and p.kind == "frontend":
            diags.append(
                Diagnostic(
                    "WARNING",
                    p.file,
                    p.line,
                    f"frontend '{p.name}' has no 'bind' directive. "
                    "Please declare it as a backend if this was intended.",
                )
            )
        targets = [(ub.backend, "use_backend", ub.file, ub.line) for ub in p.use_backends if not ub.dynamic]
        if p.default_backend:
            file, line = b.f.get("default_backend_where", (p.file, p.line))
            targets.append((p.default_backend, "default_backend", file, line))
        for name, what, file, line in targets:
            be = backend(name)
            if be is None:
                diags.append(
                    Diagnostic(
                        "ALERT", file, line, f"Proxy '{p.name}': unable to find required {what}: '{name}'."
                    )
                )
            elif be.mode != p.mode and not (p.mode == "tcp" and be.mode == "http"):
                diags.append(
                    Diagnostic(
                        "ALERT",
                        file,
                        line,
                        f"{p.mode} {p.kind} '{p.name}' ({p.file}:{p.line}) tries to use incompatible "
                        f"{be.mode} "
                        f"{be.kind} '{be.name}' ({be.file}:{be.line}) as its "
                        f"{'default' if what == 'default_backend' else 'switching'} backend (see 'mode').",
                    )
                )
    for p in proxies:
        if not p.has_backend:
            continue
        names = {s.name for s in p.servers}
        for us in p.use_servers:
            if us.server not in names:
                diags.append(
                    Diagnostic(
                        "ALERT",
                        us.file,
                        us.line,
                        f"{p.kind} '{p.name}' : unable to find "
                        f"server '{us.server}' referenced in a 'use-server' rule.",
                    )
                )
        for s in p.servers:
            if s.track:
                px_name, _, srv_name = s.track.rpartition("/")
                target = backend(px_name) if px_name else p
                if target is None or target.server(srv_name) is None:
                    diags.append(
                        Diagnostic(
                            "ALERT",
                            s.file,
                            s.line,
                            f"'server {p.name}/{s.name}' : unable to find required server '{s.track}' "
                            "for tracking.",
                            "bracket",
                        )
                    )
    tables = {p.name: p for p in proxies if p.stick_table is not None}
    for p in proxies:
        if not p.has_backend:
            continue
        for rule in p.stick_rules:
            name = p.name if rule.table is None else rule.table
            if name not in tables:
                diags.append(Diagnostic("ALERT", "", 0, f"Proxy '{p.name}': unable to find stick-table '{name}'."))
    for p in proxies:
        if p.http_check_rules and p.check_type != "httpchk":
            diags.append(
                Diagnostic(
                    "WARNING",
                    "",
                    0,
                    f"proxy '{p.name}' uses http-check rules without "
                    "'option httpchk', so the rules are ignored.",
                )
            )
        if (p.log_format or p.httplog or p.tcplog) and not p.logs and p.has_frontend:
            diags.append(
                Diagnostic(
                    "WARNING", "", 0,
                    f"log format ignored for {'proxy' if p.kind == 'listen' else p.kind} '{p.name}' since it "
                    "has no log address."
                )
            )
        t = p.timeouts
        missing = (p.has_frontend and t.client is None) or (
            p.has_backend and (t.connect is None or t.server is None)
        )
        if missing and not p.disabled:
            diags.append(
                Diagnostic(
                    "WARNING",
                    "",
                    0,
                    f"missing timeouts for {p.kind} '{p.name}'.\n   | While not properly invalid, "
                    "you will certainly encounter various problems\n   | with such a configuration. "
                    "To fix this, "
                    "please ensure that all following\n   | timeouts are set to a non-zero value: 'client', "
                    "'connect', 'server'.",
                )
            )


def _check_formats(state: LoaderState, proxies: list[Proxy], builders: list[ProxyBuilder]) -> None:
    """``log-format`` and ``unique-id-format`` of every proxy that has a frontend, parsed as
    HAProxy does once the configuration is read (one message per proxy, at the line of the
    directive, which may be in a ``defaults`` section)."""
    from ..logs.formats import LogFormatError, parse

    for p, b in zip(proxies, builders):
        if not p.has_frontend or p.disabled:
            continue
        for what, text in (("log-format", p.log_format), ("unique-id-format", p.unique_id_format)):
            if not text:
                continue
            try:
                parse(text)
            except LogFormatError as exc:
                file, line = b.f.get(f"{what.replace('-', '_')}_where", (p.file, p.line))
                state.diagnostics.append(
                    Diagnostic("ALERT", file, line, f"failed to parse {what} : {exc}", "late")
                )


def freeze(state: LoaderState) -> Config:
    global_ = freeze_global(state.global_)
    builders = state.proxies
    proxies = [freeze_proxy(b, global_.logs) for b in builders]
    _check_references(state, proxies, builders)
    _check_formats(state, proxies, builders)
    userlists = []
    for ul in state.userlists:
        groups = {g: list(members) for g, members in ul["groups"].items()}
        users = []
        for u in ul["users"]:
            for g in u["groups"]:
                if g not in groups:
                    state.diagnostics.append(
                        Diagnostic(
                            "ALERT",
                            ul["file"],
                            ul["line"],
                            f"userlist '{ul['name']}': no such group '{g}' specified in user '{u['name']}'.",
                        )
                    )
                elif u["name"] not in groups[g]:
                    groups[g].append(u["name"])
            users.append(User(**u))
        userlists.append(
            Userlist(
                name=ul["name"],
                users=tuple(users),
                groups=MappingProxyType({g: tuple(m) for g, m in groups.items()}),
                file=ul["file"],
                line=ul["line"],
            )
        )
    return Config(
        global_=global_,
        proxies=tuple(proxies),
        userlists=tuple(userlists),
        files=tuple(state.files),
        unimplemented_sections=tuple(state.unimplemented_sections),
    )
