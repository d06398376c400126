"""Differential test against the real HAProxy 2.6, when it is installed: fresh random keys, weights
and runtime changes (not the recorded vectors), played on haproxy and on our balancer, must pick
the same servers. Real 127.0.0.x client sockets for balance source. Skipped without haproxy."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys

import pytest
import replay

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import lb_oracle  # noqa: E402 - tools/ is put on the path first
from lb_oracle import BackendSpec, Case, ServerSpec  # noqa: E402


def random_cases(rnd: random.Random) -> list[Case]:
    cases = []
    words = ["api", "img", "v1", "v2", "users", "static", "a", "b", "index.html", "x.js"]
    uris = [
        "/"
        + "/".join(rnd.choice(words) for _ in range(rnd.randint(1, 4)))
        + (f"?id={rnd.randint(0, 999)}" if rnd.random() < 0.5 else "")
        for _ in range(30)
    ]
    for n, ht in enumerate(
        [
            "",
            "consistent",
            f"map-based {rnd.choice(['sdbm', 'djb2', 'wt6', 'crc32'])} avalanche",
            f"consistent {rnd.choice(['djb2', 'wt6', 'crc32'])}",
        ]
    ):
        srv = tuple(ServerSpec(f"s{i + 1}", rnd.randint(1, 12)) for i in range(rnd.randint(2, 9)))
        steps = [{"op": "pick", "key": {"uri": u}} for u in uris]
        steps += [{"op": "down", "server": "s2"}] + [{"op": "pick", "key": {"uri": u}} for u in uris[:10]]
        balance = rnd.choice(["uri", "uri whole", f"uri depth {rnd.randint(1, 3)}", "url_param id"])
        cases.append(Case(BackendSpec(f"live_hash{n}", balance, srv, hash_type=ht), steps))
    for n in range(3):
        srv = tuple(ServerSpec(f"s{i + 1}", rnd.randint(0, 9)) for i in range(rnd.randint(2, 6)))
        steps = [{"op": "pick"} for _ in range(40)]
        steps += [{"op": "weight", "server": "s1", "weight": rnd.randint(1, 20)}] + [
            {"op": "pick"} for _ in range(40)
        ]
        cases.append(Case(BackendSpec(f"live_rr{n}", "roundrobin", srv), steps))
    srcs = [{"op": "pick", "key": {"bind": f"127.0.0.{rnd.randint(1, 254)}"}} for _ in range(12)]
    cases.append(
        Case(BackendSpec("live_src", "source", tuple(ServerSpec(f"s{i}", 1) for i in range(1, 6))), srcs)
    )
    cases.append(
        Case(
            BackendSpec(
                "live_src_ch",
                "source",
                tuple(ServerSpec(f"s{i}", i) for i in range(1, 5)),
                hash_type="consistent",
            ),
            srcs,
        )
    )
    return cases


def find_haproxy() -> str:
    path = lb_oracle.HAPROXY
    if not os.access(path, os.X_OK):
        pytest.skip("haproxy is not installed (apt-get install haproxy); .ci/run installs it")
    return path


def test_same_choices_as_live_haproxy():
    haproxy = find_haproxy()
    version = subprocess.run([haproxy, "-v"], capture_output=True, text=True, check=True).stdout
    if "version 2.6." not in version:
        pytest.skip(f"the reference is HAProxy 2.6, found: {version.splitlines()[0]}")
    seed = int(os.environ.get("FASTLB_LB_SEED") or random.randrange(1 << 30))  # to replay a failure
    cases = random_cases(random.Random(seed))
    recorded = asyncio.run(asyncio.wait_for(lb_oracle.record(cases, haproxy), 120))
    mismatches = [m for case in recorded for m in replay.replay(case)]
    assert not mismatches, f"seed {seed}: {mismatches[:10]}"
    # the comparison did compare something: HAProxy answered every request
    picks = [s for c in recorded for s in c["steps"] if s["op"] == "pick"]
    assert picks and all(s["expect"] for s in picks)
