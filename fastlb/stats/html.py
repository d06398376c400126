"""The HTML statistics page: one table per proxy (frontend, servers, backend), states in colour.

The row classes are HAProxy's (``active_up``, ``active_down``, ``maintain``, ``active_draining``,
``active_no_check``, ``backup_up``...), so user style sheets and scrapers written for HAProxy's
page keep finding them. Every data cell also carries the CSV field name as its class
(``<td class="stot">``), which makes the page easy to read back by programs and tests.
With ``stats admin``, each backend table is a form: tick servers, choose an action, apply.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from html import escape

from .collect import StatRow
from .fields import TYPE_BACKEND, TYPE_FRONTEND, TYPE_SERVER

STYLE = """
body { font-family: arial, helvetica, sans-serif; font-size: 12px; color: black; background: white; }
h1 { font-size: x-large; margin-bottom: 0.3em; }
table.tbl { border-collapse: collapse; margin-bottom: 1.2em; }
table.tbl td, table.tbl th { font-size: 11px; border: 1px solid gray; padding: 2px 3px; white-space: nowrap; }
table.tbl td { text-align: right; }
table.tbl td.ac, table.tbl td.name { text-align: left; }
th.pxname { background: #b00040; color: #ffff40; text-align: left; }
tr.titre th { background: #20d0d0; }
tr.frontend, tr.backend { background: #e8e8d0; font-weight: bold; }
tr.active_up { background: #c0ffc0; }
tr.active_down, tr.backup_down { background: #ff9090; }
tr.active_nolb { background: #20a0ff; }
tr.active_draining { background: #20a0ff; }
tr.backup_up { background: #b0d0ff; }
tr.backup_nolb { background: #90b0e0; }
tr.backup_draining { background: #cc9900; }
tr.active_no_check, tr.backup_no_check { background: #e0e0e0; }
tr.maintain { background: #c07820; }
div.tips { display: none; position: absolute; z-index: 1; padding: 2px 4px; background: #ffffc0;
  border: 1px solid gray; font-weight: normal; color: black; }
td.name:hover div.tips, th.pxname:hover div.tips { display: block; }
div.status { padding: 4px; margin: 6px 0; border: 1px solid; }
div.ok { background: #c0ffc0; border-color: #208020; }
div.err { background: #ffc0c0; border-color: #b00000; }
table.info td { font-size: 12px; padding: 1px 8px 1px 0; }
table.lgd td { padding: 1px 6px; font-size: 11px; }
"""

#: Messages of the ``;st=`` codes after an admin action (HAProxy's codes).
ACTION_STATUS = {
    "DONE": (True, "Action processed successfully."),
    "NONE": (False, "Nothing has changed."),
    "PART": (False, "Action not processed for some servers (not found or not allowed)."),
    "ERRP": (False, "Action not processed because of invalid parameters."),
    "EXCD": (False, "Action not processed: the request body is too large."),
    "DENY": (False, "Action denied."),
    "UNKN": (False, "Unexpected result."),
}

#: (group title, [(column title, field)]) of the tables, as HAProxy's page groups them.
COLUMNS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Queue", (("Cur", "qcur"), ("Max", "qmax"), ("Limit", "qlimit"))),
    ("Session rate", (("Cur", "rate"), ("Max", "rate_max"), ("Limit", "rate_lim"))),
    ("Sessions", (("Cur", "scur"), ("Max", "smax"), ("Limit", "slim"), ("Total", "stot"),
                  ("LbTot", "lbtot"), ("Last", "lastsess"))),
    ("Bytes", (("In", "bin"), ("Out", "bout"))),
    ("Denied", (("Req", "dreq"), ("Resp", "dresp"))),
    ("Errors", (("Req", "ereq"), ("Conn", "econ"), ("Resp", "eresp"))),
    ("Warnings", (("Retr", "wretr"), ("Redis", "wredis"))),
    ("Server", (("Status", "status"), ("LastChk", "check_status"), ("Wght", "weight"), ("Act", "act"),
                ("Bck", "bck"), ("Chk", "chkfail"), ("Dwn", "chkdown"), ("Dwntme", "downtime"),
                ("Thrtle", "throttle"))),
)

ADMIN_ACTIONS = (
    ("", "Choose an action"),
    ("ready", "Set state to READY"),
    ("drain", "Set state to DRAIN"),
    ("maint", "Set state to MAINT"),
)


@dataclass(frozen=True)
class PageContext:
    """What the page shows besides the rows."""

    uri: str
    refresh_s: int | None
    admin: bool
    hide_version: bool
    show_legends: bool
    node: str
    description: str | None
    version: str
    nbworkers: int
    maxconn: int
    start_time: int
    action_status: str | None = None
    scope: str = ""


def row_class(row: StatRow) -> str:
    """HAProxy's CSS class of a row: its kind, or for a server its role and state."""
    if row.obj_type == TYPE_FRONTEND:
        return "frontend"
    if row.obj_type == TYPE_BACKEND:
        return "backend"
    status = row.values.get("status", "")
    role = "backup" if row.values.get("bck") else "active"
    if status == "MAINT":
        return "maintain"
    return role + {
        "UP": "_up", "DOWN": "_down", "NOLB": "_nolb", "DRAIN": "_draining", "no check": "_no_check",
    }.get(status, "_up")


def _human_age(seconds: int) -> str:
    """HAProxy's short durations: 12s, 3m4s, 1h2m, 2d3h."""
    if seconds < 0:
        return ""
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600}h"


def _cell(row: StatRow, field: str) -> str:
    v = row.values.get(field)
    if v is None:
        return f'<td class="{field}"></td>'
    if field == "lastsess":
        text = _human_age(v) if isinstance(v, int) and v >= 0 else ""
    elif field == "downtime":
        text = _human_age(v)
    elif field == "status" and row.obj_type == TYPE_SERVER:
        lastchg = row.values.get("lastchg")
        text = f"{_human_age(lastchg)} {v}" if isinstance(lastchg, int) else str(v)
    elif field == "check_status":
        dur = row.values.get("check_duration")
        text = f"{v} in {dur}ms" if dur else str(v)
    else:
        text = str(v)
    return f'<td class="{field}" data-value="{escape(str(v))}">{escape(text)}</td>'


def _tips(text: str) -> str:
    return f'<div class="tips">{escape(text)}</div>'


def _server_tips(row: StatRow) -> str:
    """``show-legends`` detail of a server as HAProxy's: its address family and address, id and
    cookie ("IPv4: 10.0.0.1:80, id: 1, cookie: 'a'", "unix, id: 3")."""
    addr = str(row.values.get("addr") or "")
    if addr.startswith("unix@"):
        text = "unix"
    elif addr.startswith("["):
        text = f"IPv6: {addr}"
    else:
        text = f"IPv4: {addr}"
    text += f", id: {row.values.get('sid', row.sid)}"
    if row.values.get("cookie"):
        text += f", cookie: '{row.values['cookie']}'"
    return _tips(text)


def _proxy_tips(rows: list[StatRow]) -> str:
    """``show-legends`` detail of a proxy: capabilities (HAProxy's word for a listen section is
    "proxy"), mode and id."""
    kinds = {r.obj_type for r in rows}
    cap = ("proxy" if {TYPE_FRONTEND, TYPE_BACKEND} <= kinds
           else "frontend" if TYPE_FRONTEND in kinds else "backend")
    mode = next((r.values["mode"] for r in rows if r.values.get("mode")), "")
    return _tips(f"cap: {cap}, mode: {mode}, id: {rows[0].proxy_id}")


def _proxy_table(name: str, rows: list[StatRow], ctx: PageContext, backend_id: int | None) -> str:
    admin = ctx.admin and backend_id is not None
    out = []
    if admin:
        out.append(f'<form method="post" action="{escape(ctx.uri)}" id="form-{escape(name)}">')
    out.append(f'<table class="tbl" data-proxy="{escape(name)}">')
    span = 1 + sum(len(cols) for _, cols in COLUMNS) + (1 if admin else 0)
    legend = _proxy_tips(rows) if ctx.show_legends else ""
    out.append(f'<tr><th class="pxname" colspan="{span}">{escape(name)}{legend}</th></tr>')
    head1 = ['<tr class="titre">']
    if admin:
        head1.append('<th rowspan="2"></th>')
    head1.append('<th rowspan="2"></th>')
    head2 = ['<tr class="titre">']
    for group, cols in COLUMNS:
        head1.append(f'<th colspan="{len(cols)}">{group}</th>')
        head2.extend(f"<th>{title}</th>" for title, _ in cols)
    out.append("".join(head1) + "</tr>")
    out.append("".join(head2) + "</tr>")
    for row in rows:
        cls = row_class(row)
        label = row.svname if row.obj_type == TYPE_SERVER else ("Frontend" if row.obj_type == TYPE_FRONTEND
                                                                  else "Backend")
        tr = [(f'<tr class="{cls}" id="{escape(row.proxy)}/{escape(row.svname)}" '
              f'data-status="{escape(str(row.values.get("status", "")))}">')]
        if admin:
            if row.obj_type == TYPE_SERVER:
                tr.append(f'<td class="ac"><input type="checkbox" name="s" value="{escape(row.svname)}"></td>')
            else:
                tr.append("<td></td>")
        tips = ""
        if ctx.show_legends and row.obj_type == TYPE_SERVER:
            tips = _server_tips(row)
        elif ctx.show_legends and row.obj_type == TYPE_BACKEND and row.values.get("algo"):
            cookie = f", cookie: '{row.values['cookie']}'" if row.values.get("cookie") else ""
            tips = _tips(f"balancing: {row.values['algo']}{cookie}")
        tr.append(f'<td class="name">{escape(label)}{tips}</td>')
        for _, cols in COLUMNS:
            tr.extend(_cell(row, f) for _, f in cols)
        tr.append("</tr>")
        out.append("".join(tr))
    out.append("</table>")
    if admin:
        opts = "".join(f'<option value="{v}">{escape(t)}</option>' for v, t in ADMIN_ACTIONS)
        out.append(f'Choose the action to perform on the checked servers : <select name="action">{opts}</select>'
                   f'<input type="hidden" name="b" value="#{backend_id}">'
                   f'<input type="submit" value="Apply"></form>')
    return "\n".join(out)


def render_html(rows: list[StatRow], ctx: PageContext) -> str:
    """The whole page."""
    now = int(time.time())
    uptime = _human_age(max(0, now - ctx.start_time)) if ctx.start_time else ""
    # as HAProxy's page: the product in the title, the pid of the answering process in the
    # heading (hide-version hides the version only)
    node = f" on {ctx.node}" if ctx.node else ""
    title = f"Statistics Report for fastlb{node}"
    refresh = f'<meta http-equiv="refresh" content="{ctx.refresh_s}">' if ctx.refresh_s else ""
    parts = [
        "<!DOCTYPE html>",
        (f'<html><head><meta charset="utf-8"><title>{escape(title)}</title>{refresh}'
        f"<style>{STYLE}</style></head><body>"),
        f"<h1>fastlb{'' if ctx.hide_version else ' version ' + escape(ctx.version)}</h1>",
        f"<h2>{escape(f'Statistics Report for pid {os.getpid()}{node}')}</h2>",
    ]
    if ctx.description:
        parts.append(f"<p class=\"desc\">{escape(ctx.description)}</p>")
    if ctx.action_status:
        ok, msg = ACTION_STATUS.get(ctx.action_status, ACTION_STATUS["UNKN"])
        parts.append(f'<div class="status {"ok" if ok else "err"}" id="action-status">{escape(msg)} '
                     f'<a href="{escape(ctx.uri)}">[X]</a></div>')
    parts.append(
        '<table class="info"><tr><td>workers</td><td id="nbworkers">' + str(ctx.nbworkers) + "</td>"
        "<td>maxconn</td><td>" + str(ctx.maxconn) + "</td><td>uptime</td><td id=\"uptime\">" + uptime +
        "</td><td>refresh</td><td>" + (f"{ctx.refresh_s}s" if ctx.refresh_s else "off") + "</td></tr></table>"
    )
    # the colour legend is always there, as on HAProxy's page ("show-legends" is about the
    # per-proxy and per-server detail, see _proxy_tips and _server_tips)
    parts.append(
        '<table class="lgd"><tr><td class="active_up">active UP</td><td class="backup_up">backup UP</td>'
        '<td class="active_down">active DOWN</td><td class="active_draining">active or backup DRAIN</td>'
        '<td class="maintain">active or backup MAINT</td><td class="active_no_check">not checked</td>'
        "</tr></table>"
    )
    parts.append(
        f'<p><a href="{escape(ctx.uri)};csv">CSV export</a> | <a href="{escape(ctx.uri)};json">JSON export</a>'
        f' | <a href="{escape(ctx.uri)};metrics">Prometheus metrics</a>'
        f' | <a href="{escape(ctx.uri)};norefresh">Disable refresh</a></p>'
    )
    by_proxy: dict[str, list[StatRow]] = {}
    for r in rows:
        by_proxy.setdefault(r.proxy, []).append(r)
    for name, prow in by_proxy.items():
        be_id = next((r.proxy_id for r in prow if r.obj_type == TYPE_BACKEND), None)
        has_servers = any(r.obj_type == TYPE_SERVER for r in prow)
        parts.append(_proxy_table(name, prow, ctx, be_id if has_servers else None))
    parts.append("</body></html>\n")
    return "\n".join(parts)

