"""use_backend routing tables: runs of string rules merged into one index must choose exactly the
backend the rules evaluated one by one choose (first match wins), through the engine's compiled
router on parsed requests (fastlb.engine._proxy.route_request, no sockets)."""
from __future__ import annotations

import random

import pytest
from fastlb.engine._proxy import route_request, router_blocks

from fastlb.engine.offline import offline_worker

BACKENDS = [f"b{i}" for i in range(6)]


def config(rules: list[str], acls: list[str] = (), default: str = "dflt") -> str:
    lines = ["defaults", "    mode http", "    timeout connect 1s", "    timeout client 1s",
             "    timeout server 1s", "frontend fe", "    bind :8000"]
    lines += [f"    acl {a}" for a in acls]
    lines += [f"    use_backend {r}" for r in rules]
    lines.append(f"    default_backend {default}")
    for i, b in enumerate([*BACKENDS, "dflt"]):
        lines += [f"backend {b}", f"    server s 127.0.0.1:{9000 + i}"]
    return "\n".join(lines) + "\n"


def request(path: str = "/", host: str | None = "h", headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    head = f"GET {path} HTTP/1.1\r\n"
    if host is not None:
        head += f"Host: {host}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers)
    return (head + "\r\n").encode()


def both(w, req: bytes) -> str:
    """The backend chosen with the tables, after checking the rules one by one choose it too."""
    got = route_request(w, "fe", req)
    assert got == route_request(w, "fe", req, one_by_one=True), req
    return got


FILLER = [f"b5 if {{ path_beg /filler{i}/ }}" for i in range(8)]  # enough patterns for a table


def test_runs_of_string_rules_become_one_table_broken_by_other_rules():
    rules = [f"b{i % 5} if {{ hdr_beg(host) -i svc{i}. }}" for i in range(300)]
    rules.append("b1 if { hdr_sub(host) zz }")           # substring: evaluated on its own
    rules += [f"b2 if {{ path_end .e{i} }} || {{ hdr(host) h{i} }}" for i in range(50)]
    rules.append("b3 if { path_beg /a } { hdr(host) x }")  # AND
    rules.append("b3 if !{ path_beg /a }")                # negation
    rules.append("b3 unless { path_beg /a }")
    rules += [f"b4 if {{ path_dom d{i} }}" for i in range(3)]  # too few patterns for a table
    w, _ = offline_worker(config(rules))
    assert router_blocks(w, "fe") == [("table", 0, 299, 300, 1), ("rule", 300), ("table", 301, 350, 100, 2),
                                      ("rule", 351), ("rule", 352), ("rule", 353), ("rule", 354),
                                      ("rule", 355), ("rule", 356)]
    assert both(w, request(host="SVC299.example.com")) == "b4"
    assert both(w, request(host="zz.svc3000.example.com")) == "b1"
    assert both(w, request(host="svc3000.example.com")) == "b3"   # `!{ path_beg /a }`
    assert both(w, request("/x.e49", host="q")) == "b2"
    assert both(w, request("/b", host="q")) == "b3"


def test_first_match_wins_inside_a_table():
    rules = [*FILLER,
             "b0 if { path_beg /a/b/c }",
             "b1 if { path_beg /a }",         # shorter prefix, later rule
             "b2 if { path_beg /a/b }",
             "b3 if { path_end .png }",
             "b4 if { path /a/x.png }",       # exact, but an earlier suffix rule matches
             "b2 if { path_dir static }",
             "b0 if { hdr_dom(host) -i example.com }",
             "b1 if { hdr_end(host) .com }"]
    w, _ = offline_worker(config(rules))
    assert [b[0] for b in router_blocks(w, "fe")] == ["table"]
    assert both(w, request("/a/b/c/d")) == "b0"
    assert both(w, request("/a/b/x")) == "b1"
    assert both(w, request("/a/x.png")) == "b1"
    assert both(w, request("/z/x.png")) == "b3"
    assert both(w, request("/z/static/q")) == "b2"
    assert both(w, request("/z", host="WWW.Example.COM")) == "b0"
    assert both(w, request("/z", host="www.other.com")) == "b1"
    assert both(w, request("/z", host="www.other.net")) == "dflt"
    assert both(w, request("/filler3/q")) == "b5"


def test_header_samples_every_occurrence_and_comma_value():
    rules = [*FILLER, "b0 if { hdr(x-a) -i one }", 'b1 if { req.fhdr(x-b) "two, three" }',
             "b2 if { hdr_beg(x-c) pre }", "b3 if { hdr(host) -m end .org }"]
    w, _ = offline_worker(config(rules))
    assert [b[0] for b in router_blocks(w, "fe")] == ["table"]
    assert both(w, request(headers=(("X-A", "zero , \tONE\t"),))) == "b0"
    assert both(w, request(headers=(("X-A", "zero"), ("x-a", "two, one")))) == "b0"
    assert both(w, request(headers=(("X-A", "zero,,x"),))) == "dflt"
    assert both(w, request(headers=(("X-B", "two, three"),))) == "b1"   # fhdr: the whole value
    assert both(w, request(headers=(("X-B", "two"), ("X-B", "three")))) == "dflt"
    assert both(w, request(headers=(("X-C", "a, prefix"),))) == "b2"
    assert both(w, request(host="a.b.org")) == "b3"
    assert both(w, request(host=None)) == "dflt"


def test_words_with_many_delimiters_and_long_patterns():
    long_word = "w" * 300
    rules = [*FILLER, "b0 if { path_dir seg70 }", f"b1 if {{ path_dom {long_word} }}",
             "b2 if { path_dom a.b }", "b3 if { url_dir q/r }"]
    w, _ = offline_worker(config(rules))
    path = "/" + "/".join(f"seg{i}" for i in range(100))
    assert both(w, request(path)) == "b0"
    assert both(w, request(path.replace("seg70", "seg70x"))) == "dflt"
    assert both(w, request(f"/x/{long_word}.y")) == "b1"
    assert both(w, request(f"/x/{long_word}w")) == "dflt"
    assert both(w, request("/x/a.b:c")) == "b2"
    assert both(w, request("/x/aa.b")) == "dflt"
    assert both(w, request("/p/q/r?z")) == "b3"


def test_an_acl_line_with_many_patterns_is_indexed_too(tmp_path):
    pats = tmp_path / "hosts.lst"
    pats.write_text("".join(f".site{i}.example\n" for i in range(2000)))
    # in an AND the ACL is evaluated by its own matcher (an index of its 2000 patterns)
    rules = ["b1 if big HTTP", "b2 if { hdr_beg(host) -i " + " ".join(f"p{i}." for i in range(20)) + " } HTTP"]
    w, _ = offline_worker(config(rules, acls=[f"big hdr_end(host) -i -f {pats}"]))
    assert router_blocks(w, "fe") == [("rule", 0), ("rule", 1)]
    assert route_request(w, "fe", request(host="www.SITE1999.example")) == "b1"
    assert route_request(w, "fe", request(host="www.site2000.example")) == "dflt"
    assert route_request(w, "fe", request(host="P19.x")) == "b2"
    assert route_request(w, "fe", request(host="p20.x")) == "dflt"


# -- randomised: tables against one-by-one evaluation -----------------------------------------

TOKENS = ["a", "b", "ab", "A", "B", ".", "/", ":", "?", "x.y", "a/b", ""]
FETCHES = ["path", "url", "hdr(host)", "hdr(x-t)", "req.fhdr(x-t)", "base", "query", "method", "req.cook(c)",
           "url_param(p)"]
MATCHERS = ["str", "beg", "end", "dom", "dir", "sub", "reg"]


def rand_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(TOKENS) for _ in range(rng.randint(1, n)))


def rand_acl(rng: random.Random) -> str:
    fetch = rng.choice(FETCHES)
    m = rng.choices(MATCHERS, weights=[4, 4, 4, 3, 3, 1, 1])[0]
    flags = " -i" if rng.random() < 0.4 else ""
    pats = []
    for _ in range(rng.randint(1, 3)):
        p = rand_text(rng, 3).replace("?", "") or "a"
        pats.append(p if m != "reg" else "^" + p.replace(".", "\\."))
    return f"{fetch}{flags} -m {m} {' '.join(pats)}"


def rand_rule(rng: random.Random, late: bool) -> str:
    """A random use_backend rule; negations (nearly always true) only among the late ones."""
    be = rng.choice(BACKENDS)
    r = rng.random()
    if r < 0.8 or (r >= 0.9 and not late):
        terms = " || ".join(f"{{ {rand_acl(rng)} }}" for _ in range(rng.randint(1, 2)))
        return f"{be} if {terms}"
    if r < 0.9:
        return f"{be} if {{ {rand_acl(rng)} }} {{ {rand_acl(rng)} }}"
    if r < 0.95:
        return f"{be} if !{{ {rand_acl(rng)} }}"
    return f"{be} unless {{ {rand_acl(rng)} }}"


def rand_request(rng: random.Random) -> bytes:
    path = "/" + rand_text(rng, 6).replace("?", "")
    if rng.random() < 0.4:
        path += "?" + rand_text(rng, 3)
    if rng.random() < 0.4:
        path += ("&" if "?" in path else "?") + "p=" + rand_text(rng, 3).replace("?", "")
    headers = tuple(("X-T", rand_text(rng, 4) + (", " + rand_text(rng, 2) if rng.random() < 0.3 else ""))
                    for _ in range(rng.randint(0, 2)))
    if rng.random() < 0.4:
        headers += (("Cookie", f"z=1; c={rand_text(rng, 3)}"),)
    host = rand_text(rng, 5).replace("/", "").replace("?", "") or "h"
    return request(path, host.upper() if rng.random() < 0.2 else host, headers)


@pytest.mark.parametrize("seed", range(12))
def test_tables_choose_what_rules_one_by_one_choose(seed):
    rng = random.Random(seed)
    n = rng.randint(20, 80)
    rules = [rand_rule(rng, i > n * 0.8) for i in range(n)]
    w, _ = offline_worker(config(rules))
    assert any(b[0] == "table" for b in router_blocks(w, "fe")), "the case must exercise a table"
    chosen = set()
    for _ in range(150):
        chosen.add(both(w, rand_request(rng)))
    assert len(chosen) >= 3, "requests must reach several backends"
