"""CSV and JSON renderings of statistics rows, as HAProxy 2.6's ``;csv`` and ``;json`` exports."""
from __future__ import annotations

import json
from collections.abc import Iterable

from .collect import StatRow
from .fields import CSV_HEADER, GENERAL_FIELDS, MODULE_FIELDS, OBJ_TYPES, StatField


def _csv_value(v: object) -> str:
    if v is None:
        return ""
    s = str(v)
    if "," in s or '"' in s or "\n" in s:
        # HAProxy quotes such strings the CSV way (RFC 4180): surround, double the quotes
        return '"' + s.replace('"', '""') + '"'
    return s


def csv_line(row: StatRow) -> str:
    v = row.values
    general = ",".join(_csv_value(v.get(f.name)) for f in GENERAL_FIELDS)
    modules = ",".join(_csv_value(v.get(f.name)) for f in MODULE_FIELDS)
    return f"{general},-,{modules},\n"


def render_csv(rows: Iterable[StatRow], header: bool = True) -> str:
    """The CSV text: HAProxy's header line, then one line per row (each with a trailing comma)."""
    out = [CSV_HEADER] if header else []
    out.extend(csv_line(r) for r in rows)
    return "".join(out)


def _typed(f: StatField, value: object) -> dict:
    vtype = "str" if isinstance(value, str) else f.vtype
    if vtype == "u32" and isinstance(value, int) and value < 0:
        vtype = "s32"
    return {"type": vtype, "value": value}


def json_row(row: StatRow) -> list[dict]:
    out = []
    obj = OBJ_TYPES[row.obj_type]
    for f in GENERAL_FIELDS + MODULE_FIELDS:
        value = row.values.get(f.name)
        if value is None:
            continue
        out.append({
            "objType": obj, "proxyId": row.proxy_id, "id": row.sid,
            "field": {"pos": f.pos, "name": f.name}, "processNum": 1,
            "tags": f.tags_for(row.obj_type), "value": _typed(f, value),
        })
    return out


def render_json(rows: Iterable[StatRow]) -> str:
    """HAProxy's typed JSON: a list of rows, each a list of its non-empty fields."""
    return json.dumps([json_row(r) for r in rows], separators=(",", ":"))

