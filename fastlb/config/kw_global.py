"""Keywords of the ``global`` section (and ``log``, shared with proxies)."""

from __future__ import annotations

import grp
import pwd

from .addresses import AddressError, parse_address
from .context import Ctx, KeywordError
from .keywords import keyword, unsupported
from .model import LogTarget

LOG_FACILITIES = (
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "auth2",
    "ftp",
    "ntp",
    "audit",
    "alert",
    "cron2",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
)
LOG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
LOG_FORMATS = ("local", "rfc3164", "rfc5424", "short", "raw", "priority", "iso", "timed")


def parse_log_target(ctx: Ctx, args: list[str]) -> LogTarget:
    """``<target> [len <n>] [format <fmt>] [sample <ranges>:<size>] <facility> [<level> [<minlevel>]]``."""
    if len(args) < 2:
        raise KeywordError("log : expects <address> and <facility>  as arguments")
    try:
        address = parse_address(args[0], "log", default_port=514)
    except AddressError as exc:
        raise KeywordError(f"log : {exc}") from None
    length = 1024
    fmt = "rfc3164"
    sample = None
    i = 1
    while i < len(args) and args[i] in ("len", "format", "sample"):
        if i + 1 >= len(args):
            raise KeywordError(f"log : '{args[i]}' expects an argument")
        opt, value = args[i], args[i + 1]
        if opt == "len":
            length = ctx.integer(value, "log len", minimum=80, maximum=65535)
        elif opt == "format":
            if value not in LOG_FORMATS:
                raise KeywordError(f"log : unknown log format '{value}'")
            fmt = value
        else:
            sample = value
        i += 2
    rest = args[i:]
    if not rest:
        raise KeywordError("log : expects <address> and <facility>  as arguments")
    facility = rest[0]
    if facility not in LOG_FACILITIES:
        raise KeywordError(f"log : unknown log facility '{facility}'")
    level = minlevel = None
    if len(rest) > 1:
        if rest[1] not in LOG_LEVELS:
            raise KeywordError(f"log : unknown optional log level '{rest[1]}'")
        level = rest[1]
    if len(rest) > 2:
        if rest[2] not in LOG_LEVELS:
            raise KeywordError(f"log : unknown optional minimum log level '{rest[2]}'")
        minlevel = rest[2]
    if len(rest) > 3:
        raise KeywordError(f"log : cannot handle unexpected argument '{rest[3]}'")
    return LogTarget(
        address=address,
        facility=facility,
        level=level,
        minlevel=minlevel,
        format=fmt,
        length=length,
        sample=sample,
        file=ctx.file,
        line=ctx.line,
    )


@keyword(
    "log",
    "gdflb",
    "<target> [len <n>] [format <fmt>] <facility> [<level> [<minlevel>]] | global",
    "send logs to a syslog server, a UNIX socket, stdout or stderr",
    negatable=True,
)
def kw_log(ctx: Ctx, words: list[str]) -> None:
    if ctx.section == "global":
        ctx.state.global_.setdefault("logs", []).append(parse_log_target(ctx, words[1:]))
        return
    px = ctx.px
    if words[0] in ("no", "default"):
        px.log_global = False
        px.f["logs"] = []
        return
    if len(words) >= 2 and words[1] == "global":
        ctx.no_more(words, 2)
        px.log_global = True
        return
    px.lst("logs").append(parse_log_target(ctx, words[1:]))


def _names(text: str) -> list[str]:
    return text.split()


def _g(ctx: Ctx) -> dict:
    return ctx.state.global_


def _first_only(ctx: Ctx, field: str, keyword: str) -> bool:
    """HAProxy keeps the first value of some global settings and says so (as an ALERT that is
    not fatal: "already specified. Continuing."); here it is a warning. True if already set."""
    if ctx.state.global_.get(field) is not None:
        ctx.warn(f"'{keyword}' already specified. Continuing.")
        return True
    return False


def _one_arg(ctx: Ctx, words: list[str], what: str) -> str:
    if len(words) < 2 or words[1] == "":
        raise KeywordError(f"'{words[0]}' expects {what} as an argument.")
    ctx.no_more(words, 2)
    return words[1]


@keyword("log-tag", "gdflb", "<string>", "tag of the syslog header")
def kw_log_tag(ctx: Ctx, words: list[str]) -> None:
    tag = _one_arg(ctx, words, "a tag")
    if ctx.section == "global":
        _g(ctx)["log_tag"] = tag
    else:
        ctx.px.f["log_tag"] = tag


@keyword("log-send-hostname", "g", "[<string>]", "add the hostname (or this string) to syslog headers")
def kw_log_send_hostname(ctx: Ctx, words: list[str]) -> None:
    import socket

    _g(ctx)["log_send_hostname"] = words[1] if len(words) > 1 else socket.gethostname()


@keyword("chroot", "g", "<dir>", "chroot to this directory after start-up (checked at run time)")
def kw_chroot(ctx: Ctx, words: list[str]) -> None:
    value = _one_arg(ctx, words, "a directory")
    if not _first_only(ctx, "chroot", "chroot"):
        _g(ctx)["chroot"] = value


@keyword("pidfile", "g", "<file>", "write the pid(s) to this file")
def kw_pidfile(ctx: Ctx, words: list[str]) -> None:
    value = _one_arg(ctx, words, "a file name")
    if not _first_only(ctx, "pidfile", "pidfile"):
        _g(ctx)["pidfile"] = value


@keyword("maxconn", "gdfl", "<n>", "maximum concurrent connections (process-wide in global)")
def kw_maxconn(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 2:
        raise KeywordError(f"'{words[0]}' expects an integer argument.")
    ctx.no_more(words, 2)
    value = ctx.lenient_int(words[1])
    if ctx.section == "global":
        _g(ctx)["maxconn"] = value
    else:
        ctx.px.f["maxconn"] = value


@keyword("maxpipes", "g", "<n>", "maximum number of splice() pipes (default maxconn/4)")
def kw_maxpipes(ctx: Ctx, words: list[str]) -> None:
    _g(ctx)["maxpipes"] = ctx.integer(_one_arg(ctx, words, "an integer"), minimum=0)


@keyword("nosplice", "g", "", "never use splice() (forward through buffers with recv/send)")
def kw_nosplice(ctx: Ctx, words: list[str]) -> None:
    ctx.no_more(words, 1)
    _g(ctx)["nosplice"] = True


@keyword("user", "g", "<name>", "user to switch to after start-up")
def kw_user(ctx: Ctx, words: list[str]) -> None:
    name = _one_arg(ctx, words, "a user name")
    if _first_only(ctx, "user", "user"):
        return
    g = _g(ctx)
    g["user"] = name
    try:
        g["uid"] = pwd.getpwnam(name).pw_uid
        g["user_exists"] = True
    except KeyError:
        g["uid"] = None
        g["user_exists"] = False
        ctx.warn(
            f"cannot find user id for '{name}' on this machine; the process will fail to start "
            "unless it exists then (not needed to check the configuration)."
        )


@keyword("group", "g", "<name>", "group to switch to after start-up")
def kw_group(ctx: Ctx, words: list[str]) -> None:
    name = _one_arg(ctx, words, "a group name")
    if _first_only(ctx, "group", "group"):
        return
    g = _g(ctx)
    g["group"] = name
    try:
        g["gid"] = grp.getgrnam(name).gr_gid
        g["group_exists"] = True
    except KeyError:
        g["gid"] = None
        g["group_exists"] = False
        ctx.warn(
            f"cannot find group id for '{name}' on this machine; the process will fail to start "
            "unless it exists then (not needed to check the configuration)."
        )


@keyword("uid", "g", "<number>", "numeric user id to switch to")
def kw_uid(ctx: Ctx, words: list[str]) -> None:
    _g(ctx)["uid"] = ctx.integer(_one_arg(ctx, words, "an integer"), minimum=0)


@keyword("gid", "g", "<number>", "numeric group id to switch to")
def kw_gid(ctx: Ctx, words: list[str]) -> None:
    _g(ctx)["gid"] = ctx.integer(_one_arg(ctx, words, "an integer"), minimum=0)


@keyword("daemon", "g", "", "go to background after start-up")
def kw_daemon(ctx: Ctx, words: list[str]) -> None:
    ctx.no_more(words, 1)
    _g(ctx)["daemon"] = True


@keyword("master-worker", "g", "[no-exit-on-failure]", "run a master process supervising the workers")
def kw_master_worker(ctx: Ctx, words: list[str]) -> None:
    if len(words) > 1 and words[1] != "no-exit-on-failure":
        raise KeywordError(f"'master-worker' only supports 'no-exit-on-failure' (got '{words[1]}').")
    _g(ctx)["master_worker"] = True


@keyword("nbthread", "g", "<n>", "number of workers (fastlb runs worker processes, not threads)")
def kw_nbthread(ctx: Ctx, words: list[str]) -> None:
    text = _one_arg(ctx, words, "an integer")
    if not text.isdigit():
        raise KeywordError(f"'nbthread' passed a missing or unparsable integer value in '{text}'")
    value = int(text)
    if not 1 <= value <= 64:
        raise KeywordError(f"'nbthread' value must be between 1 and 64 (was {value})")
    _g(ctx)["nbthread"] = value


@keyword("nbproc", "g", "<n>", "removed in HAProxy 2.5")
def kw_nbproc(ctx: Ctx, words: list[str]) -> None:
    raise KeywordError(
        "nbproc is not supported any more since HAProxy 2.5. Threads will automatically "
        "be used on multi-processor machines if available."
    )


@keyword("cpu-map", "g", "<process/thread> <cpus>", "bind workers to CPUs")
def kw_cpu_map(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 3:
        raise KeywordError("cpu-map expects <process/thread> and <cpus> as arguments.")
    _g(ctx).setdefault("cpu_maps", []).append(" ".join(words[1:]))


@keyword("hard-stop-after", "g", "<time>", "force the end of an old process this long after a reload")
def kw_hard_stop_after(ctx: Ctx, words: list[str]) -> None:
    _g(ctx)["hard_stop_after_ms"] = ctx.time(_one_arg(ctx, words, "a time"))


@keyword("grace", "g", "<time>", "delay between the stop signal and the stop of listeners")
def kw_grace(ctx: Ctx, words: list[str]) -> None:
    _g(ctx)["grace_ms"] = ctx.time(_one_arg(ctx, words, "a time"))


@keyword("spread-checks", "g", "<0..50>", "random percentage added to check intervals")
def kw_spread_checks(ctx: Ctx, words: list[str]) -> None:
    _g(ctx)["spread_checks"] = ctx.integer(_one_arg(ctx, words, "a percentage"), minimum=0, maximum=50)


@keyword("max-spread-checks", "g", "<time>", "maximum delay before the first health check")
def kw_max_spread_checks(ctx: Ctx, words: list[str]) -> None:
    _g(ctx)["max_spread_checks_ms"] = ctx.time(_one_arg(ctx, words, "a time"))


@keyword("ulimit-n", "g", "<n>", "file descriptor limit of the process")
def kw_ulimit_n(ctx: Ctx, words: list[str]) -> None:
    _g(ctx)["ulimit_n"] = ctx.integer(_one_arg(ctx, words, "an integer"), minimum=1)


@keyword("node", "g", "<name>", "node name shown on the stats page")
def kw_node(ctx: Ctx, words: list[str]) -> None:
    _g(ctx)["node"] = _one_arg(ctx, words, "a name")


@keyword("description", "gflb", "<text>", "description shown on the stats page")
def kw_description(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 2:
        raise KeywordError(f"'{words[0]}' expects a string argument.")
    text = " ".join(words[1:])
    if ctx.section == "global":
        _g(ctx)["description"] = text
    else:
        ctx.px.f["description"] = text


for _name, _field in (
    ("server-state-file", "server_state_file"),
    ("server-state-base", "server_state_base"),
    ("ca-base", "ca_base"),
    ("crt-base", "crt_base"),
):

    def _store(ctx: Ctx, words: list[str], _field: str = _field) -> None:
        _g(ctx)[_field] = _one_arg(ctx, words, "a path")

    keyword(_name, "g", "<path>", f"{_name.replace('-', ' ')} directory or file")(_store)


@keyword(
    "stats socket",
    "g",
    "<address> [level <l>] [mode <m>] [expose-fd listeners] ...",
    "runtime API socket (CLI)",
)
def kw_stats_socket(ctx: Ctx, words: list[str]) -> None:
    from .kw_bind import parse_stats_socket

    if len(words) < 3:
        raise KeywordError("'stats socket' requires a path or an address")
    _g(ctx).setdefault("stats_sockets", []).append(parse_stats_socket(ctx, words[2], words[3:]))


@keyword("stats timeout", "g", "<time>", "idle timeout of the runtime API connections")
def kw_stats_timeout(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 3:
        raise KeywordError("'stats timeout' expects a time argument")
    try:
        _g(ctx)["stats_timeout_ms"] = ctx.time(words[2], "stats timeout")
    except KeywordError as exc:
        msg = str(exc)
        if msg.endswith(" in 'stats timeout'"):
            msg = "'stats timeout' : " + msg[: -len(" in 'stats timeout'")]
        raise KeywordError(msg) from None


@keyword("stats maxconn", "g", "<n>", "maximum concurrent runtime API connections")
def kw_stats_maxconn(ctx: Ctx, words: list[str]) -> None:
    _g(ctx)["stats_maxconn"] = ctx.integer(words[2] if len(words) > 2 else None, "stats maxconn", minimum=1)


_TUNE_FIELDS = {"tune.bufsize": "bufsize", "tune.maxrewrite": "maxrewrite", "tune.pipesize": "pipesize"}


@keyword("tune.bufsize", "g", "<size>", "buffer size (bytes, k/m/g units accepted)")
def kw_tune_size(ctx: Ctx, words: list[str]) -> None:
    value = ctx.size(_one_arg(ctx, words, "a size"))
    if value <= 0 and words[0] == "tune.bufsize":
        raise KeywordError(f"'{words[0]}' expects a positive integer argument.")
    _g(ctx).setdefault("tune", {})[_TUNE_FIELDS[words[0]]] = value


keyword("tune.maxrewrite", "g", "<size>", "reserve kept in buffers for header rewriting")(kw_tune_size)
keyword("tune.pipesize", "g", "<size>", "size of the splice() pipes")(kw_tune_size)


@keyword("tune.http.maxhdr", "g", "<n>", "maximum number of headers in a request or response")
def kw_tune_maxhdr(ctx: Ctx, words: list[str]) -> None:
    value = ctx.integer(_one_arg(ctx, words, "an integer"), minimum=1, maximum=32767)
    _g(ctx).setdefault("tune", {})["http_maxhdr"] = value


@keyword("tune.maxaccept", "g", "<n>", "connections accepted at once per wake-up")
def kw_tune_maxaccept(ctx: Ctx, words: list[str]) -> None:
    _g(ctx).setdefault("tune", {})["maxaccept"] = ctx.integer(_one_arg(ctx, words, "an integer"))


@keyword("setenv", "g", "<name> <value>", "set an environment variable (affects later ${} expansion)")
def kw_setenv(ctx: Ctx, words: list[str]) -> None:
    if len(words) != 3:
        raise KeywordError(f"'{words[0]}' expects exactly two arguments.")
    if words[0] == "presetenv" and words[1] in ctx.state.environ:
        return
    ctx.state.environ[words[1]] = words[2]


keyword("presetenv", "g", "<name> <value>", "set an environment variable unless it is set")(kw_setenv)


@keyword("unsetenv", "g", "<name>...", "remove environment variables")
def kw_unsetenv(ctx: Ctx, words: list[str]) -> None:
    for name in words[1:]:
        ctx.state.environ.pop(name, None)


@keyword("resetenv", "g", "[<name>...]", "remove all environment variables but these")
def kw_resetenv(ctx: Ctx, words: list[str]) -> None:
    keep = set(words[1:])
    for name in list(ctx.state.environ):
        if name not in keep:
            del ctx.state.environ[name]


_GLOBAL_IGNORED = _names("""
    51degrees-cache-size 51degrees-data-file 51degrees-property-name-list 51degrees-property-separator
    busy-polling close-spread-time cluster-secret default-path deviceatlas-json-file deviceatlas-log-level
    deviceatlas-properties-cookie deviceatlas-separator expose-experimental-directives fd-hard-limit
    h1-accept-payload-with-any-method h1-case-adjust h1-case-adjust-file h2-workaround-bogus-websocket-clients
    httpclient.resolvers.id httpclient.resolvers.prefer httpclient.ssl.ca-file httpclient.ssl.verify
    insecure-fork-wanted insecure-setuid-wanted issuers-chain-path localpeer lua-load lua-load-per-thread
    lua-prepend-path maxcompcpuusage maxcomprate maxconnrate maxsessrate maxsslconn maxsslrate
    maxzlibmem mworker-max-reloads no-memory-trimming noepoll noevports nogetaddrinfo nokqueue nopoll
    noreuseport numa-cpu-mapping pp2-never-send-local profiling.memory profiling.tasks quiet
    set-dumpable set-var set-var-fmt ssl-default-bind-ciphers ssl-default-bind-ciphersuites
    ssl-default-bind-curves ssl-default-bind-options ssl-default-server-ciphers
    ssl-default-server-ciphersuites ssl-default-server-options ssl-dh-param-file ssl-engine
    ssl-load-extra-del-ext ssl-load-extra-files ssl-mode-async ssl-propquery ssl-provider ssl-provider-path
    ssl-server-verify ssl-skip-self-issued-ca strict-limits thread-group thread-groups unix-bind
    wurfl-cache-size wurfl-data-file wurfl-information-list wurfl-information-list-separator
    wurfl-patch-file zero-warning external-check stats bind-process
    tune.buffers.limit tune.buffers.reserve tune.comp.maxlevel tune.fail-alloc tune.fd.edge-triggered
    tune.h2.header-table-size tune.h2.initial-window-size tune.h2.max-concurrent-streams
    tune.h2.max-frame-size tune.http.cookielen tune.http.logurilen tune.idle-pool.shared tune.idletimer
    tune.listener.multi-queue tune.lua.forced-yield tune.lua.maxmem tune.lua.service-timeout
    tune.lua.session-timeout tune.lua.task-timeout tune.maxpollevents tune.pattern.cache-size
    tune.peers.max-updates-at-once tune.pool-high-fd-ratio tune.pool-low-fd-ratio tune.rcvbuf.client
    tune.rcvbuf.server tune.recv_enough tune.runqueue-depth tune.sched.low-latency tune.sndbuf.client
    tune.sndbuf.server tune.ssl.cachesize tune.ssl.capture-buffer-size tune.ssl.capture-cipherlist-size
    tune.ssl.default-dh-param tune.ssl.force-private-cache tune.ssl.hard-maxrecord tune.ssl.keylog
    tune.ssl.lifetime tune.ssl.maxrecord tune.ssl.ssl-ctx-cache-size tune.vars.global-max-size
    tune.vars.proc-max-size tune.vars.reqres-max-size tune.vars.sess-max-size tune.vars.txn-max-size
    tune.zlib.memlevel tune.zlib.windowsize
""")
unsupported([n for n in _GLOBAL_IGNORED if n not in ("stats", "bind-process")], "g")
unsupported(["stats bind-process"], "g")
