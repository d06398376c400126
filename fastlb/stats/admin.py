"""``stats auth`` credentials and the page's admin actions.

The ``stats admin if|unless <cond>`` condition is compiled and evaluated by the engine, as any
http-request condition (every fetch, ACL and predefined ACL the engine runs: ``TRUE``,
``LOCALHOST``, ``src``, ``hdr()``, ``http_auth``, ``http_auth_group``...), on the request that
reaches the page; the page receives the verdict as ``request["stats_admin"]``
(fastlb/engine/_http.pxi, run_service_cb). A condition the engine cannot run stops the start-up,
as a rule would.
"""
from __future__ import annotations

import base64
import time
from typing import Any

from .live import ADMF_DRAIN, ADMF_MAINT, ST_RUNNING, ST_STARTING, live_servers


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
