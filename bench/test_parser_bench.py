"""Micro-benchmarks of the HTTP/1 parser against httptools (llhttp) and h11, in one run.

Run (not part of `pytest`, whose addopts skip benchmarks):

    pytest bench/test_parser_bench.py --benchmark-only --benchmark-enable -p no:cacheprovider \
        --benchmark-columns=min,median,mean,stddev,rounds --benchmark-sort=name

Every benchmark does LOOPS parses per call, so the times of one table compare directly; divide by
LOOPS for one parse (bench/RESULTS.md does, and prints the ratios). Pin the run to one CPU
(`taskset -c 1`) on a quiet machine. Targets: the C parse >= 3x faster than httptools' parse of
the same bytes; the Cython hot-path loop within 1.3x of the bare C loop.
"""
from __future__ import annotations

import h11
import httptools
import pytest

from fastlb import _fastpath, http1

LOOPS = 200

# ~700 bytes, 10 headers: what a current browser sends for a page.
BROWSER_REQUEST = (
    b"GET /search?q=load+balancer&source=hp&ei=Zx3kZ8bMKIe0wN4P7Lq6oAo&iflsig=ACkRmUkAAAAAZ HTTP/1.1\r\n"
    b"Host: www.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Referer: https://www.example.com/\r\n"
    b"Connection: keep-alive\r\n"
    b"Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark; consent=yes; "
    b"_ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; lang=en-US\r\n"
    b"Upgrade-Insecure-Requests: 1\r\n"
    b"Sec-Fetch-Dest: document\r\n"
    b"\r\n"
)
SMALL_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
CHUNK_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
PAYLOAD = bytes(range(256)) * 256  # 64 KiB
CHUNKED_BODY = b"".join(b"%x\r\n%s\r\n" % (4096, PAYLOAD[i:i + 4096]) for i in range(0, len(PAYLOAD), 4096)) \
    + b"0\r\n\r\n"
CHUNK_LOOPS = 20


class _Collect:
    """httptools protocol that keeps what our parser returns: URL, headers, body."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)


def test_sanity() -> None:
    assert http1.parse_request(BROWSER_REQUEST).consumed == len(BROWSER_REQUEST)
    assert len(http1.parse_request(BROWSER_REQUEST).headers) == 10
    assert http1.decode_chunked(CHUNKED_BODY)[0] == PAYLOAD


# --- request ---------------------------------------------------------------------------------

@pytest.mark.parametrize("level", ["scalar", "sse4.2", "avx2"])
def test_request_c_loop(benchmark, level: str) -> None:
    benchmark.group = "request ~700 B, 10 headers"
    if _fastpath.set_simd_level(level) != level:
        _fastpath.set_simd_level("best")
        pytest.skip(f"CPU lacks {level}")
    try:
        assert benchmark(_fastpath.bench_c_loop, BROWSER_REQUEST, LOOPS) == len(BROWSER_REQUEST)
    finally:
        _fastpath.set_simd_level("best")


def test_request_cython_loop(benchmark) -> None:
    benchmark.group = "request ~700 B, 10 headers"
    assert benchmark(_fastpath.bench_cython_loop, BROWSER_REQUEST, LOOPS) == len(BROWSER_REQUEST)


def test_request_python_api(benchmark) -> None:
    benchmark.group = "request ~700 B, 10 headers"

    def run() -> int:
        for _ in range(LOOPS):
            req = http1.parse_request(BROWSER_REQUEST)
        return req.consumed

    assert benchmark(run) == len(BROWSER_REQUEST)


def test_request_httptools(benchmark) -> None:
    benchmark.group = "request ~700 B, 10 headers"

    def run() -> int:
        for _ in range(LOOPS):
            proto = _Collect()
            httptools.HttpRequestParser(proto).feed_data(BROWSER_REQUEST)
        return len(proto.headers)

    assert benchmark(run) == 10


def test_request_httptools_no_callbacks(benchmark) -> None:
    """llhttp's lower bound through httptools: no field is handed to Python."""
    benchmark.group = "request ~700 B, 10 headers"

    def run() -> None:
        for _ in range(LOOPS):
            httptools.HttpRequestParser(object()).feed_data(BROWSER_REQUEST)

    benchmark(run)


def test_request_h11(benchmark) -> None:
    benchmark.group = "request ~700 B, 10 headers"

    def run() -> int:
        for _ in range(LOOPS):
            conn = h11.Connection(h11.SERVER)
            conn.receive_data(BROWSER_REQUEST)
            event = conn.next_event()
        return len(event.headers)

    assert benchmark(run) == 10


# --- response --------------------------------------------------------------------------------

def test_response_c_loop(benchmark) -> None:
    benchmark.group = "small response"
    assert benchmark(_fastpath.bench_c_response_loop, SMALL_RESPONSE, LOOPS) == len(SMALL_RESPONSE) - 2


def test_response_cython_loop(benchmark) -> None:
    benchmark.group = "small response"
    assert benchmark(_fastpath.bench_cython_response_loop, SMALL_RESPONSE, LOOPS) == len(SMALL_RESPONSE) - 2


def test_response_python_api(benchmark) -> None:
    benchmark.group = "small response"

    def run() -> int:
        for _ in range(LOOPS):
            resp = http1.parse_response(SMALL_RESPONSE)
        return resp.status

    assert benchmark(run) == 200


def test_response_httptools(benchmark) -> None:
    benchmark.group = "small response"

    def run() -> int:
        for _ in range(LOOPS):
            proto = _Collect()
            parser = httptools.HttpResponseParser(proto)
            parser.feed_data(SMALL_RESPONSE)
        return parser.get_status_code()

    assert benchmark(run) == 200


_H11_REQUEST = h11.Request(method="GET", target="/", headers=[("Host", "a")])


def test_response_h11(benchmark) -> None:
    benchmark.group = "small response"

    def run() -> int:
        for _ in range(LOOPS):
            conn = h11.Connection(h11.CLIENT)
            conn.send(_H11_REQUEST)
            conn.send(h11.EndOfMessage())
            conn.receive_data(SMALL_RESPONSE)
            event = conn.next_event()
        return event.status_code

    assert benchmark(run) == 200


# --- 64 KiB chunked body ---------------------------------------------------------------------

def test_chunked_c_decode(benchmark) -> None:
    benchmark.group = "64 KiB chunked body"
    assert benchmark(_fastpath.bench_chunked_loop, CHUNKED_BODY, CHUNK_LOOPS) == len(PAYLOAD)


def test_chunked_python_api(benchmark) -> None:
    benchmark.group = "64 KiB chunked body"

    def run() -> int:
        for _ in range(CHUNK_LOOPS):
            body, _ = http1.decode_chunked(CHUNKED_BODY)
        return len(body)

    assert benchmark(run) == len(PAYLOAD)


def test_chunked_httptools(benchmark) -> None:
    benchmark.group = "64 KiB chunked body"
    data = CHUNK_HEAD + CHUNKED_BODY

    def run() -> int:
        for _ in range(CHUNK_LOOPS):
            proto = _Collect()
            httptools.HttpResponseParser(proto).feed_data(data)
        return sum(map(len, proto.body))

    assert benchmark(run) == len(PAYLOAD)


def test_chunked_h11(benchmark) -> None:
    benchmark.group = "64 KiB chunked body"
    data = CHUNK_HEAD + CHUNKED_BODY

    def run() -> int:
        for _ in range(CHUNK_LOOPS):
            conn = h11.Connection(h11.CLIENT)
            conn.send(_H11_REQUEST)
            conn.send(h11.EndOfMessage())
            conn.receive_data(data)
            size = 0
            while True:
                event = conn.next_event()
                if isinstance(event, h11.Data):
                    size += len(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    break
        return size

    assert benchmark(run) == len(PAYLOAD)
