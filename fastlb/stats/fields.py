"""The statistics fields of HAProxy 2.6, in its order: the CSV columns and the typed JSON fields.

HAProxy's CSV export (``show stat``, ``<stats uri>;csv``) has 103 general columns, then a ``-``
separator column, then the columns of its statistics modules (SSL, HTTP/2, HTTP/1). Tools such as
exporters and dashboards index these columns by position, so the order below is a compatibility
contract: never reorder, only append.

Each field carries what HAProxy's typed output (``;json``, ``show stat typed``) says about it:
the origin (Key, Config, Metric, Status), the nature (Name, Gauge, Limit, Max, Rate, Counter,
Duration, Age, Output, Avg) and the scope (Process, Service), and the value type (str, u32, s32,
u64). A few fields change nature with the object kind (``act``/``bck`` are a status on a server
and a metric on a backend; ``rate``/``rate_max`` are plain gauges on a backend).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: Object kinds, as HAProxy's ``type`` column numbers them and its JSON ``objType`` names them.
TYPE_FRONTEND = 0
TYPE_BACKEND = 1
TYPE_SERVER = 2
TYPE_LISTENER = 3
OBJ_TYPES = {TYPE_FRONTEND: "Frontend", TYPE_BACKEND: "Backend", TYPE_SERVER: "Server", TYPE_LISTENER: "Listener"}

ORIGINS = {"K": "Key", "C": "Config", "M": "Metric", "S": "Status"}
NATURES = {
    "Nam": "Name", "Gau": "Gauge", "Lim": "Limit", "Max": "Max", "Rat": "Rate", "Cou": "Counter",
    "Dur": "Duration", "Age": "Age", "Out": "Output", "Avg": "Avg",
}
SCOPES = {"P": "Process", "S": "Service"}


@dataclass(frozen=True)
class StatField:
    """One column: its name, position (JSON ``pos``), value type and tags, with per-kind overrides
    (object type -> (tags, value type))."""

    pos: int
    name: str
    tags: str  # compact form: origin letter + 3 letters of nature + scope letter, e.g. "MCouP"
    vtype: str
    overrides: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))

    def tags_for(self, obj_type: int) -> dict[str, str]:
        t = self.overrides.get(obj_type, self.tags)
        return {"origin": ORIGINS[t[0]], "nature": NATURES[t[1:4]], "scope": SCOPES[t[4]]}


# name, tags, value type; "!" entries are per-kind overrides "kind=tags".
_GENERAL = """
pxname KNamS str
svname KNamS str
qcur MGauP u32
qmax MMaxP u32
scur MGauP u32
smax MMaxP u32
slim CLimP u32
stot MCouP u64
bin MCouP u64
bout MCouP u64
dreq MCouP u64
dresp MCouP u64
ereq MCouP u64
econ MCouP u64
eresp MCouP u64
wretr MCouP u64
wredis MCouP u64
status SGauP str
weight MAvgP u32
act SGauP u32 1=MGauP
bck SGauP u32 1=MGauP
chkfail MCouP u64
chkdown MCouP u64
lastchg MAgeP u32
downtime MCouP u32
qlimit CGauS u32
pid KGauP u32
iid KGauS u32
sid KGauS u32
throttle MAvgP u32
lbtot MCouP u64
tracked CNamS str
type CGauS u32
rate MRatP u32 1=MGauP
rate_lim CLimP u32
rate_max MMaxP u32 1=MGauP
check_status MOutP str
check_code MOutP u32
check_duration MDurP u64
hrsp_1xx MCouP u64
hrsp_2xx MCouP u64
hrsp_3xx MCouP u64
hrsp_4xx MCouP u64
hrsp_5xx MCouP u64
hrsp_other MCouP u64
hanafail MCouP u64
req_rate MRatP u32
req_rate_max MMaxP u32
req_tot MCouP u64
cli_abrt MCouP u64
srv_abrt MCouP u64
comp_in MCouP u64
comp_out MCouP u64
comp_byp MCouP u64
comp_rsp MCouP u64
lastsess MAgeP s32
last_chk MOutP str
last_agt MOutP str
qtime MAvgP u32
ctime MAvgP u32
rtime MAvgP u32
ttime MAvgP u32
agent_status MOutP str
agent_code MOutP u32
agent_duration MDurP u64
check_desc MOutP str
agent_desc MOutP str
check_rise CGauS u32
check_fall CGauS u32
check_health CGauS u32
agent_rise CGauS u32
agent_fall CGauS u32
agent_health CGauS u32
addr CGauS str
cookie CNamS str
mode CGauS str
algo CGauS str
conn_rate MRatP u32
conn_rate_max MMaxP u32
conn_tot MCouP u64
intercepted MCouP u64
dcon MCouP u64
dses MCouP u64
wrew MCouP u64
connect MCouP u64
reuse MCouP u64
cache_lookups MCouP u64
cache_hits MCouP u64
srv_icur MGauP u32
src_ilim MGauP u32
qtime_max MMaxP u32
ctime_max MMaxP u32
rtime_max MMaxP u32
ttime_max MMaxP u32
eint MCouP u64
idle_conn_cur MGauP u32
safe_conn_cur MGauP u32
used_conn_cur MGauP u32
need_conn_est MGauP u32
uweight MAvgP u32
agg_server_status MGauP u32
agg_server_check_status MGauP u32
agg_check_status MGauP u32
"""

#: Module statistics after the ``-`` column: (module, field names). The SSL module applies to
#: frontends, backends and servers; HTTP/2 and HTTP/1 to frontends and backends only.
MODULES: tuple[tuple[str, frozenset[int], tuple[str, ...]], ...] = (
    ("ssl", frozenset({TYPE_FRONTEND, TYPE_BACKEND, TYPE_SERVER, TYPE_LISTENER}),
     ("ssl_sess", "ssl_reused_sess", "ssl_failed_handshake")),
    ("h2", frozenset({TYPE_FRONTEND, TYPE_BACKEND}),
     ("h2_headers_rcvd", "h2_data_rcvd", "h2_settings_rcvd", "h2_rst_stream_rcvd", "h2_goaway_rcvd",
      "h2_detected_conn_protocol_errors", "h2_detected_strm_protocol_errors", "h2_rst_stream_resp",
      "h2_goaway_resp", "h2_open_connections", "h2_backend_open_streams", "h2_total_connections",
      "h2_backend_total_streams")),
    ("h1", frozenset({TYPE_FRONTEND, TYPE_BACKEND}),
     ("h1_open_connections", "h1_open_streams", "h1_total_connections", "h1_total_streams",
      "h1_bytes_in", "h1_bytes_out", "h1_spliced_bytes_in", "h1_spliced_bytes_out")),
)
_MODULE_GAUGES = frozenset(
    {"h2_open_connections", "h2_backend_open_streams", "h1_open_connections", "h1_open_streams"}
)


def _parse_general() -> tuple[StatField, ...]:
    out = []
    for pos, line in enumerate(x for x in _GENERAL.split("\n") if x.strip()):
        name, tags, vtype, *over = line.split()
        overrides = {int(k): v for k, v in (o.split("=") for o in over)}
        out.append(StatField(pos, name, tags, vtype, MappingProxyType(overrides)))
    return tuple(out)


GENERAL_FIELDS: tuple[StatField, ...] = _parse_general()
MODULE_FIELDS: tuple[StatField, ...] = tuple(
    StatField(len(GENERAL_FIELDS) + i, name, "MGauP" if name in _MODULE_GAUGES else "MCouP", "u64")
    for i, name in enumerate(n for _, _, names in MODULES for n in names)
)
ALL_FIELDS: tuple[StatField, ...] = GENERAL_FIELDS + MODULE_FIELDS
FIELD_BY_NAME: Mapping[str, StatField] = MappingProxyType({f.name: f for f in ALL_FIELDS})
MODULE_OF: Mapping[str, frozenset[int]] = MappingProxyType(
    {n: kinds for _, kinds, names in MODULES for n in names}
)

#: The CSV header line, exactly as HAProxy 2.6 prints it (with its trailing comma).
CSV_HEADER = (
    "# " + ",".join(f.name for f in GENERAL_FIELDS) + ",-," + ",".join(f.name for f in MODULE_FIELDS) + ",\n"
)

assert len(GENERAL_FIELDS) == 103, len(GENERAL_FIELDS)
