"""Runtime commands that report: ``show info``, ``show stat``, ``show servers state``,
``show backend``, ``show sess``, ``show version``, ``show cli level|sockets``.

Output shapes are HAProxy 2.6's. ``show info`` fields fastlb has no equivalent for (SSL, memory
pools, compression, peers) print 0, as an HAProxy built without them does; rates print 0 (shared
memory holds cumulative counters only).
"""
from __future__ import annotations

import json
import resource
import socket
import time
from typing import Any

from ..engine._shm import SRV_ADMF_DRAIN, SRV_ADMF_MAINT
from ..health import logsend
from ..health.status import SRV_ADMF_CMAINT, SRV_ADMF_FDRAIN, SRV_ADMF_FMAINT
from ..version import RELEASE_DATE, __version__
from . import statview
from .commands import ACCESS_LVL_OPER, LEVEL_NAMES, PERMISSION_DENIED, Session, command

PRODUCT = "fastlb"
_ORIGINS = {"M": "Metric", "S": "Status", "K": "Key", "C": "Config", "P": "Product"}
_NATURES = {"A": "Age", "a": "Avg", "C": "Counter", "D": "Duration", "G": "Gauge", "L": "Limit", "M": "Max",
            "m": "Min", "N": "Name", "O": "Output", "R": "Rate", "T": "Time"}
_SCOPES = {"P": "Process", "S": "Service", "s": "System", "C": "Cluster"}

#: show info fields in HAProxy's order: (name, typed tags, type).
INFO_FIELDS = [
    ("Name", "POS", "str"),
    ("Version", "POS", "str"),
    ("Release_date", "POS", "str"),
    ("Nbthread", "CGS", "u32"),
    ("Nbproc", "CGS", "u32"),
    ("Process_num", "KGP", "u32"),
    ("Pid", "SGP", "u32"),
    ("Uptime", "MDP", "str"),
    ("Uptime_sec", "MDP", "u32"),
    ("Memmax_MB", "CLP", "u32"),
    ("PoolAlloc_MB", "MGP", "u32"),
    ("PoolUsed_MB", "MGP", "u32"),
    ("PoolFailed", "MCP", "u32"),
    ("Ulimit-n", "CLP", "u32"),
    ("Maxsock", "CLP", "u32"),
    ("Maxconn", "CLP", "u32"),
    ("Hard_maxconn", "CLP", "u32"),
    ("CurrConns", "MGP", "u32"),
    ("CumConns", "MCP", "u32"),
    ("CumReq", "MCP", "u32"),
    ("MaxSslConns", "MMP", "u32"),
    ("CurrSslConns", "MGP", "u32"),
    ("CumSslConns", "MCP", "u32"),
    ("Maxpipes", "CLP", "u32"),
    ("PipesUsed", "MGP", "u32"),
    ("PipesFree", "MGP", "u32"),
    ("ConnRate", "MRP", "u32"),
    ("ConnRateLimit", "CLP", "u32"),
    ("MaxConnRate", "MMP", "u32"),
    ("SessRate", "MRP", "u32"),
    ("SessRateLimit", "CLP", "u32"),
    ("MaxSessRate", "MRP", "u32"),
    ("SslRate", "MRP", "u32"),
    ("SslRateLimit", "CLP", "u32"),
    ("MaxSslRate", "MMP", "u32"),
    ("SslFrontendKeyRate", "MGP", "u32"),
    ("SslFrontendMaxKeyRate", "MMP", "u32"),
    ("SslFrontendSessionReuse_pct", "MGP", "u32"),
    ("SslBackendKeyRate", "MRP", "u32"),
    ("SslBackendMaxKeyRate", "MMP", "u32"),
    ("SslCacheLookups", "MCP", "u32"),
    ("SslCacheMisses", "MCP", "u32"),
    ("CompressBpsIn", "MRP", "u32"),
    ("CompressBpsOut", "MRP", "u32"),
    ("CompressBpsRateLim", "CLP", "u32"),
    ("ZlibMemUsage", "MGP", "u32"),
    ("MaxZlibMemUsage", "CLP", "u32"),
    ("Tasks", "MGP", "u32"),
    ("Run_queue", "MGP", "u32"),
    ("Idle_pct", "MaP", "u32"),
    ("node", "COS", "str"),
    ("description", "COS", "str"),
    ("Stopping", "MGP", "u32"),
    ("Jobs", "MGP", "u32"),
    ("Unstoppable Jobs", "MGP", "u32"),
    ("Listeners", "MGP", "u32"),
    ("ActivePeers", "MGP", "u32"),
    ("ConnectedPeers", "MGP", "u32"),
    ("DroppedLogs", "MGP", "u32"),
    ("BusyPolling", "MGP", "u32"),
    ("FailedResolutions", "MGP", "u32"),
    ("TotalBytesOut", "MGP", "u64"),
    ("TotalSplicdedBytesOut", "MGP", "u64"),
    ("BytesOutRate", "MRP", "u64"),
    ("DebugCommandsIssued", "MGP", "u32"),
    ("CumRecvLogs", "MCP", "u32"),
    ("Build info", "POS", "str"),
    ("Memmax_bytes", "CLP", "u32"),
    ("PoolAlloc_bytes", "MGP", "u64"),
    ("PoolUsed_bytes", "MGP", "u64"),
    ("Start_time_sec", "MDP", "u32"),
    ("Tainted", "SGP", "str"),
]


def uptime_text(seconds: int) -> str:
    d, rem = divmod(seconds, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    return f"{d}d {h}h{m:02d}m{s:02d}s"


def info_values(ctx: Any) -> dict[str, Any]:
    plan, shm = ctx.plan, ctx.shm
    now = int(time.time())
    uptime = max(0, now - int(ctx.start_time))
    cur = cum_conn = cum_req = bytes_out = 0
    for fe in plan.frontends:
        c = shm.sum_counters(fe.counter_slot)
        cur += c["cur_sess"]
        cum_conn += c["cum_conn"]
        cum_req += c["cum_req"]
        bytes_out += c["bytes_out"]
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    values: dict[str, Any] = {name: 0 for name, _, _ in INFO_FIELDS}
    values.update(
        {
            "Name": PRODUCT,
            "Version": __version__,
            "Release_date": RELEASE_DATE,
            "Nbthread": plan.nbworkers,
            "Nbproc": 1,
            "Process_num": 1,
            "Pid": ctx.pid,
            "Uptime": uptime_text(uptime),
            "Uptime_sec": uptime,
            "Ulimit-n": nofile,
            "Maxsock": nofile,
            "Maxconn": int(shm.global_maxconn or plan.maxconn),
            "Hard_maxconn": plan.maxconn,
            "CurrConns": cur,
            "CumConns": cum_conn,
            "CumReq": cum_req,
            "Maxpipes": plan.maxpipes * plan.nbworkers,
            "Idle_pct": shm.idle_pct(),
            "node": plan.config.global_.node or socket.gethostname(),
            "Stopping": 1 if ctx.stopping() else 0,
            "Jobs": cur + len(plan.listeners),
            "Listeners": len(plan.listeners),
            "DroppedLogs": logsend.dropped(),
            "TotalBytesOut": bytes_out,
            "TotalSplicdedBytesOut": shm.spliced_out(),  # (HAProxy 2.6's spelling)
            "Build info": __version__,
            "Start_time_sec": int(ctx.start_time),
            "Tainted": "0",
            # printed only when set, as HAProxy does (no zlib in fastlb)
            "ZlibMemUsage": None,
            "MaxZlibMemUsage": None,
            "description": plan.config.global_.description,
        }
    )
    return values


@command("show info [desc|json|typed|float]*      : report information about the running process")
async def cmd_show_info(ctx: Any, sess: Session, args: list[str]) -> str:
    opts = set(args[2:])
    values = info_values(ctx)
    # splice pipes live in the workers: ask them (a worker that does not answer counts none)
    hub = getattr(ctx, "hub", None)
    if hub is not None:
        results = await hub.broadcast("info")
        infos = [r for r in results if isinstance(r, dict)]
        values["PipesUsed"] = sum(int(r.get("pipes_used", 0)) for r in infos)
        values["PipesFree"] = sum(int(r.get("pipes_free", 0)) for r in infos)
    if "json" in opts:
        items = []
        for pos, (name, tags, vtype) in enumerate(INFO_FIELDS):
            v = values[name]
            if v is None:
                continue
            items.append(
                {
                    "field": {"pos": pos, "name": name},
                    "processNum": 1,
                    "tags": {
                        "origin": _ORIGINS[tags[0]],
                        "nature": _NATURES[tags[1]],
                        "scope": _SCOPES[tags[2]],
                    },
                    "value": {"type": vtype, "value": v if vtype == "str" else int(v)},
                }
            )
        return json.dumps(items, separators=(",", ":")) + "\n"
    if "typed" in opts:
        return "".join(
            f"{pos}.{name}.1:{tags}:{vtype}:{values[name]}\n"
            for pos, (name, tags, vtype) in enumerate(INFO_FIELDS)
            if values[name] is not None
        )
    return "".join(f"{name}: {values[name]}\n" for name, _, _ in INFO_FIELDS if values[name] is not None)


@command("show stat [desc|json|no-maint|typed|up]*: report counters for each proxy and server")
def cmd_show_stat(ctx: Any, sess: Session, args: list[str]) -> str:
    words = args[2:]
    opts = {w for w in words if w in ("json", "typed", "up", "no-maint", "desc")}
    rows = statview.filter_rows(statview.api_stat_rows(ctx, ctx.rates), opts)
    nums = [w for w in words if w not in opts]
    if len(nums) >= 3:
        # show stat <iid> <type> <sid>: proxy id (-1 = all), type mask (1 fe, 2 be, 4 srv), server id
        try:
            iid, mask, sid = int(nums[0]), int(nums[1]), int(nums[2])
        except ValueError:
            return "Invalid arguments\n"
        bit = {0: 1, 1: 2, 2: 4}
        rows = [
            r
            for r in rows
            if (iid == -1 or r.proxy_id == iid)
            and (mask == -1 or mask & bit[r.obj_type])
            and (sid == -1 or r.obj_type != 2 or r.sid == sid)
        ]
    if "json" in opts:
        return statview.render_json(rows) + "\n"
    if "typed" in opts:
        return statview.render_typed(rows)
    return statview.render_csv(rows)


SERVERS_STATE_HEADER = (
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
    "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
    "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port "
    "srv_check_addr srv_agent_addr srv_agent_port\n"
)


def admin_bits(srv: Any, admin: int) -> int:
    """shared-memory admin flags -> HAProxy's SRV_ADMF_* numbers."""
    bits = SRV_ADMF_CMAINT if srv.cmaint else 0
    if admin & SRV_ADMF_MAINT:
        bits |= SRV_ADMF_FMAINT
    if admin & SRV_ADMF_DRAIN:
        bits |= SRV_ADMF_FDRAIN
    return bits


@command(
    "show servers state [<backend>]          : dump volatile server information (all or for a single backend)"
)
def cmd_show_servers_state(ctx: Any, sess: Session, args: list[str]) -> str:
    backends = ctx.table.backends
    if len(args) > 3:
        be = ctx.table.backend(args[3])
        if be is None:
            return "Can't find backend.\n"
        backends = [be]
    now = int(time.time())
    out = [SERVERS_STATE_HEADER]
    for be in backends:
        for srv in be.servers:
            st = ctx.shm.get_server(srv.slot)
            chk, agent = srv.check, srv.agent
            addr = srv.host if srv.family != socket.AF_UNIX else "-"
            out.append(
                f"{be.id} {be.name} {srv.sid} {srv.name} {addr} {st['oper']} {admin_bits(srv, st['admin'])} "
                f"{st['uweight']} {srv.iweight} {max(0, now - int(st['last_change']))} {int(chk.status)} "
                f"{int(chk.result)} {chk.health} {chk.state_bits()} "
                f"{agent.state_bits()} {1 if be.forced_id else 0} {1 if srv.forced_id else 0} - "
                f"{srv.port or 0} - 0 {chk.port or 0} {chk.addr or '-'} {agent.addr or '-'} "
                f"{agent.port or 0}\n"
            )
    return "".join(out)


@command("show backend                            : list backends in the current running config")
def cmd_show_backend(ctx: Any, sess: Session, args: list[str]) -> str:
    return "# name\n" + "".join(f"{be.name}\n" for be in ctx.table.backends)


@command("show version                            : show version of the current process")
def cmd_show_version(ctx: Any, sess: Session, args: list[str]) -> str:
    return f"{__version__}\n"


@command("show cli level                          : display the level of the current CLI session")
def cmd_show_cli_level(ctx: Any, sess: Session, args: list[str]) -> str:
    return f"{LEVEL_NAMES[sess.level]}\n"


@command("show cli sockets                        : dump list of cli sockets")
def cmd_show_cli_sockets(ctx: Any, sess: Session, args: list[str]) -> str:
    return "# socket lvl processes\n" + "".join(
        f"{name} {LEVEL_NAMES[lvl]} all\n" for name, lvl in ctx.sockets
    )


def human_time(seconds: int) -> str:
    """HAProxy's human_time(): 0s, 42s, 3m5s, 2h4m, 1d3h."""
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{(seconds % 3600) // 60}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600}h"


def _proto(addr: str) -> str:
    if addr == "unix" or addr.startswith("unix"):
        return "unix_stream"
    return "tcpv6" if addr.count(":") > 1 else "tcpv4"


def _session_id(sess: dict) -> str:
    """Stream pointers are per process and may collide between workers: the worker number goes
    into the top bits so that ``show sess <id>`` finds one stream."""
    return f"0x{int(sess['ptr'], 16) ^ (int(sess.get('worker', 0)) << 52):x}"


@command(
    "show sess [id]                          : report the list of current sessions or dump this exact session"
)
async def cmd_show_sess(ctx: Any, sess: Session, args: list[str]) -> str:
    if sess.level < ACCESS_LVL_OPER:
        return PERMISSION_DENIED
    results = await ctx.hub.broadcast("sessions")
    streams = [s for r in results if isinstance(r, list) for s in r]
    own = (
        f"0x{id(sess):x}: proto={_proto(sess.peer)} src={sess.peer} fe=GLOBAL be=<NONE> srv=<none> ts=00 "
        f"epoch=0 age=0s calls=1 rate=1 cpu=0 lat=0\n"
    )
    if len(args) > 2 and args[2] != "all":
        want = args[2].lower()
        for s in streams:
            if _session_id(s) == want:
                return _session_detail(s)
        return "Session not found.\n"
    lines = [own]
    for s in streams:
        lines.append(
            f"{_session_id(s)}: proto={_proto(s['client'])} src={s['client']} fe={s['frontend']} "
            f"be={s['backend'] or '<NONE>'} srv={s['server'] or '<none>'} ts=00 epoch=0 "
            f"age={human_time(int(s['age_ms']) // 1000)} calls=0 rate=0 cpu=0 lat=0 "
            f"worker={s.get('worker', 0)}\n"
        )
    return "".join(lines)


def _session_detail(s: dict) -> str:
    return (
        f"{_session_id(s)}: proto={_proto(s['client'])} source={s['client']}\n"
        f"  frontend={s['frontend']}\n"
        f"  backend={s['backend'] or '<NONE>'}\n"
        f"  server={s['server'] or '<none>'}\n"
        f"  age={human_time(int(s['age_ms']) // 1000)} state={s['state']} worker={s.get('worker', 0)}\n"
    )
