"""Replay the HAProxy scenarios of tests/lb/vectors/ (recorded by tools/gen_lb_vectors.py) on
fastlb._lb.Balancer: the same backend, the same requests in the same order, the same runtime
changes; the result is the list of steps where we chose differently from HAProxy."""

from __future__ import annotations

import ipaddress
import json
import os

from fastlb._lb import Balancer

from fastlb.lb import balance_kwargs

VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors")


def load(name: str) -> dict:
    with open(os.path.join(VECTORS, name)) as f:
        return json.load(f)


def build(case: dict, now: int = 0) -> Balancer:
    kw = balance_kwargs(
        case["balance"],
        case.get("hash_type"),
        allbackups=case.get("allbackups", False),
        hash_balance_factor=case.get("hash_balance_factor", 0),
    )
    return Balancer(servers=case["servers"], now=now, **kw)


def request_headers(case: dict, key: dict) -> list[tuple[str, str]]:
    """The header lines tools/lb_oracle.py sends for <key>, in order."""
    hdrs = [("Host", key.get("host", "oracle")), ("X-Be", case["name"]), ("Connection", "close")]
    hdrs += [(key["header_name"], v) for v in key.get("headers", [])]
    if "sample" in key:
        hdrs.append(("X-K", key["sample"]))
    return hdrs


def key_args(b: Balancer, case: dict, key: dict) -> dict:
    if case.get("tcp"):
        return {"payload": bytes.fromhex(key["payload_hex"])} if "payload_hex" in key else {}
    args: dict = {"uri": key.get("uri", "/")}
    if "src" in key:
        args["src"] = key["src"]
    elif "bind" in key:
        args["src"] = key["bind"]
    if b.hdr_name is not None:
        args["headers"] = [v for n, v in request_headers(case, key) if n.lower().encode() == b.hdr_name]
    if case["balance"] == "hash src":
        args["sample"] = ipaddress.ip_address(key["src"]).packed  # src as binary: 4 or 16 bytes
    elif b.algorithm == "hash":
        # "balance hash req.hdr(x-k)": the last X-K value, when there is one
        vals = [v for n, v in request_headers(case, key) if n.lower() == "x-k"]
        if vals:
            args["sample"] = vals[-1]
    return args


def replay(case: dict) -> list[str]:
    b = build(case)
    held: dict[str, int] = {}
    errors = []
    for n, step in enumerate(case["steps"]):
        op = step["op"]
        if op in ("pick", "hold"):
            if step.get("status") == 400:
                continue  # HAProxy refused the request itself: no balancing happened
            r = b.py_pick(**key_args(b, case, step.get("key", {})))
            got = b.names[r] if r >= 0 else None
            if got != step["expect"]:
                errors.append(
                    f"{case['name']} step {n} {op} {step.get('key', {})}: HAProxy chose "
                    f"{step['expect']}, we chose {got}"
                )
            if r >= 0:  # the request runs on the server: counted while held, or right away
                b.py_take(r)
                if op == "hold":
                    held[step["id"]] = r
                else:
                    b.py_release(r)
        elif op == "release":
            if step["id"] in held:
                b.py_release(held.pop(step["id"]))
        elif op == "weight":
            try:
                b.set_weight(b.index(step["server"]), step["weight"], now=0)
                err = None
            except ValueError as exc:
                err = str(exc)
            if err != step.get("error"):
                errors.append(
                    f"{case['name']} step {n}: set weight -> {err!r}, HAProxy said {step.get('error')!r}"
                )
        elif op in ("down", "up"):
            b.set_usable(b.index(step["server"]), op == "up", now=0)
        else:
            raise ValueError(op)
    return errors
