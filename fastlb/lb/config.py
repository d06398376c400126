"""The ``balance`` and ``hash-type`` keywords, as HAProxy 2.6 parses them (backend_parse_balance()
and the "hash-type" section keyword), mapped onto :class:`fastlb._lb.Balancer` arguments.

Only the words after the keyword are taken (``"uri len 10 whole"``, or a list of words). Errors
raise :class:`BalanceError` with HAProxy's wording, so that a configuration checker can print them
as HAProxy does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

ALGORITHMS = (
    "roundrobin",
    "static-rr",
    "leastconn",
    "first",
    "source",
    "uri",
    "url_param",
    "hdr",
    "random",
    "rdp-cookie",
    "hash",
)
HASH_FUNCTIONS = ("sdbm", "djb2", "wt6", "crc32")


class BalanceError(ValueError):
    """A ``balance`` or ``hash-type`` line HAProxy would refuse."""


def _words(args: str | Sequence[str]) -> list[str]:
    return args.split() if isinstance(args, str) else list(args)


def _positive(words: list[str], i: int, opt: str) -> int:
    if i + 1 >= len(words) or not re.fullmatch(r"\d+", words[i + 1]) or int(words[i + 1]) <= 0:
        raise BalanceError(
            f"'uri': '{opt}' expects a positive integer (got '{words[i + 1] if i + 1 < len(words) else ''}')."
        )
    return int(words[i + 1])


def parse_balance(args: str | Sequence[str]) -> dict:
    """Words of a ``balance`` line -> Balancer keyword arguments (``algorithm`` included).

    The ``check_post`` option of url_param (hashing a POST body) is accepted and reported as
    ``check_post=True`` for the caller, who decides whether to look at the body; its obsolete
    ``<max_wait>`` argument is ignored, as in HAProxy. ``hash <expr>`` returns ``expression`` for
    the caller to evaluate."""
    w = _words(args)
    if not w:
        raise BalanceError("'balance' expects an algorithm name.")
    algo = w[0]
    if algo in ("roundrobin", "static-rr", "leastconn", "first", "source"):
        return {"algorithm": algo}
    if algo.startswith("random"):
        m = re.fullmatch(r"random(?:\((.*)\))?", algo)
        if not m:
            raise BalanceError(f"unknown load balancing algorithm '{algo}'")
        draws = 2
        if m.group(1) is not None:
            if not re.fullmatch(r"\d+", m.group(1)) or int(m.group(1)) < 1:
                raise BalanceError("'random' : number of draws must be at least 1.")
            draws = int(m.group(1))
        return {"algorithm": "random", "draws": draws}
    if algo == "uri":
        kw: dict = {"algorithm": "uri"}
        i = 1
        while i < len(w):
            if w[i] == "len":
                kw["uri_len"] = _positive(w, i, "len")
                i += 2
            elif w[i] == "depth":
                kw["uri_depth"] = _positive(w, i, "depth")
                i += 2
            elif w[i] == "whole":
                kw["uri_whole"] = True
                i += 1
            elif w[i] == "path-only":
                kw["uri_path_only"] = True
                i += 1
            else:
                raise BalanceError(
                    f"'uri' only accepts parameters 'len', 'depth', 'path-only', and 'whole' (got '{w[i]}')."
                )
        return kw
    if algo == "url_param":
        if len(w) < 2:
            raise BalanceError("'url_param' requires an URL parameter name.")
        kw = {"algorithm": "url_param", "name": w[1]}
        if len(w) > 2:
            if w[2] != "check_post":
                raise BalanceError("'url_param' only accepts option 'check_post'.")
            kw["check_post"] = True
        return kw
    if algo.startswith("hdr"):
        m = re.fullmatch(r"hdr\((.+)\)", algo)
        if not m:
            raise BalanceError("hdr requires an http header field name.")
        kw = {"algorithm": "hdr", "name": m.group(1)}
        if len(w) > 1:
            if w[1] != "use_domain_only":
                raise BalanceError("hdr(name) only accepts option 'use_domain_only'.")
            kw["use_domain_only"] = True
        return kw
    if algo.startswith("rdp-cookie"):
        m = re.fullmatch(r"rdp-cookie(?:\((.+)\))?", algo)
        if not m:
            raise BalanceError("rdp-cookie : missing cookie name.")
        return {"algorithm": "rdp-cookie", "name": m.group(1) or "mstshash"}
    if algo == "hash":
        if len(w) < 2:
            raise BalanceError("'hash' requires a sample expression.")
        return {"algorithm": "hash", "expression": " ".join(w[1:])}
    raise BalanceError(
        "only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', "
        "'hash', 'hdr(name)', 'rdp-cookie(name)', 'random' and 'first' options."
    )


def hash_type_kwargs(args: str | Sequence[str] | None) -> dict:
    """Words of a ``hash-type`` line -> Balancer keyword arguments (empty when there is none).
    "consistent" without a function means sdbm with avalanche, as in HAProxy."""
    if args is None:
        return {}
    w = _words(args)
    if not w or w[0] not in ("map-based", "consistent"):
        if w and w[0] == "avalanche":
            raise BalanceError(
                "experimental feature 'hash-type avalanche' is not supported anymore, please use "
                "'hash-type map-based sdbm avalanche' instead."
            )
        raise BalanceError(
            "'hash-type' expects 'map-based' or 'consistent' followed by an optional function and modifier."
        )
    kw: dict = {"hash_type": w[0]}
    if len(w) > 1:
        if w[1] not in HASH_FUNCTIONS:
            raise BalanceError(f"'hash-type' : unknown hash function '{w[1]}'.")
        kw["hash_function"] = w[1]
        kw["avalanche"] = False
        if len(w) > 2:
            if w[2] != "avalanche" or len(w) > 3:
                raise BalanceError(f"'hash-type' : unknown hash modifier '{w[2]}'.")
            kw["avalanche"] = True
    return kw


def balance_kwargs(
    balance: str | Sequence[str],
    hash_type: str | Sequence[str] | None = None,
    *,
    allbackups: bool = False,
    hash_balance_factor: int = 0,
) -> dict:
    """Both lines (plus ``option allbackups`` and ``hash-balance-factor``) -> the keyword arguments
    of Balancer(**kw, servers=...). ``check_post`` and ``expression`` are removed from the result
    (see :func:`parse_balance`)."""
    kw = parse_balance(balance)
    kw.pop("check_post", None)
    kw.pop("expression", None)
    kw.update(hash_type_kwargs(hash_type))
    if allbackups:
        kw["allbackups"] = True
    if hash_balance_factor:
        kw["hash_balance_factor"] = hash_balance_factor
    return kw


def parse_weight_change(text: str, initial_weight: int) -> int:
    """The weight of a runtime "set weight <backend>/<server> <weight>[%]" (or an agent-check
    answer): absolute 0..256, or relative to the configured weight with a '%'. HAProxy's messages
    for bad input. A static algorithm then only accepts 0 and the configured weight
    (Balancer.set_weight raises with HAProxy's message)."""
    if not text:
        raise BalanceError("Require <weight> or <weight%>.")
    m = re.match(r"[-+]?\d+", text)
    if not m:
        raise BalanceError("Empty weight string empty or preceded by garbage")
    w, rest = int(m.group(0)), text[m.end() :]
    if rest == "%":
        if w < 0:
            raise BalanceError("Relative weight must be positive.")
        return min(initial_weight * min(w, 25600) // 100, 256)
    if w < 0 or w > 256:
        raise BalanceError("Absolute weight can only be between 0 and 256 inclusive.")
    if rest:
        raise BalanceError("Trailing garbage in weight string")
    return w
