"""Runtime commands that change servers: maintenance, drain, weights, addresses, limits, checks,
and servers added or removed without a reload. Answers are HAProxy 2.6's, byte for byte where
known (some carry no trailing newline in HAProxy: they are kept so).
"""
from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import socket
import time
from typing import Any

from ..config.addresses import AddressError, parse_address
from ..config.context import Ctx, KeywordError, LoaderState
from ..config.kw_bind import SERVER_OPTIONS, _server_options
from ..config.model import Server as ServerConf
from ..engine._shm import SRV_ADMF_MAINT, SRV_ST_STOPPED
from ..health.servers import ServerRuntime
from ..health.status import CheckStatus
from ..runtime.plan import pack_sockaddr
from .commands import ACCESS_LVL_ADMIN, ACCESS_LVL_OPER, ACCESS_LVL_USER, PERMISSION_DENIED, Session, command

SET_SERVER_USAGE = (
    "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | "
    "check-addr | check-port | fqdn | health | ssl | state | weight\n"
)

#: Server keywords ``add server`` accepts (HAProxy 2.6's list, less the TLS ones fastlb ignores).
DYNAMIC_KEYWORDS = frozenset(
    str.split("""
    agent-addr agent-check agent-inter agent-port agent-send allow-0rtt alpn addr backup ca-file check
    check-alpn check-proto check-send-proxy check-sni check-ssl check-via-socks4 ciphers ciphersuites
    crl-file crt disabled downinter enabled error-limit fall fastinter force-sslv3 force-tlsv10
    force-tlsv11 force-tlsv12 force-tlsv13 id inter maxconn maxqueue minconn no-ssl-reuse no-sslv3
    no-tlsv10 no-tlsv11 no-tlsv12 no-tlsv13 no-tls-tickets npn observe on-error on-marked-down
    on-marked-up pool-low-conn pool-max-conn pool-purge-delay port proto proxy-v2-options rise
    send-proxy send-proxy-v2 send-proxy-v2-ssl send-proxy-v2-ssl-cn slowstart sni source ssl
    ssl-max-ver ssl-min-ver tfo tls-tickets track usesrc verify verifyhost weight ws
""")
)

_STATIC_HASHED = ("source", "uri", "url_param", "hdr", "rdp-cookie", "hash")


def find_server(ctx: Any, arg: str | None) -> tuple[ServerRuntime | None, str]:
    """HAProxy's cli_find_server(): the server named ``backend/server`` or an error text."""
    if not arg or "/" not in arg:
        return None, "Require 'backend/server'.\n"
    bname, sname = arg.split("/", 1)
    be = ctx.table.backend(bname)
    if be is None:
        return None, "No such backend.\n"
    srv = be.server(sname)
    if srv is None:
        return None, "No such server.\n"
    return srv, ""


def dynamic_lb(conf: Any) -> bool:
    """Whether the backend's algorithm takes weight changes (HAProxy's BE_LB_PROP_DYN)."""
    algo = conf.balance.algorithm
    if algo == "static-rr":
        return False
    return not (algo in _STATIC_HASHED and conf.hash_type.method == "map-based")


def parse_weight(srv: ServerRuntime, text: str) -> tuple[int | None, str]:
    """HAProxy's server_parse_weight_change_request(): (weight, "") or (None, error)."""
    if not text:
        return None, "Require <weight> or <weight%>.\n"
    digits = len(text) - len(text.lstrip("+-"))
    while digits < len(text) and text[digits].isdigit():
        digits += 1
    num = text[:digits]
    try:
        w = int(num)
    except ValueError:
        return None, "Empty weight string empty or preceded by garbage"
    end = text[digits:]
    if end == "%":
        if w < 0:
            return None, "Relative weight must be positive.\n"
        w = min(srv.iweight * min(w, 25600) // 100, 256)
    elif w < 0 or w > 256:
        return None, "Absolute weight can only be between 0 and 256 inclusive.\n"
    elif end:
        return None, "Trailing garbage in weight string"
    if w and w != srv.iweight and not dynamic_lb(srv.backend.conf):
        return None, "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n"
    return w, ""


def _atoi_prefix(text: str) -> tuple[int | None, str]:
    """strtol(): the leading integer and what follows it."""
    i = 0
    if i < len(text) and text[i] in "+-":
        i += 1
    j = i
    while j < len(text) and text[j].isdigit():
        j += 1
    if j == i:
        return None, text
    return int(text[:j]), text[j:]


# -- maintenance, drain ---------------------------------------------------------------------------


@command(
    "disable server (DEPRECATED)             : disable a server for maintenance (use 'set server' instead)",
    "disable server",
)
def cmd_disable_server(ctx: Any, sess: Session, args: list[str]) -> str:
    if sess.level < ACCESS_LVL_ADMIN:
        return PERMISSION_DENIED
    srv, err = find_server(ctx, args[2] if len(args) > 2 else None)
    if srv is None:
        return err
    ctx.control.set_maint(srv)
    return ""


@command(
    "enable server  (DEPRECATED)             : enable a disabled server (use 'set server' instead)",
    "enable server",
)
def cmd_enable_server(ctx: Any, sess: Session, args: list[str]) -> str:
    if sess.level < ACCESS_LVL_ADMIN:
        return PERMISSION_DENIED
    srv, err = find_server(ctx, args[2] if len(args) > 2 else None)
    if srv is None:
        return err
    ctx.control.clear_maint(srv)
    return ""


def _toggle_check(ctx: Any, sess: Session, args: list[str], agent: bool, enable: bool) -> str:
    if sess.level < ACCESS_LVL_ADMIN:
        return PERMISSION_DENIED
    srv, err = find_server(ctx, args[2] if len(args) > 2 else None)
    if srv is None:
        return err
    chk = srv.agent if agent else srv.check
    if enable and not chk.configured:
        return (
            "Agent was not configured on server, cannot enable it.\n"
            if agent
            else "Health checks are not configured on this server, cannot enable them.\n"
        )
    chk.enabled = enable
    ctx.control.publish(srv)
    if enable:
        chk.kick()
    return ""


@command("disable health                          : disable health checks", "disable health")
def cmd_disable_health(ctx: Any, sess: Session, args: list[str]) -> str:
    return _toggle_check(ctx, sess, args, agent=False, enable=False)


@command("enable health                           : enable health checks", "enable health")
def cmd_enable_health(ctx: Any, sess: Session, args: list[str]) -> str:
    return _toggle_check(ctx, sess, args, agent=False, enable=True)


@command("disable agent                           : disable agent checks", "disable agent")
def cmd_disable_agent(ctx: Any, sess: Session, args: list[str]) -> str:
    return _toggle_check(ctx, sess, args, agent=True, enable=False)


@command("enable agent                            : enable agent checks", "enable agent")
def cmd_enable_agent(ctx: Any, sess: Session, args: list[str]) -> str:
    return _toggle_check(ctx, sess, args, agent=True, enable=True)


# -- weights ----------------------------------------------------------------------------------------


@command("get weight <bk>/<srv>                   : report a server's current weight")
def cmd_get_weight(ctx: Any, sess: Session, args: list[str]) -> str:
    srv, err = find_server(ctx, args[2] if len(args) > 2 else None)
    if srv is None:
        return err
    return f"{ctx.control.state(srv)['uweight']} (initial {srv.iweight})\n"


@command(
    "set weight <bk>/<srv>  (DEPRECATED)     : change a server's weight (use 'set server' instead)",
    "set weight",
)
def cmd_set_weight(ctx: Any, sess: Session, args: list[str]) -> str:
    if sess.level < ACCESS_LVL_ADMIN:
        return PERMISSION_DENIED
    srv, err = find_server(ctx, args[2] if len(args) > 2 else None)
    if srv is None:
        return err
    return _apply_weight(ctx, srv, args[3] if len(args) > 3 else "")


def _apply_weight(ctx: Any, srv: ServerRuntime, text: str) -> str:
    w, err = parse_weight(srv, text)
    if w is None:
        return err
    ctx.control.set_weight(srv, w)
    return ""


# -- maxconn -----------------------------------------------------------------------------------------


@command("set maxconn server <bk>/<srv>           : change a server's maxconn setting")
def cmd_set_maxconn_server(ctx: Any, sess: Session, args: list[str]) -> str:
    if sess.level < ACCESS_LVL_ADMIN:
        return PERMISSION_DENIED
    srv, err = find_server(ctx, args[3] if len(args) > 3 else None)
    if srv is None:
        return err
    v, rest = _atoi_prefix(args[4] if len(args) > 4 else "")
    if v is None:
        return "maxconn string empty or preceded by garbage"
    if rest:
        return "Trailing garbage in maxconn string"
    ctx.control.set_maxconn(srv, max(0, v))
    return ""


@command("set maxconn frontend <frontend> <value> : change a frontend's maxconn setting")
def cmd_set_maxconn_frontend(ctx: Any, sess: Session, args: list[str]) -> str:
    if sess.level < ACCESS_LVL_ADMIN:
        return PERMISSION_DENIED
    if len(args) < 4 or not args[3]:
        return "A frontend name is expected.\n"
    if ctx.plan.frontend(args[3]) is None:
        return "No such frontend.\n"
    if len(args) < 5:
        return "Integer value expected.\n"
    v, _ = _atoi_prefix(args[4])
    if v is None or v < 0:
        return "Value out of range.\n"
    ctx.shm.set_frontend_maxconn(ctx.plan.frontend(args[3]).index, v)
    return ""


def _frontend_for_pause(ctx: Any, sess: Session, args: list[str]) -> tuple[Any, str]:
    if sess.level < ACCESS_LVL_ADMIN:
        return None, PERMISSION_DENIED
    if len(args) < 3 or not args[2]:
        return None, "A frontend name is expected.\n"
    fe = ctx.plan.frontend(args[2])
    if fe is None:
        return None, "No such frontend.\n"
    return fe, ""


async def _pause_frontend(ctx: Any, fe: Any, paused: bool) -> None:
    """Set the shared flag, then answer once every worker applied it (as HAProxy, whose listeners
    are paused when the command returns)."""
    from ..runtime.pause import LOG_WARNING, set_paused

    for line in set_paused(ctx.plan, ctx.shm, paused, [fe.name]):
        ctx.reporter.event(LOG_WARNING, line, fe.conf)
    try:
        await ctx.hub.broadcast("sync", timeout=2.0)
    except asyncio.TimeoutError:
        pass  # a worker that does not answer follows the flag at its next round anyway


@command("disable frontend <frontend>             : temporarily disable specific frontend")
async def cmd_disable_frontend(ctx: Any, sess: Session, args: list[str]) -> str:
    """As HAProxy: the workers pause the frontend's listeners (TCP ones refuse connections, see
    fastlb.runtime.pause), its stats status is PAUSED, "Paused frontend <name>." is reported."""
    fe, err = _frontend_for_pause(ctx, sess, args)
    if fe is None:
        return err
    if ctx.shm.get_frontend_paused(fe.index) or not fe.listeners:
        return "All sockets are already disabled.\n"
    await _pause_frontend(ctx, fe, True)
    return ""


@command("enable frontend <frontend>              : re-enable specific frontend")
async def cmd_enable_frontend(ctx: Any, sess: Session, args: list[str]) -> str:
    fe, err = _frontend_for_pause(ctx, sess, args)
    if fe is None:
        return err
    if not ctx.shm.get_frontend_paused(fe.index) or not fe.listeners:
        return "All sockets are already enabled.\n"
    await _pause_frontend(ctx, fe, False)
    return ""


@command("set maxconn global <value>              : change the per-process maxconn setting")
def cmd_set_maxconn_global(ctx: Any, sess: Session, args: list[str]) -> str:
    if sess.level < ACCESS_LVL_ADMIN:
        return PERMISSION_DENIED
    if len(args) < 4 or not args[3]:
        return "Expects an integer value.\n"
    v, _ = _atoi_prefix(args[3])
    v = v or 0
    if v > ctx.plan.maxconn:
        return "Value out of range.\n"
    ctx.shm.global_maxconn = v if v > 0 else ctx.plan.maxconn
    ctx.shm.bump_generation()  # the workers apply their share at their next loop round
    return ""


# -- set server ----------------------------------------------------------------------------------


@command(
    "set server <bk>/<srv> [opts]            : change a server's state, weight, address or ssl", "set server"
)
def cmd_set_server(ctx: Any, sess: Session, args: list[str]) -> str:
    if sess.level < ACCESS_LVL_ADMIN:
        return PERMISSION_DENIED
    srv, err = find_server(ctx, args[2] if len(args) > 2 else None)
    if srv is None:
        return err
    sub = args[3] if len(args) > 3 else ""
    val = args[4] if len(args) > 4 else ""
    ctl = ctx.control
    if sub == "state":
        if val == "ready":
            ctl.set_ready(srv)
        elif val == "drain":
            ctl.clear_maint(srv)
            ctl.set_drain(srv)
        elif val == "maint":
            ctl.set_maint(srv)
        else:
            return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n"
        return ""
    if sub == "weight":
        return _apply_weight(ctx, srv, val)
    if sub == "health":
        if val not in ("up", "stopping", "down"):
            return "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n"
        if ctl.state(srv)["admin"] & SRV_ADMF_MAINT:
            return "cannot change health on a server in maintenance mode\n"
        ctl.force_check_state(srv, srv.check, val)
        return ""
    if sub == "agent":
        if not (srv.agent.configured and srv.agent.enabled):
            return "agent checks are not enabled on this server.\n"
        if val not in ("up", "down"):
            return "'set server <srv> agent' expects 'up' or 'down'.\n"
        ctl.force_check_state(srv, srv.agent, val)
        return ""
    if sub == "addr":
        return _set_addr(ctx, srv, args[4:])
    if sub in ("check-port", "agent-port"):
        port, rest = _atoi_prefix(val)
        if port is None or rest or not 0 < port < 65536:
            return f"'set server <srv> {sub}' expects an integer as argument.\n"
        (srv.agent if sub == "agent-port" else srv.check).port = port
        return ""
    if sub in ("check-addr", "agent-addr"):
        chk = srv.agent if sub == "agent-addr" else srv.check
        try:
            chk.addr = str(ipaddress.ip_address(val))
        except ValueError:
            return f"'set server <srv> {sub}' expects an address (IPv4 or IPv6) as argument.\n"
        if len(args) > 6 and args[5] == "port":
            port, rest = _atoi_prefix(args[6])
            if port is None or rest or not 0 < port < 65536:
                return "provided port is not valid.\n"
            chk.port = port
        return ""
    if sub == "agent-send":
        if not srv.agent.configured:
            return "agent checks are not enabled on this server.\n"
        srv.agent.send = val
        return ""
    if sub == "fqdn":
        return "set server <b>/<s> fqdn failed because no resolution is configured.\n"
    if sub == "ssl":
        return "'set server <srv> ssl' is not supported: fastlb does not speak TLS to servers.\n"
    return SET_SERVER_USAGE


def _set_addr(ctx: Any, srv: ServerRuntime, rest: list[str]) -> str:
    """HAProxy's srv_update_addr_port() messages."""
    if not rest:
        return "set server <b>/<s> addr requires an address and optionally a port.\n"
    try:
        ip = ipaddress.ip_address(rest[0])
    except ValueError:
        return f"Invalid addr '{rest[0]}' by 'stats socket command'\n"
    port = srv.port
    new_port: int | None = None
    if len(rest) >= 3 and rest[1] == "port":
        p, tail = _atoi_prefix(rest[2])
        if p is None or tail or not 0 <= p < 65536:
            return f"Invalid port '{rest[2]}' by 'stats socket command'\n"
        if srv.port_from_client or srv.port_offset:
            return "can't change <port> when <srv port> is a port mapping by 'stats socket command'\n"
        new_port = p
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    msg = []
    if str(ip) != srv.host or family != srv.family:
        msg.append(f"IP changed from '{srv.host}' to '{ip}'")
    else:
        msg.append("no need to change the addr")
    if new_port is not None:
        if new_port != port:
            msg.append(f"port changed from '{port or 0}' to '{new_port}'")
        else:
            msg.append("no need to change the port")
        port = new_port
    ctx.control.set_address(srv, family, str(ip), new_port, pack_sockaddr(family, str(ip), port or 0))
    return ", ".join(msg) + " by 'stats socket command'\n"


# -- counters ---------------------------------------------------------------------------------------


@command("clear counters [all]                    : clear max statistics counters (or all counters)")
def cmd_clear_counters(ctx: Any, sess: Session, args: list[str]) -> str:
    all_fields = len(args) > 2 and args[2] == "all"
    if sess.level < (ACCESS_LVL_ADMIN if all_fields else ACCESS_LVL_OPER):
        return PERMISSION_DENIED
    for slot in range(ctx.plan.counter_slots):
        ctx.shm.clear_counters(slot, all_fields)
    if all_fields:
        for srv in ctx.table.servers():
            ctx.shm.set_server(srv.slot, bump=False, chk_fail=0, chk_down=0)
            srv.failed_hana = 0
            ctx.control.publish(srv)
    return ""


# -- dynamic servers ----------------------------------------------------------------------------------


def worker_args(srv: ServerRuntime) -> dict:
    """What a worker needs to add ``srv`` to its data plane (fastlb.api.ipc ``add_server``)."""
    return {
        "backend": srv.backend.name,
        "slot": srv.slot,
        "counter_slot": srv.counter_slot,
        "name": srv.name,
        "sid": srv.sid,
        "sockaddr": srv.sockaddr.hex(),
        "port_from_client": srv.port_from_client,
        "backup": srv.backup,
        "weight": srv.iweight,
        "cookie": srv.conf.cookie,
    }


def _cli_alert(ctx: Any, who: str, text: str) -> str:
    ctx.reporter.alert(f"{who} : {text.rstrip()}" if who else text.rstrip(), cli=True)
    return text


@command("add server <bk>/<srv>                   : create a new server")
async def cmd_add_server(ctx: Any, sess: Session, args: list[str]) -> str:
    if sess.level < ACCESS_LVL_ADMIN:
        return PERMISSION_DENIED
    if len(args) < 4 or "/" not in args[2]:
        return _cli_alert(ctx, "", "'server' expects <name> and <addr>[:<port>] as arguments.\n")
    bname, sname = args[2].split("/", 1)
    who = f"'server {bname}/{sname}'"
    be = ctx.table.backend(bname)
    if be is None:
        return "No such backend."
    if not dynamic_lb(be.conf):
        return "Backend must use a dynamic load balancing to support dynamic servers."
    if be.server(sname) is not None:
        return _cli_alert(ctx, who, "Already exists a server with the same name in backend.\n")
    for word in args[4:]:
        if word.startswith("-") or word[:1].isdigit():
            continue
        if word in SERVER_OPTIONS and word not in DYNAMIC_KEYWORDS and SERVER_OPTIONS[word][1] != "flag-off":
            return _cli_alert(ctx, who, f"'{word}' option is not accepted for dynamic server\n")
    try:
        address = parse_address(args[3], "server")
        state = LoaderState(environ={})
        opts, _ignored = _server_options(Ctx(state, "CLI", 0, "backend"), f"server {bname}/{sname}", args[4:])
    except AddressError as exc:
        return _cli_alert(ctx, who, f"{exc}\n")
    except KeywordError as exc:
        text = str(exc)
        if "unknown keyword" in text:
            word = text.split("unknown keyword '", 1)[1].split("'", 1)[0]
            text = f"unknown keyword '{word}'."
        return _cli_alert(ctx, who, f"{text.split(' : ', 1)[-1]}\n")
    if address.family not in ("ipv4", "ipv6"):
        return _cli_alert(ctx, who, "only IPv4/IPv6 addresses are supported for dynamic servers\n")
    try:
        ip = ipaddress.ip_address(address.host or "")
    except ValueError:
        return _cli_alert(
            ctx,
            who,
            f"could not resolve address '{address.host}': dynamic servers take an IP "
            "address (init-addr none)\n",
        )
    sid = opts.get("id") or be.next_sid()
    if any(s.sid == sid for s in be.servers):
        return _cli_alert(ctx, who, f"custom id {sid} already used.\n")
    slots = ctx.table.alloc_slot()
    if slots is None:
        return _cli_alert(ctx, who, "no free server slot left for dynamic servers.\n")
    fields = {f.name for f in dataclasses.fields(ServerConf)}
    conf = ServerConf(
        name=sname, address=address, file="CLI", **{k: v for k, v in opts.items() if k in fields}
    )
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    port = address.port_low
    srv = ServerRuntime(
        be,
        conf,
        sid,
        slots[0],
        slots[1],
        family,
        str(ip),
        port,
        address.port_offset or 0,
        pack_sockaddr(family, str(ip), port or 0),
        dynamic=True,
    )
    srv.check.enabled = srv.agent.enabled = False  # "enable health" / "enable agent" turn them on
    srv.check.paused = srv.check.configured
    for chk in (srv.check, srv.agent):
        chk.health = chk.rise if chk.configured else 0
    ctx.shm.set_server(
        srv.slot,
        bump=False,
        admin=SRV_ADMF_MAINT,
        oper=SRV_ST_STOPPED,
        uweight=conf.weight,
        eweight=conf.weight,
        maxconn=conf.maxconn,
        maxqueue=conf.maxqueue,
        in_use=1,
        last_change=int(time.time()),
        down_time=0,
        chk_fail=0,
        chk_down=0,
        check_status=int(CheckStatus.INI) if srv.check.configured else 0,
        check_code=0,
        check_duration_ms=0,
        addr=srv.sockaddr,
    )
    srv.admin_seen, srv.oper_seen = SRV_ADMF_MAINT, SRV_ST_STOPPED
    wargs = worker_args(srv)
    results = await ctx.hub.broadcast("add_server", wargs)
    failed = [r for r in results if isinstance(r, Exception)]
    if failed:
        ctx.table.free_slot(srv)
        await ctx.hub.broadcast("del_server", {"backend": bname, "name": sname})
        return _cli_alert(ctx, who, f"{failed[0]}\n")
    ctx.hub.record("add_server", wargs)
    srv.order = be.next_order
    be.next_order += 1
    be.servers.append(srv)
    ctx.control.publish(srv)
    ctx.health.add_server(srv)
    ctx.reporter.notice(f"{who} : New server registered.", cli=True)
    return "New server registered.\n"


@command("del server <bk>/<srv>                   : remove a dynamically added server")
async def cmd_del_server(ctx: Any, sess: Session, args: list[str]) -> str:
    if sess.level < ACCESS_LVL_ADMIN:
        return PERMISSION_DENIED
    if len(args) < 3 or "/" not in args[2]:
        return "Require 'backend/server'."
    bname, sname = args[2].split("/", 1)
    be = ctx.table.backend(bname)
    if be is None:
        return "No such backend."
    srv = be.server(sname)
    if srv is None:
        return "No such server."
    if not ctx.control.state(srv)["admin"] & SRV_ADMF_MAINT:
        return "Only servers in maintenance mode can be deleted."
    load = ctx.shm.sum_counters(srv.counter_slot)
    if load["cur_sess"] or load["cur_queue"]:
        return "Server still has connections attached to it, cannot remove it."
    dargs = {"backend": bname, "name": srv.name}
    results = await ctx.hub.broadcast("del_server", dargs)
    refused = [r for r in results if isinstance(r, Exception) and not str(r).startswith("No such server")]
    if refused:
        # a worker got a connection meanwhile: give the server back to those that removed it
        await ctx.hub.broadcast("add_server", worker_args(srv))
        return str(refused[0])
    ctx.hub.record("del_server", dargs)
    ctx.health.remove_server(srv)
    be.servers.remove(srv)
    ctx.shm.set_server(srv.slot, in_use=0)
    ctx.table.free_slot(srv)
    ctx.reporter.notice("Server deleted.", cli=True)
    return "Server deleted."


# -- session level ----------------------------------------------------------------------------------


def _lower(sess: Session, level: int) -> str:
    if sess.level < level:
        return PERMISSION_DENIED
    sess.level = level
    return ""


@command("operator                                : lower the level of the current CLI session to operator")
def cmd_operator(ctx: Any, sess: Session, args: list[str]) -> str:
    return _lower(sess, ACCESS_LVL_OPER)


@command("user                                    : lower the level of the current CLI session to user")
def cmd_user(ctx: Any, sess: Session, args: list[str]) -> str:
    return _lower(sess, ACCESS_LVL_USER)
