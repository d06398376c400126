"""ACL lines and ``if``/``unless`` conditions, parsed into ``AclDef`` and ``Condition`` at load time.

The matching engine is not here; this module knows which sample fetches exist, which of them
fastlb supports, their output type (to pick the default matching method and accept integer
operators), and rejects unknown ones with HAProxy's wording.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from .model import AclDef, Condition, ConditionTerm

#: HAProxy's predefined ACLs (configuration manual 7.4): always defined in every proxy.
PREDEFINED_ACLS = frozenset(
    {
        "FALSE",
        "HTTP",
        "HTTP_1.0",
        "HTTP_1.1",
        "HTTP_CONTENT",
        "HTTP_URL_ABS",
        "HTTP_URL_SLASH",
        "HTTP_URL_STAR",
        "LOCALHOST",
        "METH_CONNECT",
        "METH_DELETE",
        "METH_GET",
        "METH_HEAD",
        "METH_OPTIONS",
        "METH_POST",
        "METH_PUT",
        "METH_TRACE",
        "RDP_COOKIE",
        "REQ_CONTENT",
        "TRUE",
        "WAIT_END",
    }
)

MATCH_METHODS = frozenset(
    {"found", "bool", "int", "ip", "bin", "len", "str", "sub", "reg", "beg", "end", "dir", "dom"}
)
INT_OPERATORS = frozenset({"eq", "ge", "gt", "le", "lt"})


@dataclass(frozen=True)
class FetchInfo:
    """A sample fetch usable in ACLs: output type (str, int, ip, bool, bin) and default matcher."""

    output: str
    matcher: str
    needs_args: bool = False  # e.g. url_param(<name>)


def _fetches() -> dict[str, FetchInfo]:
    table: dict[str, FetchInfo] = {}

    def add(names: str, output: str, matcher: str | None = None, needs_args: bool = False) -> None:
        for name in names.split():
            table[name] = FetchInfo(
                output,
                matcher or {"str": "str", "int": "int", "ip": "ip", "bool": "bool", "bin": "bin"}[output],
                needs_args,
            )

    # Layer 7: path/url/base/query and their historical ACL derivatives (fetch_<matcher>).
    for base in ("path", "url", "base"):
        add(base, "str")
        for m in ("beg", "end", "sub", "reg", "dir", "dom"):
            add(f"{base}_{m}", "str", m)
        add(f"{base}_len", "str", "len")
    add("url_param urlp", "str")
    add("url_ip", "ip")
    add("url_port", "int")
    add("query pathq url32 base32", "str")
    add("method", "str", "meth")  # HAProxy's method matcher: known methods by exact name
    add("req.ver req_ver", "str")
    add("res.ver resp_ver", "str")
    add("status", "int")
    # Headers: hdr() and friends, request and response sides.
    for base in ("hdr", "req.hdr", "res.hdr", "shdr"):
        add(base, "str")
        for m in ("beg", "end", "sub", "reg", "dir", "dom"):
            add(f"{base}_{m}", "str", m)
        add(f"{base}_len", "str", "len")
        add(f"{base}_cnt", "int")
        add(f"{base}_val", "int")
        add(f"{base}_ip", "ip")
    add("req.fhdr req.fhdr_cnt res.fhdr res.fhdr_cnt req.hdrs res.hdrs req.hdr_names res.hdr_names", "str")
    add("req.hdr_cnt res.hdr_cnt req.fhdr_cnt res.fhdr_cnt", "int")
    add("req.hdr_ip res.hdr_ip", "ip")
    add("req.hdr_val res.hdr_val", "int")
    # Cookies.
    for base in ("cook", "req.cook", "scook", "res.cook"):
        add(base, "str")
        for m in ("beg", "end", "sub", "reg", "dir", "dom"):
            add(f"{base}_{m}", "str", m)
        add(f"{base}_len", "str", "len")
        add(f"{base}_cnt", "int")
        add(f"{base}_val", "int")
    add("req.cook_cnt req.cook_val res.cook_cnt res.cook_val", "int")
    add("req.cook_names res.cook_names", "str")
    # Bodies and misc. HTTP.
    add(
        "req.body req.body_param res.body capture.req.uri capture.req.method capture.req.hdr "
        "capture.res.hdr unique-id http_auth_group http_auth_type http_auth_user",
        "str",
    )
    add("req.body_len req.body_size res.body_len res.body_size", "int")
    add("http_auth http_first_req", "bool")
    add("req.ssl_hello_type req_ssl_hello_type", "int")
    # Layer 4 and connection.
    add("src dst", "ip")
    add("src_port dst_port so_id fe_id be_id srv_id", "int")
    add(
        "nbsrv connslots be_conn be_conn_free be_sess_rate fe_conn fe_req_rate fe_sess_rate "
        "queue avg_queue srv_conn srv_queue srv_sess_rate dst_conn req.len req_len",
        "int",
    )
    add("srv_is_up always_true always_false", "bool")
    add("fe_name be_name srv_name", "str")
    add("req.payload req.payload_lv res.payload res.payload_lv", "bin")
    add("req.proto_http", "bool")
    add("req.rdp_cookie req_rdp_cookie rdp_cookie", "str")
    add("req.rdp_cookie_cnt rdp_cookie_cnt", "int")
    add("int", "int")
    add("str env var", "str")
    add("bool", "bool")
    add("ipv4 ipv6", "ip")
    add("rand date uptime thread nbthread nbproc proc stopping", "int")
    add("hostname", "str")
    # TLS: known to the parser; fastlb has no TLS termination yet, and these simply never
    # match on plain-text listeners (as in HAProxy without "ssl" on the bind).
    add("ssl_fc ssl_fc_has_crt ssl_fc_has_sni ssl_c_used", "bool")
    add("ssl_fc_sni ssl_fc_protocol ssl_fc_cipher ssl_fc_alpn ssl_fc_npn", "str")
    add("ssl_fc_sni_end ssl_fc_sni_reg", "str")
    for name in ("url_param", "urlp", "req.body_param", "env", "var", "int", "str", "ipv4", "ipv6"):
        table[name] = FetchInfo(table[name].output, table[name].matcher, needs_args=True)
    return table


FETCHES: dict[str, FetchInfo] = _fetches()


def _names(text: str) -> list[str]:
    return text.split()


#: Real HAProxy 2.6 fetches that fastlb does not support yet: a clear error instead of "unknown".
UNSUPPORTED_FETCHES = frozenset(
    _names("""
    sc_get_gpc0 sc0_get_gpc0 sc1_get_gpc0 sc2_get_gpc0 sc_http_req_rate sc0_http_req_rate
    sc1_http_req_rate sc2_http_req_rate sc_conn_cur sc0_conn_cur sc1_conn_cur sc2_conn_cur
    sc_conn_rate sc0_conn_rate sc1_conn_rate sc2_conn_rate sc_http_err_rate sc0_http_err_rate
    sc1_http_err_rate sc2_http_err_rate sc_tracked sc0_tracked sc1_tracked sc2_tracked
    src_conn_cur src_conn_rate src_http_req_rate src_http_err_rate src_get_gpc0 src_inc_gpc0
    src_updt_conn_cnt src_bytes_in_rate src_bytes_out_rate table_cnt table_avl
    ssl_c_s_dn ssl_c_i_dn ssl_c_verify ssl_c_err ssl_c_ca_err ssl_c_serial ssl_c_sha1 ssl_c_version
    ssl_f_s_dn ssl_f_i_dn ssl_bc ssl_bc_protocol ssl_bc_cipher ssl_fc_session_id ssl_fc_is_resumed
    ssl_fc_use_keysize ssl_fc_alg_keysize ssl_c_notafter ssl_c_notbefore ssl_c_der ssl_f_der
    req.ssl_sni req_ssl_sni req.ssl_ver req_ssl_ver req.ssl_alpn req.ssl_ec_ext req.ssl_st_ext
    bc_http_major fc_http_major fc_rcvd_proxy fc_pp_unique_id fc_pp_authority fc_rtt fc_rttvar
    fc_unacked fc_sacked fc_retrans fc_fackets fc_lost fc_reordering bc_src bc_src_port bc_dst
    bc_dst_port fc_src fc_dst fc_src_port fc_dst_port
    lua.* wait_end payload payload_lv req.hdrs_bin res.cache_hit res.cache_name
    res.comp res.comp_algo txn.sess_term_state last_rule_file last_rule_line cpu_calls cpu_ns_avg
    cpu_ns_tot lat_ns_avg lat_ns_tot distcc_body distcc_param http_auth_bearer
    """)
)


class AclError(ValueError):
    """A malformed ACL or condition; the message is HAProxy's wording where it has one."""


def split_fetch(expr: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """Split ``name(arg1,arg2),conv1(x),conv2`` into name, arguments and converters.
    Arguments may be quoted (second-level quoting) to hold commas or parentheses."""
    i = 0
    n = len(expr)
    while i < n and expr[i] not in "(,":
        i += 1
    name = expr[:i]
    args: list[str] = []
    if i < n and expr[i] == "(":
        i, args = _read_args(expr, i + 1)
    converters: list[str] = []
    while i < n:
        if expr[i] != ",":
            raise AclError(f"unexpected character '{expr[i]}' after fetch arguments in '{expr}'")
        j = i + 1
        while j < n and expr[j] not in "(,":
            j += 1
        if j < n and expr[j] == "(":
            j, _ = _read_args(expr, j + 1)
        converters.append(expr[i + 1 : j])
        i = j
    return name, tuple(args), tuple(converters)


def _read_args(expr: str, i: int) -> tuple[int, list[str]]:
    args: list[str] = []
    cur: list[str] = []
    quote = ""
    n = len(expr)
    while i < n:
        ch = expr[i]
        i += 1
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and i < n:
                cur.append(expr[i])
                i += 1
            else:
                cur.append(ch)
        elif ch in "'\"":
            quote = ch
        elif ch == ",":
            args.append("".join(cur))
            cur = []
        elif ch == ")":
            if cur or args:
                args.append("".join(cur))
            return i, args
        else:
            cur.append(ch)
    raise AclError(f"missing closing ')' in fetch expression '{expr}'")


def parse_acl_expression(
    name: str, words: list[str], file: str = "", line: int = 0, warnings: list[str] | None = None
) -> AclDef:
    """Parse ``<fetch> [flags] [operator] <values...>`` (the words after the ACL name)."""
    if not words:
        raise AclError("missing fetch method in ACL expression")
    expr = words[0]
    fetch, fetch_args, converters = split_fetch(expr)
    if not fetch:
        raise AclError(f"missing fetch method in ACL expression '{expr}'")
    if fetch in UNSUPPORTED_FETCHES:
        raise AclError(
            f"fetch method '{fetch}' in ACL expression '{expr}' is a HAProxy fetch that "
            "fastlb does not support yet"
        )
    info = FETCHES.get(fetch)
    if info is None:
        raise AclError(f"unknown fetch method '{fetch}' in ACL expression '{expr}'.")
    if info.needs_args and not fetch_args:
        raise AclError(f"fetch method '{fetch}' : missing argument in ACL expression '{expr}'.")
    ignore_case = no_dns = False
    matcher: str | None = None
    files: list[str] = []
    map_file: str | None = None
    unique_id: str | None = None
    explicit_end = False
    i = 1
    while i < len(words) and words[i].startswith("-"):
        flag = words[i]
        if flag == "--":
            explicit_end = True
            i += 1
            break
        if flag == "-i":
            ignore_case = True
        elif flag == "-n":
            no_dns = True
        elif flag in ("-f", "-m", "-M", "-u"):
            if i + 1 >= len(words):
                raise AclError(f"missing argument after '{flag}'")
            value = words[i + 1]
            if flag == "-f":
                if not os.path.isfile(value):
                    raise AclError(f"failed to open pattern file <{value}>.")
                files.append(value)
            elif flag == "-m":
                if value not in MATCH_METHODS:
                    raise AclError(f"unknown matching method '{value}' when parsing ACL expression.")
                matcher = value
            elif flag == "-M":
                map_file = value
            else:
                unique_id = value
            i += 1
        else:
            raise AclError(
                f"'{flag}' is not a valid ACL option. Please use '--' before any pattern "
                "beginning with a '-'."
            )
        i += 1
    values = list(words[i:])
    effective = matcher or info.matcher
    operator = None
    if effective in ("int", "len") and values and values[0] in INT_OPERATORS:
        operator = values.pop(0)
    if effective in ("int", "len"):
        for v in values:
            if not _valid_int_pattern(v):
                raise AclError(f"'{v}' is neither a number nor a supported operator.")
    if effective == "ip" and no_dns:
        # -n: addresses only, no name resolution (HAProxy's PAT_MF_NO_DNS)
        for v in values:
            if not valid_ip_pattern(v):
                raise AclError(f"'{v}' is not a valid IPv4 or IPv6 address.")
    if (
        not values
        and not files
        and not explicit_end
        and effective not in ("found", "bool")
        and warnings is not None
    ):
        warnings.append(
            f"parsing acl keyword '{fetch}' : no pattern to match against were provided, so "
            "this ACL will never match. If this is what you intended, please add '--' to get "
            "rid of this warning. If you intended to match only for existence, please use "
            "'-m found'."
        )
    return AclDef(
        name=name,
        fetch=fetch,
        fetch_args=fetch_args,
        converters=converters,
        ignore_case=ignore_case,
        no_dns=no_dns,
        matcher=effective,
        pattern_files=tuple(files),
        map_file=map_file,
        unique_id=unique_id,
        operator=operator,
        values=tuple(values),
        file=file,
        line=line,
    )


def valid_ip_pattern(v: str) -> bool:
    """A numeric address pattern: dotted-quad IPv4 or IPv6, optionally /bits (or an IPv4
    /netmask), as HAProxy accepts without DNS."""
    addr, slash, mask = v.partition("/")
    fam, bits = (socket.AF_INET6, 128) if ":" in addr else (socket.AF_INET, 32)
    try:
        socket.inet_pton(fam, addr)
    except OSError:
        return False
    if not slash:
        return True
    if mask.isdigit():
        return int(mask) <= bits
    if fam == socket.AF_INET:
        try:
            socket.inet_pton(socket.AF_INET, mask)
            return True
        except OSError:
            return False
    return False


def _valid_int_pattern(v: str) -> bool:
    """Integer patterns: ``N``, ``N:M``, ``N:``, ``:M`` (ranges)."""
    parts = v.split(":")
    if len(parts) > 2:
        return False
    return all(p.isdigit() or (p == "" and len(parts) == 2) for p in parts) and v != ":"


def parse_condition(
    words: list[str], defined: set[str], file: str = "", line: int = 0, warnings: list[str] | None = None
) -> Condition:
    """Parse ``if|unless <terms>`` into a ``Condition``. ``defined`` holds the ACL names declared
    so far in the proxy (HAProxy requires an ACL to be declared before it is used)."""
    if not words or words[0] not in ("if", "unless"):
        raise AclError("condition must start with 'if' or 'unless'")
    negate_unless = words[0] == "unless"
    terms: list[list[ConditionTerm]] = [[]]
    i = 1
    n = len(words)
    while i < n:
        w = words[i]
        if w in ("||", "or"):
            if not terms[-1]:
                raise AclError(f"'{w}' without a term before it in condition")
            terms.append([])
            i += 1
            continue
        negate = False
        while w.startswith("!"):
            negate = not negate
            w = w[1:]
            if not w:
                i += 1
                if i >= n:
                    raise AclError("missing ACL name after '!'")
                w = words[i]
        if w == "{":
            j = i + 1
            while j < n and words[j] != "}":
                j += 1
            if j >= n:
                raise AclError("missing closing '}' in condition.")
            acl = parse_acl_expression("", list(words[i + 1 : j]), file, line, warnings)
            terms[-1].append(ConditionTerm(acl="", negate=negate, anonymous=acl))
            i = j + 1
            continue
        if w == "}":
            raise AclError("unexpected '}' in condition.")
        if w in PREDEFINED_ACLS:
            terms[-1].append(ConditionTerm(acl=w, negate=negate, predefined=True))
        elif w in defined:
            terms[-1].append(ConditionTerm(acl=w, negate=negate))
        else:
            raise AclError(f"no such ACL : '{w}'.")
        i += 1
    if not terms[-1]:
        if len(terms) == 1:
            # HAProxy accepts a bare "if"/"unless": an empty OR that never matches ("if") or
            # always matches ("unless"). Kept as is; the rule parser warns about it.
            return Condition(terms=(), negate_unless=negate_unless, text=" ".join(words))
        raise AclError("missing ACL after '||' in condition")
    return Condition(terms=tuple(tuple(t) for t in terms), negate_unless=negate_unless, text=" ".join(words))
