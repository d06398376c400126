"""``stats auth`` / ``stats admin if <cond>`` checks and the page's admin actions.

The general ACL engine belongs to the request rules; the stats page needs conditions on requests
that are already parsed into a dict (engine service hook), so this module evaluates the subset
that stats configurations use in practice:
  - predefined ACLs TRUE, FALSE, LOCALHOST, HTTP, METH_GET/POST/HEAD...,
  - named or anonymous ACLs on ``src`` (addresses and networks, ``-f`` files not read),
  - ``http_auth(<userlist>)`` and ``http_auth_group(<userlist>) <groups>`` (insecure-password
    users, and crypt(3) hashes when the ``crypt`` module is available).
Anything else is refused at load (``unsupported_in_condition``, called by the ``stats admin``
keyword), with the file and line, rather than silently never granting admin rights.
"""
from __future__ import annotations

import base64
import ipaddress
import time
from typing import Any

from ..config.model import AclDef, Condition, Config, Proxy
from .live import ADMF_DRAIN, ADMF_MAINT, ST_RUNNING, ST_STARTING, live_servers

_METHOD_ACLS = {
    "METH_CONNECT": b"CONNECT", "METH_DELETE": b"DELETE", "METH_GET": b"GET", "METH_HEAD": b"HEAD",
    "METH_OPTIONS": b"OPTIONS", "METH_POST": b"POST", "METH_PUT": b"PUT", "METH_TRACE": b"TRACE",
}


def basic_credentials(request: dict) -> tuple[str, str] | None:
    """(user, password) of an ``Authorization: Basic`` header, or None."""
    for name, value in request.get("headers", ()):
        if name.lower() == b"authorization":
            scheme, _, b64 = value.strip().partition(b" ")
            if scheme.lower() != b"basic":
                return None
            try:
                user, sep, pw = base64.b64decode(b64.strip(), validate=True).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            return (user, pw) if sep else None
    return None


def _check_password(stored: str | None, insecure: bool, given: str) -> bool:
    if stored is None:
        return False
    if insecure:
        return stored == given
    try:
        import crypt  # deprecated in 3.11, gone in 3.13: then only insecure-password users work
    except ImportError:
        return False
    return crypt.crypt(given, stored) == stored


def userlist_auth(config: Config, listname: str, request: dict, groups: tuple[str, ...] = ()) -> bool:
    creds = basic_credentials(request)
    ul = config.userlist(listname)
    if creds is None or ul is None:
        return False
    for u in ul.users:
        if u.name == creds[0] and _check_password(u.password, u.insecure, creds[1]):
            if not groups:
                return True
            member_of = set(u.groups) | {g for g, names in ul.groups.items() if u.name in names}
            return bool(member_of & set(groups))
    return False


def _client_ip(request: dict) -> ipaddress._BaseAddress | None:
    try:
        ip = ipaddress.ip_address(request.get("client", ""))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def _acl_matches(acl: AclDef, request: dict, config: Config) -> bool:
    if acl.fetch == "src":
        ip = _client_ip(request)
        if ip is None:
            return False
        for v in acl.values:
            try:
                if ip in ipaddress.ip_network(v, strict=False):
                    return True
            except ValueError:
                continue
        return False
    if acl.fetch == "http_auth" and acl.fetch_args:
        return userlist_auth(config, acl.fetch_args[0], request)
    if acl.fetch == "http_auth_group" and acl.fetch_args:
        return userlist_auth(config, acl.fetch_args[0], request, tuple(acl.values))
    return False


#: The predefined ACLs this module evaluates.
PREDEFINED = frozenset({"TRUE", "FALSE", "LOCALHOST", "HTTP", *_METHOD_ACLS})


def _acl_problem(acl: AclDef) -> str | None:
    """Why this module cannot evaluate `acl`, or None."""
    if acl.converters:
        return "converters"
    if acl.fetch == "src":
        if acl.pattern_files:
            return "pattern files (-f)"
        if acl.matcher not in (None, "ip"):
            return f"the match method '-m {acl.matcher}'"
        for v in acl.values:
            try:
                ipaddress.ip_network(v, strict=False)
            except ValueError:
                return f"the value '{v}'"
        return None
    if acl.fetch in ("http_auth", "http_auth_group") and acl.fetch_args:
        return None
    return f"the fetch '{acl.fetch}'"


def unsupported_in_condition(cond: Condition, acls: list[AclDef]) -> str | None:
    """What a ``stats admin`` condition uses that the page cannot evaluate (None: all of it is
    supported): predefined ACLs out of PREDEFINED, ACLs on other fetches than ``src``,
    ``http_auth`` and ``http_auth_group``, or with converters, pattern files or match methods."""
    for conj in cond.terms:
        for term in conj:
            if term.predefined:
                if term.acl not in PREDEFINED:
                    return f"the predefined ACL '{term.acl}'"
                continue
            defs = [term.anonymous] if term.anonymous is not None else [a for a in acls if a.name == term.acl]
            for acl in defs:
                problem = _acl_problem(acl)
                if problem:
                    where = f"ACL '{acl.name}'" if acl.name else "an anonymous ACL"
                    return f"{problem} in {where}"
    return None


def _predefined(name: str, request: dict) -> bool:
    if name == "TRUE":
        return True
    if name == "LOCALHOST":
        ip = _client_ip(request)
        return ip is not None and ip.is_loopback
    if name == "HTTP":
        return True
    if name in _METHOD_ACLS:
        return request.get("method") == _METHOD_ACLS[name]
    return False  # FALSE and everything not evaluable here


def evaluate(cond: Condition | None, proxy: Proxy, config: Config, request: dict) -> bool:
    """An ``if``/``unless`` condition on a request (None = no condition = false for admin)."""
    if cond is None:
        return False
    result = False
    for conj in cond.terms:
        ok = True
        for term in conj:
            if term.predefined:
                v = _predefined(term.acl, request)
            elif term.anonymous is not None:
                v = _acl_matches(term.anonymous, request, config)
            else:
                defs = [a for a in proxy.acls if a.name == term.acl]
                v = any(_acl_matches(a, request, config) for a in defs)
            if term.negate:
                v = not v
            if not v:
                ok = False
                break
        if ok:
            result = True
            break
    return (not result) if cond.negate_unless else result


#: Admin actions of the page: new admin flags from the old ones.
ACTIONS = {
    "ready": lambda admin: admin & ~(ADMF_MAINT | ADMF_DRAIN),
    "drain": lambda admin: (admin & ~ADMF_MAINT) | ADMF_DRAIN,
    "maint": lambda admin: admin | ADMF_MAINT,
}


def apply_action(plan: Any, shm: Any, form: dict[str, list[str]]) -> str:
    """Apply a posted admin form (``b`` = ``#<backend id>`` or name, ``s`` = server names,
    ``action``); returns HAProxy's status code for the redirect (DONE, NONE, PART, ERRP)."""
    action = (form.get("action") or [""])[0]
    backend_ref = (form.get("b") or [""])[0]
    servers = form.get("s") or []
    if action not in ACTIONS or not backend_ref:
        return "ERRP"
    be = None
    if backend_ref.startswith("#"):
        try:
            iid = int(backend_ref[1:])
        except ValueError:
            return "ERRP"
        be = next((b for b in plan.backends if b.id == iid), None)
    else:
        be = plan.backend(backend_ref)
    if be is None:
        return "ERRP"
    if not servers:
        return "NONE"
    done = missing = 0
    now = int(time.time())
    live = {v.name: v for v in live_servers(plan, shm).get(be.index, [])}  # with servers added at run time
    for name in servers:
        sv = live.get(name)
        if sv is None:
            missing += 1
            continue
        st = shm.get_server(sv.slot)
        new = ACTIONS[action](st["admin"])
        if new != st["admin"]:
            fields = {"admin": new, "last_change": now}
            if st["admin"] & ADMF_MAINT and not new & ADMF_MAINT:
                # leaving maintenance is UP at once (the master's transition, replayed within
                # 100 ms, does the same and ramps the weight with slowstart)
                fields["oper"] = ST_STARTING if sv.info["slowstart_ms"] else ST_RUNNING
            shm.set_server(sv.slot, **fields)
        done += 1
    if missing:
        return "PART" if done else "ERRP"
    return "DONE"
