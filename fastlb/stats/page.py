"""The statistics page service: ``stats enable`` on any proxy.

Requests whose path starts with the ``stats uri`` are answered here: those of a frontend (or
``listen``) once its http-request rules ran, those routed to a backend-only proxy otherwise (the
engine's frontend and backend service hooks). What follows the URI selects the output, as in HAProxy:
  <uri>                  the HTML page (refreshes itself with ``stats refresh``)
  <uri>;csv, <uri>;json  HAProxy 2.6's CSV and typed JSON exports
  <uri>;norefresh        the page without its refresh
  <uri>;up, ;no-maint    hide servers that are not UP / in maintenance
  <uri>;st=<CODE>        the page with the result of an admin action
  ?scope=<name>          only the proxies whose name is given (also ``;scope=<name>``)
  <uri>;metrics          Prometheus exposition (fastlb's "simple form" of HAProxy's exporter;
                         also served at <uri>/metrics)
A POST to <uri> with ``stats admin`` allowed applies an admin action and redirects (303) to
<uri>;st=<CODE>, like HAProxy.
"""
from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote

from ..config.model import Proxy
from ..version import __version__
from . import admin as admin_mod
from .collect import RateTracker, filter_rows, stat_rows
from .export import render_csv, render_json
from .html import PageContext, render_html

REASONS = {200: "OK", 303: "See Other", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 500: "Internal Server Error"}


def http_response(status: int, body: bytes, content_type: str = "text/plain",
                  headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A complete HTTP/1.1 response with a Content-Length (the connection may stay open)."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'OK')}", "cache-control: no-cache",
             f"content-type: {content_type}", f"content-length: {len(body)}"]
    lines.extend(f"{k}: {v}" for k, v in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def unauthorized(realm: str) -> bytes:
    body = b"<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n"
    return http_response(401, body, "text/html", (("www-authenticate", f'Basic realm="{realm}"'),))


class StatsPage:
    """The service of one proxy's ``stats`` settings; callable(request) -> response bytes."""

    def __init__(self, plan: Any, shm: Any, proxy: Proxy, rates: RateTracker,
                 metrics: Callable[[dict], bytes] | None = None):
        self.plan = plan
        self.shm = shm
        self.proxy = proxy
        self.settings = proxy.stats
        self.rates = rates
        self.metrics = metrics
        self.uri = self.settings.uri
        g = plan.config.global_
        self.node = self.settings.show_node if self.settings.show_node is not None else ""
        if self.settings.show_node == "":
            self.node = g.node or socket.gethostname()
        self.description = self.settings.show_desc or (g.description if self.settings.show_desc == "" else None)

    def authorized(self, request: dict) -> bool:
        if not self.settings.auths:
            return True
        creds = admin_mod.basic_credentials(request)
        return creds is not None and creds in self.settings.auths

    def is_admin(self, request: dict) -> bool:
        """The engine's verdict on the proxy's ``stats admin`` condition for this request."""
        return bool(request.get("stats_admin", False))

    def __call__(self, request: dict) -> bytes:
        target = request.get("target", b"").decode("latin-1")
        if not target.startswith(self.uri):  # the URI may hold a query part ("/haproxy?stats")
            return http_response(404, b"Not Found\n")
        rest, _, query = target[len(self.uri):].partition("?")
        rest = unquote(rest)
        if not self.authorized(request):
            return unauthorized(self.settings.realm or "HAProxy Statistics")
        opts: dict[str, str] = {}
        if rest.startswith("/") and rest.strip("/") == "metrics":
            opts["metrics"] = ""
        else:
            for part in rest.split(";"):
                if part:
                    k, _, v = part.partition("=")
                    opts[k] = v
        qs = parse_qs(query)
        scope_txt = opts.get("scope") or (qs.get("scope") or [""])[0]
        method = request.get("method", b"GET")
        if method == b"POST":
            return self.post(request)
        if method not in (b"GET", b"HEAD"):
            return http_response(405, b"Method Not Allowed\n")
        if "metrics" in opts:
            if self.metrics is None:
                return http_response(404, b"Not Found\n")
            return self.metrics(request)
        scope = self.scope(scope_txt)
        legends = self.settings.show_legends
        rows = stat_rows(self.plan, self.shm, rates=self.rates, scope=scope, legends=legends)
        rows = filter_rows(rows, {o for o in ("up", "no-maint") if o in opts})
        if "csv" in opts:
            return http_response(200, render_csv(rows).encode(), "text/plain")
        if "json" in opts:
            return http_response(200, render_json(rows).encode(), "application/json")
        refresh = None if "norefresh" in opts else (
            max(1, self.settings.refresh_ms // 1000) if self.settings.refresh_ms else None)
        ctx = PageContext(
            uri=self.uri, refresh_s=refresh, admin=self.is_admin(request),
            hide_version=self.settings.hide_version, show_legends=self.settings.show_legends,
            node=self.node, description=self.description, version=__version__,
            nbworkers=self.plan.nbworkers, maxconn=self.plan.maxconn,
            start_time=int(self.shm.start_time or 0), action_status=opts.get("st"), scope=scope_txt,
        )
        body = render_html(rows, ctx).encode()
        headers = (("refresh", str(refresh)),) if refresh else ()
        return http_response(200, body if method == b"GET" else b"", "text/html", headers)

    def scope(self, wanted: str) -> set[str] | None:
        """Proxies shown: those of ``stats scope`` (``.`` = this proxy), narrowed by the page's
        scope box."""
        allowed = None
        if self.settings.scopes:
            allowed = {self.proxy.name if s == "." else s for s in self.settings.scopes}
        if wanted:
            names = {p.name for p in self.plan.config.proxies if wanted in p.name}
            allowed = names if allowed is None else allowed & names
        return allowed

    def post(self, request: dict) -> bytes:
        if not self.is_admin(request):
            code = "DENY"
        else:
            try:
                form = parse_qs(request.get("body", b"").decode("latin-1"), keep_blank_values=True)
            except ValueError:
                form = {}
            code = admin_mod.apply_action(self.plan, self.shm, form) if form else "ERRP"
        return http_response(303, b"", "text/plain", (("location", f"{self.uri};st={code}"),))


def install_stats_pages(worker: Any, plan: Any, shm: Any, rates: RateTracker,
                        metrics_factory: Callable[[], Callable[[dict], bytes]] | None = None) -> list[str]:
    """Register the page of every proxy with ``stats enable`` on `worker`. As in HAProxy, a proxy
    that has a frontend part (``frontend``, ``listen``) answers under its URI once its frontend
    http-request rules ran, before any routing; a ``backend`` answers the requests routed to it.
    Returns the names of the proxies served."""
    served = []
    for proxy in plan.config.proxies:
        st = proxy.stats
        if proxy.disabled or st is None or not st.enabled:
            continue
        page = StatsPage(plan, shm, proxy, rates, metrics_factory() if metrics_factory else None)
        if proxy.has_frontend and plan.frontend(proxy.name) is not None:
            worker.set_frontend_service(proxy.name, st.uri.encode(), page)
        elif proxy.has_backend and plan.backend(proxy.name) is not None:
            worker.set_backend_service(proxy.name, st.uri.encode(), page)
        else:
            continue
        served.append(proxy.name)
    return served
