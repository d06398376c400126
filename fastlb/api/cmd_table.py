"""Runtime commands on stick tables: ``show table [<name> [<filter>]*]`` and
``clear table <name> [<filter>]*``, with HAProxy 2.6's output and messages.

The tables live in shared memory (fastlb._stk): the master reads and clears them directly, every
worker sees the change at once. Entries are listed in key order, as HAProxy's trees give them;
``use`` is always 0 (fastlb holds no reference on an entry outside a lookup). Data types a table
declares with ``store`` besides server_id are printed as 0: they are only fed by ``track-sc``
rules, which fastlb does not run yet.
"""
from __future__ import annotations

from typing import Any

from ..config.units import UnitError, parse_time
from .commands import ACCESS_LVL_OPER, Session, command

#: HAProxy's data types in the order it prints them (STKTABLE_DT_*); arrays (gpt, gpc, gpc_rate)
#: are not printed.
DATA_ORDER = (
    "server_id", "gpt0", "gpc0", "gpc0_rate", "conn_cnt", "conn_rate", "conn_cur", "sess_cnt", "sess_rate",
    "http_req_cnt", "http_req_rate", "http_err_cnt", "http_err_rate", "bytes_in_cnt", "bytes_in_rate",
    "bytes_out_cnt", "bytes_out_rate", "gpc1", "gpc1_rate", "server_key", "http_fail_cnt", "http_fail_rate",
    "gpt", "gpc", "gpc_rate",
)
_ARRAYS = frozenset(("gpt", "gpc", "gpc_rate"))
_OPERATORS = ("eq", "ne", "le", "ge", "lt", "gt")
_CLEAR_USAGE = 'Required arguments: <table> "data.<store_data_type>" <operator> <value> or <table> key <key>\n'
_SHOW_USAGE = 'Optional argument only supports "data.<store_data_type>" <operator> <value> and key <key>\n'


def _stored(plan_table: Any) -> dict[str, str]:
    """data type -> how it prints ("conn_cur", "http_req_rate(10000)") for the declared types."""
    out: dict[str, str] = {}
    for item in getattr(plan_table, "stores", ()) or ():
        name, _, arg = item.partition("(")
        if name in ("server_id", "server_key", "server_name") or name in _ARRAYS:
            continue
        if arg and name.endswith("_rate"):
            try:
                out[name] = f"{name}({parse_time(arg.rstrip(')'), name).ms})"
            except UnitError:
                out[name] = name
        else:
            out[name] = name
    return out


def _tables(ctx: Any) -> dict[str, Any]:
    return getattr(ctx.shm, "stick_tables", None) or {}


def _plan_table(ctx: Any, name: str) -> Any:
    for t in getattr(ctx.plan, "stick_tables", ()):
        if t.name == name:
            return t
    return None


def _parse_filters(table: Any, stored: dict[str, str], args: list[str], usage: str) -> tuple[Any, list, str]:
    """(key or None, [(type, op, value)], error text)."""
    key = None
    filters: list[tuple[str, str, int]] = []
    i = 0
    while i < len(args):
        word = args[i]
        if word == "key":
            if i + 1 >= len(args):
                return None, [], "Key value expected\n"
            key = table.parse_key(args[i + 1])
            if key is None:
                return None, [], "\x00"  # HAProxy prints nothing for a key of the wrong type
            i += 2
            continue
        if word.startswith("data."):
            n = len(filters) + 1
            dtype = word[5:]
            if dtype not in DATA_ORDER:
                return None, [], f"Filter entry #{n}: Unknown data type\n"
            if dtype != "server_id" and dtype not in stored:
                return None, [], f"Filter entry #{n}: Data type not stored in this table\n"
            op = args[i + 1] if i + 1 < len(args) else ""
            if op not in _OPERATORS:
                return None, [], f'Filter entry #{n}: Require and operator among "eq", "ne", "le", "ge", "lt", "gt"\n'
            try:
                value = int(args[i + 2])
            except (IndexError, ValueError):
                return None, [], f"Filter entry #{n}: Require a valid integer value to compare against\n"
            filters.append((dtype, op, value))
            i += 3
            continue
        return None, [], usage
    return key, filters, ""


def _passes(entry: tuple, filters: list) -> bool:
    for dtype, op, value in filters:
        v = entry[1] if dtype == "server_id" else 0
        ok = {"eq": v == value, "ne": v != value, "le": v <= value, "ge": v >= value, "lt": v < value,
              "gt": v > value}[op]
        if not ok:
            return False
    return True


def _entry_line(table: Any, stored: dict[str, str], entry: tuple) -> str:
    key, sid, skey, left = entry
    parts = [f"0x{id(entry) & 0xffffffffffff:x}: key={table.key_text(key)} use=0 exp={left or 0}"]
    for dtype in DATA_ORDER:
        if dtype == "server_id":
            parts.append(f"server_id={sid}")
        elif dtype == "server_key":
            if 0 <= skey < len(table.server_keys):
                parts.append(f"server_key={table.server_keys[skey]}")
        elif dtype in stored:
            parts.append(f"{stored[dtype]}=0")
    return " ".join(parts) + "\n"


def _header(table: Any) -> str:
    return f"# table: {table.name}, type: {table.type}, size:{table.size}, used:{table.used()}\n"


@command(
    "show table <table> [<filter>]*          : report table usage stats or dump this table's contents (filter: data/key)",
    "show table",
)
def cmd_show_table(ctx: Any, sess: Session, args: list[str]) -> str:
    tables = _tables(ctx)
    if len(args) < 3:
        # every table, most recently declared first (HAProxy's list order)
        return "".join(_header(t) for t in reversed(list(tables.values())))
    table = tables.get(args[2])
    if table is None:
        return "No such table\n"
    stored = _stored(_plan_table(ctx, table.name))
    key, filters, err = _parse_filters(table, stored, args[3:], _SHOW_USAGE)
    if err:
        return "" if err == "\x00" else err
    entries = table.entries()
    if key is not None:
        entries = [e for e in entries if e[0] == key]
    entries.sort(key=lambda e: e[0])
    return _header(table) + "".join(_entry_line(table, stored, e) for e in entries if _passes(e, filters))


@command(
    "clear table <table> [<filter>]*         : remove an entry from a table (filter: data/key)",
    "clear table",
)
def cmd_clear_table(ctx: Any, sess: Session, args: list[str]) -> str:
    tables = _tables(ctx)
    if len(args) < 3:
        return _CLEAR_USAGE
    table = tables.get(args[2])
    if table is None:
        return "No such table\n"
    if sess.level < ACCESS_LVL_OPER:
        return ""  # HAProxy ignores it silently below operator
    stored = _stored(_plan_table(ctx, table.name))
    key, filters, err = _parse_filters(table, stored, args[3:], _CLEAR_USAGE)
    if err:
        return "" if err == "\x00" else err
    if key is not None and not filters:
        table.remove(key)
        return ""
    if key is None and not filters:
        table.clear()
        return ""
    for e in table.entries():
        if (key is None or e[0] == key) and _passes(e, filters):
            table.remove(e[0])
    return ""
