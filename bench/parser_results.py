"""Turn a pytest-benchmark JSON of bench/test_parser_bench.py into the table of bench/RESULTS.md:
median time per parse (the benchmarks loop LOOPS or CHUNK_LOOPS times per call) and the ratios
the targets are about.

    python bench/parser_results.py /tmp/parser-bench.json
"""
from __future__ import annotations

import json
import sys

LOOPS = {"64 KiB chunked body": 20}
DEFAULT_LOOPS = 200


def main(path: str) -> None:
    with open(path) as f:
        data = json.load(f)
    rows: dict[str, dict[str, float]] = {}
    for bench in data["benchmarks"]:
        loops = LOOPS.get(bench["group"], DEFAULT_LOOPS)
        rows.setdefault(bench["group"], {})[bench["name"].removeprefix("test_")] = \
            bench["stats"]["median"] / loops * 1e9
    machine = data.get("machine_info", {})
    commit = data.get("commit_info", {})
    print(f"date {data.get('datetime', '?')}, CPU {machine.get('cpu', {}).get('brand_raw', '?')}, "
          f"Python {machine.get('python_version', '?')}, commit {commit.get('id', '?')[:12]}\n")
    for group, times in rows.items():
        print(f"### {group}\n\n| benchmark | median ns per parse |\n|---|---:|")
        for name, ns in sorted(times.items(), key=lambda kv: kv[1]):
            print(f"| {name} | {ns:,.0f} |")
        print()
    req = rows.get("request ~700 B, 10 headers", {})
    if req:
        c = req.get("request_c_loop[avx2]") or min(v for k, v in req.items() if k.startswith("request_c_loop"))
        best_c = min(v for k, v in req.items() if k.startswith("request_c_loop"))
        print("Ratios (request):")
        print(f"- httptools with callbacks / C (AVX2): {req['request_httptools'] / c:.1f}x")
        print(f"- httptools without callbacks / C (AVX2): {req['request_httptools_no_callbacks'] / c:.1f}x")
        print(f"- h11 / C (AVX2): {req['request_h11'] / c:.0f}x")
        print(f"- Cython loop / best C loop: {req['request_cython_loop'] / best_c:.2f}x")
        print(f"- Python API / httptools with callbacks: {req['request_python_api'] / req['request_httptools']:.1f}x")
    resp = rows.get("small response", {})
    if resp:
        print(f"- response: httptools / C {resp['response_httptools'] / resp['response_c_loop']:.1f}x, "
              f"Cython / C {resp['response_cython_loop'] / resp['response_c_loop']:.2f}x")
    chunked = rows.get("64 KiB chunked body", {})
    if chunked:
        print(f"- chunked 64 KiB: httptools / C {chunked['chunked_httptools'] / chunked['chunked_c_decode']:.1f}x")


if __name__ == "__main__":
    main(sys.argv[1])
