#!/usr/bin/env python3
"""Record the test vectors of tests/lb/vectors/ from a real HAProxy 2.6.

    python tools/gen_lb_vectors.py [--haproxy /usr/sbin/haproxy] [--out tests/lb/vectors]

Starts haproxy on loopback with hundreds of backends (tools/lb_oracle.py), sends the requests of
every case and writes down which server answered. The tests replay the same cases on
fastlb._lb.Balancer without haproxy. Rerun after changing a case; it takes about a minute.

Files:
  hash_functions.json  sdbm/djb2/wt6/crc32, with and without avalanche, of assorted byte strings
                       (HAProxy's converters applied to a request body)
  hash_lookup.json     balance uri / source x hash-type method, function, modifier x server sets
  key_extraction.json  uri options, url_param, hdr(), use_domain_only, hash <expr>, rdp-cookie
  backups.json         backup servers, allbackups, weight 0, explicit ids, servers in maintenance
  sequences.json       roundrobin / static-rr / leastconn / first sequences, runtime weight and
                       state changes, backups taking over, hash-balance-factor, round-robin
                       fallback of hashes without a key
  slowstart.json       the weight of a server over its slowstart ramp
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lb_oracle import HAPROXY, BackendSpec, Case, Oracle, ServerSpec, record

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "lb", "vectors")

FUNCTIONS = ("sdbm", "djb2", "wt6", "crc32")
# every "hash-type" line worth telling apart ("" = no hash-type line at all)
HASH_TYPES = (
    [""]
    + ["consistent"]
    + [f"{m} {f}{a}" for m in ("map-based", "consistent") for f in FUNCTIONS for a in ("", " avalanche")]
)


def servers(*weights: int, **kw) -> tuple[ServerSpec, ...]:
    return tuple(ServerSpec(f"s{i + 1}", w, **kw) for i, w in enumerate(weights))


SERVER_SETS = {
    "eq4": servers(1, 1, 1, 1),
    "w123": servers(1, 2, 3),
    "eq7": servers(*[1] * 7),
    "w10_40": servers(10, 20, 30, 40),
    "w0": servers(1, 0, 2),
}

URIS = (
    [f"/url{i}" for i in range(1, 5)]
    + [
        "/",
        "/index.html",
        "/a/b/c/d.html?x=1&y=2",
        "/img/logo.png",
        "/api/v1/users/42?sort=asc",
        "/static/js/app.js",
        "/%7Euser/",
        "/search?q=haproxy",
        "/a?b",
        "/a/?b/c",
        "/x/y/z/",
        "/deep/er/path/with/many/levels/file.txt?q=1",
        "http://example.com/abs/path?x",
        "http://example.com",
        "http://example.com?q=1",
        "HTTP://EX.com:8080/p/q",
        "http://user@host/p",
        "/??",
        "/a&b=c",
    ]
    + [f"/item/{i}" for i in range(1, 18)]
)


def uri_key(uri: str) -> dict:
    """A request for <uri>; absolute URIs carry their authority as Host (HAProxy 2.6 refuses a
    mismatch with a 400)."""
    if "://" in uri:
        host = uri.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
        return {"uri": uri, "host": host}
    return {"uri": uri}


def slug(s: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in s).strip("_")


def picks(keys: list[dict]) -> list[dict]:
    return [{"op": "pick", "key": k} for k in keys]


def rdp_payload(cookie_line: bytes | None) -> str:
    """An X.224 Connection Request with an optional "Cookie: ..." line, as RDP clients send it."""
    body = b"\xe0\x00\x00\x00\x00\x00"
    if cookie_line is not None:
        body += b"Cookie: " + cookie_line + b"\r\n"
    body += b"\x01\x00\x08\x00\x03\x00\x00\x00"
    x224 = bytes([len(body)]) + body
    return (b"\x03\x00" + (4 + len(x224)).to_bytes(2, "big") + x224).hex()


def source_addresses() -> list[str]:
    v4 = [f"127.0.0.{i}" for i in range(1, 9)] + [
        "10.0.0.1",
        "192.168.1.77",
        "172.16.5.4",
        "8.8.8.8",
        "255.255.255.255",
        "0.0.0.1",
        "203.0.113.9",
    ]
    v6 = [
        "::1",
        "2001:db8::1",
        "2001:db8::2",
        "2001:db8:1:2:3:4:5:6",
        "fe80::1",
        "::ffff:10.0.0.1",
        "2a00:1450:4007:80e::200e",
        "ff02::1",
        "2001:db8::ffff:1",
        "::",
        "2001:db8:abcd::42",
        "fd00::7",
        "2001:db8::8",
        "64:ff9b::c000:221",
        "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
    ]
    return v4 + v6


def hash_lookup_cases() -> list[Case]:
    cases = []
    for set_name, srv in SERVER_SETS.items():
        for ht in HASH_TYPES:
            name = f"uri_{set_name}_{slug(ht) or 'default'}"
            cases.append(Case(BackendSpec(name, "uri", srv, hash_type=ht), picks([uri_key(u) for u in URIS])))
    for set_name in ("eq4", "w123"):
        for ht in HASH_TYPES:
            name = f"src_{set_name}_{slug(ht) or 'default'}"
            cases.append(
                Case(
                    BackendSpec(name, "source", SERVER_SETS[set_name], hash_type=ht),
                    picks([{"src": a} for a in source_addresses()]),
                )
            )
    return cases


HDR_VALUES = [
    ["alice"],
    ["bob"],
    ["carol"],
    ["dave"],
    ["42"],
    ["a, b"],
    ["b, a"],
    ["  spaced  "],
    ['"quoted,comma", x'],
    [", second"],
    ["", "next-line"],
    [", skipped", "taken"],
    ["first", "second"],
    ["caf\xe9"],
    ["\xff\xfe\x80"],
    ["with\ttab"],
    ["x" * 100],
    ["=;:/?"],
    [],
    ["alice"],
]
HOSTS = [
    "www.example.com",
    "haproxy.1wt.eu",
    "localhost",
    "a.b.c.d.e",
    "example.com:8080",
    "EXAMPLE.COM",
    "x.",
    ".x",
    "a..b",
    "1.2.3.4",
    "[::1]:80",
    "www.example.co.uk",
    "intranet",
    "shop.example.com",
    "api.example.com",
    "www.other.org",
    "b.example.com",
    "example.com",
]
PARAMS = [
    "/?userid=1",
    "/p?a=b&userid=alice",
    "/p?userid=",
    "/p?userid",
    "/p?xuserid=2",
    "/p?userid=3&userid=4",
    "/p?USERID=5",
    "/p?user=1",
    "/p",
    "/p?userid=bob&x=1",
    "/p?a=1&b=2&userid=carol",
    "/p?userid=%41",
    "/p?userid=a=b",
    "/p?&userid=dave",
    "/p?userid=eve#frag",
    "/p?q=userid=zed",
    "/p?userid=42",
    "/p?userid=43",
    "/p?userid=44",
    "/p?userid=45",
    "/?a",
]


def extraction_cases() -> list[Case]:
    cases = []
    uri_variants = [
        "uri whole",
        "uri len 5",
        "uri depth 1",
        "uri depth 2",
        "uri len 8 depth 2",
        "uri path-only",
        "uri path-only whole",
        "uri whole len 12",
        "uri depth 3 whole",
    ]
    for ht in ("map-based djb2", "consistent"):
        for v in uri_variants:
            cases.append(
                Case(
                    BackendSpec(f"x_{slug(v)}_{slug(ht)}", v, SERVER_SETS["eq7"], hash_type=ht),
                    picks([uri_key(u) for u in URIS]),
                )
            )
        cases.append(
            Case(
                BackendSpec(f"x_url_param_{slug(ht)}", "url_param userid", SERVER_SETS["eq7"], hash_type=ht),
                picks([{"uri": u} for u in PARAMS]),
            )
        )
        cases.append(
            Case(
                BackendSpec(f"x_hdr_{slug(ht)}", "hdr(X-User)", SERVER_SETS["eq7"], hash_type=ht),
                picks([{"header_name": "X-User", "headers": v} for v in HDR_VALUES]),
            )
        )
        cases.append(
            Case(
                BackendSpec(
                    f"x_hdr_dom_{slug(ht)}", "hdr(host) use_domain_only", SERVER_SETS["eq7"], hash_type=ht
                ),
                picks([{"host": h} for h in HOSTS]),
            )
        )
        cases.append(
            Case(
                BackendSpec(f"x_hdr_host_{slug(ht)}", "hdr(Host)", SERVER_SETS["eq7"], hash_type=ht),
                picks([{"host": h} for h in HOSTS]),
            )
        )
        samples = (
            [{"sample": s} for s in ("alice", "bob", "carol", "1", "2", "3", "x" * 40, "")]
            + [{}]
            + [{"sample": f"user{i}"} for i in range(12)]
        )
        cases.append(
            Case(
                BackendSpec(f"x_hash_expr_{slug(ht)}", "hash req.hdr(x-k)", SERVER_SETS["eq7"], hash_type=ht),
                picks(samples),
            )
        )
        cases.append(
            Case(
                BackendSpec(f"x_hash_src_{slug(ht)}", "hash src", SERVER_SETS["eq7"], hash_type=ht),
                picks([{"src": a} for a in source_addresses()]),
            )
        )
        cookies = [b"mstshash=user%d" % i for i in range(12)] + [
            b"MSTSHASH=UPPER",
            b"mstshash=",
            b"other=x",
            None,
            b"mstshash=user1",
        ]
        cases.append(
            Case(
                BackendSpec(f"x_rdp_{slug(ht)}", "rdp-cookie", SERVER_SETS["eq4"], hash_type=ht, tcp=True),
                picks([{"payload_hex": rdp_payload(c)} for c in cookies]),
            )
        )
        named = [b"MyCookie=v%d" % i for i in range(8)] + [b"mycookie=lower", b"mstshash=other"]
        cases.append(
            Case(
                BackendSpec(
                    f"x_rdp_named_{slug(ht)}",
                    "rdp-cookie(MyCookie)",
                    SERVER_SETS["eq4"],
                    hash_type=ht,
                    tcp=True,
                ),
                picks([{"payload_hex": rdp_payload(c)} for c in named]),
            )
        )
    return cases


def backup_cases() -> list[Case]:
    cases = []
    keys = [uri_key(u) for u in URIS[:20]]
    sets = {
        "bk_first": servers(1, 1, disabled=True)
        + (ServerSpec("b1", 2, backup=True), ServerSpec("b2", 3, backup=True)),
        "bk_w1": servers(1, 1, disabled=True)
        + (ServerSpec("b1", 1, backup=True), ServerSpec("b2", 1, backup=True)),
        "bk_active": servers(1, 1) + (ServerSpec("b1", 1, backup=True),),
        "bk_zero": servers(0, 0) + (ServerSpec("b1", 1, backup=True), ServerSpec("b2", 2, backup=True)),
        "bk_none": servers(1, 1, disabled=True) + (ServerSpec("b1", 1, backup=True, disabled=True),),
        "bk_mixed": (
            ServerSpec("s1", 1, disabled=True),
            ServerSpec("b1", 1, backup=True, disabled=True),
            ServerSpec("b2", 2, backup=True),
            ServerSpec("b3", 1, backup=True),
        ),
    }
    ids = (
        ServerSpec("s1", 1, id=10),
        ServerSpec("s2", 1, id=3),
        ServerSpec("s3", 2, id=7),
        ServerSpec("s4", 1),
    )
    for set_name, srv in sets.items():
        for allb in (False, True):
            tag = f"{set_name}{'_all' if allb else ''}"
            cases.append(
                Case(BackendSpec(f"b_srr_{tag}", "static-rr", srv, allbackups=allb), picks([{}] * 12))
            )
            cases.append(
                Case(BackendSpec(f"b_rr_{tag}", "roundrobin", srv, allbackups=allb), picks([{}] * 12))
            )
            cases.append(Case(BackendSpec(f"b_uri_{tag}", "uri", srv, allbackups=allb), picks(keys)))
            cases.append(
                Case(
                    BackendSpec(f"b_par_{tag}", "url_param u", srv, allbackups=allb),
                    picks([{"uri": f"/?u={i}"} for i in range(12)]),
                )
            )
            cases.append(
                Case(
                    BackendSpec(f"b_ch_{tag}", "uri", srv, hash_type="consistent", allbackups=allb),
                    picks(keys),
                )
            )
            cases.append(Case(BackendSpec(f"b_lc_{tag}", "leastconn", srv, allbackups=allb), picks([{}] * 6)))
    for ht in ("consistent", "map-based", "consistent wt6"):
        cases.append(
            Case(
                BackendSpec(f"b_ids_{slug(ht)}", "uri", ids, hash_type=ht), picks([uri_key(u) for u in URIS])
            )
        )
    return cases


def seq_cases() -> list[Case]:
    cases = []
    weight_sets = [(1, 1, 1, 1), (3, 1), (5, 2, 1), (1, 2, 3, 4), (7, 3, 1, 1), (10, 1), (2, 2, 3), (1, 0, 1)]
    for ws in weight_sets:
        tag = "_".join(map(str, ws))
        n = max(12, 2 * sum(ws))
        for algo in ("roundrobin", "static-rr"):
            cases.append(Case(BackendSpec(f"q_{slug(algo)}_{tag}", algo, servers(*ws)), picks([{}] * n)))
    dyn = (
        picks([{}] * 10)
        + [{"op": "weight", "server": "s1", "weight": 3}]
        + picks([{}] * 20)
        + [{"op": "down", "server": "s2"}]
        + picks([{}] * 10)
        + [{"op": "up", "server": "s2"}]
        + picks([{}] * 20)
        + [{"op": "weight", "server": "s3", "weight": 0}]
        + picks([{}] * 8)
        + [{"op": "weight", "server": "s3", "weight": 2}]
        + picks([{}] * 16)
    )
    for algo in ("roundrobin", "static-rr", "leastconn", "first"):
        cases.append(Case(BackendSpec(f"q_dyn_{slug(algo)}", algo, servers(1, 1, 1)), dyn))
    cases.append(Case(BackendSpec("q_dyn_rr_w", "roundrobin", servers(5, 2, 1)), dyn))
    # hashes when servers come and go, and their round-robin fallback without a key
    hkeys = picks([uri_key(u) for u in URIS[:16]])
    churn = (
        hkeys
        + [{"op": "down", "server": "s3"}]
        + hkeys
        + [{"op": "weight", "server": "s1", "weight": 4}]
        + hkeys
        + [{"op": "up", "server": "s3"}]
        + hkeys
    )
    for ht in ("consistent", "map-based", "consistent djb2"):
        cases.append(
            Case(BackendSpec(f"q_churn_{slug(ht)}", "uri", servers(1, 1, 1, 1), hash_type=ht), churn)
        )
    fallback = (
        picks([{"uri": "/nokey"}] * 9)
        + picks([{"uri": "/?p=1"}])
        + picks([{"uri": "/nokey"}] * 5)
        + [{"op": "down", "server": "s2"}]
        + picks([{"uri": "/nokey"}] * 6)
        + [{"op": "up", "server": "s2"}]
        + picks([{"uri": "/nokey"}] * 6)
    )
    for ht in ("map-based", "consistent"):
        for ws in ((1, 1, 1), (2, 1, 3)):
            tag = "_".join(map(str, ws))
            cases.append(
                Case(
                    BackendSpec(f"q_fallback_{slug(ht)}_{tag}", "url_param p", servers(*ws), hash_type=ht),
                    fallback,
                )
            )
    # backups taking over and handing back, with round robin
    bk = servers(2, 1) + (ServerSpec("b1", 1, backup=True), ServerSpec("b2", 3, backup=True))
    takeover = (
        picks([{}] * 6)
        + [{"op": "down", "server": "s1"}, {"op": "down", "server": "s2"}]
        + picks([{}] * 8)
        + [{"op": "down", "server": "b1"}]
        + picks([{}] * 8)
        + [{"op": "up", "server": "b1"}]
        + picks([{}] * 8)
        + [{"op": "up", "server": "s2"}]
        + picks([{}] * 6)
        + [{"op": "up", "server": "s1"}]
        + picks([{}] * 9)
    )
    for algo in ("roundrobin", "static-rr", "leastconn"):
        for allb in (False, True):
            cases.append(
                Case(
                    BackendSpec(
                        f"q_takeover_{slug(algo)}{'_all' if allb else ''}", algo, bk, allbackups=allb
                    ),
                    takeover,
                )
            )
    # weights changed while connections are held
    lcw = (
        [{"op": "hold", "id": f"w{i}"} for i in range(1, 7)]
        + [{"op": "weight", "server": "s1", "weight": 4}]
        + [{"op": "hold", "id": f"w{i}"} for i in range(7, 13)]
        + [{"op": "weight", "server": "s2", "weight": 0}]
        + [{"op": "hold", "id": f"w{i}"} for i in range(13, 16)]
        + [{"op": "release", "id": f"w{i}"} for i in range(1, 16)]
        + picks([{}] * 6)
    )
    cases.append(Case(BackendSpec("q_lc_weights", "leastconn", servers(1, 1, 1)), lcw))
    cases.append(Case(BackendSpec("q_rr_weights_held", "roundrobin", servers(1, 1, 1)), lcw))
    # bounded loads: a hot key spills over to the next servers of the ring
    hot = (
        [{"op": "hold", "id": f"b{i}", "key": {"uri": "/hot"}} for i in range(1, 13)]
        + [{"op": "release", "id": f"b{i}"} for i in range(1, 13)]
        + picks([{"uri": "/hot"}] * 3)
    )
    cases.append(
        Case(
            BackendSpec("q_hbf", "uri", servers(1, 1, 1, 1), hash_type="consistent", hash_balance_factor=125),
            hot,
        )
    )
    cases.append(
        Case(
            BackendSpec(
                "q_hbf_w", "uri", servers(1, 2, 3), hash_type="consistent sdbm", hash_balance_factor=150
            ),
            hot,
        )
    )
    # long requests: leastconn and first
    lc = []
    for i in range(1, 7):
        lc.append({"op": "hold", "id": f"h{i}"})
    lc += [
        {"op": "release", "id": "h2"},
        {"op": "hold", "id": "h7"},
        {"op": "release", "id": "h1"},
        {"op": "release", "id": "h3"},
        {"op": "hold", "id": "h8"},
        {"op": "hold", "id": "h9"},
        {"op": "hold", "id": "h10"},
    ]
    lc += [{"op": "release", "id": f"h{i}"} for i in (4, 5, 6, 7, 8, 9, 10)]
    lc += picks([{}] * 6)
    for ws in ((1, 1, 1), (3, 1), (2, 1, 1), (1, 1, 1, 1)):
        tag = "_".join(map(str, ws))
        cases.append(Case(BackendSpec(f"q_lc_{tag}", "leastconn", servers(*ws)), lc))
    first = (
        [{"op": "hold", "id": f"f{i}"} for i in range(1, 6)]
        + [{"op": "release", "id": "f1"}]
        + [
            {"op": "hold", "id": "f6"},
            {"op": "release", "id": "f3"},
            {"op": "release", "id": "f4"},
            {"op": "hold", "id": "f7"},
        ]
        + [{"op": "release", "id": f"f{i}"} for i in (2, 5, 6, 7)]
        + picks([{}] * 3)
    )
    cases.append(Case(BackendSpec("q_first", "first", servers(1, 1, 1, maxconn=2)), first))
    cases.append(
        Case(
            BackendSpec(
                "q_first_ids",
                "first",
                (
                    ServerSpec("s1", 1, maxconn=1, id=5),
                    ServerSpec("s2", 1, maxconn=2, id=2),
                    ServerSpec("s3", 1, maxconn=2, id=9),
                ),
            ),
            first,
        )
    )
    full = (
        [{"op": "hold", "id": f"m{i}", "key": {"uri": "/nokey"}} for i in range(1, 4)]
        + [{"op": "release", "id": "m2"}]
        + [{"op": "hold", "id": "m4", "key": {"uri": "/nokey"}}]
        + [{"op": "release", "id": f"m{i}"} for i in (1, 3, 4)]
        + picks([{"uri": "/nokey"}] * 6)
    )
    for algo, ht in (
        ("roundrobin", ""),
        ("static-rr", ""),
        ("leastconn", ""),
        ("url_param p", "map-based"),
        ("url_param p", "consistent"),
    ):
        cases.append(
            Case(
                BackendSpec(
                    f"q_maxconn_{slug(algo)}_{slug(ht)}", algo, servers(1, 2, 1, maxconn=1), hash_type=ht
                ),
                full,
            )
        )
    return cases


def hash_function_data() -> list[bytes]:
    rnd = random.Random(2600)
    data = [
        b"",
        b"a",
        b"/url1",
        b"abcdefg",
        b"abcdefgh",
        b"abcdefghi",
        b"0123456789abcdef",
        b"0123456789abcdefg",
        b"haproxy",
        b"HAProxy",
        b"1wt",
        b"www.example.com",
        b"192.168.0.1",
        b"x" * 1000,
    ]
    data += [bytes([b]) for b in range(256)]
    data += [bytes(rnd.randrange(256) for _ in range(n)) for n in (2, 3, 5, 8, 13, 21, 34, 55, 89)]
    data += ["café".encode(), "日本".encode(), b"\x80\x81\xfe\xff"]
    return data


async def hash_functions(haproxy: str) -> list[dict]:
    out = []
    async with Oracle([BackendSpec("hf", "roundrobin", servers(1))], haproxy) as o:
        for d in hash_function_data():
            out.append({"data_hex": d.hex(), **await o.hashes(d)})
    return out


async def slowstart(haproxy: str) -> list[dict]:
    """The "weight" column of "show stat" for a server coming back with "slowstart 5s": pairs of
    (seconds since the change, weight), sampled every 0.25 s until the ramp ends."""
    out = []
    for algo, ss in (("roundrobin", 5000), ("leastconn", 3000)):
        be = BackendSpec(f"ss_{algo}", algo, (ServerSpec("s1", 16, slowstart=ss), ServerSpec("s2", 16)))
        obs = []
        async with Oracle([be], haproxy) as o:
            await o.cli(f"set server {be.name}/s1 state maint")
            await asyncio.sleep(0.3)
            await o.cli(f"set server {be.name}/s1 state ready")
            for _ in range(int(ss / 250) + 12):
                stat = await o.cli("show stat")
                hdr = stat.splitlines()[0].lstrip("# ").split(",")
                for line in stat.splitlines()[1:]:
                    f = line.split(",")
                    if len(f) > 3 and f[0] == be.name and f[1] == "s1":
                        row = dict(zip(hdr, f))
                        obs.append([int(row["lastchg"]), int(row["weight"])])
                await asyncio.sleep(0.25)
        out.append({"algorithm": algo, "slowstart_ms": ss, "weight": 16, "observations": obs})
    return out


def haproxy_version(haproxy: str) -> str:
    return subprocess.run([haproxy, "-v"], capture_output=True, text=True, check=True).stdout.splitlines()[0]


def write(path: str, version: str, what: str, vectors: list[dict]) -> None:
    doc = {
        "generated_by": "tools/gen_lb_vectors.py",
        "haproxy": version,
        "what": what,
        "vectors": vectors,
    }
    with open(path, "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"{path}: {len(vectors)} vectors")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--haproxy", default=HAPROXY)
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    version = haproxy_version(args.haproxy)
    if " 2.6." not in version:
        print(f"warning: the vectors are meant to come from HAProxy 2.6, this is: {version}", file=sys.stderr)
    write(
        os.path.join(args.out, "hash_functions.json"),
        version,
        "HAProxy's sdbm/djb2/wt6/crc32 converters (argument 1 = avalanche) on request bodies",
        asyncio.run(hash_functions(args.haproxy)),
    )
    write(
        os.path.join(args.out, "slowstart.json"),
        version,
        "show stat weight of a server ramping up after leaving maintenance: [seconds since, weight]",
        asyncio.run(slowstart(args.haproxy)),
    )
    groups = [
        (
            "hash_lookup.json",
            "balance uri/source: hash-type method, function, modifier, server weights",
            hash_lookup_cases,
        ),
        ("key_extraction.json", "what each hashing algorithm hashes", extraction_cases),
        (
            "backups.json",
            "backup servers, allbackups, weight 0, explicit ids, servers in maintenance",
            backup_cases,
        ),
        ("sequences.json", "round robin, leastconn, first, runtime changes, round-robin fallback", seq_cases),
    ]
    for fname, what, make in groups:
        write(os.path.join(args.out, fname), version, what, asyncio.run(record(make(), args.haproxy)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
