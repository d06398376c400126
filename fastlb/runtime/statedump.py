"""The process messages HAProxy prints about its proxies: the SIGHUP state dump and the "Proxy
stopped" lines of a stop, in HAProxy 2.6's words so that log watchers keep matching them."""
from __future__ import annotations

from typing import Any

from .plan import Plan

#: admin flag of a server in maintenance (fastlb.engine._shm SRV_ADMF_MAINT)
_MAINT = 1


def _proxy_names(plan: Plan) -> list[str]:
    names = [p.name for p in plan.config.proxies if not p.disabled]
    return list(dict.fromkeys(names))


def sighup_lines(plan: Plan, shm: Any) -> list[tuple[str | None, str]]:
    """The lines of HAProxy's ``sig_dump_state`` with the proxy each is about (None for the
    opening line): one per server, then one per proxy."""
    out: list[tuple[str | None, str]] = [(None, "SIGHUP received, dumping servers states.")]
    for name in _proxy_names(plan):
        fe = plan.frontend(name)
        be = plan.backend(name)
        fe_cnt = shm.sum_counters(fe.counter_slot) if fe is not None else None
        be_cnt = shm.sum_counters(be.counter_slot) if be is not None else None
        active = backup = 0
        servers = be.servers if be is not None else []
        for sp in servers:
            st = shm.get_server(sp.slot)
            up = bool(st["oper"]) and not (st["admin"] & _MAINT)
            cnt = shm.sum_counters(sp.counter_slot)
            state = "UP" if up else "DOWN"
            out.append((name, f"SIGHUP: Server {name}/{sp.name} is {state}. Conn: {cnt['cur_sess']} act, "
                              f"{cnt['cur_queue']} pend, {cnt['cum_sess']} tot."))
            if up and st["eweight"]:
                if sp.backup:
                    backup += 1
                else:
                    active += 1
        feconn = fe_cnt["cur_sess"] if fe_cnt else 0
        beconn = be_cnt["cur_sess"] if be_cnt else 0
        pend = be_cnt["cur_queue"] if be_cnt else 0
        tail = (f"Conn: act(FE+BE): {feconn}+{beconn}, {pend} pend ({pend} unass), "
                f"tot(FE+BE): {fe_cnt['cum_conn'] if fe_cnt else 0}+{be_cnt['cum_sess'] if be_cnt else 0}.")
        if not servers:
            out.append((name, f"SIGHUP: Proxy {name} has no servers. {tail}"))
        elif active == 0:
            what = "is running on backup servers" if backup else "has no server available"
            out.append((name, f"SIGHUP: Proxy {name} {what} ! {tail}"))
        else:
            line = f"SIGHUP: Proxy {name} has {active} active servers and {backup} backup servers available. "
            out.append((name, line + tail))
    return out


def stopped_lines(plan: Plan, shm: Any) -> list[str]:
    """``Proxy <name> stopped (cumulated conns: FE: n, BE: m).``, one per proxy, as a stopping
    HAProxy prints them."""
    out = []
    for name in _proxy_names(plan):
        fe = plan.frontend(name)
        be = plan.backend(name)
        fe_n = shm.sum_counters(fe.counter_slot)["cum_conn"] if fe is not None else 0
        be_n = shm.sum_counters(be.counter_slot)["cum_sess"] if be is not None else 0
        out.append(f"Proxy {name} stopped (cumulated conns: FE: {fe_n}, BE: {be_n}).")
    return out
