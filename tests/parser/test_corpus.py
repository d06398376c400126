"""The corpus of valid, invalid and smuggling messages, under every SIMD path the CPU has."""
from __future__ import annotations

import pytest
from http1_corpus import REQUESTS, RESPONSES, Case

from fastlb import http1


def request_verdict(raw: bytes) -> tuple[str, http1.Request | None]:
    try:
        return "ok", http1.parse_request(raw)
    except http1.InvalidMessage as exc:
        return exc.code, None


@pytest.mark.parametrize("case", REQUESTS, ids=[c.name for c in REQUESTS])
def test_request_corpus(case: Case, simd: str) -> None:
    verdict, req = request_verdict(case.raw)
    assert verdict == case.verdict
    if req is None:
        return
    assert 0 < req.consumed <= len(case.raw)
    rest = case.raw[req.consumed:]
    if case.body is None:
        assert req.body != "chunked"
        return
    assert req.body == "chunked"
    if isinstance(case.body, bytes):
        body, used = http1.decode_chunked(rest)
        assert body == case.body
        assert used <= len(rest)
    else:
        with pytest.raises(http1.InvalidMessage) as exc:
            http1.decode_chunked(rest)
        assert exc.value.code == case.body


@pytest.mark.parametrize("case", RESPONSES, ids=[c[0] for c in RESPONSES])
def test_response_corpus(case: tuple[str, bytes, bytes, str], simd: str) -> None:
    _, method, raw, expected = case
    try:
        http1.parse_response(raw, request_method=method)
        verdict = "ok"
    except http1.InvalidMessage as exc:
        verdict = exc.code
    assert verdict == expected


@pytest.mark.parametrize("case", [c for c in REQUESTS if c.verdict != "ok"],
                         ids=[c.name for c in REQUESTS if c.verdict != "ok"])
def test_invalid_requests_fail_at_every_cut_or_are_incomplete(case: Case) -> None:
    """A prefix of an invalid message is either incomplete or already invalid with the same error:
    never accepted. (Limits aside: a prefix of an over-long head is simply incomplete.)"""
    step = max(1, len(case.raw) // 200)
    for cut in range(0, len(case.raw), step):
        try:
            http1.parse_request(case.raw[:cut])
        except http1.IncompleteMessage:
            continue
        except http1.InvalidMessage as exc:
            assert exc.code == case.verdict
            continue
        pytest.fail(f"prefix of {cut} bytes accepted")


def test_smuggling_cl_te_is_chunked_closed_and_cl_dropped() -> None:
    raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG"
    req = http1.parse_request(raw)
    assert req.body == "chunked" and req.content_length is None
    assert req.cl_ignored and not req.keep_alive
    body, used = http1.decode_chunked(raw[req.consumed:])
    assert body == b"" and raw[req.consumed + used:] == b"G"


def test_error_carries_status_reason_and_offset() -> None:
    raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n"
    with pytest.raises(http1.InvalidMessage) as exc:
        http1.parse_request(raw)
    assert exc.value.status == 400
    assert exc.value.offset == raw.index(b"\x00")
    assert "header value" in exc.value.reason
    with pytest.raises(http1.InvalidMessage) as exc:
        http1.parse_request(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
    assert exc.value.status == 422
    with pytest.raises(http1.InvalidMessage) as exc:
        http1.parse_request(b"GET / HTTP/2.0\r\n\r\n")
    assert exc.value.status == 505
