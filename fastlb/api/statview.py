"""``show stat``: the rows of fastlb.stats, the builder the statistics page, its exports and the
Prometheus exporter use too.

The rows come from the plan and shared memory, where the master publishes what only it knows
(health/publish.py: check and agent health, transitional states, last check outputs, servers added
or deleted at run time, backend transitions). Before answering, the master publishes every server
again, so that ``show stat`` reflects changes made a moment ago; the pages served by workers see
the same records.

``typed`` output is derived from the rows' JSON form (same tags and value types).
"""
from __future__ import annotations

from typing import Any

from ..health.publish import publish_all
from ..stats.collect import RateTracker, StatRow, filter_rows, stat_rows
from ..stats.export import json_row, render_csv, render_json

__all__ = ["RateTracker", "api_stat_rows", "filter_rows", "render_csv", "render_json", "render_typed"]

_LETTERS = {
    "Key": "K", "Config": "C", "Metric": "M", "Status": "S", "Product": "P",
    "Name": "N", "Gauge": "G", "Limit": "L", "Max": "M", "Min": "m", "Rate": "R", "Counter": "C",
    "Duration": "D", "Age": "A", "Output": "O", "Avg": "a", "Time": "T",
    "Process": "P", "Service": "S", "System": "s", "Cluster": "C",
}


def api_stat_rows(ctx: Any, rates: RateTracker | None = None) -> list[StatRow]:
    """Every statistics row, HAProxy's order, as the runtime API shows them."""
    publish_all(ctx.shm, ctx.table)
    return stat_rows(ctx.plan, ctx.shm, rates=rates, legends=True)


def render_typed(rows: list[StatRow]) -> str:
    """``show stat typed``: ``F.<iid>.<sid>.<pos>.<name>.1:<tags>:<type>:<value>`` lines, a blank
    line after each row."""
    lines = []
    letter = {0: "F", 1: "B", 2: "S", 3: "L"}
    for row in rows:
        for item in json_row(row):
            t = item["tags"]
            tags = _LETTERS[t["origin"]] + _LETTERS[t["nature"]] + _LETTERS[t["scope"]]
            f = item["field"]
            val = item["value"]
            lines.append(
                f"{letter[row.obj_type]}.{row.proxy_id}.{row.sid}.{f['pos']}.{f['name']}.1:{tags}:"
                f"{val['type']}:{val['value']}\n"
            )
        lines.append("\n")
    return "".join(lines)
