"""Prometheus exposition of the statistics, under HAProxy's exporter metric names.

``http-request use-service prometheus-exporter`` in HAProxy 2.6 exposes ``haproxy_process_*``,
``haproxy_frontend_*``, ``haproxy_backend_*`` and ``haproxy_server_*`` families; dashboards and
alerts are written against those names and labels (``proxy``, ``server``, ``code``, ``state``),
so they are kept here. On top of them, fastlb exports what HAProxy only gives as averages:
latency histograms per backend and per server,
  haproxy_backend_response_time_seconds  / haproxy_server_response_time_seconds  (Tr)
  haproxy_backend_connect_time_seconds   / haproxy_server_connect_time_seconds   (Tc)
with buckets from 1 ms to 60 s (csrc/fl_shm.h). Their ``_sum`` is the engine's time sum, 0 until
the engine fills it.

Query parameters (as HAProxy's exporter): ``scope=global|frontend|backend|server|*`` (repeatable;
an empty ``scope=`` selects nothing), ``no-maint`` to leave out servers in maintenance.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from ..health.status import STATUS_NAMES, CheckStatus
from .collect import RateTracker, StatRow, stat_rows
from .fields import TYPE_BACKEND, TYPE_FRONTEND, TYPE_SERVER
from .promproc import process_families, sample_process_rates

CONTENT_TYPE = "text/plain; version=0.0.4"
SERVER_STATES = ("DOWN", "UP", "MAINT", "DRAIN", "NOLB")
CHECK_STATES = tuple(STATUS_NAMES[s] for s in CheckStatus
                     if s not in (CheckStatus.UNKNOWN, CheckStatus.INI, CheckStatus.START, CheckStatus.CHECKED,
                                  CheckStatus.L57DATA))
CODES = ("1xx", "2xx", "3xx", "4xx", "5xx", "other")

F, B, S = "f", "b", "s"
#: (metric suffix, type, help, object kinds, stat field or callable(row) -> value)
# Times are seconds (the stat fields are milliseconds).
_MS = 0.001
METRICS: tuple[tuple[str, str, str, str, Any], ...] = (
    ("current_queue", "gauge", "Requests waiting in the queue now", "bs", "qcur"),
    ("max_queue", "gauge", "Highest number of queued requests seen", "bs", "qmax"),
    ("current_sessions", "gauge", "Sessions open now", "fbs", "scur"),
    ("max_sessions", "gauge", "Highest number of concurrent sessions seen", "fbs", "smax"),
    ("limit_sessions", "gauge", "Configured session limit (maxconn / fullconn)", "fbs", "slim"),
    ("sessions_total", "counter", "Sessions since start", "fbs", "stot"),
    ("limit_session_rate", "gauge", "Configured limit of new sessions per second", "f", "rate_lim"),
    ("max_session_rate", "gauge", "Highest number of new sessions per second seen", "fbs", "rate_max"),
    ("connections_rate_max", "gauge", "Highest number of connections per second seen", "f", "conn_rate_max"),
    ("connections_total", "counter", "Accepted connections since start", "f", "conn_tot"),
    ("last_session_seconds", "gauge", "Seconds since the last session was assigned", "bs", "lastsess"),
    ("queue_limit", "gauge", "Configured queue limit of the server (maxqueue)", "s", "qlimit"),
    ("queue_time_average_seconds", "gauge", "Mean time spent in the queue", "bs", ("qtime", _MS)),
    ("connect_time_average_seconds", "gauge", "Mean time to connect to a server", "bs", ("ctime", _MS)),
    ("response_time_average_seconds", "gauge", "Mean server response time", "bs", ("rtime", _MS)),
    ("total_time_average_seconds", "gauge", "Mean total session time", "bs", ("ttime", _MS)),
    ("max_queue_time_seconds", "gauge", "Longest time spent in the queue", "bs", ("qtime_max", _MS)),
    ("max_connect_time_seconds", "gauge", "Longest connect time", "bs", ("ctime_max", _MS)),
    ("max_response_time_seconds", "gauge", "Longest server response time", "bs", ("rtime_max", _MS)),
    ("max_total_time_seconds", "gauge", "Longest total session time", "bs", ("ttime_max", _MS)),
    ("bytes_in_total", "counter", "Bytes received from clients", "fbs", "bin"),
    ("bytes_out_total", "counter", "Bytes sent to clients", "fbs", "bout"),
    ("requests_denied_total", "counter", "Requests denied by rules", "fb", "dreq"),
    ("responses_denied_total", "counter", "Responses denied by rules", "fbs", "dresp"),
    ("request_errors_total", "counter", "Invalid or aborted requests", "f", "ereq"),
    ("denied_connections_total", "counter", "Connections refused by tcp-request connection rules", "f", "dcon"),
    ("denied_sessions_total", "counter", "Sessions refused by tcp-request session rules", "f", "dses"),
    ("connection_attempts_total", "counter", "New connections opened to servers", "bs", "connect"),
    ("connection_reuses_total", "counter", "Idle server connections reused", "bs", "reuse"),
    ("connection_errors_total", "counter", "Failed connections to servers", "bs", "econ"),
    ("response_errors_total", "counter", "Invalid or aborted server responses", "bs", "eresp"),
    ("retry_warnings_total", "counter", "Connection retries", "bs", "wretr"),
    ("redispatch_warnings_total", "counter", "Redispatches to another server", "bs", "wredis"),
    ("failed_header_rewriting_total", "counter", "Failed header rewrites", "fbs", "wrew"),
    ("internal_errors_total", "counter", "Internal errors", "fbs", "eint"),
    ("client_aborts_total", "counter", "Transfers aborted by the client", "bs", "cli_abrt"),
    ("server_aborts_total", "counter", "Transfers aborted by the server", "bs", "srv_abrt"),
    ("weight", "gauge", "Effective weight (sum of the usable servers' for a backend)", "bs", "weight"),
    ("uweight", "gauge", "User weight (sum of the usable servers' for a backend)", "bs", "uweight"),
    ("active_servers", "gauge", "Usable active servers", "b", "act"),
    ("backup_servers", "gauge", "Usable backup servers", "b", "bck"),
    ("check_failures_total", "counter", "Failed health checks", "s", "chkfail"),
    ("check_up_down_total", "counter", "UP to DOWN transitions", "bs", "chkdown"),
    ("check_last_change_seconds", "gauge", "Seconds since the last state change", "bs", "lastchg"),
    ("downtime_seconds_total", "counter", "Seconds spent DOWN", "bs", "downtime"),
    ("check_code", "gauge", "HTTP status of the last layer 7 health check", "s", "check_code"),
    ("check_duration_seconds", "gauge", "Duration of the last health check", "s", ("check_duration", _MS)),
    ("current_throttle", "gauge", "Slowstart throttle in percent", "s", "throttle"),
    ("loadbalanced_total", "counter", "Times the server was picked by the balancer", "bs", "lbtot"),
    ("http_requests_rate_max", "gauge", "Highest number of HTTP requests per second seen", "f", "req_rate_max"),
    ("http_requests_total", "counter", "HTTP requests", "fb", "req_tot"),
    ("intercepted_requests_total", "counter", "Requests answered by fastlb itself", "f", "intercepted"),
    ("http_cache_lookups_total", "counter", "HTTP cache lookups", "fb", "cache_lookups"),
    ("http_cache_hits_total", "counter", "HTTP cache hits", "fb", "cache_hits"),
    ("http_comp_bytes_in_total", "counter", "Bytes given to the compressor", "fb", "comp_in"),
    ("http_comp_bytes_out_total", "counter", "Bytes out of the compressor", "fb", "comp_out"),
    ("http_comp_bytes_bypassed_total", "counter", "Bytes that bypassed the compressor", "fb", "comp_byp"),
    ("http_comp_responses_total", "counter", "Compressed HTTP responses", "fb", "comp_rsp"),
    ("idle_connections_current", "gauge", "Idle connections to the server", "s", "srv_icur"),
    ("used_connections_current", "gauge", "Connections to the server in use", "s", "used_conn_cur"),
    ("need_connections_current", "gauge", "Estimated connections needed", "s", "need_conn_est"),
    ("idle_connections_limit", "gauge", "Limit of idle connections kept to the server", "s",
     "idle_conn_limit"),
    ("safe_idle_connections_current", "gauge", "Idle server connections that any request may reuse", "s",
     "safe_conn_cur"),
    ("unsafe_idle_connections_current", "gauge", "Idle server connections only their own client may reuse",
     "s", "idle_conn_cur"),
)
#: Server families HAProxy prints as NaN when the setting is absent (no maxconn, maxqueue...).
NAN_WHEN_ABSENT = frozenset(("limit_sessions", "queue_limit", "current_throttle", "idle_connections_limit"))
_KIND = {TYPE_FRONTEND: F, TYPE_BACKEND: B, TYPE_SERVER: S}
_SCOPE_NAME = {F: "frontend", B: "backend", S: "server"}


def _fmt(v: float) -> str:
    if isinstance(v, float):
        if v == int(v) and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    return str(v)


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def server_state(status: str) -> str:
    """The state label of a server's status text: "UP 2/3" is UP, "DOWN (agent)" DOWN, "DRAIN
    (agent)" DRAIN, "no check" UP (HAProxy's promex_srv_status() states)."""
    return "UP" if status == "no check" else status.split(" ")[0]


def _labels(row: StatRow) -> str:
    if row.obj_type == TYPE_SERVER:
        return f'proxy="{_esc(row.proxy)}",server="{_esc(row.svname)}"'
    return f'proxy="{_esc(row.proxy)}"'


class PrometheusExporter:
    """Callable(request) -> HTTP response with the exposition text."""

    def __init__(self, plan: Any, shm: Any, rates: RateTracker | None = None,
                 worker_info: Callable[[], dict] | None = None):
        self.plan = plan
        self.shm = shm
        self.worker_info = worker_info      # Worker.info of the answering worker (its pipe pool)
        # without the statistics page's 1 s sampling, rates are sampled at each scrape (a rate is
        # then the mean since the previous scrape, up to a second)
        self.own_rates = rates is None
        self.rates = rates if rates is not None else RateTracker()

    def render(self, scopes: set[str] | None = None, no_maint: bool = False) -> str:
        want = (lambda s: True) if scopes is None else (lambda s: "*" in scopes or s in scopes)
        out: list[str] = []
        if want("global"):
            self._process(out)
        if self.own_rates:
            self.rates.sample_all(self.plan, self.shm)
        rows = stat_rows(self.plan, self.shm, rates=self.rates)
        if no_maint:
            rows = [r for r in rows if r.obj_type != TYPE_SERVER or r.values.get("status") != "MAINT"]
        by_kind: dict[str, list[StatRow]] = {F: [], B: [], S: []}
        for r in rows:
            by_kind[_KIND[r.obj_type]].append(r)
        for kind in (F, B, S):
            if want(_SCOPE_NAME[kind]):
                self._objects(out, kind, by_kind[kind])
                if kind == B:
                    self._aggregates(out, by_kind[B], by_kind[S])
        return "".join(out)

    def _family(self, out: list[str], name: str, mtype: str, help_: str, samples: Iterable[str]) -> None:
        samples = list(samples)
        if not samples:
            return
        out.append(f"# HELP {name} {help_}\n# TYPE {name} {mtype}\n")
        out.extend(samples)

    def _process(self, out: list[str]) -> None:
        if self.own_rates:
            sample_process_rates(self.rates, self.plan, self.shm)
        for name, mtype, help_, value in process_families(self.plan, self.shm, self.rates,
                                                         self.worker_info):
            sep = "" if value.startswith("{") else " "
            self._family(out, name, mtype, help_, [f"{name}{sep}{value}\n"])

    def _objects(self, out: list[str], kind: str, rows: list[StatRow]) -> None:
        if not rows:
            return
        prefix = f"haproxy_{_SCOPE_NAME[kind]}_"
        # status first, per state label value
        st = []
        for r in rows:
            lab = _labels(r)
            status = str(r.values.get("status", ""))
            if kind == S:
                cur = server_state(status)
                st.extend(f'{prefix}status{{{lab},state="{s}"}} {int(cur == s)}\n' for s in SERVER_STATES)
            else:
                up = status in ("UP", "OPEN")
                st.append(f'{prefix}status{{{lab},state="DOWN"}} {int(not up)}\n')
                st.append(f'{prefix}status{{{lab},state="UP"}} {int(up)}\n')
        self._family(out, prefix + "status", "gauge", "Current status, one sample per state label value", st)
        for suffix, mtype, help_, kinds, src in METRICS:
            if kind not in kinds:
                continue
            field, scale = (src, None) if isinstance(src, str) else src
            samples = []
            for r in rows:
                v = r.values.get(field)
                if v is None and field == "check_code" and r.values.get("check_status") is not None:
                    v = 0  # HAProxy: 0 for a checked server whose last check had no layer 7 code
                if v is None:
                    if kind != S or suffix not in NAN_WHEN_ABSENT:
                        continue
                    samples.append(f"{prefix}{suffix}{{{_labels(r)}}} NaN\n")
                    continue
                if field == "lastsess" and v < 0:
                    v = 0
                samples.append(f"{prefix}{suffix}{{{_labels(r)}}} {_fmt(v * scale if scale else v)}\n")
            self._family(out, prefix + suffix, mtype, help_, samples)
        codes = []
        for code_i, code in enumerate(CODES):
            for r in rows:
                v = r.values.get(f"hrsp_{code}")
                if v is not None:
                    codes.append(f'{prefix}http_responses_total{{{_labels(r)},code="{code}"}} {v}\n')
        self._family(out, prefix + "http_responses_total", "counter", "HTTP responses per status class", codes)
        if kind == S:
            chk = []
            for r in rows:
                cur = r.values.get("check_status")
                if cur is None:
                    continue
                cur = cur.removeprefix("* ")  # a check in progress
                chk.extend(f'{prefix}check_status{{{_labels(r)},state="{s}"}} {int(cur == s)}\n'
                           for s in CHECK_STATES)
            self._family(out, prefix + "check_status", "gauge", "Status of the last health check, per state", chk)
        if kind in (B, S):
            self._histograms(out, prefix, rows)

    def _aggregates(self, out: list[str], backends: list[StatRow], servers: list[StatRow]) -> None:
        """``haproxy_backend_agg_*``: per backend, how many of its servers are in each state and
        how many have each last check status (``agg_server_check_status`` is HAProxy 2.6's
        deprecated name of ``agg_server_status``)."""
        per_backend: dict[str, list[StatRow]] = {}
        for r in servers:
            per_backend.setdefault(r.proxy, []).append(r)
        status, checks = [], []
        for b in backends:
            lab = _labels(b)
            srv = per_backend.get(b.proxy, [])
            states = [server_state(str(r.values.get("status", ""))) for r in srv]
            status.extend(f'haproxy_backend_agg_server_status{{{lab},state="{s}"}} {states.count(s)}\n'
                          for s in SERVER_STATES)
            last = [str(r.values["check_status"]).removeprefix("* ") for r in srv if r.values.get("check_status")]
            checks.extend(f'haproxy_backend_agg_check_status{{{lab},state="{s}"}} {last.count(s)}\n'
                          for s in CHECK_STATES)
        self._family(out, "haproxy_backend_agg_server_status", "gauge",
                     "Servers of the backend in each state", status)
        self._family(out, "haproxy_backend_agg_server_check_status", "gauge",
                     "Servers of the backend in each state (deprecated name of agg_server_status)",
                     [s.replace("agg_server_status", "agg_server_check_status") for s in status])
        self._family(out, "haproxy_backend_agg_check_status", "gauge",
                     "Servers of the backend per status of their last health check", checks)

    def _histograms(self, out: list[str], prefix: str, rows: list[StatRow]) -> None:
        from ..engine._shm import HIST_BOUNDS_MS

        for hist_field, sum_field, name, help_ in (
            ("rsp_time_hist", "r_time_sum", "response_time_seconds", "Server response time (Tr) distribution"),
            ("conn_time_hist", "c_time_sum", "connect_time_seconds", "Server connect time (Tc) distribution"),
        ):
            samples = []
            for r in rows:
                if r.counter_slot < 0:
                    continue
                c = self.shm.sum_counters(r.counter_slot)
                lab = _labels(r)
                acc = 0
                for bound, n in zip(HIST_BOUNDS_MS, c[hist_field]):
                    acc += n
                    samples.append(f'{prefix}{name}_bucket{{{lab},le="{_fmt(bound / 1000)}"}} {acc}\n')
                acc += c[hist_field][-1]
                samples.append(f'{prefix}{name}_bucket{{{lab},le="+Inf"}} {acc}\n')
                samples.append(f"{prefix}{name}_sum{{{lab}}} {_fmt(c[sum_field] / 1000)}\n")
                samples.append(f"{prefix}{name}_count{{{lab}}} {acc}\n")
            self._family(out, prefix + name, "histogram", help_, samples)

    def __call__(self, request: dict) -> bytes:
        from .page import http_response

        _, _, query = request.get("target", b"").decode("latin-1").partition("?")
        qs = parse_qs(query, keep_blank_values=True)
        scopes = None
        if "scope" in qs:
            scopes = {s for s in qs["scope"] if s}
        body = self.render(scopes, no_maint="no-maint" in qs).encode()
        return http_response(200, body, CONTENT_TYPE)


def make_prometheus_service(plan: Any, shm: Any, rates: RateTracker | None = None,
                            worker_info: Callable[[], dict] | None = None) -> Callable[[dict], bytes]:
    """The exporter as a backend-style service (``http-request use-service prometheus-exporter``):
    callable(request: dict) -> a complete HTTP response. `worker_info`: the answering worker's
    ``Worker.info`` (pipe pool usage)."""
    return PrometheusExporter(plan, shm, rates, worker_info)
