"""White-box: the log-format compiler and the syslog message headers."""
from __future__ import annotations

import json
import time

import pytest

from fastlb.logs.formats import CLF_FORMAT, HTTPLOG_FORMAT, LogFormatError, compile_format
from fastlb.logs.syslog import format_message

US = int(time.mktime((2026, 11, 4, 2, 31, 27, 0, 0, -1))) * 1_000_000 + 776_000
FIELDS = {
    "client": "127.0.0.1:50502", "accept_us": US, "frontend": "fe", "backend": "be", "server": "s1", "Ti": 0,
    "TR": 0, "Tw": 0, "Tc": 1, "Tr": 2, "Ta": 3, "Tt": 3, "status": 200, "bytes_read": 499, "bytes_in": 78,
    "termination": "--", "actconn": 1, "feconn": 1, "beconn": 0, "srv_conn": 0, "retries": 0,
    "request": b"GET /p?q=1 HTTP/1.1",
}


def test_httplog_without_captures_collapses_separators():
    line = compile_format(HTTPLOG_FORMAT)(dict(FIELDS))
    assert line == ('127.0.0.1:50502 [04/Nov/2026:02:31:27.776] fe be/s1 0/0/1/2/3 200 499 - - ---- '
                    '1/1/0/0/0 0/0 "GET /p?q=1 HTTP/1.1"')


def test_httplog_with_captures():
    f = dict(FIELDS, req_captures=["example.com", None], rsp_captures=["text/plain"])
    line = compile_format(HTTPLOG_FORMAT)(f)
    assert line.endswith(' 0/0 {example.com|} {text/plain} "GET /p?q=1 HTTP/1.1"')


def test_clf_quotes_strings_not_numbers_nor_dates():
    line = compile_format(CLF_FORMAT)(dict(FIELDS))
    assert line.startswith('127.0.0.1 - - [04/Nov/2026:')
    assert '] "GET /p?q=1 HTTP/1.1" 200 499 "" "" 50502 776 "fe" "be" "s1" 0 0 1 2 3 ---- 1 1 0 0 0 0 0 "" ""' in line


def test_variables_flags_and_escapes():
    fmt = compile_format(r"%HM %HP %HQ %HV %{+X}Ts %{+Q}b %{+E}r %Td 100%% %[src] a\ b", pid=7)
    out = fmt(dict(FIELDS, request=b'GET /p"]?q=1 HTTP/1.1'))
    assert out == ('GET /p"] ?q=1 HTTP/1.1 ' + f"{US // 1_000_000:X}" + ' "be" GET /p\\"\\]?q=1 HTTP/1.1 0 100% 127.0.0.1 a b')


def test_json_format_with_names_and_defaults():
    fmt = compile_format("%{+json}o %(ip)ci %ST %b %tsc")
    assert json.loads(fmt(dict(FIELDS))) == {"ip": "127.0.0.1", "status_code": 200, "backend_name": "be",
                                             "termination_state_cookie": "----"}


def test_unknown_variable_is_an_error():
    with pytest.raises(LogFormatError):
        compile_format("%zz")


def test_syslog_headers():
    t = time.mktime((2026, 11, 4, 2, 31, 27, 0, 0, -1)) + 0.25
    assert format_message("rfc3164", 16, 6, "msg", tag="haproxy", pid=42, hostname=None, now=t) == \
        b"<134>Nov  4 02:31:27 haproxy[42]: msg"
    assert format_message("rfc3164", 16, 6, "msg", tag="haproxy", pid=42, hostname="h", now=t) == \
        b"<134>Nov  4 02:31:27 h haproxy[42]: msg"
    assert format_message("rfc5424", 17, 3, "m", tag="t", pid=1, hostname=None, now=t).startswith(
        b"<139>1 2026-11-04T02:31:27.250000")
    assert format_message("rfc5424", 17, 3, "m", tag="t", pid=1, hostname=None, now=t).endswith(b" - t 1 - - m")
    assert format_message("short", 0, 2, "m", tag="t", pid=1, hostname=None) == b"<2>m"
    assert format_message("raw", 0, 2, "m", tag="t", pid=1, hostname=None) == b"m"
    assert format_message("raw", 0, 2, "x" * 2000, tag="t", pid=1, hostname=None, length=100) == b"x" * 100


class _Collect:
    def __init__(self):
        self.sent = []

    def send(self, data: bytes) -> None:
        self.sent.append(data)


def test_target_level_filter_and_minlevel():
    from fastlb.logs.syslog import Target

    c = _Collect()
    t = Target(sender=c, facility=16, max_level=4, min_level=2, fmt="short", length=1024)  # warning, crit
    t.emit(6, "info", tag="t", pid=1, hostname=None)      # less severe than warning: dropped
    t.emit(3, "err", tag="t", pid=1, hostname=None)       # kept as is
    t.emit(0, "emerg", tag="t", pid=1, hostname=None)     # lowered to crit
    assert c.sent == [b"<131>err\n", b"<130>emerg\n"]  # every message ends with a newline, as HAProxy
